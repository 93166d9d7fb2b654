"""Reference masks (NIfTI, NRRD, MHA, DICOM SEG) brought onto the voxel grid of the image they label."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.dicom import is_dicom_file
from engine.runtime.io.resample import resample_nearest
from engine.runtime.io.volume_files import is_volume_file, read_stored
from engine.runtime.io.volume import Volume


def read_mask(path: Path | str, reference: Volume) -> np.ndarray:
    """Integer labels (Z, Y, X) on ``reference``'s grid; 0 is background, voxels outside the mask file are 0."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    if is_dicom_file(path):
        return _read_seg(path, reference)
    if is_volume_file(path):
        return _read_volume_mask(path, reference)
    raise InputError(f"{path.name}: a reference mask must be NIfTI, NRRD, MHA or DICOM SEG")


def labels_present(mask: np.ndarray) -> list[int]:
    """The non-zero labels in a mask, ascending."""
    return [int(v) for v in np.unique(mask) if v != 0]


def _read_volume_mask(path: Path, reference: Volume) -> np.ndarray:
    stored = read_stored(path)
    values = stored.array
    if not np.array_equal(values, np.round(values)):
        raise InputError(f"{path.name} holds non-integer values: it is an image, not a label mask")
    if values.min() < 0 or values.max() > np.iinfo(np.uint16).max:
        raise InputError(f"{path.name} holds labels outside 0..65535: it is an image, not a label mask")
    labels = resample_nearest(stored.with_array(values.astype(np.uint16)), reference)
    if not labels.any() and values.any():
        raise InputError(f"{path.name} does not overlap the open image (a mask of another scan?)")
    return labels


def _read_seg(path: Path, reference: Volume) -> np.ndarray:
    import pydicom

    try:
        seg = pydicom.dcmread(path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{path.name} is not a readable DICOM file: {err}") from err
    if seg.get("Modality") != "SEG":
        raise InputError(f"{path.name} is a DICOM {seg.get('Modality', 'object')}, not a segmentation (SEG)")
    stored = np.zeros_like(reference.to_stored(np.zeros(reference.shape, dtype=np.uint16)))
    if (int(seg.Rows), int(seg.Columns)) != stored.shape[1:]:
        raise InputError(f"{path.name} is {seg.Columns}x{seg.Rows}; the open image's slices are {stored.shape[2]}x{stored.shape[1]}")
    frames = np.asarray(seg.pixel_array).reshape(-1, int(seg.Rows), int(seg.Columns))
    shared = seg.get("SharedFunctionalGroupsSequence", [None])[0]
    for frame, group in zip(frames, seg.PerFrameFunctionalGroupsSequence):
        _check_orientation(group, shared, reference, path.name)
        index = _frame_index(group, reference, path.name)
        stored[index][frame > 0] = _segment_number(group, shared)
    return reference.from_stored(stored)


def _check_orientation(group, shared, reference: Volume, name: str) -> None:
    """The frame's rows and columns must run as the source slices' do: frames are placed as stored, never rotated."""
    for source in (group, shared):
        if source is not None and "PlaneOrientationSequence" in source:
            cosines = np.asarray(source.PlaneOrientationSequence[0].ImageOrientationPatient, dtype=float)
            break
    else:
        return  # no orientation recorded: the referenced instances place the frames
    direction = np.asarray(reference.direction, dtype=float)
    row_axis, column_axis = reference.stored_axes[2], reference.stored_axes[1]
    along_row = direction[:, 2 - row_axis] * (-1 if reference.stored_flips[1] else 1)
    along_column = direction[:, 2 - column_axis] * (-1 if reference.stored_flips[0] else 1)
    if np.dot(cosines[:3], along_row) < 0.99 or np.dot(cosines[3:], along_column) < 0.99:
        raise InputError(f"{name} stores its frames with orientation {cosines.round(3).tolist()}, unlike the open "
                         f"series' slices ({np.concatenate([along_row, along_column]).round(3).tolist()}): it cannot be "
                         "placed on this image")


def _segment_number(group, shared) -> int:
    """The frame's segment, from its own functional groups or the shared ones (one-segment SEGs)."""
    for source in (group, shared):
        if source is not None and "SegmentIdentificationSequence" in source:
            return int(source.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
    return 1


def _frame_index(group, reference: Volume, name: str) -> int:
    """The source frame (file) a SEG frame lies on, from its referenced instance or its position."""
    uid = _referenced_uid(group)
    if uid and uid in reference.instance_uids:
        return reference.instance_uids.index(uid)
    if reference.stored_axes != (0, 1, 2) or reference.file_slices:
        raise InputError(f"{name} references no instance of the open series, and its frames cannot be placed by position "
                         "on a reoriented or resampled series")
    position = np.asarray(group.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
    offset = np.linalg.solve(np.asarray(reference.direction, dtype=float), position - np.asarray(reference.origin))
    index = offset[2] / reference.spacing[0]
    if abs(index - round(index)) > 0.1 or not 0 <= round(index) < reference.shape[0] or np.abs(offset[:2]).max() > 0.5:
        raise InputError(f"{name} has a frame at {position.round(1).tolist()} mm that lies on no slice of the open image")
    return int(round(index))


def _referenced_uid(group) -> str:
    try:
        return str(group.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
    except (AttributeError, IndexError):
        return ""
