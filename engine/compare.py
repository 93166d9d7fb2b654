"""Segmentation comparison as in the seed paper's Fig. 4: correct, over- and under-segmented voxels, Dice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AGREE, OVER, UNDER = 1, 2, 3  # codes in MaskComparison.codes; 0 is background in both


@dataclass(frozen=True)
class MaskComparison:
    """Voxel-wise agreement of a predicted mask with a reference mask (Z, Y, X).

    Attributes:
        codes: uint8 per voxel: 0 neither, AGREE both, OVER predicted only, UNDER reference only.
        dice_per_slice: Dice of each slice; NaN where both masks are empty.
        dice: Dice over the whole volume (1.0 when both are empty).
    """

    codes: np.ndarray
    dice_per_slice: np.ndarray
    dice: float

    def counts(self) -> dict[str, int]:
        """Voxel counts of each region, for reports."""
        return {name: int(np.count_nonzero(self.codes == code)) for name, code in
                (("agree", AGREE), ("over", OVER), ("under", UNDER))}


def compare_masks(predicted: np.ndarray, reference: np.ndarray) -> MaskComparison:
    """Compare two binary masks of the same shape (2D or 3D; 2D is treated as one slice)."""
    predicted, reference = np.asarray(predicted, bool), np.asarray(reference, bool)
    if predicted.shape != reference.shape:
        raise ValueError(f"mask shapes differ: {predicted.shape} vs {reference.shape}")
    if predicted.ndim == 2:
        predicted, reference = predicted[None], reference[None]
    codes = np.zeros(predicted.shape, dtype=np.uint8)
    codes[predicted & reference] = AGREE
    codes[predicted & ~reference] = OVER
    codes[~predicted & reference] = UNDER
    both = (codes == AGREE).sum(axis=(1, 2)).astype(np.float64)
    sizes = predicted.sum(axis=(1, 2)) + reference.sum(axis=(1, 2)).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_slice = np.where(sizes > 0, 2 * both / sizes, np.nan)
    total = sizes.sum()
    return MaskComparison(codes, per_slice, float(2 * both.sum() / total) if total else 1.0)


def dice(predicted: np.ndarray, reference: np.ndarray) -> float:
    """Dice coefficient of two binary masks (1.0 when both are empty)."""
    return compare_masks(predicted, reference).dice
