"""Plain pictures of radiographs (PNG, JPEG, TIFF) as they are distributed in NIH ChestX-ray14."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.volume import Volume

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def is_raster_file(path: Path) -> bool:
    return Path(path).suffix.lower() in RASTER_SUFFIXES


def read_raster(path: Path) -> Volume:
    """A greyscale radiograph picture (colour channels averaged); no physical spacing is known."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as picture:
            picture.load()
            pixels = _grey(picture)
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise InputError(f"{Path(path).name} is not a readable picture: {err}") from err
    if pixels.size == 0 or min(pixels.shape) < 8:
        raise InputError(f"{Path(path).name} is too small to be a radiograph ({pixels.shape[1]}x{pixels.shape[0]} pixels)")
    return Volume(array=pixels[None], modality="XR", source=str(path),
                  warnings=("no pixel spacing in a picture file: distances are in pixels",), pixel_spacing_known=False,
                  metadata={"SeriesDescription": Path(path).name})


def _grey(picture) -> np.ndarray:
    if picture.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        return np.asarray(picture, dtype=np.float32)
    return np.asarray(picture.convert("RGB"), dtype=np.float32).mean(axis=-1) if picture.mode not in ("L", "LA") \
        else np.asarray(picture.convert("L"), dtype=np.float32)
