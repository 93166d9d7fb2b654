"""Overlay pictures (RGBA, uint8) for a displayed plane: a mask, a mask comparison, a heatmap; and the legend of each.

Colours are chosen so that no overlay reuses a colour of the review strip (green accepted, orange flagged, blue
edited): the prediction is yellow; a comparison is white where both agree, cyan where the mask is over the reference
(the seed paper's green would read as "accepted") and red where it is under.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from engine.runtime.compare import AGREE, OVER, UNDER

if TYPE_CHECKING:
    from viewer.model.study import Study

Colour = tuple[int, int, int]
PREDICTION_COLOUR: Colour = (255, 220, 0)
COMPARISON_COLOURS = {AGREE: (255, 255, 255), OVER: (0, 220, 255), UNDER: (230, 0, 0)}
SALIENCY_FLOOR = 0.4  # saliency below this fraction of the map's range is fully transparent


def mask_rgba(mask: np.ndarray, colour: tuple[int, int, int], opacity: float, edge: bool = True) -> np.ndarray:
    """A translucent fill of ``mask`` with an opaque outline."""
    palette = np.array([(0, 0, 0, 0), (*colour, round(255 * opacity))], dtype=np.uint8)
    labels = mask.astype(bool).view(np.uint8)
    rgba = paint(palette, labels)
    if edge:
        rgba[..., 3][region_edges(labels)] = 255
    return rgba


def comparison_rgba(codes: np.ndarray, opacity: float) -> np.ndarray:
    """Agree / over / under regions in their Fig. 4 colours, each with an opaque outline."""
    palette = np.zeros((4, 4), dtype=np.uint8)
    for code, colour in COMPARISON_COLOURS.items():
        palette[code] = (*colour, round(255 * opacity))
    rgba = paint(palette, codes)
    rgba[..., 3][region_edges(codes)] = 255
    return rgba


def paint(palette: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """RGBA pixels ``palette[labels]``, as one 32-bit lookup (10x faster than fancy indexing)."""
    colours = np.ascontiguousarray(palette, dtype=np.uint8).view(np.uint32).ravel()
    return np.take(colours, labels).view(np.uint8).reshape(*labels.shape, 4)


def region_edges(codes: np.ndarray) -> np.ndarray:
    """Labelled pixels with a 4-neighbour of another label (one pass for all regions)."""
    padded = np.pad(codes, 1, mode="edge")
    centre = padded[1:-1, 1:-1]
    differs = (padded[:-2, 1:-1] != centre) | (padded[2:, 1:-1] != centre) | (padded[1:-1, :-2] != centre) | (padded[1:-1, 2:] != centre)
    return differs & (codes > 0)


_HEAT_ANCHORS = np.array([  # position in the map's range, then RGBA
    [0.0, 0, 0, 0, 0], [SALIENCY_FLOOR, 60, 0, 140, 0], [0.55, 150, 0, 160, 110], [0.7, 235, 40, 60, 170],
    [0.85, 255, 170, 0, 215], [1.0, 255, 255, 200, 255],
], dtype=np.float32)


def heat_lut() -> np.ndarray:
    """256 RGBA colours: transparent up to SALIENCY_FLOOR, then purple, red and yellow to near white."""
    levels = np.linspace(0, 1, 256)
    return np.stack([np.interp(levels, _HEAT_ANCHORS[:, 0], _HEAT_ANCHORS[:, 1 + c]) for c in range(4)], axis=1).astype(np.uint8)


def heatmap_rgba(values: np.ndarray, opacity: float) -> np.ndarray:
    """A saliency map scaled to its own range, coloured with ``heat_lut``, alpha times ``opacity``."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    rgba = heat_lut()[(scaled * 255).astype(np.uint8)]
    rgba[..., 3] = (rgba[..., 3] * opacity).astype(np.uint8)
    return rgba


@dataclass(frozen=True)
class Legend:
    """What the colours of the overlay on screen mean: named swatches, or a colour ramp from low to high."""

    title: str
    swatches: tuple[tuple[Colour, str], ...] = ()
    ramp: bool = False  # the heat_lut ramp, low to high

    def describe(self) -> str:
        """The legend as one line of text (for tooltips, reports and tests)."""
        if self.ramp:
            return f"{self.title}: transparent below {SALIENCY_FLOOR:.0%} of the map's range, then low to high"
        return f"{self.title}: " + ", ".join(text for _colour, text in self.swatches)


def overlay_kind(study: Study) -> str | None:
    """What the views draw over the image now: "saliency", "comparison", "disagreement", "prediction" or None."""
    style = study.style
    if not style.visible:
        return None
    if study.saliency is not None and study.finding is not None:  # what saliency_image() needs, without resizing
        return "saliency"
    if study.segmentation is None:
        return None
    if style.mode == "comparison" and study.comparison is not None:
        return "comparison"
    if style.mode == "disagreement" and study.disagreement is not None:
        return "disagreement"
    return "prediction"


def overlay_legend(study: Study) -> Legend | None:
    """The legend of the overlay the views draw now (None when they draw none)."""
    kind = overlay_kind(study)
    if kind == "saliency":
        name = study.classification.labels[study.finding]
        return Legend(f"RISE saliency for {name} (relative to this map)", ramp=True)
    if kind == "comparison":
        return Legend("Mask vs reference", ((COMPARISON_COLOURS[AGREE], "both"),
                                            (COMPARISON_COLOURS[OVER], "over-segmented (mask only)"),
                                            (COMPARISON_COLOURS[UNDER], "under-segmented (reference only)")))
    if kind == "disagreement":
        return Legend("int8 vs fp32", ((COMPARISON_COLOURS[AGREE], "both"), (COMPARISON_COLOURS[OVER], "int8 only"),
                                       (COMPARISON_COLOURS[UNDER], "fp32 only")))
    if kind == "prediction":
        return Legend("Prediction", ((study.style.colour, "liver (int8 model, with your edits)"),))
    return None
