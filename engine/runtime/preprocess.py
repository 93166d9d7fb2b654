"""The one preprocessing path shared by training and inference (numpy + Pillow, no torch).

Axis order everywhere: 2D images are (rows, columns); volumes are (slices, rows, columns).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from engine.runtime.card import InputContract
from engine.runtime.errors import InputError


def resize(image: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize a 2D float image to ``size`` (rows, columns); bilinear (area-weighted when shrinking) or nearest."""
    rows, cols = size
    if image.shape == (rows, cols):
        return image.astype(np.float32, copy=False)
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    out = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize((cols, rows), resample)
    return np.asarray(out, dtype=np.float32)


def to_grey(image: np.ndarray) -> np.ndarray:
    """A 2D float32 image from grey (H, W) or RGB/RGBA (H, W, 3|4) pixels."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        image = image[..., :3].astype(np.float32).mean(axis=-1)
    if image.ndim != 2:
        raise InputError(f"expected a 2D radiograph, got an array of shape {image.shape}")
    return image.astype(np.float32, copy=False)


def prepare_radiograph(image: np.ndarray, contract: InputContract) -> np.ndarray:
    """A radiograph as a (1, 1, H, W) network input: grey, its own range to [0, 1], resized, (x - mean) / std."""
    _check_normalisation(contract, "mean_std")
    grey = to_grey(image)
    if not np.isfinite(grey).all():
        raise InputError("the image contains NaN or infinite pixel values")
    low, high = float(grey.min()), float(grey.max())
    if high <= low:
        raise InputError("the image is blank (every pixel has the same value)")
    scaled = resize((grey - low) / (high - low), contract.size)
    return ((scaled - contract.mean) / contract.std)[None, None].astype(np.float32)


@dataclass(frozen=True)
class SliceGeometry:
    """How a source slice maps onto the network input and back.

    The slice is resized to ``scaled`` pixels and placed with its top-left corner at ``offset`` in the
    ``size`` input (a negative offset crops it, a positive one pads it)."""

    source: tuple[int, int]
    scaled: tuple[int, int]
    offset: tuple[int, int]
    size: tuple[int, int]


def slice_geometry(shape: tuple[int, int], contract: InputContract,
                   spacing: tuple[float, float] | None = None) -> SliceGeometry:
    """The geometry of slices of ``shape`` (rows, columns) with in-plane ``spacing`` (mm) under ``contract``."""
    size = tuple(contract.size)
    if contract.pixel_spacing_mm is None:
        return SliceGeometry(tuple(shape), size, (0, 0), size)
    if spacing is None or not all(np.isfinite(spacing)) or min(spacing) <= 0:
        raise InputError("this model needs the image's pixel spacing in mm, and the file does not give it")
    scaled = tuple(max(1, round(n * mm / contract.pixel_spacing_mm)) for n, mm in zip(shape, spacing))
    offset = tuple((target - n) // 2 for target, n in zip(size, scaled))
    return SliceGeometry(tuple(shape), scaled, offset, size)


def to_input(image: np.ndarray, geometry: SliceGeometry, fill: float = 0.0, nearest: bool = False) -> np.ndarray:
    """A source slice (rows, columns) on the network's input grid."""
    scaled = resize(image, geometry.scaled, nearest)
    out = np.full(geometry.size, fill, dtype=np.float32)
    source, target = _overlap(geometry)
    out[target] = scaled[source]
    return out


def from_input(image: np.ndarray, geometry: SliceGeometry) -> np.ndarray:
    """A network-grid map (H, W) back on the source slice (rows, columns), bilinear; 0 where it was cropped."""
    scaled = np.zeros(geometry.scaled, dtype=np.float32)
    source, target = _overlap(geometry)
    scaled[source] = image[target]
    return resize(scaled, geometry.source)


def _overlap(geometry: SliceGeometry) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """The matching regions of the scaled slice and of the input."""
    source, target = [], []
    for n, offset, size in zip(geometry.scaled, geometry.offset, geometry.size):
        start, stop = max(0, -offset), min(n, size - offset)
        source.append(slice(start, stop))
        target.append(slice(start + offset, stop + offset))
    return tuple(source), tuple(target)


def prepare_ct_slices(volume: np.ndarray, contract: InputContract,
                      spacing: tuple[float, float] | None = None) -> np.ndarray:
    """A CT volume (Z, Y, X) in HU as (Z, 1, H, W) network inputs: HU window to [0, 1], each slice brought to
    the input grid (resized, or resampled to the contract's pixel spacing and centred; ``spacing`` in mm)."""
    _check_normalisation(contract, "hu_window")
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"expected a CT volume (slices, rows, columns), got shape {volume.shape}")
    geometry = slice_geometry(volume.shape[1:], contract, spacing)
    low, high = contract.window
    windowed = (np.clip(volume.astype(np.float32), low, high) - low) / (high - low)
    return np.stack([to_input(s, geometry) for s in windowed])[:, None]


def prepare_mask(mask: np.ndarray, contract: InputContract, spacing: tuple[float, float] | None = None) -> np.ndarray:
    """A label slice (rows, columns) on the network's input grid, nearest neighbour (labels stay labels)."""
    geometry = slice_geometry(mask.shape, contract, spacing)
    return to_input(mask.astype(np.float32), geometry, nearest=True).astype(mask.dtype)


def restore_probabilities(probabilities: np.ndarray, geometry: SliceGeometry) -> np.ndarray:
    """Map a network-grid probability map (H, W) back to the source slice, bilinear, within [0, 1]."""
    return np.clip(from_input(probabilities, geometry), 0.0, 1.0)


def _check_normalisation(contract: InputContract, expected: str) -> None:
    if contract.normalisation != expected:
        raise InputError(f"this model expects {contract.modality} input normalised by {contract.normalisation}")
