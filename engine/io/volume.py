"""The one image type every reader returns: voxels plus the geometry and metadata to place them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

RADIOGRAPH_MODALITIES = ("CR", "DX", "XR", "MG", "RG")


@dataclass(frozen=True)
class Volume:
    """A 3D image or a 2D radiograph (one slice), in (slices, rows, columns) order.

    Attributes:
        array: float32 voxels (Z, Y, X); CT in Hounsfield units, radiographs ready to display
            (MONOCHROME1 already inverted so that bone is bright).
        spacing: voxel size (Z, Y, X) in mm.
        origin: patient position (x, y, z) of voxel (0, 0, 0) in mm, DICOM LPS.
        direction: 3x3 matrix whose columns are the LPS directions of the X, Y and Z index axes.
        modality: DICOM modality (CT, MR, CR, DX, ...) or "XR" for a plain picture of an X-ray.
        window: (centre, width) recommended by the source, if any.
        warnings: problems found while reading that the user should know about.
        source: where the image came from (a file or folder path).
        metadata: identifiers and descriptions (PatientID, StudyInstanceUID, SeriesDescription, ...).
        instance_uids: SOP Instance UID of each slice, for DICOM sources.
        files: the file each slice was read from, for DICOM series.
        resampled: True when the voxels were resampled from the stored pixels (gantry tilt undone),
            so slices no longer match their source instances pixel for pixel.
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
    files: tuple[str, ...] = ()
    resampled: bool = False

    def __post_init__(self) -> None:
        if self.array.ndim != 3:
            raise ValueError(f"a Volume is (slices, rows, columns), got shape {self.array.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.array.shape)  # type: ignore[return-value]

    @property
    def is_radiograph(self) -> bool:
        """A single projection image (chest X-ray) rather than a cross-sectional volume."""
        return self.array.shape[0] == 1 and self.modality in RADIOGRAPH_MODALITIES

    @property
    def voxel_volume_ml(self) -> float:
        return float(np.prod(self.spacing)) / 1000.0

    def with_array(self, array: np.ndarray) -> Volume:
        """The same geometry and metadata over other voxels of the same shape (a mask, a map)."""
        if array.shape != self.array.shape:
            raise ValueError(f"shape {array.shape} does not match the volume's {self.array.shape}")
        return replace(self, array=array)

    def canonical(self) -> Volume:
        """The same image with axes flipped so that X runs to the patient's left, Y to posterior, Z up.

        Readers return this orientation, so displays, models and exports agree on what a row,
        a column and a slice mean whatever the file stored. Oblique or permuted axes are kept.
        """
        direction = np.asarray(self.direction, dtype=float)
        flips = [axis for axis in range(3) if direction[axis, axis] < 0]
        if not flips:
            return self
        array, origin = self.array, np.asarray(self.origin, dtype=float)
        spacing_xyz = self.spacing[::-1]
        for axis in flips:
            count = self.array.shape[2 - axis]
            origin = origin + direction[:, axis] * spacing_xyz[axis] * (count - 1)
            array = np.flip(array, axis=2 - axis)
        direction = direction.copy()
        direction[:, flips] *= -1
        uids, files = (self.instance_uids[::-1], self.files[::-1]) if 2 in flips else (self.instance_uids, self.files)
        return replace(self, array=np.ascontiguousarray(array), origin=tuple(float(v) for v in origin), direction=direction,
                       instance_uids=uids, files=files)

    def describe(self) -> str:
        """One line for the status bar: modality, size, spacing."""
        z, y, x = self.shape
        dz, dy, dx = self.spacing
        size = f"{x}x{y}" if z == 1 else f"{x}x{y}x{z}"
        return f"{self.modality} {size}, {dx:.2f}x{dy:.2f}" + ("" if z == 1 else f"x{dz:.2f}") + " mm"


def match_stored_axes(frames: np.ndarray, cosines, direction: np.ndarray) -> np.ndarray:
    """Flip (N, rows, columns) frames where DICOM row/column cosines run against ``direction``'s X/Y axes.

    The flips are their own inverse: the same call turns stored frames into canonical ones and back.
    """
    cosines = np.asarray(cosines, dtype=float)
    direction = np.asarray(direction, dtype=float)
    if float(cosines[:3] @ direction[:, 0]) < 0:
        frames = frames[:, :, ::-1]
    if float(cosines[3:] @ direction[:, 1]) < 0:
        frames = frames[:, ::-1, :]
    return frames
