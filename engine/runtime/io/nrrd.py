"""NRRD through pynrrd (3D scalar images with a 'space' and 'space directions')."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.volume import Volume

RAS_SPACES = {"right-anterior-superior", "ras", "scanner-xyz"}


def read_nrrd(path: Path) -> Volume:
    """The image as stored (not reoriented), float32, (Z, Y, X), geometry converted to LPS."""
    import nrrd

    try:
        data, header = nrrd.read(str(path))
    except Exception as err:  # noqa: BLE001 - pynrrd raises its own and numpy errors
        raise InputError(f"{Path(path).name} is not a readable NRRD image: {str(err).splitlines()[0][:200]}") from err
    ndims = data.ndim
    if ndims not in (2, 3):
        raise InputError(f"{Path(path).name} is a {ndims}D image (shape {data.shape}); expected a 2D or 3D scalar image")
    if ndims == 2:
        data = data[..., None]
    linear, origin = np.eye(3), np.zeros(3)
    directions = header.get("space directions")
    if directions is None:
        spacings = [float(s) if np.isfinite(s) else 1.0 for s in header.get("spacings", [1.0] * ndims)]
        linear[:ndims, :ndims] = np.diag(spacings[:ndims])
    else:
        vectors = [np.asarray(d, dtype=float) for d in directions if d is not None and np.all(np.isfinite(d))]
        if len(vectors) == ndims:
            linear[:ndims, :ndims] = np.stack(vectors, axis=1)[:ndims]
    if "space origin" in header:
        given = np.asarray(header["space origin"], dtype=float)
        origin[: given.size] = given
    if str(header.get("space", "")).lower() in RAS_SPACES:
        flip = np.diag([-1.0, -1.0, 1.0])
        linear, origin = flip @ linear, flip @ origin
    spacing_xyz = np.linalg.norm(linear, axis=0)
    spacing_xyz[spacing_xyz == 0] = 1.0
    return Volume(array=np.ascontiguousarray(data.transpose(2, 1, 0), dtype=np.float32),
                  spacing=tuple(float(s) for s in spacing_xyz[::-1]), origin=tuple(float(o) for o in origin),
                  direction=linear / spacing_xyz, source=str(path))
