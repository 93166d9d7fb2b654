"""The input-contract guard: before a model runs, does this study fit what the card says it accepts?

Each problem is one specific sentence ("BodyPartExamined is HEAD; the model expects abdominal CT").
Where the header is silent, cheap image evidence stands in, and the sentence says it is a heuristic.
The viewer runs a model on a study with problems only when the user explicitly overrides them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.runtime.card import Acceptance, InputContract
from engine.runtime.io.volume import RADIOGRAPH_MODALITIES, Volume

HEAD_OR_LIMB_MM = 220.0  # an adult abdomen is wider than this at its widest; a head or a limb is not
CHEST_ASPECT = (0.7, 1.45)  # rows / columns of a chest film
GENERIC_BODY_PARTS = {"PARTIALBODY", "WHOLEBODY", "BODY", "UNKNOWN"}  # name no region: the image decides


@dataclass(frozen=True)
class ContractCheck:
    """What does not fit (empty: the study meets the contract)."""

    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_contract(volume: Volume, contract: InputContract) -> ContractCheck:
    """Every way ``volume`` falls outside ``contract``'s acceptance."""
    accepts = contract.accepts or _modality_only(contract)
    expects = f"the model expects {accepts.description or contract.modality}"
    problems = []
    if accepts.modalities and volume.modality not in accepts.modalities:
        problems.append(f"this is a {volume.modality} image; {expects}")
    if volume.nonfinite:
        problems.append(f"{volume.nonfinite} voxel(s) are NaN or infinite; the model cannot read them")
    if volume.shape[0] < accepts.min_slices:
        problems.append(f"the image has {volume.shape[0]} slice(s); {expects} with at least {accepts.min_slices}")
    problems += _body_part(volume, accepts, expects)
    problems += _view_and_plane(volume, accepts, expects)
    problems += _spacing(volume, accepts, expects)
    return ContractCheck(tuple(problems))


def _modality_only(contract: InputContract) -> Acceptance:
    """An old card states only a modality ("CT", "CR/DX"); a radiograph model takes any projection film."""
    listed = tuple(contract.modality.split("/"))
    if set(listed) & set(RADIOGRAPH_MODALITIES):
        listed = RADIOGRAPH_MODALITIES
    return Acceptance(description=f"{contract.modality} images", modalities=listed)


def _body_part(volume: Volume, accepts: Acceptance, expects: str) -> list[str]:
    if not accepts.body_parts:
        return []
    for keyword in ("BodyPartExamined", "AnatomicRegion"):
        stated = volume.metadata.get(keyword, "").strip()
        code = stated.upper().replace(" ", "")
        if code and code not in GENERIC_BODY_PARTS:
            accepted = {part.upper() for part in accepts.body_parts}
            return [] if code in accepted else [f"{keyword} is {stated}; {expects}"]
    return _body_part_evidence(volume, expects)


def _body_part_evidence(volume: Volume, expects: str) -> list[str]:
    """The header names no body part: look at the image (and say it is a heuristic)."""
    if volume.is_radiograph:
        rows, columns = volume.shape[1:]
        aspect = rows / columns
        if not CHEST_ASPECT[0] <= aspect <= CHEST_ASPECT[1]:
            return [f"heuristic (the header names no body part): the film is {columns}x{rows} pixels, not the shape of a "
                    f"chest film; {expects}"]
        if not _lung_fields(volume.array[0]):
            return ["heuristic (the header names no body part): no darker lung field on each side of a brighter "
                    f"mediastinum; {expects}"]
        return []
    if volume.modality == "CT":
        width = _body_width_mm(volume)
        if width < HEAD_OR_LIMB_MM:
            return [f"heuristic (the header names no body part): the body is at most {width:.0f} mm wide, a head or a "
                    f"limb rather than an abdomen; {expects}"]
    return []


def _lung_fields(image: np.ndarray) -> bool:
    """A chest film: across the chest, each outer third dips darker (a lung) than the middle third (mediastinum)."""
    rows, columns = image.shape
    band = image[rows // 4 : 2 * rows // 3].astype(np.float64)
    band[~np.isfinite(band)] = np.nan
    width = max(1, columns // 32)
    profile = np.convolve(np.nanmean(band, axis=0), np.ones(width) / width, mode="same")
    third = columns // 3
    edge = third // 4  # skip the film's border and the arms
    left, middle, right = profile[edge:third], profile[third : 2 * third], profile[2 * third : columns - edge]
    centre = float(np.median(middle))
    return left.size > 0 and right.size > 0 and left.min() < centre and right.min() < centre


def _body_width_mm(volume: Volume) -> float:
    """The widest left-right extent of tissue denser than -500 HU, over the slices."""
    dx = volume.spacing[2]
    step = max(1, volume.shape[0] // 16)
    body = volume.array[::step] > -500
    columns = body.any(axis=1)  # (slices, x)
    widths = [np.ptp(np.flatnonzero(row)) + 1 if row.any() else 0 for row in columns]
    return float(max(widths, default=0) * dx)


def _view_and_plane(volume: Volume, accepts: Acceptance, expects: str) -> list[str]:
    problems = []
    view = volume.metadata.get("ViewPosition", "").strip().upper()
    if volume.is_radiograph and accepts.views and view and view not in accepts.views:
        problems.append(f"this radiograph is {view} (ViewPosition); {expects}")
    if not volume.is_radiograph and accepts.planes and volume.stored_plane not in accepts.planes:
        problems.append(f"the series was acquired {volume.stored_plane}; {expects} acquired "
                        f"{' or '.join(accepts.planes)}")
    return problems


def _spacing(volume: Volume, accepts: Acceptance, expects: str) -> list[str]:
    if accepts.pixel_spacing_mm is None or volume.is_radiograph:
        return []
    low, high = accepts.pixel_spacing_mm
    size = volume.spacing[1]
    if not volume.pixel_spacing_known:
        return [f"the pixel size is unknown; {expects} with pixels of {low:g}-{high:g} mm"]
    if not low <= size <= high:
        return [f"pixels are {size:.2f} mm; {expects} with pixels of {low:g}-{high:g} mm"]
    return []
