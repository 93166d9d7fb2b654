"""Torch-free predictors over a bundle's ONNX models: classify a radiograph, segment a CT volume.

Long work reports ``progress(done, total)`` and stops at the next slice when ``cancel()``
returns True, raising ``Cancelled``. Results are mapped back onto the source geometry.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import numpy as np

from engine.runtime import operators
from engine.runtime.bundle import Bundle
from engine.runtime.energy import EnergyMeasurement, EnergyMeter, RunTimer
from engine.runtime.errors import BundleError, Cancelled, InputError
from engine.runtime.evidence import FindingEvidence, finding_evidence
from engine.runtime.postprocess import postprocess
from engine.runtime.preprocess import prepare_ct_slices, prepare_radiograph, restore_probabilities, slice_geometry

Progress = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class OnnxModel:
    """An ONNX Runtime CPU session with a fixed thread count.

    ``model`` is a path or the model's bytes; bundles pass the bytes they verified (``Bundle.model_bytes``)
    so nothing can swap the file between the check and the load.
    """

    def __init__(self, model: os.PathLike | bytes, threads: int | None = None, sadnn_ops: bool = False):
        """``sadnn_ops``: the graph uses the ai.sadnn operators (engine.runtime.operators), registered here."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if sadnn_ops:
            try:
                operators.register(options)
            except RuntimeError as err:
                raise BundleError(str(err)) from err
            options.enable_mem_pattern = False  # the fused graph's peak is small; the arena saves page faults
        else:
            options.enable_cpu_mem_arena = False  # the arena keeps every peak allocation: 2.5 GB vs 1.6 GB for SaDNN-seg
        try:
            source = model if isinstance(model, bytes) else os.fspath(model)
            self.session = ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])
        except Exception as err:  # ORT raises its own exception types for unreadable models
            name = "the model" if isinstance(model, bytes) else model
            raise BundleError(f"ONNX Runtime cannot load {name}: {err}") from err
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})[0]


@dataclass(frozen=True)
class Classification:
    """Per-label probabilities of one radiograph and the decision at each label's threshold."""

    labels: tuple[str, ...]
    probabilities: np.ndarray
    thresholds: tuple[float, ...]
    energy: EnergyMeasurement
    graph: str = ""  # which graph ran: the fused operators or the portable graph (and why)
    evidence: tuple[FindingEvidence | None, ...] = ()  # per label, what held-out data says (from the card)

    def evidence_for(self, index: int) -> FindingEvidence | None:
        return self.evidence[index] if index < len(self.evidence) else None

    @property
    def validated_count(self) -> int:
        """How many findings held-out data shows to be better than chance."""
        return sum(1 for evidence in self.evidence if evidence is not None and evidence.validated)

    def call(self, index: int) -> str:
        """The model's call on a finding: only a validated finding is called positive or below threshold."""
        evidence = self.evidence_for(index)
        if evidence is None or not evidence.validated:
            return "not validated"
        return "positive" if self.probabilities[index] >= self.thresholds[index] else "below threshold"

    @property
    def positive(self) -> np.ndarray:
        return self.probabilities >= np.asarray(self.thresholds)

    def ranked(self) -> list[tuple[str, float]]:
        """(label, probability), most probable first."""
        order = np.argsort(-self.probabilities)
        return [(self.labels[i], float(self.probabilities[i])) for i in order]


@dataclass(frozen=True)
class Segmentation:
    """A binary mask and foreground probabilities in the source volume's (Z, Y, X) geometry."""

    mask: np.ndarray
    probabilities: np.ndarray
    energy: EnergyMeasurement
    graph: str = ""  # which graph ran: the fused operators or the portable graph (and why)
    raw_mask: np.ndarray | None = None  # the thresholded mask before the card's post-processing (None: none)


def load_graph(bundle: Bundle, precision: str, threads: int | None = None) -> tuple[OnnxModel, str]:
    """The bundle's fused graph where the operators run here, else its portable graph; and which, in words."""
    if bundle.has_fused:
        found = operators.status()
        if found.usable:
            return OnnxModel(bundle.model_bytes(precision, fused=True), threads, sadnn_ops=True), found.reason
        return OnnxModel(bundle.model_bytes(precision), threads), f"portable graph ({found.reason})"
    return OnnxModel(bundle.model_bytes(precision), threads), "portable graph (the bundle has no fused graph)"


class Classifier:
    """Chest X-ray classifier over a classification bundle."""

    def __init__(self, bundle: Bundle, precision: str = "int8", threads: int | None = None):
        _check_task(bundle, "classification")
        self.bundle = bundle
        self.precision = precision
        self.model, self.graph = load_graph(bundle, precision, threads)

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """Raw logits for prepared inputs (N, 1, H, W)."""
        return self.model(batch)

    def predict(self, image: np.ndarray) -> Classification:
        """Classify one radiograph (H, W) or (H, W, 3) of any size and bit depth."""
        card = self.bundle.card
        batch = prepare_radiograph(image, card.input)
        timer = RunTimer()
        with EnergyMeter() as meter:
            probabilities = sigmoid(timer(self.model, batch)[0])
        evidence = finding_evidence(card.metrics, card.labels, self.precision)
        energy = meter.result.with_runs(timer.per_inference)
        return Classification(card.labels, probabilities, card.thresholds, energy, self.graph, evidence)


class Segmenter:
    """Liver segmenter over a segmentation bundle, slice by slice."""

    def __init__(self, bundle: Bundle, precision: str = "int8", threads: int | None = None, batch_size: int = 1):
        _check_task(bundle, "segmentation")
        self.bundle = bundle
        self.model, self.graph = load_graph(bundle, precision, threads)
        self.batch_size = batch_size

    def segment(
        self,
        volume: np.ndarray,
        progress: Progress | None = None,
        cancel: CancelCheck | None = None,
        spacing: tuple[float, float] | None = None,
    ) -> Segmentation:
        """Segment a CT volume (Z, Y, X) in HU with in-plane ``spacing`` (row, column mm, needed by models whose
        contract fixes the pixel spacing); the mask has the volume's shape."""
        card = self.bundle.card
        volume = np.asarray(volume)
        if volume.ndim != 3:
            raise InputError(f"expected a CT volume (slices, rows, columns), got shape {volume.shape}")
        geometry = slice_geometry(volume.shape[1:], card.input, spacing)
        total = volume.shape[0]
        foreground = card.labels.index("liver") if "liver" in card.labels else len(card.labels) - 1
        probabilities = np.zeros(volume.shape, dtype=np.float32)
        timer = RunTimer()
        with EnergyMeter() as meter:
            for start in range(0, total, self.batch_size):
                if cancel is not None and cancel():
                    raise Cancelled(f"segmentation cancelled after {start} of {total} slices")
                stop = min(start + self.batch_size, total)
                batch = prepare_ct_slices(volume[start:stop], card.input, spacing)
                softmax = _softmax(timer(self.model, batch), axis=1)[:, foreground]
                for offset, slice_probabilities in enumerate(softmax):
                    probabilities[start + offset] = restore_probabilities(slice_probabilities, geometry)
                if progress is not None:
                    progress(stop, total)
        mask = (probabilities >= card.thresholds[foreground]).astype(np.uint8)
        energy = meter.result.with_runs(timer.per_inference)
        if not card.postprocessing:
            return Segmentation(mask, probabilities, energy, self.graph)
        return Segmentation(postprocess(mask, card.postprocessing), probabilities, energy, self.graph, mask)


def _check_task(bundle: Bundle, task: str) -> None:
    if bundle.card.task != task:
        raise BundleError(f"bundle {bundle.card.name} is a {bundle.card.task} model, not a {task} model")


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x: np.ndarray, axis: int) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)
