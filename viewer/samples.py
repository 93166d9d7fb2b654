"""The sample images the app offers ("Open sample"): real, and shipped under their own licences.

``make samples`` (packaging/collect_samples.py) fills ``resources/samples``; the installer carries it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from viewer.bundles import resources_folder

SAMPLES_ENV = "SADNN_SAMPLES"


@dataclass(frozen=True)
class Sample:
    key: str
    title: str
    relative_path: str  # inside the samples folder: a DICOM file or a DICOM series folder
    credit: str

    def path(self, folder: Path | None = None) -> Path:
        return (folder or samples_folder()) / self.relative_path


SAMPLES = (
    Sample("ct", "Abdominal CT (20 slices, DICOM, JPEG 2000)", "abdominal_ct",
           "TotalSegmentator example data (Wasserthal et al.), Apache-2.0"),
    Sample("xray", "Chest radiograph (CR, DICOM, JPEG 2000)", "chest_cr/RG1_J2KR.dcm",
           "pydicom-data test file, MIT licence"),
)


def samples_folder() -> Path:
    """$SADNN_SAMPLES, else resources/samples inside the frozen app or next to the source tree."""
    return resources_folder("samples", SAMPLES_ENV)


def available_samples(folder: Path | None = None) -> list[Sample]:
    """The samples present on this installation."""
    return [sample for sample in SAMPLES if sample.path(folder).exists()]


def sample(key: str) -> Sample:
    return next(s for s in SAMPLES if s.key == key)
