"""The one image type every reader returns: voxels plus the geometry and metadata to place them."""

from __future__ import annotations

import itertools
import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

RADIOGRAPH_MODALITIES = ("CR", "DX", "XR", "MG", "RG")


@dataclass(frozen=True)
class Volume:
    """A 3D image or a 2D radiograph (one slice), in (slices, rows, columns) order.

    Attributes:
        array: float32 voxels (Z, Y, X); CT in Hounsfield units, radiographs as the file says to show
            them (modality and VOI LUT applied, MONOCHROME1 inverted so that bone is bright).
        spacing: voxel size (Z, Y, X) in mm (in pixels where the file gives no usable spacing).
        origin: patient position (x, y, z) of voxel (0, 0, 0) in mm, DICOM LPS.
        direction: 3x3 matrix whose columns are the LPS directions of the X, Y and Z index axes.
        modality: DICOM modality (CT, MR, CR, DX, ...) or "XR" for a plain picture of an X-ray.
        window: (centre, width) recommended by the source, if any.
        warnings: problems found while reading that the user should know about.
        source: where the image came from (a file or folder path).
        metadata: identifiers and descriptions (PatientID, StudyInstanceUID, SeriesDescription, ...).
        instance_uids: SOP Instance UID of each source slice, for DICOM sources, in slice order.
        files: the file each source slice was read from, for DICOM series, in slice order.
        resampled: True when the pixels were resampled in-plane (gantry tilt undone), so slices no
            longer match their source instances pixel for pixel.
        stored_axes: the array axes that the source's (frame, row, column) axes became.
        stored_flips: whether the source's rows and columns run against the array's axes.
        file_slices: the array slice (along ``stored_axes[0]``) each source file lies on, when slices
            were placed on a uniform grid (uneven spacing); empty means one file per slice.
        stored_plane: the plane the source slices were acquired in (axial, coronal, sagittal, oblique).
        nonfinite: how many voxels are NaN or infinite.
        pixel_spacing_known: False when the file gives no usable pixel size (``spacing`` is then in pixels).
    """

    array: np.ndarray
    spacing: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: np.ndarray = field(default_factory=lambda: np.eye(3))
    modality: str = "OT"
    window: tuple[float, float] | None = None
    warnings: tuple[str, ...] = ()
    source: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    instance_uids: tuple[str, ...] = ()
    instance_numbers: tuple[int | None, ...] = ()  # DICOM InstanceNumber per file, in the order of ``files``
    files: tuple[str, ...] = ()
    resampled: bool = False
    stored_axes: tuple[int, int, int] = (0, 1, 2)
    stored_flips: tuple[bool, bool] = (False, False)
    file_slices: tuple[int, ...] = ()
    stored_plane: str = "axial"
    nonfinite: int = 0
    pixel_spacing_known: bool = True

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is (slices, rows, columns), got shape {self.array.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def pixel_spacing(self) -> tuple[float, float] | None:
        """In-plane (row, column) spacing in mm, or None where the file gives no usable pixel size."""
        return (self.spacing[1], self.spacing[2]) if self.pixel_spacing_known else None

    @property
    def is_radiograph(self) -> bool:
        """A single projection image (chest X-ray) rather than a cross-sectional volume."""
        return self.array.shape[0] == 1 and self.modality in RADIOGRAPH_MODALITIES

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    @cached_property
    def fingerprint(self) -> str:
        """A digest of the voxel values (rounded to integers) and the array's shape: the same image read from
        DICOM, NIfTI or PNG gives the same fingerprint, so a model card can name the studies it was trained on."""
        digest = hashlib.sha256(repr(self.array.shape).encode())
        for plane in self.array:  # one slice at a time: no full-size copy
            digest.update(np.rint(np.nan_to_num(plane)).astype("<i4").tobytes())
        return "sha256:" + digest.hexdigest()

    def with_array(self, array: np.ndarray) -> Volume:
        """The same geometry and metadata over other voxels of the same shape (a mask, a map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the volume's {self.array.shape}")
        return replace(self, array=array)

    def canonical(self) -> Volume:
        """The same image with axes permuted and flipped to the nearest patient axes: X to the
        patient's left, Y posterior, Z up (a sagittal or coronal series becomes an axial stack).

        Readers return this orientation, so displays, models and exports agree on what a row,
        a column and a slice mean whatever the file stored. An oblique tilt is kept in ``direction``.
        Radiographs are projections: their pixels stay as stored.
        """
        if self.is_radiograph:
            return self
        direction = np.asarray(self.direction, dtype=float)
        order = nearest_axes(direction)  # index axis (X, Y, Z) that becomes canonical X, Y, Z
        numpy_order = [2 - order[2 - n] for n in range(3)]
        array = self.array.transpose(numpy_order)
        direction = direction[:, order]
        spacing_xyz = [self.spacing[2 - axis] for axis in order]
        stored_axes = tuple(numpy_order.index(a) for a in self.stored_axes)
        flips = [axis for axis in range(3) if direction[axis, axis] < 0]
        origin = np.asarray(self.origin, dtype=float)
        for axis in flips:
            origin = origin + direction[:, axis] * spacing_xyz[axis] * (array.shape[2 - axis] - 1)
            array = np.flip(array, axis=2 - axis)
        direction = direction.copy()
        direction[:, flips] *= -1
        flipped = {2 - axis for axis in flips}
        frames_reversed = stored_axes[0] in flipped
        uids, files, numbers = ((self.instance_uids[::-1], self.files[::-1], self.instance_numbers[::-1]) if frames_reversed
                                else (self.instance_uids, self.files, self.instance_numbers))
        file_slices = tuple(array.shape[stored_axes[0]] - 1 - i for i in self.file_slices[::-1]) if frames_reversed \
            else self.file_slices
        stored_flips = tuple(bool(f) != (a in flipped) for f, a in zip(self.stored_flips, stored_axes[1:]))
        return replace(self, array=np.ascontiguousarray(array), origin=tuple(float(v) for v in origin), direction=direction,
                       spacing=tuple(float(s) for s in spacing_xyz[::-1]), instance_uids=uids, files=files,
                       instance_numbers=numbers,
                       stored_axes=stored_axes, stored_flips=stored_flips, file_slices=file_slices)

    def to_stored(self, array: np.ndarray) -> np.ndarray:
        """``array`` (on this volume's grid) as the source's frames: (files, rows, columns) in file order."""
        frames = np.asarray(array).transpose(self.stored_axes)
        if self.file_slices:
            frames = frames[list(self.file_slices)]
        return _flip_frames(frames, self.stored_flips)

    def from_stored(self, frames: np.ndarray) -> np.ndarray:
        """Source frames (files, rows, columns) in file order back on this volume's grid."""
        frames = _flip_frames(np.asarray(frames), self.stored_flips)
        grid_shape = tuple(self.shape[a] for a in self.stored_axes)
        if self.file_slices:
            placed = np.zeros(grid_shape, dtype=frames.dtype)
            placed[list(self.file_slices)] = frames
            frames = placed
        return np.ascontiguousarray(frames.transpose(np.argsort(self.stored_axes)))

    def instance_number(self, z: int) -> int | None:
        """The DICOM InstanceNumber of axial slice ``z`` where that slice is a file as stored (None where it was
        interpolated, reformatted from another plane, or the file gives none)."""
        if not self.instance_numbers or self.stored_axes[0] != 0:
            return None
        if self.file_slices:  # the grid has slices between files: find the file on slice z, if one lies there
            if z not in self.file_slices:
                return None
            z = self.file_slices.index(z)
        return self.instance_numbers[z] if z < len(self.instance_numbers) else None

    def world(self, z: float, y: float, x: float) -> np.ndarray:
        """The patient position (LPS, mm) of voxel (z, y, x), as DICOM's ImagePositionPatient gives it."""
        offset = np.array([x * self.spacing[2], y * self.spacing[1], z * self.spacing[0]])
        return np.asarray(self.origin, dtype=float) + np.asarray(self.direction, dtype=float) @ offset

    def describe(self) -> str:
        """One line for the status bar: modality, size, spacing (or that the pixel size is unknown)."""
        z, y, x = self.shape
        dz, dy, dx = self.spacing
        size = f"{x}x{y}" if z == 1 else f"{x}x{y}x{z}"
        if not self.pixel_spacing_known:
            return f"{self.modality} {size}, pixel size unknown (distances in pixels)"
        return f"{self.modality} {size}, {dx:.2f}x{dy:.2f}" + ("" if z == 1 else f"x{dz:.2f}") + " mm"


def nearest_axes(direction: np.ndarray) -> tuple[int, int, int]:
    """For canonical X, Y, Z: the index axis whose direction lies closest to it (a permutation)."""
    direction = np.abs(np.asarray(direction, dtype=float))
    return max(itertools.permutations(range(3)), key=lambda p: sum(direction[j, p[j]] for j in range(3)))


def plane_of(normal) -> str:
    """The plane slices with this normal lie in: axial, coronal, sagittal, or oblique (over 10 degrees off)."""
    normal = np.abs(np.asarray(normal, dtype=float))
    normal = normal / max(float(np.linalg.norm(normal)), 1e-9)
    axis = int(np.argmax(normal))
    if normal[axis] < np.cos(np.radians(10)):
        return "oblique"
    return ("sagittal", "coronal", "axial")[axis]


def _flip_frames(frames: np.ndarray, flips: tuple[bool, bool]) -> np.ndarray:
    if flips[0]:
        frames = frames[:, ::-1, :]
    if flips[1]:
        frames = frames[:, :, ::-1]
    return frames
