"""The training loop: seeded, checkpointed every epoch (atomically), resumable after a kill, on one process or on
every process that torchrun started (DistributedDataParallel; ``training.placement``).

Data streams from prepared shards (``training.datasets``) through a DataLoader. The held-out test split is never
read here: each evaluated epoch is measured on the patient-wise validation split (``validation`` column), which
also drives early stopping (``--patience``) and the best checkpoint.

A run folder holds ``config.json``, ``checkpoint.pt`` (model, optimiser, epoch, RNG states; loaded
with ``weights_only=True``), ``best.pt`` (the model of the best validation epoch, with ``--patience``),
``metrics.csv`` and ``metrics.json`` (one row per epoch: loss, validation metric, seconds, peak memory,
energy) and ``curves.png``.
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
from training.augment import augment, random_crops, scanner_jitter
from training.datasets import Split, cache_location, seed_worker
from training.errors import DatasetError
from training.placement import Placement, leave, place
from training.tasks import Task, class_weights, classification_task, segmentation_task

# What a CT sees across patients and scanners: rotation, patient size, contrast and noise (in window units:
# 0.04 is 16 HU of the 400 HU liver window).
LR_SCHEDULES = ("constant", "cosine")
CT_AUGMENTATION = {"degrees": 15.0, "scale": 0.15, "noise_std": 0.04}
CHECKPOINT, CONFIG, METRICS_CSV, METRICS_JSON, CURVES = "checkpoint.pt", "config.json", "metrics.csv", "metrics.json", "curves.png"
BEST = "best.pt"


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
    amp_fp16: bool = False  # CUDA only (with a gradient scaler)
    channels_last: bool = False
    optim_8bit: bool = False
    half_weights: bool = False
    weight_bits: int | None = None
    act_bits: int | None = None
    limit: int | None = None
    threads: int | None = None
    eval_every: int = 1
    patience: int | None = None  # stop after this many evaluations without a better validation metric; keep the best
    device: str = "auto"  # auto (a CUDA GPU when present), cpu or cuda
    workers: int = 0  # DataLoader worker processes (0: load in the training process)
    cache: str = ""  # prepared shards: "" the per-user cache folder, "none" a temporary one, else this folder
    test_cases: list[str] = field(default_factory=list)  # held-out cases by name (segmentation)
    val_cases: list[str] = field(default_factory=list)  # validation cases by name, taken out of training (segmentation)
    pixel_spacing_mm: float | None = None  # segmentation: spacing-aware input (None: resize the whole slice)
    crop: int | None = None  # segmentation: train on random crops of this side (patches), evaluate on whole slices
    heads: int = 1  # attention heads of a SaDNN (the paper: 1)
    scaled_attention: bool = False  # SaDNN logits divided by sqrt(d_head) (the paper: unscaled)
    embedding_std: float = 1.0  # SaDNN relative position embeddings' initial standard deviation (the paper: 1)
    scanner_augment: bool = False  # segmentation: also vary HU level and contrast, gamma and sharpness, as scanners do
    teacher: str = ""  # segmentation: a finished run whose softened outputs the model also learns (distillation)
    distill_weight: float = 1.0  # weight of the distillation term beside the task loss
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
        if self.amp_bf16 and self.amp_fp16:
            raise DatasetError("choose one of --amp-bf16 and --amp-fp16")
        if self.task == "classification" and self.val_cases:
            raise DatasetError("--val-case is for segmentation (classification validates on its patient-wise val split)")
        overlap = sorted(set(self.val_cases) & set(self.test_cases))
        if overlap:
            raise DatasetError(f"{', '.join(overlap)} cannot be both a test case and a validation case")
        if self.patience is not None and self.patience < 1:
            raise DatasetError(f"--patience must be at least 1, got {self.patience}")
        if self.attention_options() and not self.architecture.startswith("sadnn"):
            raise DatasetError(f"--heads, --scaled-attention and --embedding-std are for SaDNN models, not "
                               f"{self.architecture}")
        if self.scanner_augment and (self.task != "segmentation" or not self.augment):
            raise DatasetError("--scanner-augment is for segmentation with augmentation on")
        if self.teacher and self.task != "segmentation":
            raise DatasetError("--teacher is for segmentation")

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based)."""
        if self.lr_schedule == "cosine":
            return self.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / self.epochs))
        return self.lr

    def attention_options(self) -> dict:
        """The SaDNN attention options that differ from the paper's layer."""
        options = {"heads": self.heads, "scaled": self.scaled_attention, "embedding_std": self.embedding_std}
        paper = {"heads": 1, "scaled": False, "embedding_std": 1.0}
        return {name: value for name, value in options.items() if value != paper[name]}

    def model_args(self) -> dict:
        size = {"img_size": self.image_size} if self.architecture == "sadnn_cls" and self.image_size != 512 else {}
        return size | self.attention_options()


def make_task(config: TrainConfig, train: Split | None = None) -> Task:
    if config.task == "classification":
        weights = None if train is None else class_weights(torch.from_numpy(train.labels()))
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
        import logging

        logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)  # an unused 4-bit GEMM kernel
        from bitsandbytes.optim import AdamW8bit

        return AdamW8bit(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.weight_decay:
        return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.Adam(model.parameters(), lr=config.lr)


def optimiser_state_bytes(state) -> int:
    """Bytes of every tensor in an optimiser's state (``optimiser.state``, or the ``"state"`` of a saved state dict,
    where bitsandbytes keeps its 8-bit codes, block scales and code maps one level down)."""
    if torch.is_tensor(state):
        return state.numel() * state.element_size()
    return sum(optimiser_state_bytes(value) for value in state.values()) if isinstance(state, dict) else 0


def load_split(config: TrainConfig, task: Task, split: str, quiet: bool = True) -> Split:
    """``split`` of the run's data: "train", "val" (validation) or "test". Segmentation's validation split is its
    ``val_cases``, which leave the training split (none named: no validation split)."""
    roots = [Path(root) for root in config.data]
    if config.task == "classification":
        return task.load(roots, split, config.test_cases, cache_location(config.cache), config.limit, quiet)
    from training.data_liver import find_cases, split_cases

    test = [case.name for case in split_cases(find_cases(roots), "test", config.test_cases)]
    named = {"train": test + config.val_cases, "val": config.val_cases, "test": test}[split]
    if not named:
        raise DatasetError("this run has no validation cases (name them with --val-case)")
    return task.load(roots, split, named, cache_location(config.cache), config.limit, quiet)


def has_validation(config: TrainConfig) -> bool:
    return config.task == "classification" or bool(config.val_cases)


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
    placement = place(config.device)
    try:
        return _train(config, run, resume, quiet or not placement.main, placement)
    finally:
        leave(placement)


def _train(config: TrainConfig, run: Path, resume: bool, quiet: bool, placement: Placement) -> dict:
    if config.threads:
        torch.set_num_threads(config.threads)
    if config.amp_fp16 and placement.device.type != "cuda":
        raise DatasetError("--amp-fp16 needs a CUDA GPU (on the CPU use --amp-bf16)")
    if config.amp_bf16 and placement.device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise DatasetError(f"{torch.cuda.get_device_name(placement.device)} has no bf16: use --amp-fp16")
    train_data, validation = _first_main(placement, lambda: _splits(config, quiet))
    task = make_task(config, train_data)
    model = build_model(config).to(placement.device)
    teacher = load_teacher(config, placement.device) if config.teacher else None
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimiser = make_optimiser(config, model)
    generator = torch.Generator().manual_seed(config.seed)
    start, rows = 1, []
    if resume and (run / CHECKPOINT).exists():
        start, rows = _restore(run, model, optimiser, generator)
        if _stalled(rows, config.patience):  # it had stopped early: nothing left to train
            start = config.epochs + 1
    if placement.main:
        run.mkdir(parents=True, exist_ok=True)
        config.extra["train_data"] = train_data.description
        config.extra["validation_data"] = validation.description if validation is not None else "none"
        write_atomic(run / CONFIG, json.dumps(asdict(config), indent=2).encode())
    trained = _distributed(model, placement)
    for epoch in range(start, config.epochs + 1):
        with EnergyMeter() as meter:
            loss = _one_epoch(config, task, trained, optimiser, train_data, generator, epoch, quiet, placement, teacher)
        due = validation is not None and (epoch % config.eval_every == 0 or epoch == config.epochs)
        metrics = _validate(model, validation, task, config, placement) if due else {}
        rows.append(_row(epoch, config.lr_at(epoch), loss, metrics.get(task.headline), meter.result))
        if placement.main:
            _save(run, model, optimiser, generator, epoch, rows, metrics)
            if not quiet:
                held = "" if not metrics else f", validation {task.headline} {metrics[task.headline]:.3f}"
                print(f"epoch {epoch}/{config.epochs}: loss {loss:.4f}{held}", flush=True)
        placement.barrier()
        if _stalled(rows, config.patience):
            if not quiet:
                print(f"early stop: no better validation {task.headline} in {config.patience} evaluations", flush=True)
            break
    if placement.main:
        _plot(run, rows, task.headline)
    return rows[-1] if rows else {}


def _splits(config: TrainConfig, quiet: bool) -> tuple[Split, Split | None]:
    train_data = load_split(config, make_task(config), "train", quiet)
    return train_data, load_split(config, make_task(config), "val", quiet) if has_validation(config) else None


def _first_main(placement: Placement, work):
    """``work()`` on rank 0 first (it prepares the shared cache), then on the other ranks."""
    if placement.main:
        result = work()
        placement.barrier()
        return result
    placement.barrier()
    return work()


def _distributed(model: nn.Module, placement: Placement) -> nn.Module:
    if not placement.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if placement.device.type == "cuda":  # batch statistics over every GPU's share (SyncBatchNorm is CUDA-only)
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return DistributedDataParallel(model, device_ids=[placement.device.index] if placement.device.type == "cuda" else None)


def _validate(model: nn.Module, validation: Split, task: Task, config: TrainConfig, placement: Placement) -> dict:
    """The validation metrics (computed on rank 0, shared with every rank for early stopping)."""
    metrics = task.metrics(predict(model, validation, config, task.reduce, placement.device), validation) if placement.main else {}
    if placement.distributed:
        import torch.distributed as dist

        shared = [metrics]
        dist.broadcast_object_list(shared, src=0)
        metrics = shared[0]
    return metrics


def _stalled(rows: list[dict], patience: int | None) -> bool:
    """Whether the last ``patience`` evaluations all failed to beat the best one before them."""
    scores = [r["validation"] for r in rows if r.get("validation") is not None]
    if patience is None or len(scores) <= patience:
        return False
    return max(scores[-patience:]) <= max(scores[:-patience])


def epoch_batches(config: TrainConfig, labels: np.ndarray | None, size: int, generator: torch.Generator,
                  placement: Placement) -> list[list[int]]:
    """This process's share of each batch of the epoch. The order is drawn from ``generator`` (the same on every
    process); each batch is cut into one contiguous share per process, so that the mean gradient over the processes
    is the single-process batch's (for a mean loss and equal shares)."""
    if config.balanced:
        order = torch.multinomial(balanced_weights(torch.from_numpy(labels)), size, replacement=True, generator=generator)
    else:
        order = torch.randperm(size, generator=generator)
    batches = [order[i : i + config.batch_size] for i in range(0, size, config.batch_size)]
    if placement.distributed:
        batches = [torch.tensor_split(b, placement.world)[placement.rank] for b in batches if len(b) >= placement.world]
    return [b.tolist() for b in batches]


DISTILL_TEMPERATURE = 2.0


def load_teacher(config: TrainConfig, device: torch.device) -> nn.Module:
    """The teacher run's model (eval mode, frozen), refused where it saw a case that this run holds out or validates
    on, or where it was trained on another input geometry."""
    teacher_config, teacher = load_trained(Path(config.teacher))
    unseen = set(teacher_config.test_cases) | set(teacher_config.val_cases)
    seen = sorted((set(config.test_cases) | set(config.val_cases)) - unseen)
    if not config.test_cases or seen:
        raise DatasetError(f"the teacher {config.teacher} trained on {', '.join(seen) or 'an unnamed split'}, which "
                           "this run holds out: train the teacher with the same --test-case and --val-case")
    geometry = ("task", "image_size", "pixel_spacing_mm", "data")
    if any(getattr(teacher_config, k) != getattr(config, k) for k in geometry):
        raise DatasetError(f"the teacher {config.teacher} was trained on other data or input geometry "
                           f"({', '.join(f'{k} {getattr(teacher_config, k)}' for k in geometry)})")
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher.to(device).eval()


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float = DISTILL_TEMPERATURE) -> torch.Tensor:
    """KL(teacher || student) of the class maps softened by ``temperature``, per pixel, times temperature^2
    (Hinton et al.), so that its gradient keeps its size whatever the temperature."""
    log_student = torch.log_softmax(student.float() / temperature, dim=1)
    log_teacher = torch.log_softmax(teacher.float() / temperature, dim=1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(1).mean()
    return kl * temperature**2


def _one_epoch(config, task, model, optimiser, data: Split, generator, epoch: int, quiet: bool,
               placement: Placement, teacher: nn.Module | None = None) -> float:
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    model.train()
    for group in optimiser.param_groups:
        group["lr"] = config.lr_at(epoch)
    shares = epoch_batches(config, data.labels() if config.balanced else None, len(data), generator, placement)
    # One process draws augmentation from the run's generator (as it always did); several draw each their own, so
    # that the shared generator stays the same on every process.
    jitter = generator if not placement.distributed else torch.Generator().manual_seed(
        hash((config.seed, epoch, placement.rank)) % 2**63)
    device, cuda = placement.device, placement.device.type == "cuda"
    loader = DataLoader(data, batch_sampler=shares, num_workers=config.workers, pin_memory=cuda,
                        worker_init_fn=seed_worker, generator=torch.Generator().manual_seed(config.seed * 1000 + epoch))
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp_fp16)
    autocast_dtype = torch.float16 if config.amp_fp16 else torch.bfloat16
    dtype = next(model.parameters()).dtype
    total, seen = 0.0, 0
    bar = tqdm(loader, desc=f"epoch {epoch}/{config.epochs}", unit="batch", disable=quiet, leave=False)
    for inputs, targets in bar:
        if config.augment:
            if task.name == "segmentation":
                inputs, targets = augment(inputs, jitter, targets, **CT_AUGMENTATION)
                if config.scanner_augment:
                    inputs = scanner_jitter(inputs, jitter)
            else:
                inputs = augment(inputs, jitter)
        if config.crop:
            inputs, targets = random_crops(inputs, targets, config.crop, jitter)
        inputs, targets = inputs.to(device, dtype, non_blocking=cuda), targets.to(device, non_blocking=cuda)
        if config.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        optimiser.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=config.amp_bf16 or config.amp_fp16):
            logits = model(inputs)
            if teacher is not None:
                with torch.no_grad():
                    soft = teacher(inputs)
        loss = task.loss(logits.float(), targets)
        if teacher is not None:
            loss = loss + config.distill_weight * distillation_loss(logits, soft)
        scaler.scale(loss).backward()
        scaler.step(optimiser)
        scaler.update()
        total += loss.detach().item() * len(inputs)
        seen += len(inputs)
        bar.set_postfix(loss=f"{loss.detach().item():.4f}")
    return placement.sum(total) / max(placement.sum(seen), 1)


def balanced_weights(targets: torch.Tensor) -> torch.Tensor:
    """Sampling weight of each image: 1 / frequency of its rarest finding ("no finding" counts as a class), so an
    epoch sees each finding about as often as the others."""
    classes = torch.cat([targets, (targets.sum(1, keepdim=True) == 0).to(targets.dtype)], dim=1)
    rarity = 1 / classes.sum(0).clamp_min(1)
    return (classes * rarity).amax(1)


@torch.no_grad()
def predict(model: nn.Module, data: Split, config: TrainConfig, reduce=None, device: torch.device | str = "cpu",
            batch: int = 16) -> np.ndarray:
    """The model's outputs on every row of ``data`` in order (eval mode), each batch passed through ``reduce``
    (e.g. logits to masks, so that a large split never holds every logit at once)."""
    model.eval()
    dtype = next(model.parameters()).dtype
    device = torch.device(device)
    outputs = []
    for inputs, _ in data.batches(batch, config.workers):
        with torch.autocast(device.type, dtype=torch.float16 if config.amp_fp16 else torch.bfloat16,
                            enabled=config.amp_bf16 or config.amp_fp16):
            logits = model(inputs.to(device, dtype)).float().cpu().numpy()
        outputs.append(reduce(logits) if reduce else logits)
    return np.concatenate(outputs)


def _row(epoch: int, lr: float, loss: float, validation: float | None, energy) -> dict:
    return {
        "epoch": epoch, "lr": lr, "train_loss": loss, "validation": validation, "seconds": energy.seconds,
        "cpu_seconds": energy.cpu_seconds, "peak_rss_mib": peak_rss_mib(),
        "energy_j": energy.joules, "energy_source": energy.source,
    }


def _save(run: Path, model, optimiser, generator, epoch: int, rows: list[dict], metrics: dict) -> None:
    state = {"model": model.state_dict(), "optimiser": optimiser.state_dict(), "epoch": epoch,
             "generator": generator.get_state(), "torch_rng": torch.get_rng_state()}
    temporary = run / f".{CHECKPOINT}.tmp"
    torch.save(state, temporary)
    os.replace(temporary, run / CHECKPOINT)
    earlier = [r["validation"] for r in rows[:-1] if r.get("validation") is not None]
    if metrics and (not earlier or rows[-1]["validation"] > max(earlier)):  # the first of equals stays the best
        torch.save({"model": model.state_dict(), "epoch": epoch}, run / f".{BEST}.tmp")
        os.replace(run / f".{BEST}.tmp", run / BEST)
    write_atomic(run / METRICS_JSON, json.dumps({"epochs": rows, "last_validation": metrics}, indent=2, default=float).encode())
    with open(run / f".{METRICS_CSV}.tmp", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(dict.fromkeys(key for row in rows for key in row)))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(run / f".{METRICS_CSV}.tmp", run / METRICS_CSV)


def _restore(run: Path, model, optimiser, generator) -> tuple[int, list[dict]]:
    state = torch.load(run / CHECKPOINT, weights_only=True, map_location=next(model.parameters()).device)
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch_rng"])
    rows = json.loads((run / METRICS_JSON).read_text())["epochs"] if (run / METRICS_JSON).exists() else []
    return int(state["epoch"]) + 1, [r for r in rows if r["epoch"] <= state["epoch"]]


def trained_state(run: Path, config: TrainConfig) -> dict:
    """The model state a run stands for: its best validation epoch's where it kept one (``--patience``), else its last
    epoch's."""
    best = Path(run) / BEST
    weights = best if config.patience and best.is_file() else Path(run) / CHECKPOINT
    return torch.load(weights, weights_only=True, map_location="cpu")["model"]


def load_trained(run: Path) -> tuple[TrainConfig, nn.Module]:
    """The config and the float model of a finished (or interrupted) run: the best validation epoch's model where the
    run kept one (``--patience``), else the last epoch's."""
    config = read_run_config(run)
    if not (Path(run) / CHECKPOINT).is_file():
        raise RunError(f"{run} has no {CHECKPOINT} yet: train at least one epoch first")
    extra = dict(config.extra)
    config.weight_bits = config.act_bits = None  # fixed-point runs export their float weights
    config.half_weights = False
    model = build_model(config)
    state = trained_state(run, config)
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
    evaluated = [r for r in rows if r.get("validation") is not None]
    right.plot([r["epoch"] for r in evaluated], [r["validation"] for r in evaluated], marker="o", color="tab:green")
    right.set(title=f"validation {headline}", xlabel="epoch")
    figure.tight_layout()
    figure.savefig(run / CURVES, dpi=100)
    plt.close(figure)


def best_epoch(run: Path) -> int | None:
    """The epoch whose validation metric was the best (the first of equals), None without validation."""
    rows = [r for r in summary(run)["epochs"] if r.get("validation") is not None]
    return max(rows, key=lambda r: (r["validation"], -r["epoch"]))["epoch"] if rows else None


def summary(run: Path) -> dict:
    """The per-epoch rows of a run, for reports."""
    return json.loads((Path(run) / METRICS_JSON).read_text())
