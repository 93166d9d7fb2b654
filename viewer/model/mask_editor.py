"""Editing a segmentation slice by slice: brush, eraser, hole fill, many-step undo and redo,
with the liver volume and HU statistics kept up to date."""

from __future__ import annotations

from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

UNDO_LIMIT = 200


@dataclass(frozen=True)
class SliceEdit:
    """One slice's pixels in a box, before and after a change."""

    z: int
    box: tuple[slice, slice]
    before: np.ndarray
    after: np.ndarray


@dataclass(frozen=True)
class MaskStatistics:
    voxels: int
    slices: int  # slices the mask touches
    millilitres: float
    mean_hu: float
    sd_hu: float


class MaskEditor:
    """A working copy of a binary mask (Z, Y, X) over an image; every change can be undone.

    Changes between ``begin_stroke`` and ``end_stroke`` (a brush drag) form one undo step.
    Methods that change pixels return the slices they changed.
    """

    def __init__(self, mask: np.ndarray, image: np.ndarray, voxel_ml: float):
        if mask.shape != image.shape:
            raise ValueError(f"mask {mask.shape} and image {image.shape} differ in shape")
        self.mask = np.array(mask, dtype=bool)
        self.image, self.voxel_ml = image, voxel_ml
        self._undo: list[list[SliceEdit]] = []
        self._redo: list[list[SliceEdit]] = []
        self._stroke: dict[int, np.ndarray] | None = None
        self._count = np.zeros(mask.shape[0], np.int64)
        self._sum = np.zeros(mask.shape[0])
        self._sum_sq = np.zeros(mask.shape[0])
        self._restat(range(mask.shape[0]))

    def snapshot(self) -> MaskEditor:
        """A copy of the mask and its statistics as they are now, without the undo history."""
        copy = object.__new__(MaskEditor)
        copy.mask, copy.image, copy.voxel_ml = self.mask.copy(), self.image, self.voxel_ml
        copy._undo, copy._redo, copy._stroke = [], [], None
        copy._count, copy._sum, copy._sum_sq = self._count.copy(), self._sum.copy(), self._sum_sq.copy()
        return copy

    # strokes
    def begin_stroke(self) -> None:
        self._stroke = {}

    @property
    def stroke_open(self) -> bool:
        return self._stroke is not None

    def end_stroke(self) -> list[int]:
        """Close the stroke as one undo step; returns the slices it changed."""
        stroke, self._stroke = self._stroke or {}, None
        edits = [edit for z, before in stroke.items() if (edit := _slice_edit(z, before, self.mask[z])) is not None]
        if edits:
            self._undo = (self._undo + [edits])[-UNDO_LIMIT:]
            self._redo.clear()
        return [edit.z for edit in edits]

    def paint(self, z: int, row: float, column: float, radius: float, value: bool, depth: int = 0) -> list[int]:
        """A round dab of ``radius`` pixels on slice ``z`` (and ``depth`` slices each side)."""
        rows, columns = self.mask.shape[1:]
        top, bottom = max(int(row - radius), 0), min(int(row + radius) + 1, rows)
        left, right = max(int(column - radius), 0), min(int(column + radius) + 1, columns)
        if top >= bottom or left >= right:
            return []
        yy, xx = np.ogrid[top:bottom, left:right]
        disc = (yy - row) ** 2 + (xx - column) ** 2 <= radius ** 2
        changed = []
        with self._step():
            for k in range(max(z - depth, 0), min(z + depth + 1, self.mask.shape[0])):
                region = self.mask[k, top:bottom, left:right]
                if np.any(region[disc] != value):
                    self._remember(k)
                    region[disc] = value
                    changed.append(k)
        self._restat(changed)
        return changed

    def fill_hole(self, z: int, row: int, column: int) -> list[int]:
        """Fill the unmasked region around (row, column) of slice ``z`` if the mask encloses it."""
        if self.mask[z, row, column]:
            return []
        region = enclosed_region(~self.mask[z], row, column)
        if region is None:
            raise ValueError("that region reaches the edge of the image: it is not a hole in the mask")
        with self._step():
            self._remember(z)
            self.mask[z][region] = True
        self._restat([z])
        return [z]

    # history
    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def undo(self) -> list[int]:
        return self._replay(self._undo, self._redo, "before")

    def redo(self) -> list[int]:
        return self._replay(self._redo, self._undo, "after")

    def edited_slices(self, original: np.ndarray) -> list[int]:
        """Slices where the working mask differs from ``original``."""
        return [int(z) for z in np.flatnonzero((self.mask != original).any(axis=(1, 2)))]

    # statistics
    def statistics(self) -> MaskStatistics:
        """Volume in mL and mean / SD of the image values (HU) inside the mask."""
        count = int(self._count.sum())
        if count == 0:
            return MaskStatistics(0, 0, 0.0, float("nan"), float("nan"))
        mean = self._sum.sum() / count
        variance = max(self._sum_sq.sum() / count - mean ** 2, 0.0)
        slices = int(np.count_nonzero(self._count))
        return MaskStatistics(count, slices, count * self.voxel_ml, float(mean), float(np.sqrt(variance)))

    # helpers
    @contextmanager
    def _step(self):
        """Inside an open stroke, nothing; otherwise the change is an undo step of its own."""
        own = self._stroke is None
        if own:
            self.begin_stroke()
        try:
            yield
        finally:
            if own:
                self.end_stroke()

    def _remember(self, z: int) -> None:
        """Keep slice ``z`` as it was before the current stroke changed it."""
        self._stroke.setdefault(z, self.mask[z].copy())

    def _replay(self, source: list, target: list, side: str) -> list[int]:
        if not source:
            return []
        edits = source.pop()
        for edit in edits:
            self.mask[edit.z][edit.box] = getattr(edit, side)
        target.append(edits)
        slices = [edit.z for edit in edits]
        self._restat(slices)
        return slices

    def _restat(self, slices) -> None:
        for z in slices:
            values = self.image[z][self.mask[z]].astype(np.float64)
            values = values[np.isfinite(values)]  # NaN / infinite voxels are left out of the HU statistics
            self._count[z], self._sum[z], self._sum_sq[z] = values.size, values.sum(), np.square(values).sum()


def enclosed_region(free: np.ndarray, row: int, column: int) -> np.ndarray | None:
    """The 4-connected region of ``free`` pixels around (row, column), or None if it reaches the border."""
    rows, columns = free.shape
    seen = np.zeros_like(free, dtype=bool)
    seen[row, column] = True
    queue = deque([(row, column)])
    while queue:
        r, c = queue.popleft()
        if r in (0, rows - 1) or c in (0, columns - 1):
            return None  # open to the outside: stop at once
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if free[nr, nc] and not seen[nr, nc]:
                seen[nr, nc] = True
                queue.append((nr, nc))
    return seen


def _slice_edit(z: int, before: np.ndarray, after: np.ndarray) -> SliceEdit | None:
    """The smallest box holding every changed pixel, or None when nothing changed."""
    changed = before != after
    if not changed.any():
        return None
    rows, columns = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    return SliceEdit(z, box, before[box].copy(), after[box].copy())
