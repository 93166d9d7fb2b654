"""The open study: one image, the reading state over it, and the engine's results on it."""

from __future__ import annotations

import copy as _copy
import hashlib
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from engine.runtime.compare import MaskComparison, compare_masks
from engine.runtime.energy import EnergyMeasurement
from engine.runtime.inference import Classification, Segmentation
from engine.runtime.io import Volume
from engine.runtime.preprocess import resize
from viewer.model.confidence import least_confident_unreviewed, slice_confidence
from viewer.model.events import Event
from viewer.model.mask_editor import UNDO_LIMIT, MaskEditor, MaskStatistics
from viewer.model.overlay import PREDICTION_COLOUR
from viewer.model.review import ACCEPTED, EDITED, FLAGGED, FindingReview, SliceReview, review_range
from viewer.model.window_level import CT_PRESETS, WindowLevel, initial_window

OVERLAY_MODES = ("prediction", "comparison", "disagreement")


@dataclass(frozen=True)
class OverlayStyle:
    """How the segmentation overlay is drawn."""

    visible: bool = True
    mode: str = "prediction"
    colour: tuple[int, int, int] = PREDICTION_COLOUR
    opacity: float = 0.35
    outline: bool = False  # only the edges, so the tissue under the mask stays visible


@dataclass(frozen=True)
class SegmentationResult:
    """The int8 prediction (and the fp32 one, when run) with the model that made them."""

    int8: Segmentation
    model: dict[str, str]
    fp32: Segmentation | None = None
    study_role: tuple[str, str | None] = ("unseen", None)  # what this study was to the model (ModelCard.study_role)

    @property
    def dice_caption(self) -> str:
        """How to read a Dice of this study against a reference: held-out or not."""
        role, name = self.study_role
        if role == "training":
            return f"training study {name}: not a held-out result"
        if role == "held-out":
            return f"held-out study {name}"
        return "a study new to the model"

    @property
    def mask(self) -> np.ndarray:
        return self.int8.mask


@dataclass(frozen=True)
class InferenceCost:
    """One job of the engine on this study: what it computed, how many forward passes it took, what they cost."""

    what: str
    inferences: int
    energy: EnergyMeasurement


class Study:
    """State of one open image; views subscribe to its events and never hold state of their own.

    Events: ``cursor_changed``, ``window_changed``, ``overlay_changed`` (redraw overlays),
    ``mask_changed(slices)`` (edited slices), ``review_changed`` (marks, notes, decisions) and
    ``saved_state_changed`` (something the user made changed: autosave now).
    """

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
        self.saliency_energy: EnergyMeasurement | None = None  # what the RISE forward passes cost, once done
        self.finding: int | None = None
        self.editor: MaskEditor | None = None
        self.review: SliceReview | None = None
        self.confidence: np.ndarray | None = None  # per axial slice, from the model's probabilities
        self.auto_advance = False  # after A or F, go on to the next slice to review
        self._forget_mark_history()
        self.finding_review = FindingReview()
        self.note = ""
        self.overrides: dict[str, list[str]] = {}  # task -> contract problems the user chose to run the model despite
        self.cursor_changed, self.window_changed, self.overlay_changed = Event(), Event(), Event()
        self.mask_changed, self.review_changed, self.saved_state_changed = Event(), Event(), Event()

    @cached_property
    def key(self) -> str:
        """A digest of the pixels and geometry: the same image finds its session wherever it lies."""
        digest = hashlib.blake2b(digest_size=16)
        digest.update(repr((self.volume.shape, self.volume.spacing, self.volume.modality)).encode())
        digest.update(np.ascontiguousarray(self.volume.array).tobytes())
        return digest.hexdigest()

    def snapshot(self) -> Study:
        """A frozen copy of everything the user made (mask, marks, notes, decisions) for work off the UI thread.

        The image and the model outputs are shared (never changed in place); nothing listens to the copy.
        """
        copy = _copy.copy(self)
        copy.editor = None if self.editor is None else self.editor.snapshot()
        copy.review = _copy.deepcopy(self.review)
        copy.finding_review = _copy.deepcopy(self.finding_review)
        copy.overrides = _copy.deepcopy(self.overrides)
        copy.saliency = None if self.saliency is None else self.saliency.copy()
        copy.cursor_changed, copy.window_changed, copy.overlay_changed = Event(), Event(), Event()
        copy.mask_changed, copy.review_changed, copy.saved_state_changed = Event(), Event(), Event()
        return copy

    def model_identities(self) -> dict[str, dict[str, str]]:
        """Task -> identity (name, version, SHA-256) of the model behind each result present."""
        found = {}
        if self.segmentation is not None and self.segmentation.model:
            found["segmentation"] = self.segmentation.model
        if self.classification is not None and self.classification_model:
            found["classification"] = self.classification_model
        return found

    def override_contract(self, task: str, problems: tuple[str, ...]) -> None:
        """Record that the user ran ``task``'s model although the study does not meet its input contract."""
        self.overrides[task] = list(problems)
        self.saved_state_changed.emit()

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
        """A CT preset by name, or "File" for the window stored in the file."""
        if name == "File":
            self.set_window(initial_window(self.volume.array, self.volume.modality, self.volume.window))
        else:
            self.set_window(CT_PRESETS[name])

    def probe(self, z: int, y: int, x: int) -> str:
        """The value under the pointer with its unit and where it is: slice numbers as the slice caption gives them,
        rows and columns from 1, and the patient position in mm (LPS, as DICOM gives it)."""
        volume = self.volume
        value = float(volume.array[z, y, x])
        if volume.modality == "CT":
            shown = f"{value:.0f} HU"
        else:
            shown = f"{value:.4g}"
        if volume.shape[0] == 1:
            return f"row {y + 1}, column {x + 1}  {shown}"
        lps = volume.world(z, y, x)
        return f"{self.slice_name(z)}, ({lps[0]:.1f}, {lps[1]:.1f}, {lps[2]:.1f}) mm LPS  {shown}"

    def slice_name(self, z: int) -> str:
        """'Im 45' (the DICOM InstanceNumber) where slice ``z`` is a file, else 'slice 13' (from 1)."""
        number = self.volume.instance_number(z)
        return f"Im {number}" if number is not None else f"slice {z + 1}"

    def slice_caption(self, z: int) -> str:
        """'Slice 13 / 20 (Im 45), location -120.5 mm': position in the stack, the file's number and the slice's
        location along its normal."""
        return f"{self.slice_position(z)}, location {self.slice_location(z):.1f} mm"

    def slice_position(self, z: int) -> str:
        """'Slice 13 / 20 (Im 45)': where slice ``z`` is in the stack, with the file's number where it has one."""
        number = self.volume.instance_number(z)
        return f"Slice {z + 1} / {self.volume.shape[0]}" + (f" (Im {number})" if number is not None else "")

    def slice_location(self, z: int) -> float:
        """Where axial slice ``z`` lies along its normal, in mm (DICOM's slice location)."""
        volume = self.volume
        return float(np.dot(volume.world(z, 0, 0), np.asarray(volume.direction, dtype=float)[:, 2]))

    # results
    def set_style(self, **changes) -> None:
        self.style = replace(self.style, **changes)
        self.overlay_changed.emit()

    def set_segmentation(self, result: SegmentationResult, edited: dict[int, np.ndarray] | None = None) -> None:
        """A new prediction to review (``edited``: slices the user had already corrected, when restoring)."""
        self.segmentation = result
        self.disagreement = None if result.fp32 is None else compare_masks(result.int8.mask, result.fp32.mask)
        working = result.mask.copy()
        for z, mask in (edited or {}).items():
            working[z] = mask
        self.editor = MaskEditor(working, self.volume.array, self.volume.voxel_volume_ml)
        self.review = SliceReview(review_range(result.mask))
        self.confidence = slice_confidence(result.int8.probabilities)
        self._forget_mark_history()
        self._compare()
        self.review_changed.emit()

    # editing (the axial slice under the cursor, unless ``depth`` asks for neighbours too)
    @property
    def mask(self) -> np.ndarray | None:
        """The working segmentation: the prediction with the user's edits."""
        return None if self.editor is None else self.editor.mask

    def statistics(self) -> MaskStatistics | None:
        return None if self.editor is None else self.editor.statistics()

    def begin_stroke(self) -> None:
        self.editor.begin_stroke()

    def end_stroke(self) -> None:
        if self.editor.end_stroke():
            self._close_step()
            self.review_changed.emit()  # undo is possible now
            self.saved_state_changed.emit()
        self._marks_before = {}

    def paint(self, row: float, column: float, radius: float, erase: bool = False, depth: int = 0) -> None:
        self._edited(self.editor.paint(self.cursor[0], row, column, radius, not erase, depth))

    def fill_hole(self, row: int, column: int) -> None:
        """Fill the hole around (row, column) of the current slice; ValueError if it is not enclosed."""
        self._edited(self.editor.fill_hole(self.cursor[0], row, column))

    def undo(self) -> None:
        """Take back the last edit, with the verdicts its slices had before it."""
        if self.editor is not None:
            self._edited(self.editor.undo(), history=(self._mark_history, self._mark_future))

    def redo(self) -> None:
        if self.editor is not None:
            self._edited(self.editor.redo(), history=(self._mark_future, self._mark_history))

    def _edited(self, slices: list[int], history: tuple[list, list] | None = None) -> None:
        if not slices:
            return
        if self.comparison is not None:
            self.comparison.update(self.editor.mask, self.reference, slices)
        if history is None:
            for z in slices:
                self._marks_before.setdefault(z, self.review.marks.get(z))
                self.review.mark(z, EDITED)
            if not self.editor.stroke_open:
                self._close_step()
        else:
            self._swap_marks(*history)
        self.mask_changed.emit(slices)
        self.review_changed.emit()
        if not self.editor.stroke_open:
            self.saved_state_changed.emit()

    def _forget_mark_history(self) -> None:
        """A new mask to edit: no verdicts to give back yet."""
        self._marks_before: dict[int, str | None] = {}  # of the slices the open edit marked "edited"
        self._mark_history: list[tuple[dict, tuple]] = []  # per undo step of the editor: (marks, review slices) before it
        self._mark_future: list[tuple[dict, tuple]] = []

    def _close_step(self) -> None:
        """The edit just closed is one undo step: remember the verdicts it replaced."""
        before = (self._marks_before, self.review.slices)
        self._mark_history = (self._mark_history + [before])[-UNDO_LIMIT:]
        self._mark_future.clear()
        self._marks_before = {}

    def _swap_marks(self, source: list, target: list) -> None:
        """Put back the verdicts saved with the step being undone (or redone), saving the current ones for the way back."""
        if not source:
            return
        marks, slices = source.pop()
        target.append(({z: self.review.marks.get(z) for z in marks}, self.review.slices))
        self.review.slices = slices
        for z, mark in marks.items():
            self.review.mark(z, mark)

    # review
    def mark_slice(self, mark: str | None) -> None:
        """Mark the current axial slice accepted / flagged / edited (None clears it); with ``auto_advance``, an
        accept or a flag moves on to the next slice to review."""
        if self.review is not None:
            self.review.mark(self.cursor[0], mark)
            self._reviewed()
            if self.auto_advance and mark in (ACCEPTED, FLAGGED):
                self.go_to_next_unreviewed()

    def set_slice_note(self, text: str, z: int | None = None) -> None:
        """The note of slice ``z`` (default: the current slice)."""
        if self.review is not None:
            self.review.set_note(self.cursor[0] if z is None else z, text)
            self._reviewed()

    def go_to_next_unreviewed(self, from_start: bool = False) -> bool:
        """Move to the next slice still to review (or the first one); False when every slice is done."""
        target = None if self.review is None else self.review.next_unreviewed(-1 if from_start else self.cursor[0])
        if target is not None:
            self.set_cursor(target, *self.cursor[1:])
        return target is not None

    def go_to_least_confident(self) -> bool:
        """Move to the unreviewed slice where the model is least sure; False when every slice is done."""
        if self.review is None or self.confidence is None:
            return False
        target = least_confident_unreviewed(self.review, self.confidence)
        if target is not None:
            self.set_cursor(target, *self.cursor[1:])
        return target is not None

    def decide_finding(self, index: int, decision: str | None) -> None:
        self.finding_review.decide(index, decision)
        self._reviewed()

    def set_finding_note(self, index: int, text: str) -> None:
        self.finding_review.set_note(index, text)
        self._reviewed()

    def set_note(self, text: str) -> None:
        self.note = text
        self._reviewed()

    def _reviewed(self) -> None:
        self.review_changed.emit()
        self.saved_state_changed.emit()

    def set_reference(self, mask: np.ndarray | None) -> None:
        """A binary reference mask on the volume's grid (or None to remove it)."""
        if mask is not None and mask.shape != self.volume.shape:
            raise ValueError(f"reference mask {mask.shape} does not match the image {self.volume.shape}")
        self.reference = None if mask is None else mask.astype(bool)
        self._compare()

    def set_classification(self, result: Classification, model: dict[str, str]) -> None:
        self.classification, self.classification_model = result, model
        self.saliency, self.finding, self.saliency_energy = None, None, None
        self.overlay_changed.emit()

    def select_finding(self, index: int | None) -> None:
        self.finding = index
        self.overlay_changed.emit()

    def set_saliency(self, maps: np.ndarray, done: int, total: int, energy: EnergyMeasurement | None = None) -> None:
        """Saliency maps (classes, h, w) in the network grid; shown resized to the image. ``energy``: the cost of the
        finished maps' forward passes."""
        self.saliency, self.saliency_progress = maps, (done, total)
        self.saliency_energy = energy if energy is not None else self.saliency_energy
        self.overlay_changed.emit()

    def costs(self) -> list[InferenceCost]:
        """Every engine job behind the results shown, each with its count of forward passes."""
        found = []
        if self.segmentation is not None:
            slices = self.volume.shape[0]
            found.append(InferenceCost("Liver segmentation (int8)", slices, self.segmentation.int8.energy))
            if self.segmentation.fp32 is not None:
                found.append(InferenceCost("Check against fp32", slices, self.segmentation.fp32.energy))
        if self.classification is not None:
            found.append(InferenceCost("Classification (int8)", 1, self.classification.energy))
            if self.saliency_energy is not None:
                found.append(InferenceCost("RISE saliency (int8), one pass per mask", self.saliency_progress[0],
                                           self.saliency_energy))
        return found

    def saliency_image(self, index: int | None = None) -> np.ndarray | None:
        """The saliency of finding ``index`` (default: the selected one) on the image's pixel grid."""
        index = self.finding if index is None else index
        if self.saliency is None or index is None:
            return None
        return resize(self.saliency[index], self.volume.shape[1:])

    def _compare(self) -> None:
        both = self.segmentation is not None and self.reference is not None
        self.comparison = compare_masks(self.mask, self.reference) if both else None
        self.overlay_changed.emit()
