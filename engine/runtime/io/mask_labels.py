"""What the labels of a reference mask are called: from the file itself where it says (DICOM SEG segments, 3D
Slicer's .seg.nrrd, an MSD dataset.json beside labelsTr/), else from a known atlas's numbering, else nothing.

A name from an atlas is a guess from the file's shape and is labelled as one; the user still chooses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

# TotalSegmentator's "total" task (v1: 104 labels, v2: 117): the first six labels mean the same in both versions.
TOTALSEGMENTATOR_SHARED = {1: "spleen", 2: "kidney_right", 3: "kidney_left", 4: "gallbladder", 5: "liver", 6: "stomach"}
TOTALSEGMENTATOR_MAX = 117


@dataclass(frozen=True)
class LabelNames:
    """Label value -> name, and where the names come from ("" when the file gives none)."""

    names: dict[int, str] = field(default_factory=dict)
    source: str = ""

    def describe(self, label: int) -> str:
        """'5: liver', or '5' for a label without a name."""
        name = self.names.get(label)
        return f"{label}: {name}" if name else str(label)

    def liver(self, present: list[int]) -> int | None:
        """The present label named liver (exactly, in any case), if there is one."""
        return next((label for label in present if self.names.get(label, "").strip().lower() == "liver"), None)


def label_names(path: Path | str, present: list[int]) -> LabelNames:
    """The names of ``present`` labels of the mask file at ``path``; never raises for an odd file."""
    path = Path(path)
    for reader in (_seg_names, _slicer_nrrd_names, _msd_names):
        try:
            found = reader(path)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            found = None
        if found:
            return found
    return _atlas_names(present)


def _seg_names(path: Path) -> LabelNames | None:
    from engine.runtime.io.dicom import is_dicom_file

    if not is_dicom_file(path):
        return None
    import pydicom

    seg = pydicom.dcmread(path, stop_before_pixels=True)
    names = {}
    for segment in seg.get("SegmentSequence", []):
        label = str(segment.get("SegmentLabel", "")).strip()
        if not label and "SegmentedPropertyTypeCodeSequence" in segment:
            label = str(segment.SegmentedPropertyTypeCodeSequence[0].get("CodeMeaning", "")).strip()
        if label:
            names[int(segment.SegmentNumber)] = label
    return LabelNames(names, "the DICOM SEG's segment labels") if names else None


def _slicer_nrrd_names(path: Path) -> LabelNames | None:
    if not path.name.lower().endswith((".nrrd", ".nhdr")):
        return None
    import nrrd

    header = nrrd.read_header(str(path))
    names = {}
    for key, value in header.items():
        match = re.fullmatch(r"Segment(\d+)_Name", key)
        if match and f"Segment{match[1]}_LabelValue" in header:
            names[int(header[f"Segment{match[1]}_LabelValue"])] = str(value).strip()
    return LabelNames(names, "the 3D Slicer segmentation's segment names") if names else None


def _msd_names(path: Path) -> LabelNames | None:
    """An MSD task: labelsTr/ or labelsTs/ beside dataset.json, whose "labels" name the values."""
    if path.parent.name not in ("labelsTr", "labelsTs"):
        return None
    manifest = path.parent.parent / "dataset.json"
    if not manifest.is_file():
        return None
    labels = json.loads(manifest.read_text())["labels"]
    names = {int(value): str(name) for value, name in labels.items() if int(value) != 0}
    return LabelNames(names, f"the task's {manifest.name}") if names else None


def _atlas_names(present: list[int]) -> LabelNames:
    """Many labels up to 117: TotalSegmentator's numbering is likely; only its version-independent names are given."""
    if len(present) > len(TOTALSEGMENTATOR_SHARED) and 0 < max(present) <= TOTALSEGMENTATOR_MAX:
        names = {label: name for label, name in TOTALSEGMENTATOR_SHARED.items() if label in present}
        return LabelNames(names, "TotalSegmentator's numbering, assumed from the number of labels: check")
    return LabelNames()
