"""Segmentation comparison as in the seed paper's Fig. 4: correct, over- and under-segmented voxels, Dice."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import numpy as np

AGREE, OVER, UNDER = 1, 2, 3  # codes in MaskComparison.codes; 0 is background in both


@dataclass
class MaskComparison:
    """Voxel-wise agreement of a predicted mask with a reference mask (Z, Y, X).

    Attributes:
        codes: uint8 per voxel: 0 neither, AGREE both, OVER predicted only, UNDER reference only.
        agree: voxels in both masks, per slice.
        sizes: predicted plus reference voxels, per slice (the Dice denominator).
    """

    codes: np.ndarray
    agree: np.ndarray
    sizes: np.ndarray

    @property
    def dice_per_slice(self) -> np.ndarray:
        """Dice of each slice; NaN where both masks are empty."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.sizes > 0, 2 * self.agree / np.maximum(self.sizes, 1), np.nan)

    @property
    def dice(self) -> float:
        """Dice over the whole volume (1.0 when both are empty)."""
        total = self.sizes.sum()
        return float(2 * self.agree.sum() / total) if total else 1.0

    def counts(self) -> dict[str, int]:
        """Voxel counts of each region, for reports."""
        return {name: int(np.count_nonzero(self.codes == code)) for name, code in
                (("agree", AGREE), ("over", OVER), ("under", UNDER))}

    def update(self, predicted: np.ndarray, reference: np.ndarray, slices: Iterable[int]) -> None:
        """Recompute ``slices`` in place after the predicted mask changed there (live editing)."""
        for z in slices:
            codes = _codes(predicted[z], reference[z])
            self.codes[z] = codes
            self.agree[z], self.sizes[z] = _slice_counts(codes)


def compare_masks(predicted: np.ndarray, reference: np.ndarray) -> MaskComparison:
    """Compare two binary masks of the same shape (2D or 3D; 2D is treated as one slice)."""
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    if predicted.shape != reference.shape:
        raise ValueError(f"mask shapes differ: {predicted.shape} vs {reference.shape}")
    if predicted.ndim == 2:
        predicted, reference = predicted[None], reference[None]
    codes = _codes(predicted, reference)
    agree = (codes == AGREE).sum(axis=(1, 2)).astype(np.int64)
    sizes = 2 * agree + (codes >= OVER).sum(axis=(1, 2))
    return MaskComparison(codes, agree, sizes.astype(np.int64))


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice coefficient of two binary masks (1.0 when both are empty)."""
    return compare_masks(predicted, reference).dice


def _codes(predicted: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """0 neither, OVER predicted only, UNDER reference only, AGREE both, via one table lookup."""
    table = np.array([0, UNDER, OVER, AGREE], dtype=np.uint8)  # index = 2 * predicted + reference
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    return table[predicted.view(np.uint8) * 2 + reference.view(np.uint8)]


def _slice_counts(codes: np.ndarray) -> tuple[int, int]:
    agree = int(np.count_nonzero(codes == AGREE))
    return agree, 2 * agree + int(np.count_nonzero(codes >= OVER))
