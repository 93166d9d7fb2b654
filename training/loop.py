"""The training loop: seeded, checkpointed every epoch (atomically), resumable after a kill.

A run folder holds ``config.json``, ``checkpoint.pt`` (model, optimiser, epoch, RNG states; loaded
with ``weights_only=True``), ``metrics.csv`` and ``metrics.json`` (one row per epoch: loss,
held-out metric, seconds, peak memory, energy) and ``curves.png``.
"""

from __future__ import annotations

import csv
import json
import math
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.runtime.atomic import write_atomic
from engine.runtime.energy import EnergyMeter
from engine.modelling.models import create_model
from training.augment import augment, random_crops
from training.errors import DatasetError
from training.tasks import Task, TaskData, class_weights, classification_task, segmentation_task

# What a CT sees across patients and scanners: rotation, patient size, contrast and noise (in window units:
# 0.04 is 16 HU of the 400 HU liver window).
LR_SCHEDULES = ("constant", "cosine")
CT_AUGMENTATION = {"degrees": 15.0, "scale": 0.15, "noise_std": 0.04}
CHECKPOINT, CONFIG, METRICS_CSV, METRICS_JSON, CURVES = "checkpoint.pt", "config.json", "metrics.csv", "metrics.json", "curves.png"


@dataclass
class TrainConfig:
    """Everything that defines a run (saved to config.json; a resumed run reuses it)."""

    task: str
    data: list[str]  # one or more dataset roots (pooled; segmentation only for more than one)
    architecture: str = ""
    image_size: int = 0
    epochs: int = 10
    batch_size: int = 8
    lr: float = 1e-4
    lr_schedule: str = "constant"  # or "cosine": lr decays to 0 over the epochs (per epoch, so resume is exact)
    weight_decay: float = 0.0  # decoupled (AdamW) where non-zero
    seed: int = 0
    augment: bool = True
    balanced: bool = False  # classification: sample images by the rarity of their findings (with replacement)
    label_smoothing: float = 0.0  # classification: BCE targets pulled this far towards 0.5 (e.g. 0.1: 0.05 / 0.95)
    amp_bf16: bool = False
    optim_8bit: bool = False
    half_weights: bool = False
    weight_bits: int | None = None
    act_bits: int | None = None
    limit: int | None = None
    threads: int | None = None
    eval_every: int = 1
    test_cases: list[str] = field(default_factory=list)  # held-out cases by name (segmentation)
    pixel_spacing_mm: float | None = None  # segmentation: spacing-aware input (None: resize the whole slice)
    crop: int | None = None  # segmentation: train on random crops of this side (patches), evaluate on whole slices
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data = [self.data] if isinstance(self.data, str) else [str(root) for root in self.data]
        if self.task not in ("classification", "segmentation"):
            raise DatasetError(f"unknown task {self.task!r}: classification or segmentation")
        if self.task == "classification" and (self.pixel_spacing_mm or self.crop):
            raise DatasetError("--pixel-spacing-mm and --crop are for segmentation")
        if self.task == "segmentation" and (self.balanced or self.label_smoothing):
            raise DatasetError("--balanced and --label-smoothing are for classification")
        if not 0 <= self.label_smoothing < 1:
            raise DatasetError(f"--label-smoothing must lie in [0, 1), got {self.label_smoothing}")
        self.architecture = self.architecture or ("sadnn_cls" if self.task == "classification" else "sadnn_seg")
        self.image_size = self.image_size or (512 if self.task == "classification" else 256)
        if self.crop is not None and not 16 <= self.crop <= self.image_size:
            raise DatasetError(f"--crop must lie between 16 and the image size {self.image_size}, got {self.crop}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise DatasetError(f"unknown --lr-schedule {self.lr_schedule!r}: {' or '.join(LR_SCHEDULES)}")
        if (self.weight_bits is None) != (self.act_bits is None):
            raise DatasetError("fixed-point training needs both --weight-bits and --act-bits")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / self.epochs))
        return self.lr

    def model_args(self) -> dict:
        return {"img_size": self.image_size} if self.architecture == "sadnn_cls" and self.image_size != 512 else {}


def make_task(config: TrainConfig, train: TaskData | None = None) -> Task:
    if config.task == "classification":
        weights = None if train is None else class_weights(train.targets)
        return classification_task(config.image_size, weights, config.label_smoothing)
    return segmentation_task(config.image_size, config.pixel_spacing_mm)


def build_model(config: TrainConfig) -> nn.Module:
    torch.manual_seed(config.seed)
    model = create_model(config.architecture, **config.model_args())
    if config.weight_bits is not None:
        from training.qat import apply_fixed_point

        config.extra["fixed_point"] = apply_fixed_point(model, config.weight_bits, config.act_bits)
    if config.half_weights:
        model = model.to(torch.bfloat16)
    return model


def make_optimiser(config: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    if config.optim_8bit:
        from training.optim8bit import Adam8bit

        return Adam8bit(model.parameters(), lr=config.lr)
    if config.weight_decay:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def load_split(config: TrainConfig, task: Task, split: str) -> TaskData:
    data = task.load([Path(root) for root in config.data], split, config.test_cases)
    if config.limit:
        keep = slice(0, config.limit)
        data = TaskData(data.inputs[keep], data.targets[keep], data.groups[keep], data.description + f", first {config.limit}",
                        data.studies)
    return data


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB, on POSIX (``resource``) and on Windows (peak working set)."""
    try:
        import resource
    except ImportError:  # Windows has no resource module
        import psutil

        return psutil.Process().memory_info().peak_wset / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


class RunError(DatasetError):
    """A run folder that is missing or is not a training run."""


def read_run_config(run: Path) -> TrainConfig:
    """The config a run was started with; a clear error when ``run`` does not exist or holds no run."""
    run = Path(run)
    if not run.exists():
        raise RunError(f"run folder {run} does not exist")
    if not (run / CONFIG).is_file():
        raise RunError(f"{run} is not a training run (no {CONFIG}; start one with engine-train train --run {run})")
    try:
        return TrainConfig(**json.loads((run / CONFIG).read_text()))
    except (ValueError, TypeError) as err:
        raise RunError(f"{run / CONFIG} is not a readable run configuration ({err})") from err


def train(config: TrainConfig, run: Path, resume: bool = False, quiet: bool = False) -> dict:
    """Train (or continue) the run in ``run``; returns the last epoch's metrics row."""
    run = Path(run)
    if resume:
        config = read_run_config(run)
    elif (run / CHECKPOINT).exists():
        raise DatasetError(f"{run} already holds a run; use --resume to continue it or choose a new folder")
    if config.threads:
        torch.set_num_threads(config.threads)
    train_data = load_split(config, make_task(config), "train")
    task = make_task(config, train_data)
    held_out = load_split(config, task, "test")
    run.mkdir(parents=True, exist_ok=True)
    model = build_model(config)
    optimiser = make_optimiser(config, model)
    generator = torch.Generator().manual_seed(config.seed)
    start, rows = 1, []
    if resume and (run / CHECKPOINT).exists():
        start, rows = _restore(run, model, optimiser, generator)
    config.extra["train_data"], config.extra["held_out_data"] = train_data.description, held_out.description
    write_atomic(run / CONFIG, json.dumps(asdict(config), indent=2).encode())
    for epoch in range(start, config.epochs + 1):
        with EnergyMeter() as meter:
            loss = _one_epoch(config, task, model, optimiser, train_data, generator, epoch, quiet)
        evaluate = epoch % config.eval_every == 0 or epoch == config.epochs
        metrics = task.metrics(predict(model, held_out.inputs, config), held_out) if evaluate else {}
        rows.append(_row(epoch, config.lr_at(epoch), loss, metrics.get(task.headline), meter.result))
        _save(run, model, optimiser, generator, epoch, rows, metrics)
        if not quiet:
            held = "" if not metrics else f", held-out {task.headline} {metrics[task.headline]:.3f}"
            print(f"epoch {epoch}/{config.epochs}: loss {loss:.4f}{held}", flush=True)
    _plot(run, rows, task.headline)
    return rows[-1] if rows else {}


def _one_epoch(config, task, model, optimiser, data: TaskData, generator, epoch: int, quiet: bool) -> float:
    from tqdm import tqdm

    model.train()
    for group in optimiser.param_groups:
        group["lr"] = config.lr_at(epoch)
    if config.balanced:
        order = torch.multinomial(balanced_weights(data.targets), len(data.inputs), replacement=True, generator=generator)
    else:
        order = torch.randperm(len(data.inputs), generator=generator)
    batches = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    total = 0.0
    bar = tqdm(batches, desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=quiet, leave=False)
    for batch in bar:
        inputs, targets = data.inputs[batch], data.targets[batch]
        if config.augment:
            if task.name == "segmentation":
                inputs, targets = augment(inputs, generator, targets, **CT_AUGMENTATION)
            else:
                inputs = augment(inputs, generator)
        if config.crop:
            inputs, targets = random_crops(inputs, targets, config.crop, generator)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp_bf16):
            logits = model(inputs.to(next(model.parameters()).dtype))
        loss = task.loss(logits.float(), targets)
        loss.backward()
        optimiser.step()
        total += loss.detach().item() * len(batch)
        bar.set_postfix(loss=f"{loss.detach().item():.4f}")
    return total / len(data.inputs)


def balanced_weights(targets: torch.Tensor) -> torch.Tensor:
    """Sampling weight of each image: 1 / frequency of its rarest finding ("no finding" counts as a class), so an
    epoch sees each finding about as often as the others."""
    classes = torch.cat([targets, (targets.sum(1, keepdim=True) == 0).to(targets.dtype)], dim=1)
    rarity = 1 / classes.sum(0).clamp_min(1)
    return (classes * rarity).amax(1)


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, config: TrainConfig, batch: int = 16) -> np.ndarray:
    """Float outputs (logits) of the model in eval mode."""
    model.eval()
    dtype = next(model.parameters()).dtype
    outputs = []
    for i in range(0, len(inputs), batch):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=config.amp_bf16):
            outputs.append(model(inputs[i : i + batch].to(dtype)).float())
    return torch.cat(outputs).numpy()


def _row(epoch: int, lr: float, loss: float, held_out: float, energy) -> dict:
    return {
        "epoch": epoch, "lr": lr, "train_loss": loss, "held_out": held_out, "seconds": energy.seconds,
        "cpu_seconds": energy.cpu_seconds, "peak_rss_mib": peak_rss_mib(),
        "energy_j": energy.joules, "energy_source": energy.source,
    }


def _save(run: Path, model, optimiser, generator, epoch: int, rows: list[dict], metrics: dict) -> None:
    state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch,
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    temporary = run / f".{CHECKPOINT}.tmp"
    torch.save(state, temporary)
    os.replace(temporary, run / CHECKPOINT)
    write_atomic(run / METRICS_JSON, json.dumps({"epochs": rows, "last_held_out": metrics}, indent=2, default=float).encode())
    with open(run / f".{METRICS_CSV}.tmp", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(run / f".{METRICS_CSV}.tmp", run / METRICS_CSV)


def _restore(run: Path, model, optimiser, generator) -> tuple[int, list[dict]]:
    state = torch.load(run / CHECKPOINT, weights_only=True)
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    rows = json.loads((run / METRICS_JSON).read_text())["epochs"] if (run / METRICS_JSON).exists() else []
    return int(state["epoch"]) + 1, [r for r in rows if r["epoch"] <= state["epoch"]]


def load_trained(run: Path) -> tuple[TrainConfig, nn.Module]:
    """The config and the float model of a finished (or interrupted) run."""
    config = read_run_config(run)
    if not (Path(run) / CHECKPOINT).is_file():
        raise RunError(f"{run} has no {CHECKPOINT} yet: train at least one epoch first")
    extra = dict(config.extra)
    config.weight_bits = config.act_bits = None  # fixed-point runs export their float weights
    config.half_weights = False
    model = build_model(config)
    state = torch.load(Path(run) / CHECKPOINT, weights_only=True)["model"]
    state = {k.replace(".parametrizations.weight.original", ".weight"): v.float() for k, v in state.items()}
    model.load_state_dict(state)
    config.extra = extra
    return config, model.eval()


def _plot(run: Path, rows: list[dict], headline: str) -> None:
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [r["epoch"] for r in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [r["train_loss"] for r in rows], marker="o")
    left.set(title="training loss", xlabel="epoch")
    evaluated = [r for r in rows if r["held_out"] is not None]
    right.plot([r["epoch"] for r in evaluated], [r["held_out"] for r in evaluated], marker="o", color="tab:green")
    right.set(title=f"held-out {headline}", xlabel="epoch")
    figure.tight_layout()
    figure.savefig(run / CURVES, dpi=100)
    plt.close(figure)


def summary(run: Path) -> dict:
    """The per-epoch rows of a run, for reports."""
    return json.loads((Path(run) / METRICS_JSON).read_text())
