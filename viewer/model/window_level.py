"""Window/level: the grey-scale mapping a radiologist adjusts, with the usual CT presets."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowLevel:
    """A display window: values below ``level - width/2`` are black, above ``level + width/2`` white."""

    width: float
    level: float

    @property
    def bounds(self) -> tuple[float, float]:
        return self.level - self.width / 2, self.level + self.width / 2

    def dragged(self, dx: float, dy: float, sensitivity: float) -> WindowLevel:
        """Right-drag: right widens the window, up raises the level (as on PACS workstations)."""
        return WindowLevel(max(1.0, self.width + dx * sensitivity), self.level - dy * sensitivity)

    def label(self) -> str:
        return f"W {self.width:.0f} / L {self.level:.0f}"


# W/L presets (width, level) in HU, on keys 1-4.
CT_PRESETS = {
    "Liver": WindowLevel(150, 90),
    "Abdomen": WindowLevel(400, 40),
    "Lung": WindowLevel(1500, -600),
    "Bone": WindowLevel(2500, 480),
}


def initial_window(array: np.ndarray, modality: str, header: tuple[float, float] | None) -> WindowLevel:
    """The header's window if any, else abdomen for CT, else the 1st-99th percentile range."""
    if header is not None:
        centre, width = header
        return WindowLevel(width, centre)
    if modality == "CT":
        return CT_PRESETS["Abdomen"]
    sample = array[:: max(1, array.shape[0] // 8), ::4, ::4]
    sample = sample[np.isfinite(sample)]  # NaN / infinite voxels are shown apart, never stretch the window
    low, high = np.percentile(sample, [1, 99]) if sample.size else (0.0, 1.0)
    return WindowLevel(max(float(high - low), 1.0), float(low + high) / 2)


def preset_name(window: WindowLevel, header: tuple[float, float] | None = None) -> str | None:
    """The CT preset ``window`` is ("Liver"), "File" for the window stored in the file, else None (adjusted)."""
    for name, preset in CT_PRESETS.items():
        if window == preset:
            return name
    if header is not None and window == WindowLevel(header[1], header[0]):
        return "File"
    return None
