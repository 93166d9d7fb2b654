"""The long jobs the viewer runs off the UI thread, as plain functions of (progress, partial, cancelled)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from engine.runtime.bundle import Bundle
from engine.runtime.energy import EnergyMeasurement, EnergyMeter, RunTimer
from engine.runtime.errors import Cancelled, InputError
from engine.runtime.io import ImageSource, Volume, find_images
from viewer.model.study import SegmentationResult

Progress = Callable[[int, int], None]
Partial = Callable[[Any], None]
CancelCheck = Callable[[], bool]


def find_sources(path: Path):
    """What can be opened at ``path`` (scanning a large DICOM folder takes a while)."""
    def run(_progress: Progress, _partial: Partial, cancelled: CancelCheck) -> list[ImageSource]:
        sources = find_images(path, cancelled)
        if cancelled():
            raise Cancelled("scanning cancelled")
        return sources
    return run


@dataclass(frozen=True)
class MaskFile:
    """A DICOM SEG opened as if it were an image: it can be the open study's reference mask."""

    path: Path
    message: str


def load_image(source: ImageSource) -> Callable[[Progress, Partial, CancelCheck], Volume | MaskFile]:
    """Read an image; a DICOM SEG comes back as a MaskFile instead of failing."""
    from engine.runtime.io.dicom import NotAnImage

    def run(progress: Progress, _partial: Partial, cancelled: CancelCheck) -> Volume | MaskFile:
        try:
            volume = source.load(progress)
        except NotAnImage as err:
            if err.modality != "SEG":
                raise
            return MaskFile(err.path, str(err))
        if cancelled():
            raise Cancelled("opening cancelled")
        return volume
    return run


def segment_liver(bundle: Bundle, volume: Volume, with_fp32: bool = False):
    """Segment a CT with the int8 model (and the fp32 one, to show where they disagree)."""
    from engine.runtime.inference import Segmenter

    if volume.modality != "CT" or volume.shape[0] < 2:
        raise InputError(f"liver segmentation needs a CT volume; this is a {volume.modality} image with {volume.shape[0]} slice(s)")

    def run(progress: Progress, _partial: Partial, cancelled: CancelCheck) -> SegmentationResult:
        total = volume.shape[0] * (2 if with_fp32 else 1)
        int8 = Segmenter(bundle, "int8").segment(volume.array, progress=lambda d, _t: progress(d, total), cancel=cancelled,
                                                  spacing=volume.pixel_spacing)
        fp32 = None
        if with_fp32:
            offset = volume.shape[0]
            fp32 = Segmenter(bundle, "fp32").segment(volume.array, progress=lambda d, _t: progress(offset + d, total),
                                                      cancel=cancelled, spacing=volume.pixel_spacing)
        return SegmentationResult(int8, bundle.identity, fp32, bundle.card.study_role(volume.fingerprint))
    return run


def classify_radiograph(bundle: Bundle, volume: Volume):
    from engine.runtime.inference import Classifier

    if not volume.is_radiograph:
        raise InputError(f"classification needs a chest radiograph; this is a {volume.modality} volume of {volume.shape[0]} slices")

    def run(progress: Progress, _partial: Partial, _cancelled: CancelCheck):
        progress(0, 1)
        result = Classifier(bundle, "int8").predict(volume.array[0])
        volume.fingerprint  # noqa: B018 - computed here, off the UI thread, for the training-set check
        progress(1, 1)
        return result
    return run


def rise_saliency(bundle: Bundle, volume: Volume, masks: int = 512, batch: int = 8):
    """Progressive RISE maps for every finding; each refinement is sent as a partial result."""
    from engine.runtime.inference import Classifier, sigmoid
    from engine.runtime.preprocess import prepare_radiograph
    from engine.runtime.saliency import rise

    def run(progress: Progress, partial: Partial, cancelled: CancelCheck) -> SaliencyResult:
        classifier = Classifier(bundle, "int8")
        contract = bundle.card.input
        image = prepare_radiograph(volume.array[0], contract)
        fill = float((0.0 - contract.mean) / contract.std)
        update, timer = None, RunTimer()
        with EnergyMeter() as meter:
            for update in rise(lambda x: sigmoid(timer(classifier.logits, x)), image, masks=masks, batch=batch, fill=fill):
                if cancelled():
                    raise Cancelled("saliency cancelled")
                progress(update.done, update.total)
                partial(update)
        return SaliencyResult(update, meter.result.with_runs(timer.per_inference))
    return run


@dataclass(frozen=True)
class SaliencyResult:
    """The final RISE maps and what their forward passes (one per mask) cost."""

    update: Any
    energy: EnergyMeasurement


def export_review(snapshot, request, card):
    """Stage the masks, the HTML report and the review data of a study snapshot (the PDF follows on the UI thread)."""
    from viewer.model.review_export import stage_export

    def run(progress: Progress, _partial: Partial, _cancelled: CancelCheck):
        progress(0, 1)
        result = stage_export(snapshot, request, card)
        progress(1, 1)
        return result
    return run
