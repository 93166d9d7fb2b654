"""Medical Segmentation Decathlon Task03 Liver in its public layout, as 2D axial slices.

``dataset.json`` + ``imagesTr/*.nii.gz`` + ``labelsTr/*.nii.gz``; label 1 liver, 2 tumour, both
count as liver. Volumes are read with ``engine.runtime.io`` (the viewer's reader, so orientation and HU
agree with inference) and prepared with ``engine.runtime.preprocess`` (HU window, resize); masks are
resized with nearest neighbour and re-binarised. The split is patient-wise (one volume = one
patient): a stable hash of the case name decides, and with two or more cases each split gets one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.runtime.card import InputContract
from engine.runtime.errors import InputError
from engine.runtime.io.volume_files import read_volume_file
from engine.runtime.io.masks import read_mask
from engine.runtime.preprocess import prepare_ct_slices, resize_mask
from training.errors import DatasetError


@dataclass(frozen=True)
class LiverCase:
    name: str
    image: Path
    label: Path


@dataclass
class LiverSlices:
    """Prepared slices of some cases: inputs (N, 1, H, W) float32, masks (N, H, W) uint8, case of each slice."""

    inputs: np.ndarray
    masks: np.ndarray
    cases: list[str]


def list_cases(root: Path) -> list[LiverCase]:
    """Every training case listed in ``dataset.json``, checked to exist."""
    root = Path(root)
    manifest = root / "dataset.json"
    if not manifest.is_file():
        raise DatasetError(f"{root} has no dataset.json (Medical Segmentation Decathlon layout)")
    try:
        entries = json.loads(manifest.read_text())["training"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise DatasetError(f"{manifest} is not a Decathlon dataset.json with a 'training' list: {err}") from err
    cases = []
    for entry in entries:
        image, label = root / entry["image"], root / entry["label"]
        for path in (image, label):
            if not path.is_file():
                raise DatasetError(f"dataset.json lists {path.relative_to(root)}, which does not exist")
        cases.append(LiverCase(image.name.split(".")[0], image, label))
    if not cases:
        raise DatasetError(f"{manifest} lists no training cases")
    return cases


def split_cases(cases: list[LiverCase], split: str, test_fraction: float = 0.2) -> list[LiverCase]:
    """Patient-wise split by a stable hash of the case name."""
    ranked = sorted(cases, key=lambda c: hashlib.sha256(c.name.encode()).hexdigest())
    test_count = max(1, round(test_fraction * len(ranked))) if len(ranked) > 1 else 0
    chosen = ranked[:test_count] if split == "test" else ranked[test_count:]
    if not chosen:
        raise DatasetError(f"the {split} split is empty ({len(cases)} case(s) in all)")
    return chosen


def load_slices(cases: list[LiverCase], contract: InputContract, margin: int = 3) -> LiverSlices:
    """Slices containing liver, plus ``margin`` slices above and below, of every case."""
    inputs, masks, names = [], [], []
    for case in cases:
        volume, liver = read_case(case)
        rows = np.flatnonzero(liver.any(axis=(1, 2)))
        if rows.size == 0:
            raise DatasetError(f"{case.label.name} has no liver or tumour voxels (empty label)")
        keep = range(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, volume.shape[0]))
        inputs.append(prepare_ct_slices(volume.array[keep.start : keep.stop], contract))
        masks.extend((resize_mask(liver[z], contract.size) > 0).astype(np.uint8) for z in keep)
        names.extend([case.name] * len(keep))
    return LiverSlices(np.concatenate(inputs), np.stack(masks), names)


def read_case(case: LiverCase):
    """The CT (canonical orientation, HU) and its binary liver mask (liver + tumour) on the same grid."""
    try:
        volume = read_volume_file(case.image, modality="CT")
        labels = read_mask(case.label, volume)
    except InputError as err:
        raise DatasetError(f"case {case.name}: {err}") from err
    return volume, labels > 0
