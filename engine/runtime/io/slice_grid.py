"""Placing the slices of a series at their true positions along the slice normal.

Evenly spaced slices are stacked as they are. Missing slices or spacing that changes within the
series (4 mm, then 7 mm) are put on a uniform grid at the smallest step, the slices in between
interpolated linearly for display and volume measurement; each source slice remembers the grid
slice it lies on, so exports still go to the original instances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DUPLICATE_MM = 1e-3


@dataclass(frozen=True)
class SliceGrid:
    """Where the ordered source slices go: ``spacing`` in mm, the grid index of each source slice
    (empty when they are evenly spaced and stacked as they are), and what the user should know."""

    spacing: float
    file_slices: tuple[int, ...]
    warnings: tuple[str, ...]
    size: int


def place_slices(offsets: np.ndarray) -> SliceGrid:
    """The grid for slices at ``offsets`` mm along the normal (ascending)."""
    offsets = np.asarray(offsets, dtype=float)
    steps = np.diff(offsets)
    if steps.size == 0:
        return SliceGrid(1.0, (), (), len(offsets))
    duplicates = int(np.sum(steps < DUPLICATE_MM))
    if duplicates:
        return SliceGrid(1.0 if steps.max() < DUPLICATE_MM else float(np.median(steps[steps >= DUPLICATE_MM])), (),
                         (f"{duplicates} slice(s) share a position with another slice: slices are stacked in order "
                          "and distances along the slice axis are not reliable",), len(offsets))
    if steps.max() - steps.min() <= 0.01 * float(np.median(steps)) + 1e-3:
        return SliceGrid(float(steps.mean()), (), (), len(offsets))
    spacing = float(steps.min())
    indices = np.round((offsets - offsets[0]) / spacing).astype(int)
    return SliceGrid(spacing, tuple(int(i) for i in indices), (_describe_uneven(steps, spacing),), int(indices[-1]) + 1)


def resample_slices(slices: np.ndarray, offsets: np.ndarray, grid: SliceGrid) -> np.ndarray:
    """``slices`` (N, rows, columns) at ``offsets`` put on ``grid`` (linear between neighbours)."""
    if not grid.file_slices:
        return slices
    offsets = np.asarray(offsets, dtype=float) - float(offsets[0])
    targets = np.arange(grid.size) * grid.spacing
    upper = np.clip(np.searchsorted(offsets, targets, side="left"), 1, len(offsets) - 1)
    lower = upper - 1
    weight = np.clip((targets - offsets[lower]) / (offsets[upper] - offsets[lower]), 0.0, 1.0).astype(np.float32)
    out = np.empty((grid.size, *slices.shape[1:]), dtype=np.float32)
    for k in range(grid.size):
        out[k] = (1 - weight[k]) * slices[lower[k]] + weight[k] * slices[upper[k]]
    for source, k in enumerate(grid.file_slices):  # source slices stay exactly as stored
        out[k] = slices[source]
    return out


def _describe_uneven(steps: np.ndarray, spacing: float) -> str:
    typical = float(np.median(steps))
    multiples = steps / typical
    if np.all(np.abs(multiples - np.round(multiples)) < 0.05):
        missing = int(np.sum(np.round(multiples) - 1))
        return (f"about {missing} slice(s) missing: a gap of {steps.max():.1f} mm where slices are {typical:.1f} mm apart; "
                f"slices are shown at their true positions, the gap interpolated")
    runs = _runs(steps)
    described = ", ".join(f"{step:.1f} mm for slices {start + 1}-{end + 1}" for step, start, end in runs[:4])
    more = f" and {len(runs) - 4} more changes" if len(runs) > 4 else ""
    return (f"slice spacing changes within the series ({described}{more}): slices are shown at their true positions "
            f"on a {spacing:.1f} mm grid, the slices in between interpolated")


def _runs(steps: np.ndarray) -> list[tuple[float, int, int]]:
    """(step, first slice, last slice) for each run of equal steps."""
    runs, start = [], 0
    for i in range(1, len(steps) + 1):
        if i == len(steps) or abs(steps[i] - steps[start]) > 0.01 * steps[start] + 1e-3:
            runs.append((float(steps[start:i].mean()), start, i))
            start = i
    return runs
