"""Evaluate bundles on held-out data (fp32 and int8 side by side, on ONNX Runtime like the viewer) and
export a trained run as a sealed bundle, refusing an int8 model that disagrees with fp32 beyond a bound."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from engine.runtime.bundle import Bundle, load_bundle, seal_bundle
from engine.runtime.signing import SigningKey, TrustedKeys, default_signing_key, default_trusted_keys
from engine.runtime.card import ModelCard
from engine.runtime.compare import dice
from engine.runtime.errors import EngineError
from engine.runtime.inference import OnnxModel
from training.loop import TrainConfig, best_epoch, load_split, load_trained, make_task
from training.datasets import Split
from training.tasks import Task, classification_task, segmentation_task

NOT_CLINICAL = "demo model, not for clinical use"


class QuantisationRefused(EngineError):
    """The int8 model disagrees with the float model beyond the stated bound."""


def run_onnx(path: Path, inputs: np.ndarray, batch: int = 8) -> np.ndarray:
    model = OnnxModel(path)
    return np.concatenate([model(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def bundle_outputs(bundle: Bundle, data: Split, task: Task, batch: int = 8, quiet: bool = True) -> dict[str, np.ndarray]:
    """Both precisions' outputs on every row of ``data``, reduced batch by batch (logits, or liver masks)."""
    from tqdm import tqdm

    models = {p: OnnxModel(bundle.model_path(p)) for p in ("fp32", "int8")}
    outputs: dict[str, list] = {p: [] for p in models}
    for inputs, _ in tqdm(data.batches(batch), desc="evaluating fp32 and int8", unit="batch", disable=quiet,
                          total=-(-len(data) // batch), leave=False):
        for precision, model in models.items():
            outputs[precision].append(task.reduce(model(inputs.numpy())))
    return {p: np.concatenate(o) for p, o in outputs.items()}


# What a radiologist expects of a liver mask; the card records it and the engine applies it.
LIVER_POSTPROCESSING = ("largest_component_3d", "fill_holes_2d")
# The lowest held-out fp32 metric a bundle may be sealed with, unless --min-held-out says otherwise.
HELD_OUT_FLOOR = {"classification": 0.5, "segmentation": 0.5}


class BelowFloor(EngineError):
    """The model's held-out metric is below the stated floor: not worth sealing."""


def task_for(card: ModelCard) -> Task:
    size = card.input.size[0]
    if card.task == "classification":
        return classification_task(size)
    return segmentation_task(size, card.input.pixel_spacing_mm)


def evaluate(bundle: Bundle, data: Split, task: Task, quiet: bool = True) -> dict:
    """Held-out metrics of both precisions and how far int8 strays from fp32."""
    outputs = bundle_outputs(bundle, data, task, quiet=quiet)
    options = {"postprocessing": bundle.card.postprocessing} if task.name == "segmentation" else {}
    result = {p: task.metrics(outputs[p], data, bundle.card.thresholds, **options) for p in outputs}
    result["agreement"] = agreement(task, outputs["fp32"], outputs["int8"])
    result["data"] = data.description
    return result


def agreement(task: Task, fp32: np.ndarray, int8: np.ndarray) -> dict:
    if task.name == "classification":
        change = np.abs(1 / (1 + np.exp(-fp32)) - 1 / (1 + np.exp(-int8)))
        return {"max_probability_change": float(change.max()), "mean_probability_change": float(change.mean())}
    return {"mask_dice_int8_vs_fp32": dice(int8, fp32)}


def evaluate_bundle(path: Path, roots: Path | Sequence[Path], split: str = "test", limit: int | None = None,
                    test_cases: Sequence[str] = (), cache: Path | None = None, quiet: bool = True) -> dict:
    """Metrics of a sealed bundle on ``split`` of the data in ``roots`` (progress bars unless ``quiet``)."""
    bundle = load_bundle(path, _with_own_key(None))
    task = task_for(bundle.card)
    data = task.load([roots] if isinstance(roots, (str, Path)) else list(roots), split, test_cases, cache, limit, quiet)
    return evaluate(bundle, data, task, quiet)


def held_out_as_trained(run: Path) -> dict:
    """Test-split metrics of a run's model in PyTorch as it was trained (its precision, its fixed-point quantisers),
    with the liver post-processing for segmentation: what a training option costs in quality before any export."""
    from training.loop import build_model, predict, read_run_config, trained_state

    config = read_run_config(run)
    task, model = make_task(config), build_model(config)
    model.load_state_dict(trained_state(run, config))
    held_out = load_split(config, task, "test")
    options = {"postprocessing": LIVER_POSTPROCESSING} if task.name == "segmentation" else {}
    return task.metrics(predict(model, held_out, config, task.reduce), held_out, **options)


def _with_own_key(key: SigningKey | None) -> TrustedKeys:
    """The trusted keys plus the trainer's own: engine-train may read what it signed itself."""
    keys = default_trusted_keys().keys
    own = default_signing_key()
    if key is None and own.is_file():
        key = SigningKey.from_file(own)
    return TrustedKeys(keys + ([key.public] if key else []))


def quantise_run(run: Path, out: Path, calibration: int = 32, name: str | None = None, version: str = "0.1.0",
                 intended_use: str = NOT_CLINICAL, max_probability_change: float = 0.25,
                 mean_probability_change: float = 0.05, min_mask_dice: float = 0.9, source_note: str = "",
                 include_weights: bool = True, key: SigningKey | None = None, min_held_out: float | None = None,
                 cross_validation: dict | None = None) -> Bundle:
    """Export the run in ``run`` as a sealed bundle at ``out`` with held-out metrics in its card."""
    from engine.modelling.onnx_export import export_bundle

    out = Path(out)
    if out.exists():
        raise EngineError(f"{out} already exists; choose a new folder for the bundle")
    config, model = load_trained(run)
    task = make_task(config)
    train_data, held_out = load_split(config, task, "train"), load_split(config, task, "test")
    batches = [train_data.rows([i])[0].numpy() for i in calibration_rows(train_data.groups, calibration)]
    card = _card(config, task, name, version, intended_use, len(batches))
    card = replace(card, training={**card.training, "held_out": held_out.description, "studies": train_data.studies,
                                   "held_out_studies": held_out.studies})
    if task.name == "segmentation":
        card = replace(card, postprocessing=LIVER_POSTPROCESSING)
    if task.name == "classification":
        validation = load_split(config, task, "val")
        card = replace(card, thresholds=_operating_points(model, validation, config),
                       training={**card.training, "validation": validation.description})
    if config.patience:
        best = best_epoch(run)
        card = replace(card, training={**card.training, "early_stopping": f"patience {config.patience} evaluations; "
                                       f"the model of epoch {best} (best validation {task.headline.replace('_', ' ')})"})
    if source_note:
        card = replace(card, training={"source": source_note, **card.training})
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        bundle = export_bundle(model, card, partial, batches, include_weights)
        metrics = evaluate(bundle, held_out, task)
        bounds = ({"max_probability_change": max_probability_change, "mean_probability_change": mean_probability_change}
                  if task.name == "classification" else {"min_mask_dice": min_mask_dice})
        _check_floor(metrics["fp32"], task, HELD_OUT_FLOOR[task.name] if min_held_out is None else min_held_out)
        _check_agreement(metrics["agreement"], bounds)
        summary = {"leave_one_patient_out": cross_validation} if cross_validation else {}
        card = replace(bundle.card, metrics={**_headline(metrics, task), "int8_agreement_bound": bounds, **summary,
                                             "full": metrics})
        bundle = seal_bundle(partial, replace(card, files={}), key)
        partial.rename(out)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return load_bundle(out, _with_own_key(key), require_signature=key is not None)


def _card(config: TrainConfig, task: Task, name, version, intended_use, calibration_images: int) -> ModelCard:
    training = {
        "data": config.extra.get("train_data", ""),
        "epochs": config.epochs, "batch_size": config.batch_size, "optimiser": _optimiser(config),
        "learning_rate": config.lr, "learning_rate_schedule": config.lr_schedule, "seed": config.seed,
        "augmentation": _augmentation(config, task), "loss": _loss(config, task),
        "sampling": "class-balanced (by each image's rarest finding)" if config.balanced else "every image once per epoch",
        "calibration": f"{calibration_images} training images, spread over every training patient",
        "thresholds": ("per finding, Youden's J on the patient-wise validation split (95% specificity "
                       "on its negatives where it holds no positive)"
                       if task.name == "classification" else "0.5"),
    } | _distillation(config)
    return ModelCard(
        name=name or f"{config.architecture}-demo", version=version, architecture=config.architecture, task=task.name,
        input=task.contract, labels=task.labels, thresholds=(0.5,) * len(task.labels), intended_use=intended_use,
        model_args=config.model_args(), training=training,
    )


def _optimiser(config: TrainConfig) -> str:
    if config.optim_8bit:
        return "Adam (8-bit states)"
    return f"AdamW (weight decay {config.weight_decay:g})" if config.weight_decay else "Adam"


def _loss(config: TrainConfig, task: Task) -> str:
    if task.name == "segmentation":
        return "soft Dice + cross-entropy"
    return "BCE with class weights" + (f", label smoothing {config.label_smoothing:g}" if config.label_smoothing else "")


def _augmentation(config: TrainConfig, task: Task) -> str:
    if not config.augment:
        return "none"
    if task.name == "classification":
        return "affine jitter, brightness/contrast"
    from training.loop import CT_AUGMENTATION

    text = (f"rotation up to {CT_AUGMENTATION['degrees']:g} degrees, scale up to {CT_AUGMENTATION['scale']:.0%}, "
            f"brightness/contrast, Gaussian noise up to {CT_AUGMENTATION['noise_std']:g} (window units)")
    if config.scanner_augment:
        text += "; scanner variation (HU level +-60 HU, contrast +-25%, gamma, kernel/slice-thickness blur)"
    return text + (f"; random {config.crop}x{config.crop} patches, half centred on liver" if config.crop else "")


def _distillation(config: TrainConfig) -> dict:
    if not config.teacher:
        return {}
    from training.loop import DISTILL_TEMPERATURE, read_run_config

    teacher = read_run_config(Path(config.teacher)).architecture
    return {"distillation": f"also learns the softened outputs of a {teacher} trained on the same cases (temperature "
                            f"{DISTILL_TEMPERATURE:g}, weight {config.distill_weight:g})"}


def _operating_points(model, data: Split, config: TrainConfig) -> tuple[float, ...]:
    """Per-finding thresholds chosen on the validation split (Youden's J): neither training nor test data."""
    from training.loop import predict
    from training.metrics import youden_thresholds

    probabilities = 1 / (1 + np.exp(-predict(model, data, config)))
    return youden_thresholds(probabilities, data.labels())


def _headline(metrics: dict, task: Task) -> dict:
    key = task.headline
    return {f"held_out_{key}_fp32": metrics["fp32"][key], f"held_out_{key}_int8": metrics["int8"][key], **metrics["agreement"]}


def calibration_rows(groups: list[str], count: int) -> list[int]:
    """``count`` training rows spread over every patient (evenly spaced within each), not the first ``count``."""
    patients = list(dict.fromkeys(groups))
    rows = []
    for index, patient in enumerate(patients):
        own = [row for row, group in enumerate(groups) if group == patient]
        share = count // len(patients) + (index < count % len(patients))
        rows.extend(own[int(i)] for i in np.unique(np.linspace(0, len(own) - 1, min(share, len(own))).round()))
    return rows


def _check_floor(fp32: dict, task: Task, floor: float) -> None:
    value = fp32[task.headline]
    if not value >= floor:
        raise BelowFloor(f"held-out {task.headline.replace('_', ' ')} is {value:.3f}, below the floor {floor}; "
                         f"bundle not exported (set --min-held-out to seal it anyway)")


def _check_agreement(measured: dict, bounds: dict) -> None:
    """Raise QuantisationRefused if any agreement measure is beyond its bound."""
    for key, bound in bounds.items():
        value = measured["mask_dice_int8_vs_fp32" if key == "min_mask_dice" else key]
        beyond = value < bound if key.startswith("min") else value > bound
        if beyond:
            raise QuantisationRefused(f"int8 vs fp32 on held-out data: {key.replace('_', ' ')} is {value:.3f}, "
                                      f"beyond the bound {bound}; bundle not exported")
