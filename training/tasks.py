"""The two training tasks: what data, which loss, which held-out metric, which input contract."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from engine.runtime.card import Acceptance, InputContract
from engine.runtime.io import read_image_file
from engine.runtime.labels import CHEST_FILM_ACCEPTS, CHESTXRAY14, LIVER, LIVER_CT_ACCEPTS
from engine.runtime.preprocess import prepare_radiograph
from training import data_liver, data_nih
from training.datasets import SHARD_BYTES, Prepared, ShardSource, Split, prepared_split
from training.errors import DatasetError
from training.metrics import classification_metrics, segmentation_metrics

# NIH ChestX-ray14 grey-level statistics after min-max scaling (the contract's mean/std).
NIH_MEAN, NIH_STD = 0.5149, 0.2530
LIVER_WINDOW = (-160.0, 240.0)


@dataclass
class Task:
    name: str
    contract: InputContract
    labels: tuple[str, ...]
    load: Callable[..., Split]  # (roots, split, test_cases=(), cache=None, limit=None, quiet=True) -> Split
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    reduce: Callable[[np.ndarray], np.ndarray]  # a batch of model outputs -> what metrics need (logits, or masks)
    metrics: Callable[..., dict]  # (reduced outputs, split, thresholds=None) -> metrics
    headline: str  # the metric plotted and reported per epoch


def classification_task(size: int, pos_weight: torch.Tensor | None = None, label_smoothing: float = 0.0) -> Task:
    contract = InputContract("CR/DX", (size, size), "mean_std", mean=NIH_MEAN, std=NIH_STD,
                             geometry="whole radiograph resized to the input size", accepts=Acceptance(**CHEST_FILM_ACCEPTS))

    def load(roots: Sequence[Path], split: str, test_cases: Sequence[str] = (), cache: Path | None = None,
             limit: int | None = None, quiet: bool = True) -> Split:
        if len(roots) != 1 or test_cases:
            raise DatasetError("classification reads one NIH ChestX-ray14 folder and splits it by patient itself "
                               "(no --test-case)")
        root = Path(roots[0])
        samples = data_nih.load_nih(root, split)
        per_shard = max(1, SHARD_BYTES // (4 * size * size))
        sources = [_radiograph_shard(samples[i : i + per_shard], contract) for i in range(0, len(samples), per_shard)]
        patients = len({s.patient for s in samples[:limit]})
        description = f"{len(samples[:limit])} NIH ChestX-ray14 images of {patients} patients ({split} split) from {root.name}"
        return prepared_split(sources, cache, description, "classification", limit, quiet)

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        weight = None if pos_weight is None else pos_weight.to(logits.dtype)
        soft = targets.to(logits.dtype) * (1 - label_smoothing) + label_smoothing / 2
        return F.binary_cross_entropy_with_logits(logits, soft, pos_weight=weight)

    def metrics(outputs: np.ndarray, data: Split, thresholds: tuple[float, ...] | None = None) -> dict:
        return classification_metrics(1 / (1 + np.exp(-outputs)), data.labels(), CHESTXRAY14, thresholds, data.groups)

    return Task("classification", contract, CHESTXRAY14, load, loss, _logits, metrics, "mean_auroc")


def _logits(outputs: np.ndarray) -> np.ndarray:
    return outputs


def _radiograph_shard(samples: Sequence[data_nih.XraySample], contract: InputContract) -> ShardSource:
    def prepare() -> Prepared:
        from PIL import Image

        images = [prepare_radiograph(np.asarray(Image.open(s.path)), contract)[0] for s in samples]
        return Prepared(np.stack(images), np.stack([s.labels for s in samples]), [s.patient for s in samples],
                        {s.path.name: read_image_file(s.path).fingerprint for s in samples})

    labels = "".join(f"{s.path.name} {s.patient} {s.labels.astype(int).tolist()}\n" for s in samples)
    return ShardSource(f"radiographs from {samples[0].path.name}", tuple(s.path for s in samples),
                       f"{contract!r}\n{labels}", prepare, len(samples))


def class_weights(targets: torch.Tensor) -> torch.Tensor:
    """BCE positive weights: negatives / positives per class, clamped to [1, 100] (1 where a class is absent)."""
    positives = targets.sum(0)
    weights = (targets.shape[0] - positives) / positives.clamp_min(1)
    return torch.where(positives > 0, weights.clamp(1, 100), torch.ones_like(weights))


def segmentation_task(size: int, pixel_spacing_mm: float | None = None) -> Task:
    if pixel_spacing_mm is None:
        geometry = f"axial slices in canonical orientation, resized to {size}x{size}; masks bilinear back"
    else:
        geometry = (f"axial slices in canonical orientation, resampled to {pixel_spacing_mm:g} mm pixels and centred in "
                    f"{size}x{size} ({size * pixel_spacing_mm:g} mm field, cropped or padded with air); masks bilinear back")
    contract = InputContract("CT", (size, size), "hu_window", window=LIVER_WINDOW, accepts=Acceptance(**LIVER_CT_ACCEPTS),
                             pixel_spacing_mm=pixel_spacing_mm, geometry=geometry)

    def load(roots: Sequence[Path], split: str, test_cases: Sequence[str] = (), cache: Path | None = None,
             limit: int | None = None, quiet: bool = True) -> Split:
        if split == "val" and not test_cases:
            raise DatasetError("liver CT has no val split: it is split into train and test by case (training "
                               "validates on the cases named with --val-case)")
        named = "train" if split == "train" else "test"  # the validation split is named cases, as the test split
        cases = data_liver.split_cases(data_liver.find_cases(roots), named, test_cases)
        data = prepared_split([_case_shard(case, contract) for case in cases], cache, "", "segmentation", limit, quiet)
        names = ", ".join(dict.fromkeys(data.groups))
        data.description = (f"{len(data)} axial slices of {len(data.studies)} CT volume(s) ({split} split: {names}) "
                            f"from {', '.join(Path(r).name for r in roots)}")
        return data

    def loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return soft_dice_loss(logits, targets) + F.cross_entropy(logits.float(), targets)

    def metrics(masks: np.ndarray, data: Split, thresholds: tuple[float, ...] | None = None,
                postprocessing: Sequence[str] = ()) -> dict:
        return segmentation_metrics(masks, data.labels(), data.groups, postprocessing, data.voxel_mm)

    return Task("segmentation", contract, LIVER, load, loss, _liver_masks, metrics, "mean_dice_per_volume")


def _liver_masks(outputs: np.ndarray) -> np.ndarray:
    """(N, 2, H, W) logits -> (N, H, W) bool liver masks (argmax)."""
    return outputs.argmax(1).astype(bool)


def _case_shard(case: data_liver.Case, contract: InputContract) -> ShardSource:
    def prepare() -> Prepared:
        slices = data_liver.load_slices([case], contract)
        return Prepared(slices.inputs, slices.masks, slices.cases, slices.fingerprints, slices.voxel_mm)

    return ShardSource(f"case {case.name}", case.sources(), f"{contract!r}\nmargin {data_liver.MARGIN}\n{case.name}",
                       prepare)


def soft_dice_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """1 - soft Dice of the foreground probability over the batch."""
    foreground = torch.softmax(logits.float(), dim=1)[:, 1]
    target = targets.float()
    overlap = (foreground * target).sum()
    return 1 - (2 * overlap + 1) / (foreground.sum() + target.sum() + 1)
