"""engine-train end to end on tiny real fixtures in the public layouts: train, resume, evaluate, quantise, errors."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import copy_nih_images, data_path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "resources" / "models"


def engine_train(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.cli", *args], cwd=ROOT, capture_output=True, text=True)


@pytest.fixture(scope="module")
def nih_subset(tmp_path_factory) -> Path:
    """120 real NIH images (64 px) in the public layout, with the real label file cut to them."""
    return copy_nih_images(tmp_path_factory.mktemp("nih-subset"), 120)


@pytest.fixture(scope="module")
def msd_demo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("msd") / "Task03_Liver"
    result = engine_train("prepare-demo-ct", "--source", str(data_path("ct")), "--out", str(root))
    assert result.returncode == 0, result.stderr
    return root


def test_the_nih_loader_splits_by_patient(nih_subset):
    from training.data_nih import load_nih

    train, val, test = (load_nih(nih_subset, split) for split in ("train", "val", "test"))
    assert len(train) + len(val) + len(test) == 120 and val and test
    patients = [{s.patient for s in split} for split in (train, val, test)]
    assert not patients[0] & patients[1] and not patients[0] & patients[2] and not patients[1] & patients[2]
    assert all(s.labels.shape == (14,) for s in train)


def test_the_msd_demo_has_the_public_layout(msd_demo):
    from training.data_liver import split_cases
    from training.data_msd import list_cases

    manifest = json.loads((msd_demo / "dataset.json").read_text())
    assert manifest["labels"]["1"] == "liver" and len(manifest["training"]) == 2
    cases = list_cases(msd_demo)
    assert {c.name for c in split_cases(cases, "train")} ^ {c.name for c in split_cases(cases, "test")} == {"liver_0", "liver_1"}


def test_classification_train_quantise_evaluate(nih_subset, tmp_path):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    result = engine_train("train", "--task", "classification", "--data", str(nih_subset), "--run", str(run),
                          "--image-size", "64", "--epochs", "2", "--batch-size", "16", "--quiet", "--threads", "2")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((run / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics["epochs"]] == [1, 2]
    assert (run / "curves.png").stat().st_size > 0 and (run / "metrics.csv").read_text().startswith("epoch,")
    result = engine_train("quantise", "--run", str(run), "--out", str(bundle), "--calibration", "24",
                          "--max-probability-change", "0.5", "--min-held-out", "0")
    assert result.returncode == 0, result.stderr
    from engine.runtime.bundle import load_bundle

    card = load_bundle(bundle).card
    assert "not for clinical use" in card.intended_use and "NIH ChestX-ray14 images" in card.training["data"]
    assert 0 <= card.metrics["held_out_mean_auroc_int8"] <= 1
    assert "(val split)" in card.training["validation"] and "validation split" in card.training["thresholds"]
    from training.data_nih import load_nih

    train, test = load_nih(nih_subset, "train"), load_nih(nih_subset, "test")  # the card names every training image
    assert sorted(card.training["studies"]) == sorted(s.path.name for s in train)
    assert sorted(card.training["held_out_studies"]) == sorted(s.path.name for s in test)
    from engine.runtime.io import read_image_file

    assert card.training_study(read_image_file(train[0].path).fingerprint) == train[0].path.name
    assert card.training_study(read_image_file(test[0].path).fingerprint) is None
    for row in card.metrics["full"]["int8"]["per_class"].values():  # a CI and a verdict per finding
        assert row["validated"] == (row["positives"] >= 10 and row["auroc_ci"][0] > 0.5)
    result = engine_train("evaluate", "--bundle", str(bundle), "--data", str(nih_subset))
    assert result.returncode == 0, result.stderr
    assert "evaluating fp32 and int8" in result.stderr  # progress, on stderr beside the JSON on stdout
    report = json.loads(result.stdout)
    assert set(report["fp32"]["per_class"]) == set(card.labels)
    assert report["int8"]["mean_auroc"] == pytest.approx(card.metrics["held_out_mean_auroc_int8"])


def test_quantise_refuses_an_int8_model_beyond_the_bound(nih_subset, tmp_path):
    run = tmp_path / "run"
    assert engine_train("train", "--task", "classification", "--data", str(nih_subset), "--run", str(run),
                        "--image-size", "64", "--epochs", "1", "--quiet").returncode == 0
    result = engine_train("quantise", "--run", str(run), "--out", str(tmp_path / "bundle"), "--max-probability-change", "0",
                          "--min-held-out", "0")
    assert result.returncode == 2 and "beyond the bound 0.0; bundle not exported" in result.stderr
    assert not (tmp_path / "bundle").exists() and not list(tmp_path.glob(".bundle*"))


def test_segmentation_trains_with_the_resource_options(msd_demo, tmp_path):
    run = tmp_path / "run"
    result = engine_train("train", "--task", "segmentation", "--data", str(msd_demo), "--run", str(run),
                          "--architecture", "unet_small", "--image-size", "64", "--epochs", "1", "--batch-size", "8",
                          "--amp-bf16", "--optim-8bit", "--channels-last", "--workers", "1", "--quiet")
    assert result.returncode == 0, result.stderr
    row = json.loads((run / "metrics.json").read_text())["epochs"][0]
    assert row["seconds"] > 0 and row["peak_rss_mib"] > 0 and row["energy_j"] > 0 and row["energy_source"]
    assert row["validation"] is None  # no --val-case: no validation split, and the test case is never looked at
    assert json.loads((run / "config.json").read_text())["extra"]["validation_data"] == "none"


def test_training_resumes_after_a_kill(nih_subset, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "training.cli", "train", "--task", "classification", "--data", str(nih_subset),
               "--run", str(run), "--image-size", "64", "--epochs", "4", "--batch-size", "16", "--lr", "1e-3",
               "--lr-schedule", "cosine", "--quiet"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (run / "metrics.json").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = [r["epoch"] for r in json.loads((run / "metrics.json").read_text())["epochs"]]
    assert done and done[-1] < 4
    result = engine_train("train", "--task", "classification", "--data", str(nih_subset), "--run", str(run), "--resume", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 0.854e-3, 0.5e-3, 0.146e-3], abs=1e-6)  # the schedule resumed
    optimiser = torch.load(run / "checkpoint.pt", weights_only=True)["optimiser"]
    assert optimiser["param_groups"][0]["lr"] == pytest.approx(0.146e-3, abs=1e-6)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: None, "has no Data_Entry_2017"),
        (lambda root: (root / "Data_Entry_2017.csv").write_text("Image Index,Finding Labels,Patient ID\nx.png,Mass,1\n"), "none of the 1 images"),
        (lambda root: (root / "Data_Entry_2017.csv").write_text("Image,Labels\n"), "lacks the column"),
    ],
)
def test_bad_nih_folders_get_one_clear_line(tmp_path, make, message):
    make(tmp_path)
    result = engine_train("train", "--task", "classification", "--data", str(tmp_path), "--run", str(tmp_path / "run"))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr and "Traceback" not in result.stderr


def test_bad_msd_folders_get_one_clear_line(tmp_path, msd_demo):
    result = engine_train("train", "--task", "segmentation", "--data", str(tmp_path), "--run", str(tmp_path / "run"))
    assert result.returncode == 2 and "is neither a Decathlon folder (dataset.json) nor a 3D-IRCADb folder" in result.stderr
    broken = tmp_path / "broken"
    shutil.copytree(msd_demo, broken)
    import SimpleITK as sitk

    reference = sitk.ReadImage(str(broken / "labelsTr" / "liver_1.nii.gz"))  # liver_1: the training case
    blank = sitk.GetImageFromArray(np.zeros(sitk.GetArrayViewFromImage(reference).shape, np.uint8))
    blank.CopyInformation(reference)
    sitk.WriteImage(blank, str(broken / "labelsTr" / "liver_1.nii.gz"))
    result = engine_train("train", "--task", "segmentation", "--data", str(broken), "--run", str(tmp_path / "run2"), "--epochs", "1")
    assert result.returncode == 2 and "case liver_1 has no liver voxels (empty mask)" in result.stderr and "Traceback" not in result.stderr
    result = engine_train("evaluate", "--bundle", str(MODELS / "sadnn_seg_demo"), "--data", str(msd_demo), "--split", "val")
    assert result.returncode == 2 and "liver CT has no val split: it is split into train and test by case" in result.stderr


def test_quantise_refuses_a_segmenter_below_the_floor_and_records_its_post_processing(msd_demo, tmp_path):
    run = tmp_path / "run"
    assert engine_train("train", "--task", "segmentation", "--data", str(msd_demo), "--run", str(run),
                        "--architecture", "unet_small", "--image-size", "64", "--pixel-spacing-mm", "6",
                        "--epochs", "1", "--quiet").returncode == 0
    result = engine_train("quantise", "--run", str(run), "--out", str(tmp_path / "bundle"), "--min-held-out", "0.99",
                          "--min-mask-dice", "0")
    assert result.returncode == 2 and "held-out mean dice per volume is " in result.stderr
    assert "below the floor 0.99; bundle not exported (set --min-held-out to seal it anyway)" in result.stderr
    assert not (tmp_path / "bundle").exists()
    result = engine_train("quantise", "--run", str(run), "--out", str(tmp_path / "bundle"), "--min-held-out", "0",
                          "--min-mask-dice", "0", "--calibration", "5")
    assert result.returncode == 0, result.stderr
    from engine.runtime.bundle import load_bundle

    card = load_bundle(tmp_path / "bundle").card
    assert card.postprocessing == ("largest_component_3d", "fill_holes_2d") and card.input.pixel_spacing_mm == 6
    fp32 = card.metrics["full"]["fp32"]
    assert fp32["postprocessing"] == list(card.postprocessing) and "mean_dice_per_volume" in fp32["before_postprocessing"]
    assert card.training["calibration"] == "5 training images, spread over every training patient"
    assert set(card.training["studies"]) | set(card.training["held_out_studies"]) == {"liver_0", "liver_1"}


def test_a_fixed_point_lopo_reports_the_model_as_trained_beside_its_int8_ptq(msd_demo, tmp_path):
    out = tmp_path / "lopo"
    result = engine_train("lopo", "--task", "segmentation", "--data", str(msd_demo), "--architecture", "unet_small",
                          "--image-size", "64", "--pixel-spacing-mm", "6", "--epochs", "1", "--weight-bits", "4",
                          "--act-bits", "6", "--quiet", "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "lopo.json").read_text())
    assert "unet_small, W4/A6 fixed-point QAT" in summary["protocol"]
    for name, row in summary["folds"].items():
        as_trained = json.loads((out / name / "fixed_point.json").read_text())
        assert as_trained["model"] == "W4/A6 fixed point, as trained"
        assert row["dice_fixed_point"] == as_trained["mean_dice_per_volume"]
        assert row["dice_fixed_point_before_postprocessing"] == as_trained["before_postprocessing"]["mean_dice_per_volume"]
        assert {"dice_fp32", "dice_int8"} <= set(row)
    assert "dice_fixed_point" in summary["over_folds"] and "| dice_fixed_point |" in (out / "lopo.md").read_text()


def test_calibration_rows_cover_every_patient():
    from training.release import calibration_rows

    groups = ["a"] * 10 + ["b"] * 3 + ["c"] * 20
    rows = calibration_rows(groups, 9)
    assert [groups[r] for r in rows] == ["a"] * 3 + ["b"] * 3 + ["c"] * 3
    assert rows[:3] == [0, 4, 9] and rows[-3:] == [13, 23, 32]
    assert len(calibration_rows(groups, 100)) == 33


def test_leave_one_patient_out_seals_every_fold_resumes_and_feeds_the_card(msd_demo, tmp_path):
    out = tmp_path / "lopo"
    options = ["--task", "segmentation", "--data", str(msd_demo), "--architecture", "unet_small", "--image-size", "64",
               "--pixel-spacing-mm", "6", "--epochs", "1", "--quiet"]
    result = engine_train("lopo", *options, "--out", str(out))
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "lopo.json").read_text())
    assert set(summary["folds"]) == {"liver_0", "liver_1"}
    for name, row in summary["folds"].items():
        config = json.loads((out / name / "run" / "config.json").read_text())
        card = json.loads((out / name / "bundle" / "card.json").read_text())
        assert config["test_cases"] == [name] and f"(test split: {name})" in card["training"]["held_out"]
        assert 0 <= row["dice_fp32"] <= 1 and 0 <= row["mask_dice_int8_vs_fp32"] <= 1
        far = card["metrics"]["full"]["fp32"]["far_false_positives"][name]  # the fold's own case, in its own mm
        assert row["far_fp_ml_fp32"] == pytest.approx(far["ml"]) and 0 <= row["far_fp_percent_int8"] <= 100
    assert "far_fp_ml_fp32" in summary["over_folds"] and "far_fp_percent_fp32" in (out / "lopo.md").read_text()
    dice = [row["dice_fp32"] for row in summary["folds"].values()]
    assert summary["over_folds"]["dice_fp32"]["mean"] == pytest.approx(np.mean(dice))
    assert summary["over_folds"]["dice_fp32"]["std"] == pytest.approx(np.std(dice, ddof=1))
    assert "| liver_0 |" in (out / "lopo.md").read_text() and "| mean ± SD |" in result.stdout
    checkpoint = out / "liver_0" / "run" / "checkpoint.pt"
    stamp = checkpoint.stat().st_mtime_ns
    assert engine_train("lopo", *options, "--out", str(out)).returncode == 0  # done folds are not retrained
    assert checkpoint.stat().st_mtime_ns == stamp
    result = engine_train("quantise", "--run", str(out / "liver_0" / "run"), "--out", str(tmp_path / "bundle"),
                          "--min-held-out", "0", "--min-mask-dice", "0", "--lopo", str(out / "lopo.json"))
    assert result.returncode == 0, result.stderr
    from engine.runtime.bundle import load_bundle

    assert load_bundle(tmp_path / "bundle").card.metrics["leave_one_patient_out"] == summary


def test_a_missing_or_wrong_run_folder_is_one_error_line_not_a_traceback(tmp_path):
    """The messages a user sees when the run folder is wrong, each exactly one line and exit status 2."""
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{not json")
    cases = {
        ("quantise", "--run", str(tmp_path / "nope"), "--out", str(tmp_path / "b1")):
            f"engine-train: error: run folder {tmp_path / 'nope'} does not exist",
        ("quantize", "--run", str(tmp_path / "empty"), "--out", str(tmp_path / "b2")):  # the US spelling works too
            f"engine-train: error: {tmp_path / 'empty'} is not a training run (no config.json; "
            f"start one with engine-train train --run {tmp_path / 'empty'})",
        ("train", "--task", "segmentation", "--data", str(tmp_path), "--run", str(tmp_path / "nope"), "--resume"):
            f"engine-train: error: run folder {tmp_path / 'nope'} does not exist",
        ("train", "--task", "classification", "--data", str(tmp_path / "no-nih"), "--run", str(tmp_path / "r")):
            f"engine-train: error: {tmp_path / 'no-nih'} does not exist",
        ("evaluate", "--bundle", str(tmp_path / "no-bundle"), "--data", str(tmp_path)):
            f"engine-train: error: model bundle {tmp_path / 'no-bundle'} does not exist",
        ("report", "--no-latency", "--out", str(tmp_path / "report"), "--quality", f"sumnet={tmp_path / 'no.json'}"):
            f"engine-train: error: {tmp_path / 'no.json'} does not exist",
    }
    for args, message in cases.items():
        result = engine_train(*args)
        assert result.returncode == 2 and result.stderr.strip() == message, result.stderr
    result = engine_train("quantise", "--run", str(tmp_path / "broken"), "--out", str(tmp_path / "b3"))
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith(f"engine-train: error: {tmp_path / 'broken' / 'config.json'} is not a readable run")


def test_every_option_of_every_command_has_help_and_shows_its_default():
    from training.cli import build_parser

    parser = build_parser()
    commands = next(action for action in parser._actions if action.choices and "train" in action.choices).choices
    for name, command in commands.items():
        text = command.format_help()
        for action in command._actions:
            if action.dest == "help":
                continue
            assert action.help, f"engine-train {name} {action.option_strings}: no help"
            shown = action.default is not None and action.default is not False and action.default not in ("", [])
            if shown and not action.required:
                assert "default" in action.help or f"(default: {action.default})" in " ".join(text.split()), \
                    f"engine-train {name} {action.option_strings}: default {action.default!r} not shown"


def test_a_multi_head_sadnn_distilled_from_a_teacher_seals_and_records_both(msd_demo, tmp_path):
    """Heads, logit scale and a teacher go from the command line into the run, the bundle's model arguments (its
    fused graphs are rebuilt from them) and the card; a teacher that saw the held-out case is refused."""
    common = ["--task", "segmentation", "--data", str(msd_demo), "--image-size", "64", "--pixel-spacing-mm", "6",
              "--epochs", "1", "--quiet"]
    teacher = tmp_path / "teacher"
    assert engine_train("train", *common, "--architecture", "unet_small", "--test-case", "liver_0",
                        "--run", str(teacher)).returncode == 0
    refused = engine_train("train", *common, "--test-case", "liver_1", "--teacher", str(teacher), "--run", str(tmp_path / "x"))
    assert refused.returncode == 2 and f"the teacher {teacher} trained on liver_1, which this run holds out" in refused.stderr
    wrong = engine_train("train", *common, "--architecture", "unet_small", "--heads", "4", "--run", str(tmp_path / "y"))
    assert wrong.returncode == 2 and "--heads, --scaled-attention and --embedding-std are for SaDNN models" in wrong.stderr
    run = tmp_path / "student"
    result = engine_train("train", *common, "--test-case", "liver_0", "--heads", "4", "--scaled-attention",
                          "--teacher", str(teacher), "--distill-weight", "0.5", "--run", str(run))
    assert result.returncode == 0, result.stderr
    result = engine_train("quantise", "--run", str(run), "--out", str(tmp_path / "bundle"), "--min-held-out", "0",
                          "--min-mask-dice", "0", "--calibration", "4")
    assert result.returncode == 0, result.stderr
    from engine.runtime.bundle import load_bundle

    card = load_bundle(tmp_path / "bundle").card
    assert card.model_args == {"heads": 4, "scaled": True}
    assert card.training["distillation"] == ("also learns the softened outputs of a unet_small trained on the same "
                                             "cases (temperature 2, weight 0.5)")
    assert 0 <= card.metrics["full"]["agreement"]["mask_dice_int8_vs_fp32"] <= 1


def test_distillation_loss_is_zero_only_where_student_and_teacher_agree():
    from training.loop import distillation_loss

    teacher = torch.randn(2, 2, 5, 5)
    student = teacher.clone().requires_grad_(True)
    assert distillation_loss(student, teacher).item() == pytest.approx(0, abs=1e-6)
    other = distillation_loss(student, -teacher)
    other.backward()
    assert other.item() > 0.1 and student.grad.abs().sum() > 0


def test_attention_stats_refuses_a_run_that_has_no_attention_layers(tmp_path):
    from dataclasses import asdict

    from training.loop import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(task="segmentation", data=[str(tmp_path)], architecture="unet_small")
    (run / "config.json").write_text(json.dumps(asdict(config)))
    result = engine_train("attention-stats", "--run", str(run))
    assert result.returncode == 2
    assert result.stderr.strip() == (f"engine-train: error: {run} trained unet_small for segmentation: attention-stats "
                                     "measures a SaDNN segmentation run")
