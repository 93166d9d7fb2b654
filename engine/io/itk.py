"""NIfTI, NRRD and MetaImage through SimpleITK, converted to DICOM LPS geometry (as ITK does)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.errors import InputError
from engine.io.volume import Volume

ITK_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd")


def is_itk_file(path: Path) -> bool:
    return str(path).lower().endswith(ITK_SUFFIXES)


def read_itk(path: Path, modality: str | None = None) -> Volume:
    """Read a NIfTI/NRRD/MHA image; 2D images become one slice. CT is assumed when values look like HU."""
    image = read_sitk(path, f"{_kind(path)} image")
    if image.GetNumberOfComponentsPerPixel() != 1:
        raise InputError(f"{Path(path).name} has {image.GetNumberOfComponentsPerPixel()} values per voxel; expected a greyscale image")
    if image.GetDimension() == 4 and image.GetSize()[3] == 1:
        image = image[:, :, :, 0]
    if image.GetDimension() not in (2, 3):
        raise InputError(f"{Path(path).name} is a {image.GetDimension()}D image; expected 2D or 3D")
    return _volume(image, path, modality)


def read_sitk(path: Path, what: str):
    """The SimpleITK image at ``path``, or an InputError saying it is not a readable ``what``."""
    import SimpleITK as sitk

    try:
        return sitk.ReadImage(str(path))
    except RuntimeError as err:
        raise InputError(f"{Path(path).name} is not a readable {what}: {_first_line(err)}") from err


def to_sitk(volume: Volume, array: np.ndarray | None = None):
    """A SimpleITK image with the volume's geometry over ``array`` (default: its own voxels)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(volume.array if array is None else array)
    image.SetSpacing(tuple(float(s) for s in volume.spacing[::-1]))
    image.SetOrigin(tuple(float(o) for o in volume.origin))
    image.SetDirection(tuple(float(d) for d in np.asarray(volume.direction, dtype=float).ravel()))
    return image


def _volume(image, path: Path, modality: str | None) -> Volume:
    import SimpleITK as sitk

    array = np.asarray(sitk.GetArrayFromImage(image), dtype=np.float32)
    spacing = tuple(float(s) for s in image.GetSpacing())[::-1]
    origin = tuple(float(o) for o in image.GetOrigin())
    direction = np.asarray(image.GetDirection(), dtype=float)
    if array.ndim == 2:
        array = array[None]
        spacing = (1.0, *spacing)
        origin = (*origin, 0.0)
        direction = np.eye(3)
        direction[:2, :2] = np.asarray(image.GetDirection(), dtype=float).reshape(2, 2)
    else:
        direction = direction.reshape(3, 3)
    guessed = modality or ("CT" if array.ndim == 3 and array.min() <= -500 else "OT")
    return Volume(array=np.ascontiguousarray(array), spacing=spacing, origin=origin, direction=direction,
                  modality=guessed, source=str(path), metadata={"SeriesDescription": Path(path).name}).canonical()


def _kind(path: Path) -> str:
    name = str(path).lower()
    return "NIfTI" if ".nii" in name else "NRRD" if ".nrrd" in name or ".nhdr" in name else "MetaImage"


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    useful = [line for line in lines if "ERROR" in line or "Unable" in line or "Could not" in line]
    return (useful or lines or ["unknown error"])[-1][:200]
