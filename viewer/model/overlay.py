"""Overlay pictures (RGBA, uint8) for a displayed plane: a mask, a mask comparison, a heatmap."""

from __future__ import annotations

import numpy as np

from engine.runtime.compare import AGREE, OVER, UNDER

# Seed paper Fig. 4: correct white, over-segmented green, under-segmented red.
COMPARISON_COLOURS = {AGREE: (255, 255, 255), OVER: (0, 200, 0), UNDER: (230, 0, 0)}


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


_HEAT_ANCHORS = np.array([
    [0, 0, 0, 0], [40, 0, 120, 90], [180, 0, 120, 150], [255, 90, 0, 200], [255, 220, 0, 230], [255, 255, 255, 255],
], dtype=np.float32)


def heat_lut() -> np.ndarray:
    """256 RGBA colours from transparent black through purple, red and yellow to white."""
    positions = np.linspace(0, 1, len(_HEAT_ANCHORS))
    levels = np.linspace(0, 1, 256)
    return np.stack([np.interp(levels, positions, _HEAT_ANCHORS[:, c]) for c in range(4)], axis=1).astype(np.uint8)


def heatmap_rgba(values: np.ndarray, opacity: float) -> np.ndarray:
    """A saliency map scaled to its own range, coloured with ``heat_lut``, alpha times ``opacity``."""
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    rgba = heat_lut()[(scaled * 255).astype(np.uint8)]
    rgba[..., 3] = (rgba[..., 3] * opacity).astype(np.uint8)
    return rgba
