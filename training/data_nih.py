"""NIH ChestX-ray14 in its public layout: ``images/`` + ``Data_Entry_2017*.csv`` (+ split lists).

Images may also sit in ``images_001/images/`` ... (the archive layout) or any ``*/images/``.
Only entries whose image file exists are used, so a subset of the release works unchanged.
Without ``train_val_list.txt``/``test_list.txt`` the test split is patient-wise: a patient's images are
all in one split, chosen by a hash of the Patient ID (stable across machines and runs). The validation
split (for thresholds) is carved out of the rest the same way, by a second, independent hash.
"""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.runtime.labels import CHESTXRAY14
from training.errors import DatasetError


@dataclass(frozen=True)
class XraySample:
    path: Path
    labels: np.ndarray  # (14,) float32 multi-hot in CHESTXRAY14 order
    patient: str


SPLITS = ("train", "val", "test")


def load_nih(root: Path, split: str, test_fraction: float = 0.2, val_fraction: float = 0.2) -> list[XraySample]:
    """The samples of ``split`` ("train", "val" or "test") under ``root``; each patient lies in one split."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} " + ("is not a folder (expected the NIH ChestX-ray14 root)" if root.exists()
                                         else "does not exist"))
    table = _label_table(root)
    images = _image_index(root)
    samples = [XraySample(images[name], labels, patient) for name, (labels, patient) in table.items() if name in images]
    if not samples:
        raise DatasetError(f"none of the {len(table)} images listed in {table_name(root)} exist under {root}/images")
    chosen = [s for s in samples if _split_of(root, s, test_fraction, val_fraction) == split]
    if not chosen:
        raise DatasetError(f"the {split} split of {root} is empty")
    return chosen


def table_name(root: Path) -> str:
    tables = sorted(root.glob("Data_Entry_2017*.csv"))
    if not tables:
        raise DatasetError(f"{root} has no Data_Entry_2017*.csv label file (NIH ChestX-ray14 layout)")
    return tables[-1].name


def _label_table(root: Path) -> dict[str, tuple[np.ndarray, str]]:
    path = root / table_name(root)
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"Image Index", "Finding Labels", "Patient ID"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(f"{path.name} lacks the column(s) {', '.join(sorted(missing))}")
        table = {}
        for row in reader:
            findings = [f for f in row["Finding Labels"].split("|") if f and f != "No Finding"]
            unknown = set(findings) - set(CHESTXRAY14)
            if unknown:
                raise DatasetError(f"{path.name}: unknown finding(s) {', '.join(sorted(unknown))} for {row['Image Index']}")
            labels = np.array([name in findings for name in CHESTXRAY14], dtype=np.float32)
            table[row["Image Index"]] = (labels, row["Patient ID"])
    if not table:
        raise DatasetError(f"{path.name} lists no images")
    return table


def _image_index(root: Path) -> dict[str, Path]:
    found = {}
    for pattern in ("images/*.png", "images_*/images/*.png", "*/images/*.png"):
        for path in root.glob(pattern):
            found.setdefault(path.name, path)
    return found


def _split_of(root: Path, sample: XraySample, test_fraction: float, val_fraction: float) -> str:
    lists = {name: root / f"{name}_list.txt" for name in ("train_val", "test")}
    if all(path.is_file() for path in lists.values()):
        if sample.path.name in _listed(lists["test"]):
            return "test"
    elif _fraction(sample.patient, "") < test_fraction:
        return "test"
    return "val" if _fraction(sample.patient, "val:") < val_fraction else "train"


def _fraction(patient: str, salt: str) -> float:
    """A stable pseudo-random number in [0, 1) for a patient (the same on every machine and run)."""
    return int(hashlib.sha256((salt + patient).encode()).hexdigest()[:8], 16) % 1000 / 1000


_LISTS: dict[Path, frozenset[str]] = {}


def _listed(path: Path) -> frozenset[str]:
    if path not in _LISTS:
        _LISTS[path] = frozenset(line.strip() for line in path.read_text().splitlines() if line.strip())
    return _LISTS[path]
