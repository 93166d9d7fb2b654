"""Measurements on a displayed plane: a distance, and an elliptical region's mean, SD and area.

Positions are in millimetres of the plane (x to the right, y down), as the views place their pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RULER, ROI = "ruler", "roi"


@dataclass(frozen=True)
class RegionStatistics:
    mean: float
    sd: float
    area_mm2: float
    pixels: int
    unit: str  # "HU" on CT, "" where the values have no unit
    in_pixels: bool = False  # the image has no pixel size: the area is a pixel count

    def caption(self) -> str:
        if self.pixels == 0:
            return "no pixel inside"
        unit = f" {self.unit}" if self.unit else ""
        if self.in_pixels:
            return f"mean {self.mean:.1f}{unit}, SD {self.sd:.1f}{unit}, area {self.pixels} px (pixel size unknown)"
        area = f"{self.area_mm2 / 100:.2f} cm²" if self.area_mm2 >= 100 else f"{self.area_mm2:.1f} mm²"
        return f"mean {self.mean:.1f}{unit}, SD {self.sd:.1f}{unit}, area {area} ({self.pixels} px)"


def distance_mm(start: tuple[float, float], end: tuple[float, float]) -> float:
    return float(np.hypot(end[0] - start[0], end[1] - start[1]))


def distance_caption(start: tuple[float, float], end: tuple[float, float], in_pixels: bool = False) -> str:
    """'12.3 mm' or '1.23 cm'; '123.0 px' where the image has no pixel size."""
    length = distance_mm(start, end)
    if in_pixels:
        return f"{length:.1f} px"
    return f"{length / 10:.2f} cm" if length >= 100 else f"{length:.1f} mm"


def ellipse_statistics(plane: np.ndarray, pixel: tuple[float, float], corner: tuple[float, float],
                       opposite: tuple[float, float], unit: str = "") -> RegionStatistics:
    """Statistics of the pixels whose centres lie in the ellipse inscribed in the box from ``corner`` to ``opposite``
    ((x, y) in mm); ``pixel`` is (row height, column width) in mm. Non-finite pixels are left out."""
    dy, dx = pixel
    (x0, y0), (x1, y1) = corner, opposite
    cx, cy, rx, ry = (x0 + x1) / 2, (y0 + y1) / 2, abs(x1 - x0) / 2, abs(y1 - y0) / 2
    if rx <= 0 or ry <= 0:
        return RegionStatistics(float("nan"), float("nan"), 0.0, 0, unit)
    rows, columns = plane.shape
    centres_y = (np.arange(rows) + 0.5) * dy
    centres_x = (np.arange(columns) + 0.5) * dx
    inside = ((centres_x[None, :] - cx) / rx) ** 2 + ((centres_y[:, None] - cy) / ry) ** 2 <= 1.0
    values = plane[inside]
    values = values[np.isfinite(values)].astype(np.float64)
    if values.size == 0:
        return RegionStatistics(float("nan"), float("nan"), 0.0, 0, unit)
    return RegionStatistics(float(values.mean()), float(values.std(ddof=1)) if values.size > 1 else 0.0,
                            float(values.size * dy * dx), int(values.size), unit)
