"""The viewer uses only bundles signed by a trusted key, says who signed, and trusts a new key only when asked."""

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import shutil
from dataclasses import replace

import pytest

from engine.runtime.bundle import load_bundle, seal_bundle
from engine.runtime.signing import SigningKey, user_keys_folder
from viewer.bundles import installed_models


@pytest.fixture
def lab_models(models_folder, tmp_path):
    """The test models, the classifier re-signed by a lab's own key that nobody trusts yet."""
    folder = tmp_path / "models"
    shutil.copytree(models_folder, folder)
    lab = SigningKey.generate("Lab B, radiology research")
    public = lab.save(tmp_path / "lab.json")
    seal_bundle(folder / "cls", replace(load_bundle(folder / "cls").card, files={}), lab)
    yield folder, lab, public
    (user_keys_folder() / f"{lab.public.key_id.replace(':', '')}.pub.json").unlink(missing_ok=True)


def test_an_untrusted_bundle_is_listed_and_not_used(qtbot, lab_models):
    from viewer.qt.main_window import MainWindow

    folder, lab, _ = lab_models
    window = MainWindow(installed_models(folder))
    qtbot.addWidget(window)
    assert window.models.get("classification") is None
    assert window.models.get("segmentation").signer.name == "SaDNN test suite"
    assert any(f"signed by Lab B, radiology research (key {lab.public.key_id})" in p for p in window.models.problems)
    window._show_models()
    shown = window.card.toPlainText()
    assert "sadnn_cls-test" not in shown.split("Not used")[0] and "unet_small-test" in shown
    assert f"cls: cls is signed by Lab B, radiology research (key {lab.public.key_id})" in shown


def test_trusting_a_key_needs_an_explicit_yes(qtbot, lab_models):
    from viewer.qt.main_window import MainWindow

    folder, lab, public = lab_models
    window = MainWindow(installed_models(folder))
    qtbot.addWidget(window)
    questions = []
    window.prompts.confirm = lambda title, text, default_yes=True: questions.append((text, default_yes)) or False
    window.trust_signing_key(public)
    assert window.models.get("classification") is None  # the user said no
    assert lab.public.key_id in questions[0][0] and questions[0][1] is False  # the fingerprint is shown; No is the default
    window.prompts.confirm = lambda *args, **kwargs: True
    window.trust_signing_key(public)
    bundle = window.models.get("classification")
    assert bundle is not None and bundle.signer.key_id == lab.public.key_id
    assert window.message.text() == f"Trusted Lab B, radiology research (key {lab.public.key_id})"


def test_a_file_that_is_not_a_key_gets_a_clear_message(qtbot, window, tmp_path):
    (tmp_path / "notes.pub.json").write_text('{"format": "something"}')
    window.trust_signing_key(tmp_path / "notes.pub.json")
    assert window.prompts.last_error.startswith("Cannot read the key: ")
    assert "is not a sadnn ed25519 public key file" in window.prompts.last_error


def test_the_model_card_says_who_signed(cls_bundle):
    from viewer.model.energy_report import card_html

    html = card_html(cls_bundle.card, cls_bundle.identity)
    assert f"Signed by SaDNN test suite (key {cls_bundle.signer.key_id})" in html


def test_the_model_card_shows_leave_one_patient_out_per_patient_and_mean(cls_bundle):
    import numpy as np

    from viewer.model.energy_report import card_html

    folds = {"patient_1.1": {"dice_fp32": 0.91, "dice_int8": 0.905, "dice_int8_before_postprocessing": 0.88},
             "liver_1": {"dice_fp32": 0.71, "dice_int8": 0.70, "dice_int8_before_postprocessing": 0.64}}
    over = {key: {"mean": float(np.mean([f[key] for f in folds.values()])), "std": 0.1414} for key in folds["liver_1"]}
    card = replace(cls_bundle.card, metrics={**cls_bundle.card.metrics, "leave_one_patient_out": {
        "protocol": "leave-one-patient-out over 2 patients", "folds": folds, "over_folds": over}})
    html = card_html(card, cls_bundle.identity)
    assert "<tr><td>liver_1</td><td>0.710</td><td>0.700</td><td>0.640</td></tr>" in html
    assert "<td>0.810 ± 0.141</td><td>0.802 ± 0.141</td><td>0.760 ± 0.141</td>" in html
    assert "over 2 patients" in html and "leave one patient out:" not in html


def test_the_model_card_states_the_input_geometry_post_processing_and_the_dice_before_it(cls_bundle):
    from engine.runtime.card import InputContract
    from viewer.model.energy_report import card_html

    before = {"before_postprocessing": {"mean_dice_per_volume": 0.773}}
    card = replace(cls_bundle.card, task="segmentation", labels=("background", "liver"), thresholds=(0.5, 0.5),
                   input=InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0), pixel_spacing_mm=1.6),
                   postprocessing=("largest_component_3d", "fill_holes_2d"),
                   metrics={"full": {"fp32": before, "int8": {"before_postprocessing": {"mean_dice_per_volume": 0.771}}}})
    html = card_html(card, cls_bundle.identity)
    assert "input: slices resampled to 1.6 mm pixels (409.6 mm field)" in html
    assert "post-processing: largest 3D connected component kept, then holes filled slice by slice" in html
    assert "held-out Dice before post-processing: 0.773 fp32, 0.771 int8" in html
