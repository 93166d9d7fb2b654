"""Liver CT cases from any accepted layout, split patient-wise and prepared as 2D axial slices.

Accepted layouts (one or several roots, pooled): the Medical Segmentation Decathlon Task03
(``dataset.json``, ``training.data_msd``) and 3D-IRCADb-01 (patient folders with PATIENT_DICOM and
MASKS_DICOM/liver, ``training.data_ircadb``). One case is one patient. The held-out cases are named
(``test_cases``: leave-one-patient-out folds, or a sample kept out of training) or, when none are named,
chosen by a stable hash of the case name so that each split gets at least one of two or more cases.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from engine.runtime.card import InputContract
from engine.runtime.io import Volume
from engine.runtime.preprocess import prepare_ct_slices, prepare_mask
from training import data_ircadb, data_msd
from training.errors import DatasetError


MARGIN = 3  # slices kept above and below the liver


class Case(Protocol):
    name: str

    def read(self) -> tuple[Volume, np.ndarray]: ...

    def sources(self) -> tuple[Path, ...]: ...


@dataclass
class LiverSlices:
    """Prepared slices of some cases: inputs (N, 1, H, W) float32, masks (N, H, W) uint8, case of each slice."""

    inputs: np.ndarray
    masks: np.ndarray
    cases: list[str]
    fingerprints: dict[str, str]  # case -> Volume.fingerprint of its CT
    voxel_mm: dict[str, list[float]] = field(default_factory=dict)  # case -> (z, y, x) mm of the prepared masks


def find_cases(roots: Sequence[Path]) -> list[Case]:
    """Every case under ``roots`` (each an MSD or a 3D-IRCADb folder); case names must be unique."""
    cases: list[Case] = []
    for root in map(Path, roots):
        if not root.is_dir():
            raise DatasetError(f"{root} does not exist" if not root.exists() else f"{root} is not a folder")
        if (root / "dataset.json").is_file():
            cases.extend(data_msd.list_cases(root))
        elif data_ircadb.is_ircadb_root(root):
            cases.extend(data_ircadb.list_cases(root))
        else:
            raise DatasetError(f"{root} is neither a Decathlon folder (dataset.json) nor a 3D-IRCADb folder "
                               f"(patient folders with PATIENT_DICOM/ and MASKS_DICOM/liver/)")
    names = [case.name for case in cases]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise DatasetError(f"case names repeat across the data folders: {', '.join(repeated)}")
    return cases


def split_cases(cases: Sequence[Case], split: str, test_cases: Sequence[str] = (), test_fraction: float = 0.2) -> list[Case]:
    """The ``split`` ("train" or "test") of ``cases``: the named test cases, else a stable hash split."""
    if split not in ("train", "test"):
        raise DatasetError(f"liver CT has no {split} split: it is split into train and test by case "
                           "(choose held-out cases with --test-case, or use lopo)")
    if test_cases:
        unknown = sorted(set(test_cases) - {case.name for case in cases})
        if unknown:
            raise DatasetError(f"no case named {', '.join(unknown)}; the cases are {', '.join(c.name for c in cases)}")
        chosen = [c for c in cases if (c.name in test_cases) == (split == "test")]
    else:
        ranked = sorted(cases, key=lambda c: hashlib.sha256(c.name.encode()).hexdigest())
        test_count = max(1, round(test_fraction * len(ranked))) if len(ranked) > 1 else 0
        chosen = ranked[:test_count] if split == "test" else ranked[test_count:]
    if not chosen:
        raise DatasetError(f"the {split} split is empty ({len(cases)} case(s) in all)")
    return chosen


def load_slices(cases: Sequence[Case], contract: InputContract, margin: int = MARGIN) -> LiverSlices:
    """Slices containing liver, plus ``margin`` slices above and below, of every case."""
    inputs, masks, names, fingerprints, voxels = [], [], [], {}, {}
    for case in cases:
        volume, liver = case.read()
        fingerprints[case.name] = volume.fingerprint
        voxels[case.name] = prepared_voxel_mm(volume, contract)
        rows = np.flatnonzero(liver.any(axis=(1, 2)))
        if rows.size == 0:
            raise DatasetError(f"case {case.name} has no liver voxels (empty mask)")
        keep = range(max(rows[0] - margin, 0), min(rows[-1] + margin + 1, volume.shape[0]))
        inputs.append(prepare_ct_slices(volume.array[keep.start : keep.stop], contract, volume.pixel_spacing))
        masks.extend(prepare_mask(liver[z].astype(np.uint8), contract, volume.pixel_spacing) for z in keep)
        names.extend([case.name] * len(keep))
    return LiverSlices(np.concatenate(inputs), np.stack(masks), names, fingerprints, voxels)


def prepared_voxel_mm(volume, contract: InputContract) -> list[float]:
    """The (z, y, x) voxel size in mm of a volume's slices once prepared for ``contract``: the contract's pixel
    spacing, or the slice's field over the input size where slices are resized whole."""
    dz, dy, dx = (float(s) for s in volume.spacing)
    if contract.pixel_spacing_mm is not None:
        return [dz, contract.pixel_spacing_mm, contract.pixel_spacing_mm]
    rows, cols = volume.shape[1:]
    return [dz, dy * rows / contract.size[0], dx * cols / contract.size[1]]
