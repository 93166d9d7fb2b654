"""What can be opened at a path: one image for a file, one entry per series for a DICOM folder."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from engine.runtime.errors import InputError
from engine.runtime.io.dicom import DicomSeries, is_dicom_file, read_dicom_file, read_dicom_series, scan_dicom
from engine.runtime.io.volume_files import is_volume_file, read_volume_file
from engine.runtime.io.raster import is_raster_file, read_raster
from engine.runtime.io.volume import Volume

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ImageSource:
    """Something the user can open: a label for a picker and a way to read it."""

    label: str
    path: Path
    series: DicomSeries | None = None

    def load(self, progress: Progress | None = None) -> Volume:
        """Read the image; raises InputError with a specific message when it cannot."""
        if self.series is not None:
            return checked_values(read_dicom_series(self.series, progress))
        return read_image_file(self.path)


def find_images(path: Path | str, cancel: Callable[[], bool] | None = None) -> list[ImageSource]:
    """The images at ``path``: a file, a DICOMDIR, or a folder searched recursively for DICOM series."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.is_file() and path.name.upper() == "DICOMDIR":
        path = path.parent
    if path.is_file():
        return [ImageSource(path.name, path)]
    series = scan_dicom(path, cancel)
    if series:
        return [ImageSource(s.label(), path, s) for s in series]
    others = sorted(p for p in path.iterdir() if p.is_file() and (is_volume_file(p) or is_raster_file(p)))
    if others:
        return [ImageSource(p.name, p) for p in others]
    raise InputError(f"no DICOM series or image files found in {path}")


def read_image_file(path: Path | str) -> Volume:
    """Read one file by its content (DICOM) or suffix (NIfTI, NRRD, MHA, PNG, JPEG)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path} is not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path.name} is empty (0 bytes)")
    if is_dicom_file(path) or path.suffix.lower() in (".dcm", ".dicom"):
        return checked_values(read_dicom_file(path))
    if is_volume_file(path):
        return checked_values(read_volume_file(path))
    if is_raster_file(path):
        return checked_values(read_raster(path))
    raise InputError(f"{path.name}: unsupported file type (open DICOM, NIfTI, NRRD, MHA, PNG or JPEG)")


def checked_values(volume: Volume) -> Volume:
    """Count NaN / infinite voxels and say so; a volume with nothing else is refused."""
    finite = np.isfinite(volume.array)
    bad = int(finite.size - np.count_nonzero(finite))
    if not bad:
        return volume
    if bad == finite.size:
        raise InputError(f"{Path(volume.source).name}: every voxel is NaN or infinite; there is no image to show")
    share = 100.0 * bad / finite.size
    warning = f"{bad} voxel(s) ({share:.2g}%) are NaN or infinite: shown in magenta, left out of windows and measurements"
    return replace(volume, nonfinite=bad, warnings=volume.warnings + (warning,))
