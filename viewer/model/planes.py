"""The three orthogonal planes of a canonical (Z up, Y posterior, X left) volume, as displayed.

Axial: anterior at the top, the patient's right on the screen's left (radiological convention).
Coronal and sagittal: superior at the top. Every image and overlay goes through ``plane`` so they
stay aligned, and ``voxel_at`` maps a displayed (row, column) back to (z, y, x).
"""

from __future__ import annotations

import numpy as np

AXES = ("axial", "coronal", "sagittal")
SLICE_AXIS = {"axial": 0, "coronal": 1, "sagittal": 2}


def plane(array: np.ndarray, view: str, index: int) -> np.ndarray:
    """The 2D (rows, columns) image of ``view`` at ``index`` along its slice axis."""
    if view == "axial":
        return array[index]
    if view == "coronal":
        return array[::-1, index, :]
    if view == "sagittal":
        return array[::-1, :, index]
    raise ValueError(f"unknown view {view!r}")


def pixel_size(spacing: tuple[float, float, float], view: str) -> tuple[float, float]:
    """(row height, column width) in mm of ``view``'s pixels."""
    dz, dy, dx = spacing
    return {"axial": (dy, dx), "coronal": (dz, dx), "sagittal": (dz, dy)}[view]


def voxel_at(shape: tuple[int, int, int], view: str, index: int, row: int, column: int) -> tuple[int, int, int]:
    """The (z, y, x) voxel displayed at (row, column) of ``view`` at slice ``index``."""
    top = shape[0] - 1 - row
    if view == "axial":
        return index, row, column
    if view == "coronal":
        return top, index, column
    return top, column, index


def display_position(shape: tuple[int, int, int], view: str, voxel: tuple[int, int, int]) -> tuple[int, int]:
    """Where voxel (z, y, x) appears as (row, column) in ``view``."""
    z, y, x = voxel
    if view == "axial":
        return y, x
    if view == "coronal":
        return shape[0] - 1 - z, x
    return shape[0] - 1 - z, y


# Screen directions of each view in index space (x, y, z): (down the screen, across to the right).
SCREEN_AXES = {"axial": ((0, 1, 0), (1, 0, 0)), "coronal": ((0, 0, -1), (1, 0, 0)), "sagittal": ((0, 0, -1), (0, 1, 0))}
LPS_LETTERS = (("R", "L"), ("A", "P"), ("I", "S"))


def direction_letters(vector) -> str:
    """The patient directions a vector points to, strongest first (e.g. "L", or "LA" when oblique)."""
    vector = np.asarray(vector, dtype=float)
    order = np.argsort(-np.abs(vector))
    return "".join(LPS_LETTERS[axis][int(vector[axis] > 0)] for axis in order if abs(vector[axis]) > 0.26)  # over 15 degrees


def edge_letters(direction: np.ndarray, view: str) -> tuple[str, str, str, str]:
    """Letters at the (top, bottom, left, right) edges of ``view``, from the volume's direction matrix."""
    direction = np.asarray(direction, dtype=float)
    down, right = (direction @ np.asarray(axis, dtype=float) for axis in SCREEN_AXES[view])
    return direction_letters(-down), direction_letters(down), direction_letters(-right), direction_letters(right)
