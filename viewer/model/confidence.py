"""Where the model is least sure: a per-slice confidence from its probabilities, to read those slices first."""

from __future__ import annotations

import numpy as np

from viewer.model.review import SliceReview

UNCERTAIN = (0.2, 0.8)  # a voxel with a liver probability in this band is one the model could not decide


def slice_confidence(probabilities: np.ndarray) -> np.ndarray:
    """Per axial slice, 1 minus the share of undecided voxels among those the model calls liver or cannot decide.

    1.0: every voxel is clearly liver or clearly not; 0.0: none of the liver-like voxels is decided. A slice with no
    liver-like voxel at all is 1.0 (nothing to doubt).
    """
    p = np.asarray(probabilities, dtype=np.float32)
    low, high = UNCERTAIN
    undecided = ((p > low) & (p < high)).sum(axis=(1, 2))
    liver = (p >= high).sum(axis=(1, 2))
    return 1.0 - undecided / np.maximum(undecided + liver, 1)


def least_confident_unreviewed(review: SliceReview, confidence: np.ndarray) -> int | None:
    """The unmarked slice under review with the lowest confidence (the lower slice on ties); None when all are done."""
    pending = [z for z in review.slices if z not in review.marks]
    if not pending:
        return None
    return min(pending, key=lambda z: (float(confidence[z]), z))


def relative_doubt(confidence: np.ndarray) -> np.ndarray:
    """Each slice's doubt against the other slices of this study: 0 for the surest slice, 1 for the least sure.

    A study whose slices are all equally sure is all 0. Absolute values can sit in a narrow band (0.65-0.71 across a
    whole CT), where a fixed scale paints every slice the same; ranking within the study shows where to look first.
    """
    c = np.asarray(confidence, dtype=np.float64)
    if c.size == 0:
        return c
    spread = c.max() - c.min()
    return np.zeros_like(c) if spread <= 0 else (c.max() - c) / spread


def confidence_text(z: int, confidence: np.ndarray) -> str:
    """A slice's confidence with the study's range, for the strip's tooltip."""
    c = np.asarray(confidence, dtype=np.float64)
    return (f"Slice {z + 1}: confidence {c[z]:.2f} (this study: {c.min():.2f} to {c.max():.2f}). "
            "The brighter, the less sure the model is here than on the other slices.")
