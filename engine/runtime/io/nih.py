"""NIH ChestX-ray14 radiologist boxes (BBox_List_2017.csv), in the original 1024x1024 pixel grid."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ORIGINAL_SIZE = 1024
BBOX_FILE = "BBox_List_2017.csv"


@dataclass(frozen=True)
class FindingBox:
    """A radiologist's box around a finding: label and x, y, width, height in original pixels."""

    label: str
    x: float
    y: float
    width: float
    height: float

    def scaled(self, columns: int, rows: int) -> tuple[float, float, float, float]:
        """The box in an image of ``columns`` x ``rows`` pixels (NIH images are resized copies)."""
        sx, sy = columns / ORIGINAL_SIZE, rows / ORIGINAL_SIZE
        return self.x * sx, self.y * sy, self.width * sx, self.height * sy


def boxes_for(image: Path | str) -> list[FindingBox]:
    """Boxes for an NIH image, from a BBox_List_2017.csv in its folder or up to two folders above."""
    image = Path(image)
    for folder in (image.parent, image.parent.parent, image.parent.parent.parent):
        table = folder / BBOX_FILE
        if table.is_file():
            return list(_read(str(table)).get(image.name, ()))
    return []


@lru_cache(maxsize=4)
def _read(table: str) -> dict[str, tuple[FindingBox, ...]]:
    boxes: dict[str, list[FindingBox]] = {}
    with open(table, newline="") as handle:
        for row in csv.reader(handle):
            if not row or row[0] == "Image Index":
                continue
            try:
                box = FindingBox(row[1], float(row[2]), float(row[3]), float(row[4]), float(row[5]))
            except (IndexError, ValueError):
                continue
            boxes.setdefault(row[0], []).append(box)
    return {name: tuple(found) for name, found in boxes.items()}
