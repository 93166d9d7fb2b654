"""The open study: one image, the reading state over it, and the engine's results on it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from engine.compare import MaskComparison, compare_masks
from engine.inference import Classification, Segmentation
from engine.io import Volume
from engine.preprocess import resize
from viewer.model.events import Event
from viewer.model.window_level import CT_PRESETS, WindowLevel, initial_window

OVERLAY_MODES = ("prediction", "comparison", "disagreement")


@dataclass(frozen=True)
class OverlayStyle:
    """How the segmentation overlay is drawn."""

    visible: bool = True
    mode: str = "prediction"
    colour: tuple[int, int, int] = (255, 150, 0)
    opacity: float = 0.35


@dataclass(frozen=True)
class SegmentationResult:
    """The int8 prediction (and the fp32 one, when run) with the model that made them."""

    int8: Segmentation
    model: dict[str, str]
    fp32: Segmentation | None = None

    @property
    def mask(self) -> np.ndarray:
        return self.int8.mask

    @cached_property
    def voxel_count(self) -> int:
        return int(np.count_nonzero(self.int8.mask))

    @cached_property
    def slices_with_mask(self) -> int:
        return int(self.int8.mask.any(axis=(1, 2)).sum())


class Study:
    """State of one open image; views subscribe to its events and never hold state of their own."""

    def __init__(self, volume: Volume):
        self.volume = volume
        self.cursor = tuple(s // 2 for s in volume.shape)
        self.window = initial_window(volume.array, volume.modality, volume.window)
        self.style = OverlayStyle()
        self.segmentation: SegmentationResult | None = None
        self.reference: np.ndarray | None = None
        self.comparison: MaskComparison | None = None
        self.disagreement: MaskComparison | None = None
        self.classification: Classification | None = None
        self.classification_model: dict[str, str] | None = None
        self.saliency: np.ndarray | None = None
        self.saliency_progress = (0, 0)
        self.finding: int | None = None
        self.cursor_changed, self.window_changed, self.overlay_changed = Event(), Event(), Event()

    # reading
    def set_cursor(self, z: int, y: int, x: int) -> None:
        """Move the crosshair; coordinates are clamped into the volume."""
        clamped = tuple(int(np.clip(v, 0, n - 1)) for v, n in zip((z, y, x), self.volume.shape))
        if clamped != self.cursor:
            self.cursor = clamped
            self.cursor_changed.emit()

    def step(self, axis: int, steps: int) -> None:
        """Move ``steps`` slices along ``axis`` (0 axial, 1 coronal, 2 sagittal)."""
        position = list(self.cursor)
        position[axis] += steps
        self.set_cursor(*position)

    def set_window(self, window: WindowLevel) -> None:
        self.window = window
        self.window_changed.emit()

    def apply_preset(self, name: str) -> None:
        """A CT preset by name, or "Header" for the window stored in the file."""
        if name == "Header":
            self.set_window(initial_window(self.volume.array, self.volume.modality, self.volume.window))
        else:
            self.set_window(CT_PRESETS[name])

    def probe(self, z: int, y: int, x: int) -> str:
        """The value under the cursor with its unit, for the status bar."""
        value = float(self.volume.array[z, y, x])
        unit = " HU" if self.volume.modality == "CT" else ""
        return f"({x}, {y}, {z})  {value:.0f}{unit}"

    # results
    def set_style(self, **changes) -> None:
        self.style = replace(self.style, **changes)
        self.overlay_changed.emit()

    def set_segmentation(self, result: SegmentationResult) -> None:
        self.segmentation = result
        self.disagreement = None if result.fp32 is None else compare_masks(result.int8.mask, result.fp32.mask)
        self._compare()

    def set_reference(self, mask: np.ndarray | None) -> None:
        """A binary reference mask on the volume's grid (or None to remove it)."""
        if mask is not None and mask.shape != self.volume.shape:
            raise ValueError(f"reference mask {mask.shape} does not match the image {self.volume.shape}")
        self.reference = None if mask is None else mask.astype(bool)
        self._compare()

    def set_classification(self, result: Classification, model: dict[str, str]) -> None:
        self.classification, self.classification_model = result, model
        self.saliency, self.finding = None, None
        self.overlay_changed.emit()

    def select_finding(self, index: int | None) -> None:
        self.finding = index
        self.overlay_changed.emit()

    def set_saliency(self, maps: np.ndarray, done: int, total: int) -> None:
        """Saliency maps (classes, h, w) in the network grid; shown resized to the image."""
        self.saliency, self.saliency_progress = maps, (done, total)
        self.overlay_changed.emit()

    def saliency_image(self) -> np.ndarray | None:
        """The selected finding's saliency on the image's pixel grid."""
        if self.saliency is None or self.finding is None:
            return None
        return resize(self.saliency[self.finding], self.volume.shape[1:])

    def _compare(self) -> None:
        both = self.segmentation is not None and self.reference is not None
        self.comparison = compare_masks(self.segmentation.mask, self.reference) if both else None
        self.overlay_changed.emit()
