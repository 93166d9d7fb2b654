"""Torch-free predictors on real images: int8 agrees with fp32, geometry is restored, cancel works."""

import numpy as np
import pytest

from engine.runtime.errors import BundleError, Cancelled, InputError
from engine.runtime.inference import Classifier, Segmenter

# Agreement bounds for int8 vs fp32 (same weights, calibrated on real images).
LOGIT_ERROR_OF_RANGE = 0.05  # max |int8 - fp32| logit error, as a fraction of the fp32 logit range
MIN_MASK_DICE = 0.95


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = a.sum() + b.sum()
    return 1.0 if total == 0 else 2.0 * np.logical_and(a, b).sum() / total


def test_int8_classifier_agrees_with_fp32_on_real_xrays(cls_bundle, chest_xrays):
    from engine.runtime.preprocess import prepare_radiograph

    fp32, int8 = Classifier(cls_bundle, "fp32"), Classifier(cls_bundle, "int8")
    batch = np.concatenate([prepare_radiograph(image, cls_bundle.card.input) for image in chest_xrays[1::2]])
    reference, quantised = fp32.logits(batch), int8.logits(batch)
    spread = reference.max() - reference.min()
    assert spread > 0
    assert np.abs(quantised - reference).max() <= LOGIT_ERROR_OF_RANGE * spread
    assert np.abs(quantised).max() > 0  # the reference code's uncalibrated PTQ gave all-zero logits


def test_classification_result(cls_bundle, chest_xrays):
    result = Classifier(cls_bundle).predict(chest_xrays[0])
    assert result.probabilities.shape == (14,)
    assert ((0 <= result.probabilities) & (result.probabilities <= 1)).all()
    ranked = result.ranked()
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert result.energy.seconds > 0 and result.energy.joules > 0


def test_segmentation_maps_back_to_the_source_geometry(seg_bundle, ct_volume):
    calls = []
    volume = ct_volume[12:18]
    result = Segmenter(seg_bundle, "int8", batch_size=4).segment(volume, progress=lambda d, t: calls.append((d, t)))
    assert result.mask.shape == volume.shape and result.mask.dtype == np.uint8
    assert calls == [(4, 6), (6, 6)]
    assert 0 < result.mask.mean() < 1  # neither empty nor full


def test_int8_mask_agrees_with_fp32(seg_bundle, ct_volume):
    volume = ct_volume[10:16]
    int8 = Segmenter(seg_bundle, "int8").segment(volume).mask
    fp32 = Segmenter(seg_bundle, "fp32").segment(volume).mask
    assert dice(int8, fp32) >= MIN_MASK_DICE


def test_cancel_stops_between_slices(seg_bundle, ct_volume):
    done = []
    with pytest.raises(Cancelled, match="after 2 of 6"):
        Segmenter(seg_bundle, batch_size=2).segment(ct_volume[12:18], progress=lambda d, t: done.append(d), cancel=lambda: len(done) >= 1)


def test_torch_eager_int8_agrees_with_fp32(chest_xrays):
    import torch

    from engine.runtime.preprocess import prepare_radiograph
    from engine.modelling.quantize import quantise_eager
    from tests.cards import classification_card
    from tests.conftest import seeded

    contract = classification_card().input
    model = seeded("sadnn_cls")
    calibration = [torch.from_numpy(prepare_radiograph(image, contract)) for image in chest_xrays[::2]]
    quantised = quantise_eager(model, calibration)
    batch = torch.cat([torch.from_numpy(prepare_radiograph(image, contract)) for image in chest_xrays[1::2]])
    with torch.no_grad():
        reference, result = model(batch), quantised(batch)
    spread = (reference.max() - reference.min()).item()
    assert (result - reference).abs().max().item() <= LOGIT_ERROR_OF_RANGE * spread


def test_predictors_refuse_the_wrong_task_and_bad_images(cls_bundle, seg_bundle):
    with pytest.raises(BundleError, match="not a segmentation model"):
        Segmenter(cls_bundle)
    with pytest.raises(BundleError, match="not a classification model"):
        Classifier(seg_bundle)
    with pytest.raises(InputError, match="blank"):
        Classifier(cls_bundle).predict(np.full((64, 64), 7, np.uint8))
    with pytest.raises(InputError, match="2D radiograph"):
        Classifier(cls_bundle).predict(np.zeros((2, 64, 64, 5)))
    with pytest.raises(InputError, match="CT volume"):
        Segmenter(seg_bundle).segment(np.zeros((64, 64)))
