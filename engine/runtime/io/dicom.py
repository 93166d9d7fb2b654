"""DICOM: read one series, radiograph or multi-frame image into a Volume, or say why not.

Slices are ordered and placed by their position along the slice normal, never by file name or
instance number; pixel data in any transfer syntax pydicom can decode with the pylibjpeg plugins
are rescaled to modality units (HU for CT). Radiographs get the file's modality and VOI LUT, as
they were meant to be seen. Enhanced (multi-frame) CT and MR are read through their functional
groups by highdicom. Spacing that is zero, negative, NaN or absurd is treated as missing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.dicom_scan import NOT_IMAGES, DicomSeries, is_dicom_file, scan_dicom
from engine.runtime.io.slice_grid import place_slices, resample_slices
from engine.runtime.io.volume import RADIOGRAPH_MODALITIES, Volume, plane_of

__all__ = ["DicomSeries", "NotAnImage", "is_dicom_file", "read_dicom_file", "read_dicom_series", "scan_dicom"]

METADATA_KEYS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyDescription",
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "FrameOfReferenceUID",
    "AccessionNumber", "InstitutionName", "Manufacturer", "BodyPartExamined", "ViewPosition", "PatientOrientation",
    "ProtocolName", "ImageType", "BurnedInAnnotation",
)
PIXEL_SPACING_MM = (1e-3, 50.0)  # anything outside is not a pixel size
SLICE_SPACING_MM = (1e-3, 200.0)
OBJECT_NAMES = {"SEG": "segmentation (SEG)", "RTSTRUCT": "RT structure set (RTSTRUCT)", "SR": "structured report (SR)",
                "RTPLAN": "RT plan", "RTDOSE": "RT dose grid", "PR": "presentation state", "KO": "key object selection"}


class NotAnImage(InputError):
    """A DICOM object that is not an image (SEG, RTSTRUCT, SR...); ``modality`` says which."""

    def __init__(self, message: str, modality: str, path: Path):
        super().__init__(message)
        self.modality, self.path = modality, Path(path)


def read_dicom_series(series: DicomSeries, progress: Callable[[int, int], None] | None = None) -> Volume:
    """Decode a series into a Volume in modality units, placed along the slice normal."""
    import pydicom

    datasets = []
    for done, path in enumerate(series.files, start=1):
        try:
            datasets.append(pydicom.dcmread(path))
        except Exception as err:  # noqa: BLE001
            raise InputError(f"cannot read DICOM file {path.name}: {err}") from err
        if progress is not None:
            progress(done, len(series.files))
    volume = _single_file_volume(datasets[0], series.files[0]) if len(datasets) == 1 else _stacked_volume(datasets, series)
    return _with_warnings(volume, series.notes)


def read_dicom_file(path: Path) -> Volume:
    """One DICOM file: a radiograph, a single slice or a multi-frame image."""
    import pydicom

    try:
        dataset = pydicom.dcmread(path, force=not is_dicom_file(Path(path)))  # some writers leave out the preamble
        dataset.get("Modality")
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{Path(path).name} is not a readable DICOM file: {err}") from err
    if "SOPClassUID" not in dataset and "Modality" not in dataset:
        raise InputError(f"{Path(path).name} is not a readable DICOM file: no DICOM attributes found")
    _refuse_non_image(dataset, Path(path))
    return _single_file_volume(dataset, Path(path))


def _refuse_non_image(dataset, path: Path) -> None:
    modality = str(dataset.get("Modality", ""))
    if modality in NOT_IMAGES:
        what = OBJECT_NAMES.get(modality, f"{modality} object")
        hint = {"SEG": f" of {_segment_names(dataset)}: open its image series first, then load this file as the "
                       "reference mask (Ctrl+R)",
                "RTSTRUCT": f" ({_roi_names(dataset)}): contours, not an image; open the CT it outlines instead"}
        raise NotAnImage(f"{path.name} is a DICOM {what}, not an image{hint.get(modality, '')}", modality, path)
    if "PixelData" not in dataset:
        raise NotAnImage(f"{path.name} holds no image (a DICOM {modality or 'object'} without pixel data)", modality, path)


def _segment_names(dataset) -> str:
    names = [str(item.get("SegmentLabel", "?")) for item in dataset.get("SegmentSequence", [])]
    return f"{len(names)} segment(s): {', '.join(names[:5])}" if names else "no described segments"


def _roi_names(dataset) -> str:
    names = [str(item.get("ROIName", "?")) for item in dataset.get("StructureSetROISequence", [])]
    return f"{len(names)} structure(s): {', '.join(names[:5])}" if names else "no structures"


def _with_warnings(volume: Volume, notes: tuple[str, ...]) -> Volume:
    return replace(volume, warnings=volume.warnings + tuple(notes)) if notes else volume


def _decoded(dataset, name: str) -> np.ndarray:
    try:
        pixels = dataset.pixel_array
    except Exception as err:  # noqa: BLE001 - missing decoder, truncated data, corrupt codestream
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown")
        name_of_syntax = getattr(syntax, "name", str(syntax))
        raise InputError(f"cannot decode the pixels of {name} ({name_of_syntax}): {err}") from err
    if str(dataset.get("PhotometricInterpretation", "")) not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(f"{name} is a colour image ({dataset.PhotometricInterpretation}); expected greyscale")
    return pixels


def _pixels(dataset, name: str) -> np.ndarray:
    """Decoded pixels in modality units (rescale slope/intercept applied), float32."""
    from pydicom.pixels import apply_rescale

    return np.asarray(apply_rescale(_decoded(dataset, name), dataset), dtype=np.float32)


def _radiograph(dataset, name: str) -> tuple[np.ndarray, tuple[float, float] | None]:
    """A projection image as the file says to show it: modality LUT, then VOI LUT or window, then
    MONOCHROME1 inverted; returns the pixels and the window covering the VOI output."""
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    values = apply_modality_lut(_decoded(dataset, name), dataset)
    output_range = _voi_output_range(dataset)
    if output_range is not None:
        values = np.asarray(apply_voi_lut(values, dataset, index=0), dtype=np.float64)
        low, high = output_range
        window = ((low + high) / 2, max(high - low, 1.0))
    else:
        values = np.asarray(values, dtype=np.float64)
        low, high, window = float(values.min()), float(values.max()), None
    if str(dataset.get("PhotometricInterpretation")) == "MONOCHROME1":
        values = (low + high) - values
    return values.astype(np.float32), window


def _voi_output_range(dataset) -> tuple[float, float] | None:
    """The value range a VOI LUT or window maps onto (pydicom's convention), None when the file has neither."""
    if "VOILUTSequence" in dataset and dataset.VOILUTSequence:
        bits = int(dataset.VOILUTSequence[0].LUTDescriptor[2])
        return 0.0, float(2**bits - 1)
    if _window(dataset) is None:
        return None
    bits = int(dataset.get("BitsStored", 16))
    if int(dataset.get("PixelRepresentation", 0)):
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def _window(dataset) -> tuple[float, float] | None:
    centre, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if centre is None or width is None:
        return None
    try:
        centre, width = _first(centre), _first(width)
    except (TypeError, ValueError, IndexError):
        return None
    return (centre, width) if np.isfinite(centre) and np.isfinite(width) and width >= 1 else None


def _first(value) -> float:
    """The first of a possibly multi-valued number (several VOI windows may be stored)."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, (MultiValue, list, tuple)) else value)


def _metadata(dataset) -> dict[str, str]:
    found = {}
    for key in METADATA_KEYS:
        value = dataset.get(key)
        if value not in (None, ""):
            found[key] = "\\".join(str(v) for v in value) if key in ("PatientOrientation", "ImageType") else str(value)
    return found


def _orientation(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cosines = np.asarray(dataset.get("ImageOrientationPatient") or [1, 0, 0, 0, 1, 0], dtype=float)
    row, column = cosines[:3], cosines[3:]
    normal = np.cross(row, column)
    if not np.isfinite(cosines).all() or np.linalg.norm(normal) < 0.5:
        raise InputError(f"ImageOrientationPatient {list(cosines)} is not a valid orientation")
    return row, column, normal


def _pair(value) -> tuple[float, float] | None:
    try:
        row, column = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    low, high = PIXEL_SPACING_MM
    return (row, column) if all(np.isfinite(v) and low <= v <= high for v in (row, column)) else None


def _in_plane_spacing(dataset, warnings: list[str]) -> tuple[float, float] | None:
    """PixelSpacing, or for radiographs ImagerPixelSpacing; otherwise None (sizes in pixels) with a warning."""
    stored = dataset.get("PixelSpacing")
    spacing = _pair(stored)
    if spacing is not None:
        return spacing
    said = "" if stored is None else f"PixelSpacing {'/'.join(str(v) for v in stored)} is not a valid size"
    if str(dataset.get("Modality", "")) in RADIOGRAPH_MODALITIES:
        imager = _pair(dataset.get("ImagerPixelSpacing"))
        if imager is not None:
            if said:
                warnings.append(f"{said}: using ImagerPixelSpacing (at the detector, not corrected for magnification)")
            return imager
    warnings.append(f"{said or 'no pixel spacing in the file'}: sizes and distances are in pixels, not mm")
    return None


def _header_slice_spacing(dataset, warnings: list[str]) -> float:
    for keyword in ("SpacingBetweenSlices", "SliceThickness"):
        try:
            value = float(dataset.get(keyword))
        except (TypeError, ValueError):
            continue
        if np.isfinite(value) and SLICE_SPACING_MM[0] <= value <= SLICE_SPACING_MM[1]:
            return value
    warnings.append("no valid slice spacing in the file: 1 mm assumed between slices")
    return 1.0


def _single_file_volume(dataset, path: Path) -> Volume:
    if int(dataset.get("NumberOfFrames", 1) or 1) > 1 and "PerFrameFunctionalGroupsSequence" in dataset:
        return _enhanced_volume(dataset, path)
    sop_class = getattr(dataset.get("SOPClassUID"), "name", "")
    if "Enhanced" in sop_class:
        raise InputError(f"{path.name} is an {sop_class} without functional groups: where its frames lie is unknown, "
                         "so it is not shown rather than shown wrongly")
    modality = str(dataset.get("Modality", "OT"))
    warnings: list[str] = []
    if modality in RADIOGRAPH_MODALITIES and int(dataset.get("NumberOfFrames", 1) or 1) == 1:
        frames, window = _radiograph(dataset, path.name)
        frames, direction = frames[None], _radiograph_direction(dataset, warnings)
    else:
        pixels = _pixels(dataset, path.name)
        frames, window = (pixels if pixels.ndim == 3 else pixels[None]), _window(dataset)
        if str(dataset.get("PhotometricInterpretation")) == "MONOCHROME1":
            frames, window = _invert(frames, window)
        row, column, normal = _orientation(dataset)
        direction = np.stack([row, column, normal], axis=1)
    pixel_spacing = _in_plane_spacing(dataset, warnings)
    dy, dx = pixel_spacing or (1.0, 1.0)
    dz = _header_slice_spacing(dataset, warnings) if frames.shape[0] > 1 else 1.0
    if frames.shape[0] > 1:
        warnings.append("multi-frame image without per-frame positions: frames shown in stored order, "
                        f"{dz:g} mm apart as the header says")
    return Volume(
        array=np.ascontiguousarray(frames, dtype=np.float32),
        spacing=(dz, dy, dx),
        origin=tuple(float(v) for v in dataset.get("ImagePositionPatient") or [0.0, 0.0, 0.0]),
        direction=direction,
        modality=modality,
        window=window,
        warnings=tuple(warnings),
        source=str(path),
        metadata=_metadata(dataset),
        instance_uids=(instance_uid(dataset),),
        files=(str(path),),
        stored_plane="projection" if modality in RADIOGRAPH_MODALITIES else plane_of(direction[:, 2]),
        pixel_spacing_known=pixel_spacing is not None,
    ).canonical()


PATIENT_LETTERS = {"L": (1, 0, 0), "R": (-1, 0, 0), "P": (0, 1, 0), "A": (0, -1, 0), "H": (0, 0, 1), "F": (0, 0, -1)}


def _radiograph_direction(dataset, warnings: list[str]) -> np.ndarray:
    """Patient directions of a projection's rows and columns from PatientOrientation (e.g. L\\F),
    identity when absent (the viewer then shows no orientation letters)."""
    value = dataset.get("PatientOrientation")
    try:
        row, column = (np.sum([PATIENT_LETTERS[c] for c in str(part).upper()], axis=0) for part in value)
        row, column = row / np.linalg.norm(row), column / np.linalg.norm(column)
    except (TypeError, ValueError, KeyError, ZeroDivisionError):
        if value:
            warnings.append(f"PatientOrientation {value!r} is not readable: orientation not shown")
        return np.eye(3)
    return np.stack([row, column, np.cross(row, column)], axis=1)


def _enhanced_volume(dataset, path: Path) -> Volume:
    """An enhanced (multi-frame) CT/MR: positions, orientation, spacing and rescale from the functional groups."""
    import highdicom as hd

    modality = str(dataset.get("Modality", "OT"))
    _decoded(dataset, path.name)  # a clear message for undecodable or colour pixel data
    try:
        image = hd.Image.from_dataset(dataset, copy=False)
        stack = image.get_volume(apply_real_world_transform=False, apply_modality_transform=True, dtype=np.float32)
    except Exception as err:  # noqa: BLE001 - highdicom raises several types for irregular frame sets
        raise InputError(f"{path.name} is an enhanced multi-frame {modality} whose frames do not form one regular volume "
                         f"({str(err).splitlines()[0][:160]}); it is not shown rather than shown wrongly") from err
    shared = dataset.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in dataset else None
    window = None
    for group in (shared, dataset.PerFrameFunctionalGroupsSequence[0]):
        if group is not None and "FrameVOILUTSequence" in group:
            window = _window(group.FrameVOILUTSequence[0])
    direction = np.asarray(stack.direction, dtype=float)[:, ::-1]
    return Volume(
        array=np.ascontiguousarray(stack.array, dtype=np.float32),
        spacing=tuple(float(s) for s in stack.spacing),
        origin=tuple(float(v) for v in stack.position),
        direction=direction,
        modality=modality,
        window=window,
        source=str(path),
        metadata={**_metadata(dataset), **_frame_anatomy(shared)},
        instance_uids=(instance_uid(dataset),),
        files=(str(path),),
        stored_plane=plane_of(direction[:, 2]),
    ).canonical()


def _frame_anatomy(shared) -> dict[str, str]:
    """The anatomic region an enhanced image names in its shared Frame Anatomy (e.g. Brain)."""
    try:
        region = shared.FrameAnatomySequence[0].AnatomicRegionSequence[0].CodeMeaning
    except (AttributeError, IndexError, TypeError):
        return {}
    return {"AnatomicRegion": str(region)}


def _instance_number(dataset) -> int | None:
    try:
        return int(dataset.get("InstanceNumber"))
    except (TypeError, ValueError):
        return None


def instance_uid(dataset) -> str:
    """The SOP Instance UID, from the file meta when the dataset's own is blank (some exports blank it)."""
    uid = str(dataset.get("SOPInstanceUID", "") or "")
    meta = getattr(dataset, "file_meta", None)
    if not uid and meta is not None:
        uid = str(meta.get("MediaStorageSOPInstanceUID", "") or "")
    return uid


def _invert(frames: np.ndarray, window: tuple[float, float] | None):
    """MONOCHROME1 stores bone dark: flip the values (and the window centre) so it displays bright."""
    low, high = float(frames.min()), float(frames.max())
    inverted = (high + low) - frames
    return inverted, None if window is None else (high + low - window[0], window[1])


def _stacked_volume(datasets: list, series: DicomSeries) -> Volume:
    warnings: list[str] = []
    row, column, normal = _orientation(datasets[0])
    positions = None
    if any("ImagePositionPatient" not in ds for ds in datasets):
        order = sorted(range(len(datasets)), key=lambda i: int(datasets[i].get("InstanceNumber", i) or i))
        offsets = np.arange(len(datasets)) * _header_slice_spacing(datasets[0], warnings)
        warnings.append("slices carry no position: ordered by instance number, spacing from the header")
    else:
        unordered = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for ds in datasets])
        order = list(np.argsort(unordered @ normal, kind="stable"))
        positions = unordered[order]
        offsets = positions @ normal
    ordered = [datasets[i] for i in order]
    slices = np.stack([_pixels(ds, Path(series.files[i]).name) for ds, i in zip(ordered, order)])
    window = _window(ordered[0])
    if str(ordered[0].get("PhotometricInterpretation")) == "MONOCHROME1":
        slices, window = _invert(slices, window)
    pixel_spacing = _in_plane_spacing(ordered[0], warnings)
    dy, dx = pixel_spacing or (1.0, 1.0)
    tilted = False
    if positions is not None:
        tilt = _tilt_degrees(positions, normal)
        if tilt > 0.5:
            tilted = True
            warnings.append(f"gantry tilt of {tilt:.1f} degrees: slices shifted in-plane to undo the shear")
            slices = _undo_tilt(slices, positions, (row, column, normal), (dy, dx))
    grid = place_slices(offsets)
    slices = resample_slices(slices, offsets, grid)
    return Volume(
        array=np.ascontiguousarray(slices, dtype=np.float32),
        spacing=(grid.spacing, dy, dx),
        origin=tuple(float(v) for v in ordered[0].get("ImagePositionPatient") or [0.0, 0.0, 0.0]),
        direction=np.stack([row, column, normal], axis=1),
        modality=series.modality,
        window=window,
        warnings=tuple(warnings) + grid.warnings,
        source=str(Path(series.files[0]).parent),
        metadata=_metadata(ordered[0]),
        instance_uids=tuple(instance_uid(ds) for ds in ordered),
        instance_numbers=tuple(_instance_number(ds) for ds in ordered),
        files=tuple(str(series.files[i]) for i in order),
        resampled=tilted,
        file_slices=grid.file_slices,
        stored_plane=plane_of(normal),
        pixel_spacing_known=pixel_spacing is not None,
    ).canonical()


def _undo_tilt(slices: np.ndarray, positions: np.ndarray, axes, spacing: tuple[float, float]) -> np.ndarray:
    """Resample each slice onto the first slice's in-plane grid (tilted slices drift sideways with depth)."""
    row, column, normal = axes
    dy, dx = spacing
    corrected = np.empty_like(slices)
    for k, (image, position) in enumerate(zip(slices, positions)):
        drift = position - positions[0]
        drift = drift - (drift @ normal) * normal
        corrected[k] = _shift(image, (drift @ column) / dy, (drift @ row) / dx, fill=float(slices.min()))
    return corrected


def _shift(image: np.ndarray, rows: float, columns: float, fill: float) -> np.ndarray:
    """``image`` moved by (rows, columns) pixels with bilinear interpolation; uncovered pixels get ``fill``."""
    whole_r, whole_c = int(np.floor(rows)), int(np.floor(columns))
    fr, fc = rows - whole_r, columns - whole_c
    out = np.zeros_like(image)
    for dr, dc, weight in ((0, 0, (1 - fr) * (1 - fc)), (1, 0, fr * (1 - fc)), (0, 1, (1 - fr) * fc), (1, 1, fr * fc)):
        if weight > 0:
            out += weight * _translate(image, whole_r + dr, whole_c + dc, fill)
    return out


def _translate(image: np.ndarray, rows: int, columns: int, fill: float) -> np.ndarray:
    out = np.full_like(image, fill)
    h, w = image.shape
    if abs(rows) >= h or abs(columns) >= w:
        return out
    out[max(rows, 0) : h + min(rows, 0), max(columns, 0) : w + min(columns, 0)] = \
        image[max(-rows, 0) : h - max(rows, 0), max(-columns, 0) : w - max(columns, 0)]
    return out


def _tilt_degrees(positions: np.ndarray, normal: np.ndarray) -> float:
    travel = positions[-1] - positions[0]
    length = float(np.linalg.norm(travel))
    if length < 1e-6:
        return 0.0
    cosine = abs(float(travel @ normal)) / length
    return float(np.degrees(np.arccos(min(cosine, 1.0))))
