"""Nearest-neighbour resampling of labels between voxel grids, by physical position (LPS mm)."""

from __future__ import annotations

import numpy as np

from engine.runtime.io.volume import Volume


def index_to_physical(volume: Volume) -> tuple[np.ndarray, np.ndarray]:
    """(matrix, offset) mapping an (x, y, z) voxel index of ``volume`` to its LPS position in mm."""
    scale = np.diag(np.asarray(volume.spacing, dtype=float)[::-1])
    return np.asarray(volume.direction, dtype=float) @ scale, np.asarray(volume.origin, dtype=float)


def resample_nearest(source: Volume, target: Volume, fill: int = 0) -> np.ndarray:
    """``source``'s voxel values on ``target``'s grid (Z, Y, X); positions outside ``source`` get ``fill``."""
    source_matrix, source_origin = index_to_physical(source)
    target_matrix, target_origin = index_to_physical(target)
    inverse = np.linalg.inv(source_matrix)
    matrix, offset = inverse @ target_matrix, inverse @ (target_origin - source_origin)
    depth, rows, columns = target.shape
    out = np.full(target.shape, fill, dtype=source.array.dtype)
    yy, xx = np.mgrid[0:rows, 0:columns].astype(np.float64)
    size = np.array(source.shape[::-1])  # (x, y, z) sizes of the source
    for z in range(depth):
        coordinates = [matrix[axis, 0] * xx + matrix[axis, 1] * yy + (matrix[axis, 2] * z + offset[axis]) for axis in range(3)]
        index = [np.floor(c + 0.5).astype(np.int64) for c in coordinates]
        inside = np.ones((rows, columns), dtype=bool)
        for axis in range(3):
            inside &= (index[axis] >= 0) & (index[axis] < size[axis])
        if inside.any():
            out[z][inside] = source.array[index[2][inside], index[1][inside], index[0][inside]]
    return out
