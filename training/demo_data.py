"""The demo datasets in public layouts, built from the real files in ../shared/data/ct.

Two CT patients from the TotalSegmentator examples become an MSD Task03-layout folder; their
liver masks (TotalSegmentator label 5) are model outputs, not expert annotations.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from engine.runtime.atomic import write_atomic
from engine.runtime.io import find_images, read_image_file, read_mask
from engine.runtime.io.nifti import write_nifti
from training.errors import DatasetError

TOTALSEG_LIVER = 5
CASES = (
    ("liver_0", "totalseg_nifti/example_ct_sm.nii.gz", "totalseg_nifti/example_seg.nii.gz"),
    ("liver_1", "totalseg_abd_dicom", "totalseg_nifti/example_seg_dicom.nii.gz"),
)


def build_demo_msd(source: Path, out: Path) -> Path:
    """Write ``out`` as an MSD Task03 folder (dataset.json, imagesTr/, labelsTr/) from ``source`` (shared/data/ct)."""
    source, out = Path(source), Path(out)
    if not (source / CASES[0][1]).exists():
        raise DatasetError(f"{source} does not hold the TotalSegmentator example CTs (expected {CASES[0][1]})")
    (out / "imagesTr").mkdir(parents=True, exist_ok=True)
    (out / "labelsTr").mkdir(parents=True, exist_ok=True)
    training = []
    for name, image_path, mask_path in CASES:
        image = source / image_path
        volume = find_images(image)[0].load() if image.is_dir() else read_image_file(image)
        liver = (read_mask(source / mask_path, volume) == TOTALSEG_LIVER).astype(np.uint8)
        write_nifti(out / "imagesTr" / f"{name}.nii.gz", np.round(volume.array).astype(np.int16), volume)
        write_nifti(out / "labelsTr" / f"{name}.nii.gz", liver, volume)
        training.append({"image": f"./imagesTr/{name}.nii.gz", "label": f"./labelsTr/{name}.nii.gz"})
    manifest = {
        "name": "LiverDemo", "description": "Two real abdominal CTs (TotalSegmentator examples, Apache-2.0); "
        "liver masks are TotalSegmentator model outputs, not expert annotations",
        "modality": {"0": "CT"}, "labels": {"0": "background", "1": "liver", "2": "cancer"},
        "numTraining": len(training), "training": training, "test": [],
    }
    write_atomic(out / "dataset.json", json.dumps(manifest, indent=2).encode())
    return out
