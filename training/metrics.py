"""Held-out metrics: per-class AUROC and accuracy (classification), Dice per volume and slice (segmentation)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.runtime.compare import compare_masks
from engine.runtime.postprocess import postprocess


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U, ties counted half); NaN when only one class is present."""
    labels = labels.astype(bool)
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), dtype=np.float64)
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average the ranks of ties
        tied = scores == value
        if tied.sum() > 1:
            ranks[tied] = ranks[tied].mean()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def youden_thresholds(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, ...]:
    """Per class, the threshold maximising sensitivity + specificity - 1 (0.5 where a class lacks positives or negatives)."""
    thresholds = []
    for scores, truth in zip(probabilities.T, labels.T.astype(bool)):
        if truth.all() or not truth.any():
            thresholds.append(0.5)
            continue
        candidates = np.unique(scores)
        youden = [(scores[truth] >= t).mean() + (scores[~truth] < t).mean() - 1 for t in candidates]
        thresholds.append(float(candidates[int(np.argmax(youden))]))
    return tuple(thresholds)


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, names: tuple[str, ...],
                           thresholds: tuple[float, ...] | None = None) -> dict:
    """Per-class AUROC and accuracy (at ``thresholds``, default 0.5), and their means over the classes."""
    thresholds = thresholds or (0.5,) * len(names)
    per_class = {}
    for i, name in enumerate(names):
        per_class[name] = {
            "auroc": auroc(probabilities[:, i], labels[:, i]),
            "accuracy": float(((probabilities[:, i] >= thresholds[i]) == labels[:, i].astype(bool)).mean()),
            "positives": int(labels[:, i].sum()),
        }
    defined = [m["auroc"] for m in per_class.values() if not np.isnan(m["auroc"])]
    return {
        "mean_auroc": float(np.mean(defined)) if defined else float("nan"),
        "mean_accuracy": float(np.mean([m["accuracy"] for m in per_class.values()])),
        "images": int(len(labels)),
        "per_class": per_class,
    }


def segmentation_metrics(predicted: np.ndarray, reference: np.ndarray, cases: list[str],
                         postprocessing: Sequence[str] = ()) -> dict:
    """Dice per case (volume) and over all slices that hold liver in either mask; with ``postprocessing``
    (each case's consecutive slices as one volume) the headline numbers are after it, and the raw ones are
    kept under ``before_postprocessing``."""
    raw = _dice(predicted, reference, cases)
    if not postprocessing:
        return raw
    cleaned = predicted.copy()
    for case in set(cases):
        rows = np.array([c == case for c in cases])
        cleaned[rows] = postprocess(predicted[rows], postprocessing).astype(bool)
    after = _dice(cleaned, reference, cases)
    return {**after, "postprocessing": list(postprocessing),
            "before_postprocessing": {k: raw[k] for k in ("mean_dice_per_volume", "dice_per_volume")}}


def _dice(predicted: np.ndarray, reference: np.ndarray, cases: list[str]) -> dict:
    per_case = {}
    for case in sorted(set(cases)):
        rows = np.array([c == case for c in cases])
        per_case[case] = compare_masks(predicted[rows], reference[rows]).dice
    comparison = compare_masks(predicted, reference)
    slices = comparison.dice_per_slice[~np.isnan(comparison.dice_per_slice)]
    return {
        "mean_dice_per_volume": float(np.mean(list(per_case.values()))),
        "mean_dice_per_slice": float(slices.mean()) if slices.size else float("nan"),
        "dice_per_volume": per_case,
        "slices": int(len(cases)),
    }
