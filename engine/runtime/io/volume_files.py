"""Volume files (NIfTI, NRRD, MetaImage) read into a Volume in DICOM LPS geometry, as ITK does,
with pure-Python readers (nibabel, pynrrd, a MetaImage parser): no 260 MB ITK in the installer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.metaimage import read_metaimage
from engine.runtime.io.nifti import read_nifti
from engine.runtime.io.nrrd import read_nrrd
from engine.runtime.io.volume import Volume

VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_volume_file(path: Path) -> bool:
    return str(path).lower().endswith(VOLUME_SUFFIXES)


def read_stored(path: Path) -> Volume:
    """The image exactly as stored (axes not reoriented): for masks and for writing on the same grid."""
    name = str(path).lower()
    if ".nii" in name:
        return read_nifti(Path(path))
    if name.endswith((".nrrd", ".nhdr")):
        return read_nrrd(Path(path))
    if name.endswith((".mha", ".mhd")):
        return read_metaimage(Path(path))
    raise InputError(f"{Path(path).name} is not a NIfTI, NRRD or MetaImage file")


def read_volume_file(path: Path, modality: str | None = None) -> Volume:
    """An image for display and models: canonical axes; CT assumed when values look like HU."""
    stored = read_stored(path)
    guessed = modality or ("CT" if stored.shape[0] > 1 and looks_like_hu(stored.array) else "OT")
    return Volume(array=stored.array, spacing=stored.spacing, origin=stored.origin, direction=stored.direction, warnings=stored.warnings,
                  modality=guessed, source=str(path), metadata={"SeriesDescription": Path(path).name}).canonical()


def looks_like_hu(array: np.ndarray) -> bool:
    """Values down to air (about -1000) with NaN and infinities ignored: a CT in Hounsfield units."""
    finite = array[np.isfinite(array)]
    return finite.size > 0 and float(finite.min()) <= -500
