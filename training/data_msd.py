"""Medical Segmentation Decathlon Task03 Liver in its public layout, as 2D axial slices.

``dataset.json`` + ``imagesTr/*.nii.gz`` + ``labelsTr/*.nii.gz``; label 1 liver, 2 tumour, both
count as liver. Volumes are read with ``engine.runtime.io`` (the viewer's reader, so orientation and HU
agree with inference) and prepared with ``engine.runtime.preprocess`` (HU window, resize); masks are
resized with nearest neighbour and re-binarised (``training.data_liver``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from engine.runtime.errors import InputError
from engine.runtime.io.volume_files import read_volume_file
from engine.runtime.io.masks import read_mask
from training.errors import DatasetError


@dataclass(frozen=True)
class LiverCase:
    name: str
    image: Path
    label: Path

    def read(self):
        """The CT (canonical orientation, HU) and its binary liver mask (liver + tumour) on the same grid."""
        return read_case(self)

    def sources(self) -> tuple[Path, ...]:
        """The files it is read from."""
        return self.image, self.label


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


def read_case(case: LiverCase):
    """The CT (canonical orientation, HU) and its binary liver mask (liver + tumour) on the same grid."""
    try:
        volume = read_volume_file(case.image, modality="CT")
        labels = read_mask(case.label, volume)
    except InputError as err:
        raise DatasetError(f"case {case.name}: {err}") from err
    return volume, labels > 0
