"""DICOM: find the series in a folder (or behind a DICOMDIR) and read one into a Volume.

Slices are ordered by their position along the slice normal, never by file name or instance
number; pixel data in any transfer syntax pydicom can decode with the pylibjpeg plugins
(JPEG baseline/lossless, JPEG-LS, JPEG 2000, RLE) are rescaled to modality units (HU for CT).
"""

from __future__ import annotations

import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from engine.errors import InputError
from engine.io.volume import Volume

NOT_IMAGES = {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "SR", "PR", "KO", "REG", "DOC", "ECG"}
METADATA_KEYS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyDescription",
    "StudyInstanceUID", "SeriesInstanceUID", "SeriesDescription", "SeriesNumber", "FrameOfReferenceUID",
    "AccessionNumber", "InstitutionName", "Manufacturer", "BodyPartExamined",
)


@dataclass(frozen=True)
class DicomSeries:
    """One displayable series found in a folder: what a series picker lists."""

    uid: str
    files: tuple[Path, ...]
    modality: str
    description: str
    rows: int
    columns: int
    frames: int

    def label(self) -> str:
        """A line for the series picker."""
        count = f"{len(self.files)} images" if self.frames <= 1 else f"{self.frames} frames"
        return f"{self.modality}  {self.description or '(no description)'}  {self.columns}x{self.rows}, {count}"


def is_dicom_file(path: Path) -> bool:
    """True if the file carries the DICOM Part 10 preamble ('DICM' at byte 128)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def scan_dicom(folder: Path, cancel: Callable[[], bool] | None = None) -> list[DicomSeries]:
    """Every image series under ``folder`` (recursively), largest first."""
    import pydicom

    groups: dict[tuple, list[tuple[Path, object]]] = defaultdict(list)
    for path in _files_under(folder):
        if cancel is not None and cancel():
            break
        if not is_dicom_file(path):
            continue
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - an unreadable file is skipped, the rest of the folder still opens
            continue
        if "Rows" not in header or str(header.get("Modality", "")) in NOT_IMAGES:
            continue
        groups[_series_key(header)].append((path, header))
    series = [_describe(members) for members in groups.values()]
    return sorted(series, key=lambda s: (-len(s.files) * max(s.frames, 1), s.description))


def read_dicom_series(series: DicomSeries, progress: Callable[[int, int], None] | None = None) -> Volume:
    """Decode a series into a Volume in modality units, ordered along the slice normal."""
    import pydicom

    datasets = []
    for done, path in enumerate(series.files, start=1):
        try:
            datasets.append(pydicom.dcmread(path))
        except Exception as err:  # noqa: BLE001
            raise InputError(f"cannot read DICOM file {path.name}: {err}") from err
        if progress is not None:
            progress(done, len(series.files))
    if len(datasets) == 1:
        return _single_file_volume(datasets[0], series.files[0])
    return _stacked_volume(datasets, series)


def read_dicom_file(path: Path) -> Volume:
    """One DICOM file: a radiograph, a single slice or a multi-frame image."""
    import pydicom

    try:
        dataset = pydicom.dcmread(path)
    except Exception as err:  # noqa: BLE001
        raise InputError(f"{Path(path).name} is not a readable DICOM file: {err}") from err
    if "PixelData" not in dataset:
        modality = dataset.get("Modality", "unknown")
        raise InputError(f"{Path(path).name} holds no image (a DICOM {modality} object)")
    return _single_file_volume(dataset, Path(path))


def _files_under(folder: Path):
    for root, _dirs, names in os.walk(folder):
        for name in sorted(names):
            if name.upper() != "DICOMDIR":
                yield Path(root) / name


def _series_key(header) -> tuple:
    orientation = tuple(np.round(np.asarray(header.get("ImageOrientationPatient", [0] * 6), float), 3))
    return (str(header.get("SeriesInstanceUID", "")), int(header.Rows), int(header.Columns), orientation)


def _describe(members: list) -> DicomSeries:
    paths = tuple(path for path, _ in members)
    header = members[0][1]
    return DicomSeries(
        uid=str(header.get("SeriesInstanceUID", "")),
        files=paths,
        modality=str(header.get("Modality", "OT")),
        description=str(header.get("SeriesDescription", "")),
        rows=int(header.Rows),
        columns=int(header.Columns),
        frames=int(header.get("NumberOfFrames", 1) or 1),
    )


def _pixels(dataset, name: str) -> np.ndarray:
    """Decoded pixels in modality units (rescale slope/intercept applied), float32."""
    from pydicom.pixels import apply_rescale

    try:
        pixels = dataset.pixel_array
    except Exception as err:  # noqa: BLE001 - missing decoder, truncated data, corrupt codestream
        syntax = dataset.file_meta.get("TransferSyntaxUID", "unknown")
        name_of_syntax = getattr(syntax, "name", str(syntax))
        raise InputError(f"cannot decode the pixels of {name} ({name_of_syntax}): {err}") from err
    if str(dataset.get("PhotometricInterpretation", "")) not in ("MONOCHROME1", "MONOCHROME2"):
        raise InputError(f"{name} is a colour image ({dataset.PhotometricInterpretation}); expected greyscale")
    return np.asarray(apply_rescale(pixels, dataset), dtype=np.float32)


def _window(dataset) -> tuple[float, float] | None:
    centre, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if centre is None or width is None:
        return None
    try:
        return _first(centre), max(_first(width), 1.0)
    except (TypeError, ValueError, IndexError):
        return None


def _first(value) -> float:
    """The first of a possibly multi-valued number (several VOI windows may be stored)."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, (MultiValue, list, tuple)) else value)


def _metadata(dataset) -> dict[str, str]:
    return {key: str(dataset.get(key, "")) for key in METADATA_KEYS if dataset.get(key) not in (None, "")}


def _orientation(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    cosines = np.asarray(dataset.get("ImageOrientationPatient", [1, 0, 0, 0, 1, 0]), dtype=float)
    row, column = cosines[:3], cosines[3:]
    return row, column, np.cross(row, column)


def _in_plane_spacing(dataset) -> tuple[float, float]:
    spacing = dataset.get("PixelSpacing") or dataset.get("ImagerPixelSpacing") or [1.0, 1.0]
    return float(spacing[0]), float(spacing[1])


def _single_file_volume(dataset, path: Path) -> Volume:
    pixels = _pixels(dataset, path.name)
    frames = pixels if pixels.ndim == 3 else pixels[None]
    window = _window(dataset)
    warnings = []
    if str(dataset.get("PhotometricInterpretation")) == "MONOCHROME1":
        frames, window = _invert(frames, window)
    dy, dx = _in_plane_spacing(dataset)
    dz = float(dataset.get("SpacingBetweenSlices") or dataset.get("SliceThickness") or 1.0)
    if frames.shape[0] > 1 and "PerFrameFunctionalGroupsSequence" not in dataset:
        warnings.append("multi-frame image without per-frame positions: frames shown in stored order")
    row, column, normal = _orientation(dataset)
    return Volume(
        array=np.ascontiguousarray(frames, dtype=np.float32),
        spacing=(dz, dy, dx),
        origin=tuple(float(v) for v in dataset.get("ImagePositionPatient", [0.0, 0.0, 0.0])),
        direction=np.stack([row, column, normal], axis=1),
        modality=str(dataset.get("Modality", "OT")),
        window=window,
        warnings=tuple(warnings),
        source=str(path),
        metadata=_metadata(dataset),
        instance_uids=(instance_uid(dataset),),
        files=(str(path),),
    ).canonical()


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
    order, spacing_z, warnings = _slice_order(datasets)
    ordered = [datasets[i] for i in order]
    slices = np.stack([_pixels(ds, Path(series.files[i]).name) for ds, i in zip(ordered, order)])
    first = ordered[0]
    window = _window(first)
    if str(first.get("PhotometricInterpretation")) == "MONOCHROME1":
        slices, window = _invert(slices, window)
    row, column, normal = _orientation(first)
    dy, dx = _in_plane_spacing(first)
    tilted = any("gantry tilt" in w for w in warnings)
    if tilted:
        positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for ds in ordered])
        slices = _undo_tilt(slices, positions, (row, column, normal), (dy, dx))
    return Volume(
        array=np.ascontiguousarray(slices, dtype=np.float32),
        spacing=(spacing_z, dy, dx),
        origin=tuple(float(v) for v in first.get("ImagePositionPatient", [0.0, 0.0, 0.0])),
        direction=np.stack([row, column, normal], axis=1),
        modality=series.modality,
        window=window,
        warnings=tuple(warnings),
        source=str(Path(series.files[0]).parent),
        metadata=_metadata(first),
        instance_uids=tuple(instance_uid(ds) for ds in ordered),
        files=tuple(str(series.files[i]) for i in order),
        resampled=tilted,
    ).canonical()


def _slice_order(datasets: list) -> tuple[list[int], float, list[str]]:
    """Order slices along the normal; return the order, the slice spacing and any geometry warnings."""
    if any("ImagePositionPatient" not in ds for ds in datasets):
        order = sorted(range(len(datasets)), key=lambda i: int(datasets[i].get("InstanceNumber", i) or i))
        thickness = float(datasets[0].get("SpacingBetweenSlices") or datasets[0].get("SliceThickness") or 1.0)
        return order, thickness, ["slices carry no position: ordered by instance number, spacing from the header"]
    _row, _column, normal = _orientation(datasets[0])
    positions = np.array([np.asarray(ds.ImagePositionPatient, dtype=float) for ds in datasets])
    order = list(np.argsort(positions @ normal, kind="stable"))
    return order, *_check_spacing(positions[order], normal)


def _check_spacing(positions: np.ndarray, normal: np.ndarray) -> tuple[float, list[str]]:
    """Slice spacing along the normal, with warnings for duplicates, gaps, uneven spacing and tilt."""
    warnings = []
    steps = np.diff(positions @ normal)
    duplicates = int(np.sum(steps < 1e-3))
    distinct = steps[steps >= 1e-3]
    if duplicates:
        warnings.append(f"{duplicates} slice(s) share a position with another slice (duplicates in the series)")
    if distinct.size == 0:
        return 1.0, warnings + ["all slices share one position: spacing unknown, 1 mm assumed"]
    spacing = float(np.median(distinct))
    gaps = np.flatnonzero(distinct > 1.5 * spacing)
    if gaps.size:
        missing = int(sum(round(distinct[g] / spacing) - 1 for g in gaps))
        warnings.append(f"about {missing} slice(s) missing: gap of {distinct[gaps].max():.1f} mm where slices are {spacing:.1f} mm apart")
    elif distinct.max() - distinct.min() > 0.01 * spacing + 1e-3:
        warnings.append(f"non-uniform slice spacing: {distinct.min():.2f} to {distinct.max():.2f} mm (shown at {spacing:.2f} mm)")
    tilt = _tilt_degrees(positions, normal)
    if tilt > 0.5:
        warnings.append(f"gantry tilt of {tilt:.1f} degrees: slices shifted in-plane to undo the shear")
    return spacing, warnings


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
