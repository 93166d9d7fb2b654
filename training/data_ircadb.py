"""3D-IRCADb-01 in its public layout, read in place: expert liver masks as DICOM slices beside the CT.

::

    root/
      patient_1.1/                  (any folder name: it becomes the case name)
        PATIENT_DICOM/image_0 ...   the CT series (stored values are HU)
        MASKS_DICOM/liver/image_0 ... one mask slice per CT slice, 0 or 255
      patient_1.7/ ...

Both series are read with ``engine.runtime.io`` (the viewer's reader, so orientation and HU agree with
inference). Mask and CT slices are paired by ImagePositionPatient, never by file name or order, and a CT
slice without its mask slice, a mask of another size, or a mask on other positions is refused by name.
Nothing is converted or copied (the data's licence allows only unchanged copies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io import Volume, find_images
from training.errors import DatasetError

CT_FOLDER, MASK_FOLDER = "PATIENT_DICOM", Path("MASKS_DICOM") / "liver"
POSITION_TOLERANCE_MM = 0.01


@dataclass(frozen=True)
class IrcadbCase:
    """One patient folder: its CT series and its expert liver mask series."""

    name: str
    folder: Path

    def read(self) -> tuple[Volume, np.ndarray]:
        """The CT (canonical orientation, HU) and its binary liver mask on the same grid."""
        return read_case(self)

    def sources(self) -> tuple[Path, ...]:
        """The files it is read from: every file of its CT and liver mask series."""
        return tuple(sorted(p for sub in (CT_FOLDER, MASK_FOLDER) for p in (self.folder / sub).rglob("*") if p.is_file()))


def is_ircadb_root(root: Path) -> bool:
    """Whether ``root`` holds patient folders with PATIENT_DICOM and MASKS_DICOM/liver."""
    return Path(root).is_dir() and any((d / CT_FOLDER).is_dir() for d in Path(root).iterdir() if d.is_dir())


def list_cases(root: Path) -> list[IrcadbCase]:
    """Every patient folder under ``root``, sorted by name; a folder missing its liver masks is refused."""
    root = Path(root)
    cases = []
    for folder in sorted(d for d in root.iterdir() if d.is_dir() and (d / CT_FOLDER).is_dir()):
        if not (folder / MASK_FOLDER).is_dir():
            raise DatasetError(f"{folder.name} has {CT_FOLDER}/ but no {MASK_FOLDER.as_posix()}/ (3D-IRCADb layout)")
        cases.append(IrcadbCase(folder.name, folder))
    if not cases:
        raise DatasetError(f"{root} holds no patient folder with {CT_FOLDER}/ (3D-IRCADb layout)")
    return cases


def read_case(case: IrcadbCase) -> tuple[Volume, np.ndarray]:
    try:
        volume = _one_series(case.folder / CT_FOLDER).load()
        mask = _one_series(case.folder / MASK_FOLDER).load()
    except InputError as err:
        raise DatasetError(f"case {case.name}: {err}") from err
    if mask.shape[1:] != volume.shape[1:]:
        raise DatasetError(f"case {case.name}: the liver mask slices are {_size(mask)}, the CT slices {_size(volume)}")
    return volume, mask.array[_pair_by_position(case.name, volume, mask)] > 0


def _one_series(folder: Path):
    sources = find_images(folder)
    if len(sources) != 1 or sources[0].series is None:
        raise DatasetError(f"{folder} should hold exactly one DICOM series, found {len(sources)} image source(s)")
    return sources[0]


def _pair_by_position(name: str, volume: Volume, mask: Volume) -> np.ndarray:
    """For each CT slice, the mask array slice read from the mask file at the same ImagePositionPatient."""
    if volume.file_slices or len(volume.files) != volume.shape[0]:
        raise DatasetError(f"case {name}: the CT series has gaps between its slices; it needs one file per slice")
    ct_positions = _positions(volume.files)
    mask_positions = _positions(mask.files)
    mask_slices = np.asarray(mask.file_slices or range(len(mask.files)))
    order = []
    for path, position in zip(volume.files, ct_positions):
        distance = np.linalg.norm(mask_positions - position, axis=1)
        match = int(np.argmin(distance))
        if distance[match] > POSITION_TOLERANCE_MM:
            raise DatasetError(f"case {name}: CT slice {Path(path).name} at {_mm(position)} has no liver mask slice "
                               f"at that position (nearest is {distance[match]:.2f} mm away)")
        order.append(mask_slices[match])
    if len(mask.files) != len(order):
        raise DatasetError(f"case {name}: {len(mask.files)} liver mask slices for {len(order)} CT slices")
    return np.asarray(order)


def _positions(files: tuple[str, ...]) -> np.ndarray:
    """ImagePositionPatient (x, y, z) of each file."""
    import pydicom

    positions = []
    for path in files:
        header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["ImagePositionPatient"])
        if "ImagePositionPatient" not in header:
            raise DatasetError(f"{Path(path).name} has no ImagePositionPatient: its slice cannot be paired")
        positions.append([float(v) for v in header.ImagePositionPatient])
    return np.asarray(positions)


def _size(volume: Volume) -> str:
    return f"{volume.shape[2]}x{volume.shape[1]}"


def _mm(position: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.1f}" for v in position) + ") mm"
