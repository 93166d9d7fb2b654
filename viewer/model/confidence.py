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
