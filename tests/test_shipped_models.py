"""The bundles shipped in resources/models: verified, honestly described, and working on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.runtime.bundle import load_bundle
from tests.conftest import data_path

MODELS = Path(__file__).resolve().parents[1] / "resources" / "models"
SHIPPED = sorted(p for p in MODELS.iterdir() if (p / "card.json").is_file()) if MODELS.is_dir() else []


def test_both_tasks_ship_a_model():
    tasks = {load_bundle(path).card.task for path in SHIPPED}
    assert tasks == {"classification", "segmentation"}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_cards_state_data_metrics_and_that_they_are_not_for_clinical_use(path):
    card = load_bundle(path).card
    assert "not for clinical use" in card.intended_use
    assert card.training["source"] and card.training["data"] and card.training["held_out"]
    headline = [key for key in card.metrics if key.startswith("held_out_")]
    assert len(headline) == 2 and all(0 <= card.metrics[key] <= 1 for key in headline)
    assert card.metrics["int8_agreement_bound"]
    assert card.profile["baseline"]["model"] in ("resnet18", "unet_small")


def test_the_classifier_runs_on_a_real_xray():
    from engine.runtime.inference import Classifier
    from engine.runtime.io import read_image_file

    bundle = next(load_bundle(p) for p in SHIPPED if load_bundle(p).card.task == "classification")
    image = read_image_file(data_path("cxr", "nih_txv", "00000001_000.png")).array[0]
    result = Classifier(bundle).predict(image)
    assert result.probabilities.shape == (14,) and np.isfinite(result.probabilities).all()


def test_the_segmenter_reproduces_its_held_out_dice_on_the_sample_series():
    """The sample series "Open sample" shows (liver_1) is held out: the viewer's path (DICOM series, its pixel
    spacing, the fused operators, post-processing) gives the Dice the card reports for it, and it is far from chance."""
    from engine.runtime.compare import dice
    from engine.runtime.inference import Segmenter
    from engine.runtime.io import find_images, read_mask
    from engine.runtime.operators import status
    from tests.conftest import OPERATORS_RAN

    bundle = next(load_bundle(p) for p in SHIPPED if load_bundle(p).card.task == "segmentation")
    card = bundle.card
    assert card.input.size == (256, 256) and card.input.pixel_spacing_mm == 1.6
    assert card.postprocessing == ("largest_component_3d", "fill_holes_2d")
    assert "CC BY-NC-ND" in card.training["source"] and "liver_1" in card.training["held_out"]
    volume = find_images(data_path("ct", "totalseg_abd_dicom"))[0].load()
    assert card.study_role(volume.fingerprint) == ("held-out", "liver_1")
    assert {"patient_1.1", "patient_1.7", "liver_0"} == set(card.training["studies"])
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), volume) == 5
    result = Segmenter(bundle).segment(volume.array, spacing=volume.pixel_spacing)
    if status().usable:
        assert result.graph == OPERATORS_RAN
    reported = card.metrics["full"]["int8"]["dice_per_volume"]["liver_1"]
    assert dice(result.mask, liver) == pytest.approx(reported, abs=0.02) and reported > 0.6


def test_the_liver_card_carries_leave_one_patient_out_over_every_patient():
    """Every patient held out once, the summary consistent with its folds, and the shipped model is the fold that
    holds out the sample series (its own held-out Dice is that fold's)."""
    card = next(load_bundle(p) for p in SHIPPED if load_bundle(p).card.task == "segmentation").card
    lopo = card.metrics["leave_one_patient_out"]
    assert set(lopo["folds"]) == {"patient_1.1", "patient_1.7", "liver_0", "liver_1"}
    assert "leave-one-patient-out over 4 patients" in lopo["protocol"]
    for column, over in lopo["over_folds"].items():
        values = [fold[column] for fold in lopo["folds"].values()]
        assert over["mean"] == pytest.approx(np.mean(values)) and over["min"] == min(values)
    shipped = lopo["folds"]["liver_1"]
    assert shipped["dice_int8"] == pytest.approx(card.metrics["held_out_mean_dice_per_volume_int8"], abs=0.005)
    assert shipped["dice_fp32"] == pytest.approx(card.metrics["held_out_mean_dice_per_volume_fp32"], abs=0.005)
