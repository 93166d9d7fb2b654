"""The one preprocessing path shared by training and inference (numpy + Pillow, no torch).

Axis order everywhere: 2D images are (rows, columns); volumes are (slices, rows, columns).
"""

from __future__ import annotations

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


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a label mask with nearest neighbour; labels stay labels."""
    return resize(mask.astype(np.float32), size, nearest=True).astype(mask.dtype)


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


def prepare_ct_slices(volume: np.ndarray, contract: InputContract) -> np.ndarray:
    """A CT volume (Z, Y, X) in HU as (Z, 1, H, W) network inputs: HU window to [0, 1], each slice resized."""
    _check_normalisation(contract, "hu_window")
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 1:
        raise InputError(f"expected a CT volume (slices, rows, columns), got shape {volume.shape}")
    low, high = contract.window
    windowed = (np.clip(volume.astype(np.float32), low, high) - low) / (high - low)
    return np.stack([resize(s, contract.size) for s in windowed])[:, None]


def restore_probabilities(probabilities: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Map a network-sized probability map (H, W) back to the source slice (rows, columns), bilinear."""
    return np.clip(resize(probabilities, shape), 0.0, 1.0)


def _check_normalisation(contract: InputContract, expected: str) -> None:
    if contract.normalisation != expected:
        raise InputError(f"this model expects {contract.modality} input normalised by {contract.normalisation}")
