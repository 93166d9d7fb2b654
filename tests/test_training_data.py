"""Streaming training data: prepared shards on disk (built once, reused, rebuilt when a source changes), lazy rows equal
to the engine's own preparation, the validation split that early stopping reads, and the device choice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import copy_nih_images, data_path

ROOT = Path(__file__).resolve().parents[1]


def engine_train(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "training.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def nih_small(tmp_path_factory) -> Path:
    """60 real NIH images (64 px) in the public layout, with the real label file cut to them."""
    return copy_nih_images(tmp_path_factory.mktemp("nih-small"), 60)


def _config(root: Path, cache: Path, **options):
    from training.loop import TrainConfig

    return TrainConfig(task="classification", data=[str(root)], image_size=64, cache=str(cache), **options)


def test_rows_are_the_engine_s_preparation_and_shards_are_reused_until_a_source_changes(nih_small, tmp_path):
    from PIL import Image

    from engine.runtime.preprocess import prepare_radiograph
    from training.data_nih import load_nih
    from training.loop import load_split, make_task

    config = _config(nih_small, tmp_path / "cache")
    task = make_task(config)
    split = load_split(config, task, "train")
    samples = load_nih(nih_small, "train")
    assert len(split) == len(samples) and split.groups == [s.patient for s in samples]
    for row in (0, len(split) - 1):
        image, labels = split[row]
        expected = prepare_radiograph(np.asarray(Image.open(samples[row].path)), task.contract)[0]
        assert image.dtype == torch.float32 and torch.equal(image, torch.from_numpy(expected))
        assert torch.equal(labels, torch.from_numpy(samples[row].labels))
    shards = sorted((tmp_path / "cache").iterdir())
    stamps = [(s / "inputs.npy").stat().st_mtime_ns for s in shards]
    assert len(load_split(config, task, "train")) == len(split)  # reused: nothing written again
    assert sorted((tmp_path / "cache").iterdir()) == shards
    assert [(s / "inputs.npy").stat().st_mtime_ns for s in shards] == stamps
    changed = samples[0].path
    Image.fromarray(255 - np.asarray(Image.open(changed))).save(changed)  # a source changes: its shard is rebuilt
    again = load_split(config, task, "train")
    assert len(list((tmp_path / "cache").iterdir())) == len(shards) + 1
    assert not torch.equal(again[0][0], split[0][0])


def test_rows_are_read_by_position_not_held_in_memory(nih_small, tmp_path):
    """A split keeps no array of its rows: what a DataLoader worker receives is a few small file handles' worth."""
    import pickle

    from training.loop import load_split, make_task

    config = _config(nih_small, tmp_path / "cache")
    split = load_split(config, make_task(config), "train")
    inputs_bytes = len(split) * 64 * 64 * 4
    assert len(pickle.dumps(split)) < inputs_bytes / 4
    assert torch.equal(pickle.loads(pickle.dumps(split))[3][0], split[3][0])


def test_a_liver_case_is_one_shard_shared_by_every_fold(tmp_path):
    from training.data_liver import find_cases, load_slices
    from training.errors import DatasetError
    from training.loop import TrainConfig, load_split, make_task

    root = tmp_path / "Task03_Liver"
    result = engine_train("prepare-demo-ct", "--source", str(data_path("ct")), "--out", str(root))
    assert result.returncode == 0, result.stderr
    cache = tmp_path / "cache"
    config = TrainConfig(task="segmentation", data=[str(root)], image_size=64, test_cases=["liver_0"], cache=str(cache))
    task = make_task(config)
    train, test = load_split(config, task, "train"), load_split(config, task, "test")
    assert set(train.groups) == {"liver_1"} and set(test.groups) == {"liver_0"}
    assert len(list(cache.iterdir())) == 2
    other = TrainConfig(task="segmentation", data=[str(root)], image_size=64, test_cases=["liver_1"], cache=str(cache))
    assert set(load_split(other, task, "train").groups) == {"liver_0"} and len(list(cache.iterdir())) == 2
    validated = TrainConfig(task="segmentation", data=[str(root)], image_size=64, test_cases=["liver_0"],
                            val_cases=["liver_1"], cache=str(cache))
    assert set(load_split(validated, task, "val").groups) == {"liver_1"}
    with pytest.raises(DatasetError, match=r"the train split is empty \(2 case\(s\) in all\)"):
        load_split(validated, task, "train")  # a validation case leaves training
    slices = load_slices([c for c in find_cases([root]) if c.name == "liver_0"], task.contract)
    image, mask = test[5]
    assert torch.equal(image, torch.from_numpy(slices.inputs[5])) and mask.dtype == torch.int64
    assert np.array_equal(test.labels(), slices.masks.astype(bool))


def test_early_stopping_reads_the_validation_split_never_the_test_split(nih_small, tmp_path, monkeypatch):
    """lr 0: the validation metric never improves, so patience 1 stops after the second evaluation, and the best
    epoch's model (the first) is the one exported."""
    from training import loop

    asked = []
    original = loop.load_split
    monkeypatch.setattr(loop, "load_split", lambda config, task, split, quiet=True: asked.append(split) or
                        original(config, task, split, quiet))
    run = tmp_path / "run"
    row = loop.train(_config(nih_small, tmp_path / "cache", epochs=5, lr=0.0, patience=1, batch_size=16), run, quiet=True)
    assert asked == ["train", "val"]
    rows = json.loads((run / "metrics.json").read_text())["epochs"]
    assert [r["epoch"] for r in rows] == [1, 2] and row["epoch"] == 2
    assert rows[0]["validation"] == rows[1]["validation"] and loop.best_epoch(run) == 1
    assert torch.load(run / "best.pt", weights_only=True)["epoch"] == 1
    again = _config(nih_small, tmp_path / "cache", epochs=5, lr=0.0, patience=1, batch_size=16)
    assert loop.train(again, run, resume=True, quiet=True)["epoch"] == 2  # resuming a stopped run trains no more
    assert "(val split)" in json.loads((run / "config.json").read_text())["extra"]["validation_data"]


def test_segmentation_validates_on_named_cases_that_leave_training(tmp_path):
    from training.errors import DatasetError
    from training.loop import TrainConfig

    with pytest.raises(DatasetError, match="cannot be both a test case and a validation case"):
        TrainConfig(task="segmentation", data=[], test_cases=["a"], val_cases=["a"])
    with pytest.raises(DatasetError, match="--val-case is for segmentation"):
        TrainConfig(task="classification", data=[], val_cases=["a"])
    with pytest.raises(DatasetError, match="--patience must be at least 1"):
        TrainConfig(task="classification", data=[], patience=0)


def test_the_device_is_chosen_and_a_missing_gpu_is_one_error_line(nih_small, tmp_path):
    from training.placement import choose_device

    assert choose_device("cpu") == torch.device("cpu")
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the refusal cannot be shown here")
    for options, message in ((["--device", "cuda"], "--device cuda, but torch sees no CUDA GPU here (use --device cpu or auto)"),
                             (["--amp-fp16"], "--amp-fp16 needs a CUDA GPU (on the CPU use --amp-bf16)")):
        result = engine_train("train", "--task", "classification", "--data", str(nih_small), "--run",
                              str(tmp_path / options[-1]), "--image-size", "64", "--epochs", "1", *options)
        assert result.returncode == 2 and result.stderr == f"engine-train: error: {message}\n"


def test_reading_a_split_leaves_torch_s_random_state_alone(nih_small, tmp_path):
    """Validation reads a split between epochs; dropout draws from torch's global generator, so reading must not."""
    from training.loop import load_split, make_task

    config = _config(nih_small, tmp_path / "cache")
    split = load_split(config, make_task(config), "val")
    torch.manual_seed(7)
    before = torch.get_rng_state()
    assert sum(len(inputs) for inputs, _ in split.batches(4)) == len(split)
    assert torch.equal(torch.get_rng_state(), before)
