"""NIfTI-1/2 through nibabel, converted between NIfTI's RAS world and the DICOM LPS geometry used here."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.volume import Volume

RAS_TO_LPS = np.diag([-1.0, -1.0, 1.0])


def read_nifti(path: Path) -> Volume:
    """The image as stored (not reoriented): values after scl_slope / scl_inter, float32, (Z, Y, X)."""
    import nibabel

    try:
        image = nibabel.load(str(path))
        array = np.asarray(image.get_fdata(dtype=np.float32))
    except Exception as err:  # noqa: BLE001 - nibabel raises many types for damaged files
        raise InputError(f"{Path(path).name} is not a readable NIfTI image: {str(err).splitlines()[0][:200]}") from err
    while array.ndim > 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise InputError(f"{Path(path).name} is a {array.ndim}D image (shape {array.shape}); expected 2D or 3D")
    linear, offset = RAS_TO_LPS @ image.affine[:3, :3], RAS_TO_LPS @ image.affine[:3, 3]
    spacing_xyz = np.linalg.norm(linear, axis=0)
    spacing_xyz[spacing_xyz == 0] = 1.0
    return Volume(array=np.ascontiguousarray(array.transpose(2, 1, 0)), spacing=tuple(float(s) for s in spacing_xyz[::-1]),
                  origin=tuple(float(o) for o in offset), direction=linear / spacing_xyz, source=str(path),
                  warnings=_orientation_warnings(image))


def _orientation_warnings(image) -> tuple[str, ...]:
    """NIfTI without a qform or sform code states no patient orientation: left and right are unknown."""
    header = image.header
    if int(header.get("qform_code", 0)) > 0 or int(header.get("sform_code", 0)) > 0:
        return ()
    return ("the NIfTI file states no orientation (qform and sform codes are 0): left and right are unknown; "
            "the orientation letters are a guess",)


def write_nifti(path: Path, array: np.ndarray, like: Volume) -> None:
    """``array`` (Z, Y, X) as NIfTI with ``like``'s geometry (qform and sform both set, millimetres)."""
    import nibabel

    affine = np.eye(4)
    scale = np.diag(np.asarray(like.spacing, dtype=float)[::-1])
    affine[:3, :3] = RAS_TO_LPS @ np.asarray(like.direction, dtype=float) @ scale
    affine[:3, 3] = RAS_TO_LPS @ np.asarray(like.origin, dtype=float)
    image = nibabel.Nifti1Image(np.ascontiguousarray(np.asarray(array).transpose(2, 1, 0)), affine)
    image.set_qform(affine, code=1)
    image.set_sform(affine, code=1)
    image.header.set_xyzt_units("mm")
    nibabel.save(image, str(path))
