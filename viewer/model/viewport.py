"""What a view writes in its corners (patient, study, series, slice, window, zoom) and its scale bar, as a PACS
viewer does. Qt-free: the view only places the text."""

from __future__ import annotations

import math
from dataclasses import dataclass

from viewer.model import planes
from viewer.model.study import Study
from viewer.model.window_level import preset_name

SCALE_BAR_STEPS = (1, 2, 5)


@dataclass(frozen=True)
class Corners:
    top_left: str
    top_right: str
    bottom_left: str


def corners(study: Study, view: str, zoom: float) -> Corners:
    """The annotations of ``view`` at ``zoom`` (1 = the whole image fits)."""
    meta = study.volume.metadata
    patient = [_person(meta.get("PatientName", "")), _joined("ID " + meta["PatientID"] if "PatientID" in meta else "",
                                                              meta.get("PatientSex", ""), _born(meta))]
    study_lines = [dicom_date(meta.get("StudyDate", "")), meta.get("StudyDescription", "")]
    series = [meta.get("SeriesDescription", ""), _joined(f"Se {meta['SeriesNumber']}" if "SeriesNumber" in meta else "",
                                                        study.volume.modality)]
    reading = [*plane_caption(study, view), window_caption(study), f"Zoom {zoom:.1f}x"]
    return Corners(_lines(patient + study_lines), _lines(series), _lines(reading))


def plane_caption(study: Study, view: str) -> list[str]:
    """Short lines (narrow views): the axial slice with its DICOM number and location, the others their index."""
    shape = study.volume.shape
    if shape[0] == 1:
        return [f"{shape[2]} x {shape[1]} px"]
    if view == "axial":
        z = study.cursor[0]
        return [study.slice_position(z), f"Location {study.slice_location(z):.1f} mm"]
    axis = planes.SLICE_AXIS[view]
    return [f"{view.capitalize()} {study.cursor[axis] + 1} / {shape[axis]}"]


def window_caption(study: Study) -> str:
    """'W 150 / L 90 (Liver)': the window with the preset it is, if any."""
    name = preset_name(study.window, study.volume.window)
    return study.window.label() + (f" ({name})" if name else "")


def scale_bar_mm(mm_per_pixel: float, longest_pixels: float) -> float:
    """The longest 1-2-5 length in mm whose bar fits in ``longest_pixels`` (0 when not even 0.1 mm fits)."""
    if not (mm_per_pixel > 0 and longest_pixels > 0) or not math.isfinite(mm_per_pixel):
        return 0.0
    fits = mm_per_pixel * longest_pixels
    best = 0.0
    for exponent in range(-1, 5):
        for step in SCALE_BAR_STEPS:
            length = step * 10.0 ** exponent
            if length <= fits:
                best = length
    return best


def scale_caption(length: float, in_pixels: bool = False) -> str:
    """'10 cm', '5 mm'; or '100 px' where the file gives no pixel size (then nothing is in mm)."""
    if in_pixels:
        return f"{length:g} px"
    return f"{length / 10:g} cm" if length >= 10 else f"{length:g} mm"


def _person(name: str) -> str:
    """DICOM 'Family^Given^Middle' as 'FAMILY, Given Middle'."""
    parts = [p for p in name.split("^") if p]
    if not parts:
        return ""
    return parts[0].upper() + (", " + " ".join(parts[1:]) if len(parts) > 1 else "")


def dicom_date(value: str) -> str:
    """A DICOM date (YYYYMMDD) as YYYY-MM-DD; anything else unchanged."""
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if len(value) == 8 and value.isdigit() else value


def _born(meta: dict[str, str]) -> str:
    born = dicom_date(meta.get("PatientBirthDate", ""))
    return f"born {born}" if born else ""


def _joined(*parts: str) -> str:
    return "  ".join(p for p in parts if p)


def _lines(lines: list[str]) -> str:
    return "\n".join(line for line in lines if line)
