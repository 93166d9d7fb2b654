"""Held-out metrics: per-class AUROC and accuracy (classification), Dice per volume and slice (segmentation)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from engine.runtime.compare import compare_masks
from engine.runtime.evidence import FindingEvidence
from engine.runtime.postprocess import postprocess

BOOTSTRAP_RESAMPLES = 2000


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (scikit-learn; ties counted half); NaN when only one class is present."""
    from sklearn.metrics import roc_auc_score

    labels = labels.astype(bool)
    if labels.all() or not labels.any():
        return float("nan")
    return float(roc_auc_score(labels, scores))


def auroc_ci(scores: np.ndarray, labels: np.ndarray, groups: Sequence[str], resamples: int = BOOTSTRAP_RESAMPLES,
             seed: int = 0) -> tuple[float, float]:
    """95% percentile CI of the AUROC by resampling patients (a patient's images stay together); NaN when
    fewer than half of the resamples hold both classes."""
    labels = labels.astype(bool)

    def statistic(rows: np.ndarray) -> float:
        return auroc(scores[rows], labels[rows]) if labels[rows].any() and not labels[rows].all() else float("nan")

    return patient_bootstrap(statistic, groups, resamples, seed)


def mean_auroc_ci(probabilities: np.ndarray, labels: np.ndarray, groups: Sequence[str],
                  resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> tuple[float, float]:
    """95% CI of the mean AUROC over the classes that the held-out set can measure (patient bootstrap; each
    resample averages the classes it still holds both positives and negatives of)."""
    labels = labels.astype(bool)
    measurable = [i for i in range(labels.shape[1]) if labels[:, i].any() and not labels[:, i].all()]

    def statistic(rows: np.ndarray) -> float:
        values = [auroc(probabilities[rows, i], labels[rows, i]) for i in measurable]
        defined = [v for v in values if not np.isnan(v)]
        return float(np.mean(defined)) if defined else float("nan")

    return patient_bootstrap(statistic, groups, resamples, seed)


def patient_bootstrap(statistic, groups: Sequence[str], resamples: int, seed: int) -> tuple[float, float]:
    """2.5 and 97.5 percentiles of ``statistic(rows)`` over resamples of whole patients; NaN when it is
    undefined (NaN) on half of the resamples or more."""
    patients = sorted(set(groups))
    rows = [np.flatnonzero(np.asarray(groups) == p) for p in patients]
    rng = np.random.default_rng(seed)
    values = [statistic(np.concatenate([rows[i] for i in rng.integers(0, len(patients), len(patients))]))
              for _ in range(resamples)]
    values = [v for v in values if not np.isnan(v)]
    if len(values) <= resamples / 2:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def youden_thresholds(probabilities: np.ndarray, labels: np.ndarray, specificity: float = 0.95) -> tuple[float, ...]:
    """Per class, the threshold maximising sensitivity + specificity - 1; where a class has no positives, the one
    that keeps ``specificity`` of its negatives below it; 0.5 where it has no negatives."""
    thresholds = []
    for scores, truth in zip(probabilities.T, labels.T.astype(bool)):
        if truth.all():
            thresholds.append(0.5)
        elif not truth.any():
            thresholds.append(float(np.quantile(scores, specificity)))
        else:
            thresholds.append(_youden(scores, truth))
    return tuple(thresholds)


def _youden(scores: np.ndarray, truth: np.ndarray) -> float:
    """The score threshold (positive at >=) with the highest sensitivity + specificity - 1, the lowest such one on
    ties; O(n log n) through scikit-learn's ROC curve."""
    from sklearn.metrics import roc_curve

    false_positive_rate, true_positive_rate, candidates = roc_curve(truth, scores, drop_intermediate=False)
    finite = np.isfinite(candidates)  # the first point (nothing called positive) has an infinite threshold
    youden = (true_positive_rate - false_positive_rate)[finite]
    return float(candidates[finite][np.flatnonzero(youden == youden.max())[-1]])


def classification_metrics(probabilities: np.ndarray, labels: np.ndarray, names: tuple[str, ...],
                           thresholds: tuple[float, ...] | None = None, groups: Sequence[str] | None = None) -> dict:
    """Per class: AUROC (with its patient-bootstrap 95% CI and the validated verdict when ``groups`` names each
    image's patient), and accuracy, sensitivity and specificity at ``thresholds`` (default 0.5); means over classes."""
    thresholds = thresholds or (0.5,) * len(names)
    per_class = {name: _class_metrics(probabilities[:, i], labels[:, i].astype(bool), thresholds[i], groups)
                 for i, name in enumerate(names)}
    defined = [m["auroc"] for m in per_class.values() if not np.isnan(m["auroc"])]
    confidence = {} if groups is None else {"mean_auroc_ci": list(mean_auroc_ci(probabilities, labels, groups))}
    return {
        "mean_auroc": float(np.mean(defined)) if defined else float("nan"),
        **confidence,
        "mean_accuracy": float(np.mean([m["accuracy"] for m in per_class.values()])),
        "validated_findings": [name for name, m in per_class.items() if m.get("validated")],
        "images": int(len(labels)),
        "per_class": per_class,
    }


def _class_metrics(scores: np.ndarray, truth: np.ndarray, threshold: float, groups: Sequence[str] | None) -> dict:
    called = scores >= threshold
    row = {
        "auroc": auroc(scores, truth),
        "accuracy": float((called == truth).mean()),
        "sensitivity": float(called[truth].mean()) if truth.any() else float("nan"),
        "specificity": float((~called[~truth]).mean()) if not truth.all() else float("nan"),
        "positives": int(truth.sum()),
    }
    if groups is not None:
        row["auroc_ci"] = list(auroc_ci(scores, truth, groups))
        row["validated"] = FindingEvidence(row["auroc"], *row["auroc_ci"], row["positives"]).validated
    return row


def segmentation_metrics(predicted: np.ndarray, reference: np.ndarray, cases: list[str],
                         postprocessing: Sequence[str] = (), voxel_mm: dict[str, Sequence[float]] | None = None) -> dict:
    """Dice per case (volume) and over all slices that hold liver in either mask; with ``postprocessing``
    (each case's consecutive slices as one volume) the headline numbers are after it, and the raw ones are
    kept under ``before_postprocessing``. With each case's ``voxel_mm`` (z, y, x), also the false positives
    farther than 10 mm from the reference (``far_false_positives``)."""
    raw = _dice(predicted, reference, cases, voxel_mm)
    if not postprocessing:
        return raw
    cleaned = predicted.copy()
    for case in set(cases):
        rows = np.array([c == case for c in cases])
        cleaned[rows] = postprocess(predicted[rows], postprocessing).astype(bool)
    after = _dice(cleaned, reference, cases, voxel_mm)
    kept = ("mean_dice_per_volume", "dice_per_volume", "far_false_positives")
    return {**after, "postprocessing": list(postprocessing),
            "before_postprocessing": {k: raw[k] for k in kept if k in raw}}


def _dice(predicted: np.ndarray, reference: np.ndarray, cases: list[str],
          voxel_mm: dict[str, Sequence[float]] | None = None) -> dict:
    per_case, far = {}, {}
    for case in sorted(set(cases)):
        rows = np.array([c == case for c in cases])
        per_case[case] = compare_masks(predicted[rows], reference[rows]).dice
        if voxel_mm and case in voxel_mm:
            far[case] = far_false_positives(predicted[rows], reference[rows], voxel_mm[case])
    comparison = compare_masks(predicted, reference)
    slices = comparison.dice_per_slice[~np.isnan(comparison.dice_per_slice)]
    result = {
        "mean_dice_per_volume": float(np.mean(list(per_case.values()))),
        "mean_dice_per_slice": float(slices.mean()) if slices.size else float("nan"),
        "dice_per_volume": per_case,
        "slices": int(len(cases)),
    }
    return result | ({"far_false_positives": far} if far else {})


FAR_MM = 10.0


def far_false_positives(predicted: np.ndarray, reference: np.ndarray, voxel_mm: Sequence[float],
                        distance_mm: float = FAR_MM) -> dict[str, float]:
    """Predicted voxels farther than ``distance_mm`` from every reference voxel (Euclidean, in mm, over the case's
    consecutive slices as one volume): their volume in mL and their share of the predicted volume. These are the
    errors a reader sees first (another organ called liver), unlike a rim a voxel too wide."""
    from scipy.ndimage import distance_transform_edt

    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    voxel_ml = float(np.prod(voxel_mm)) / 1000.0
    if not reference.any():
        far = predicted
    else:
        far = predicted & (distance_transform_edt(~reference, sampling=voxel_mm) > distance_mm)
    total = int(predicted.sum())
    return {"ml": int(far.sum()) * voxel_ml, "fraction_of_prediction": int(far.sum()) / total if total else 0.0}
