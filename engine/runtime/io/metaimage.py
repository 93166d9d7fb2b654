"""MetaImage (.mha with the data inside, .mhd with a separate raw file): a text header, then the voxels."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.volume import Volume

ELEMENT_TYPES = {
    "MET_CHAR": "i1", "MET_UCHAR": "u1", "MET_SHORT": "i2", "MET_USHORT": "u2", "MET_INT": "i4", "MET_UINT": "u4",
    "MET_LONG": "i4", "MET_ULONG": "u4", "MET_LONG_LONG": "i8", "MET_ULONG_LONG": "u8", "MET_FLOAT": "f4", "MET_DOUBLE": "f8",
}
ALIASES = {"Origin": "Offset", "Position": "Offset", "Rotation": "TransformMatrix", "Orientation": "TransformMatrix",
           "ElementByteOrderMSB": "BinaryDataByteOrderMSB", "ElementSize": "ElementSpacing"}


def read_metaimage(path: Path) -> Volume:
    """The image as stored (not reoriented), float32, (Z, Y, X)."""
    path = Path(path)
    header, data = _split(path)
    try:
        dims = [int(v) for v in header["DimSize"].split()]
        dtype = np.dtype(ELEMENT_TYPES[header["ElementType"]]).newbyteorder(">" if _true(header.get("BinaryDataByteOrderMSB")) else "<")
    except KeyError as err:
        raise InputError(f"{path.name}: MetaImage header lacks or has an unknown {err}") from err
    if int(header.get("ElementNumberOfChannels", "1")) != 1:
        raise InputError(f"{path.name} has {header['ElementNumberOfChannels']} values per voxel; expected a greyscale image")
    ndims = len(dims)
    if ndims not in (2, 3):
        raise InputError(f"{path.name} is a {ndims}D image; expected 2D or 3D")
    dims += [1] * (3 - ndims)
    if _true(header.get("CompressedData")):
        data = zlib.decompress(data)
    count = int(np.prod(dims))
    if len(data) < count * dtype.itemsize:
        raise InputError(f"{path.name} is truncated: {len(data)} bytes of voxels, {count * dtype.itemsize} expected")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(dims[::-1]).astype(np.float32)
    spacing = _numbers(header.get("ElementSpacing"), [1.0] * ndims, ndims) + [1.0] * (3 - ndims)
    origin = _numbers(header.get("Offset"), [0.0] * ndims, ndims) + [0.0] * (3 - ndims)
    matrix = _numbers(header.get("TransformMatrix"), list(np.eye(ndims).ravel()), ndims * ndims)
    direction = np.eye(3)
    direction[:ndims, :ndims] = np.asarray(matrix, dtype=float).reshape(ndims, ndims).T  # ITK: row i = direction of axis i
    return Volume(array=np.ascontiguousarray(array), spacing=tuple(spacing[::-1]), origin=tuple(origin),
                  direction=direction, source=str(path))


def _split(path: Path) -> tuple[dict[str, str], bytes]:
    """The header fields and the voxel bytes (from the same file or the one ElementDataFile names)."""
    raw = path.read_bytes()
    header: dict[str, str] = {}
    position = 0
    while position < len(raw):
        end = raw.find(b"\n", position)
        end = len(raw) if end < 0 else end
        line = raw[position:end].decode("latin-1").strip()
        position = end + 1
        if "=" not in line:
            continue
        key, value = (part.strip() for part in line.split("=", 1))
        header[ALIASES.get(key, key)] = value
        if key == "ElementDataFile":
            break
    source = header.get("ElementDataFile")
    if source is None:
        raise InputError(f"{path.name} is not a MetaImage file (no ElementDataFile line)")
    if source == "LOCAL":
        return header, raw[position:]
    data_path = path.parent / source
    if not data_path.is_file():
        raise InputError(f"{path.name} names a data file {source} that is not beside it")
    return header, data_path.read_bytes()


def _numbers(text: str | None, default: list[float], count: int) -> list[float]:
    if not text:
        return default
    values = [float(v) for v in text.split()]
    return values[:count] if len(values) >= count else values + default[len(values):count]


def _true(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")
