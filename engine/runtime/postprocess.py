"""3D clean-up of a predicted organ mask, as a radiologist expects of a liver: one organ, no holes.

A model card names the steps it was evaluated with (``ModelCard.postprocessing``); the Segmenter applies
exactly those, in order, and keeps the raw mask beside the result so that both can be compared.

Connected components are labelled on runs (the horizontal stretches of foreground in each row): runs
are the nodes, runs that touch across rows and slices are the edges, and a vectorised union-find joins
them. numpy only, so the installer needs no scipy; tests check it against SimpleITK.
"""

from __future__ import annotations

from itertools import product
from typing import Callable, Sequence

import numpy as np

from engine.runtime.errors import BundleError


def label(mask: np.ndarray, full: bool = True) -> tuple[np.ndarray, int]:
    """Connected components of a 3D boolean mask: labels (int32, 0 background, 1..count) and count.

    ``full``: 26-connected (touching at a corner counts); else 6-connected (faces only)."""
    mask = np.asarray(mask, dtype=bool)
    runs, count = _runs(mask)
    if count == 0:
        return np.zeros(mask.shape, np.int32), 0
    root = _union(count, _touching_runs(runs, full))
    _, compact = np.unique(root, return_inverse=True)  # root 0 is the background, first
    return compact.astype(np.int32)[runs], int(compact.max())


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component; an empty mask stays empty."""
    labels, count = label(mask)
    if count <= 1:
        return labels > 0
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Fill the holes of every axial slice: background not 4-connected to the slice's border (vessels and
    lesions enclosed by the organ belong to it)."""
    filled = np.asarray(mask, dtype=bool).copy()
    for z in np.flatnonzero(filled.any(axis=(1, 2))):
        rows, cols = np.flatnonzero(filled[z].any(axis=1)), np.flatnonzero(filled[z].any(axis=0))
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        background = np.pad(~filled[z][box], 1, constant_values=True)  # a frame joins all outside background
        labels, _ = label(background[None], full=False)
        holes = (labels[0] != labels[0, 0, 0]) & background
        filled[z][box] |= holes[1:-1, 1:-1]
    return filled


def _runs(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Each foreground voxel's run number (1..count, along the last axis), 0 on the background."""
    rows = mask.reshape(-1, mask.shape[-1])
    edges = np.diff(np.pad(rows, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    start_row, start = np.nonzero(edges == 1)
    end_row, end = np.nonzero(edges == -1)
    count = len(start)
    marks = np.zeros((rows.shape[0], rows.shape[1] + 1), np.int32)
    ids = np.arange(1, count + 1, dtype=np.int32)
    marks[start_row, start] += ids
    marks[end_row, end] -= ids
    return np.cumsum(marks, axis=1, dtype=np.int32)[:, :-1].reshape(mask.shape), count


def _touching_runs(runs: np.ndarray, full: bool) -> np.ndarray:
    """Unique pairs (a, b) of runs in neighbouring rows or slices that touch."""
    offsets = [(dz, dy, dx) for dz, dy, dx in product((0, 1), (-1, 0, 1), (-1, 0, 1))
               if (dz, dy) > (0, 0) and (full or (dx == 0 and dz + abs(dy) == 1))]
    pairs = []
    for offset in offsets:
        here, there = _shifted(runs, offset)
        touch = (here > 0) & (there > 0)
        # along a row, neighbours repeat the same pair: keep only where the pair changes
        changed = np.ones_like(touch)
        changed[..., 1:] = (here[..., 1:] != here[..., :-1]) | (there[..., 1:] != there[..., :-1])
        keep = touch & changed
        pairs.append(np.stack([here[keep], there[keep]], axis=1))
    found = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.int32)
    return np.unique(found, axis=0)


def _shifted(array: np.ndarray, offset: tuple[int, int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Views of ``array`` and of its neighbour at ``offset`` over the region where both exist."""
    here, there = [], []
    for delta, n in zip(offset, array.shape):
        here.append(slice(max(0, -delta), n - max(0, delta)))
        there.append(slice(max(0, delta), n - max(0, -delta)))
    return array[tuple(here)], array[tuple(there)]


def _union(count: int, pairs: np.ndarray) -> np.ndarray:
    """For each run 0..count, the smallest run of its component (run 0, the background, stays 0)."""
    root = np.arange(count + 1, dtype=np.int64)
    if len(pairs) == 0:
        return root
    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    while True:
        low = np.minimum(root[a], root[b])
        before = root.copy()
        np.minimum.at(root, root[a], low)  # hook the larger root under the smaller
        np.minimum.at(root, root[b], low)
        while True:  # pointer jumping: every run points at its root
            jumped = root[root]
            if np.array_equal(jumped, root):
                break
            root = jumped
        if np.array_equal(root, before):
            return root


STEPS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "largest_component_3d": largest_component,
    "fill_holes_2d": fill_holes,
}


def check_steps(steps: Sequence[str]) -> None:
    """Refuse a card that names a step this engine does not have."""
    unknown = [step for step in steps if step not in STEPS]
    if unknown:
        raise BundleError(f"unknown post-processing step(s) {', '.join(unknown)}; this engine has {', '.join(STEPS)}")


def postprocess(mask: np.ndarray, steps: Sequence[str]) -> np.ndarray:
    """``mask`` (Z, Y, X) after ``steps`` in order, as uint8."""
    check_steps(steps)
    result = np.asarray(mask, dtype=bool)
    for step in steps:
        result = STEPS[step](result)
    return result.astype(np.uint8)
