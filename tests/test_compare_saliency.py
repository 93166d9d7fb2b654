"""Segmentation comparison codes and Dice; RISE finds the pixels a classifier really uses."""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime.compare import AGREE, OVER, UNDER, compare_masks, dice
from engine.runtime.saliency import rise, rise_masks


def test_over_and_under_segmentation_are_separated():
    reference = np.zeros((3, 10, 10), bool)
    reference[1, 2:6, 2:6] = True  # 16 voxels
    predicted = np.zeros_like(reference)
    predicted[1, 3:7, 2:6] = True  # shifted down by one row: 12 agree, 4 over, 4 under
    predicted[2, 0, 0] = True  # a stray voxel on a slice with no reference
    comparison = compare_masks(predicted, reference)
    assert comparison.counts() == {"agree": 12, "over": 5, "under": 4}
    assert comparison.codes[1, 6, 2] == OVER and comparison.codes[1, 2, 2] == UNDER and comparison.codes[1, 4, 4] == AGREE
    assert np.isnan(comparison.dice_per_slice[0])
    assert comparison.dice_per_slice[1] == pytest.approx(24 / 32)
    assert comparison.dice_per_slice[2] == 0.0
    assert comparison.dice == pytest.approx(24 / 33)


def test_dice_edge_cases():
    empty = np.zeros((4, 4), bool)
    assert dice(empty, empty) == 1.0
    assert dice(~empty, ~empty) == 1.0
    assert dice(~empty, empty) == 0.0
    with pytest.raises(ValueError, match="shapes differ"):
        compare_masks(empty, np.zeros((4, 5), bool))


def test_rise_masks_are_smooth_and_half_open():
    masks = rise_masks(200, (64, 64), grid=8, keep=0.5)
    assert masks.shape == (200, 64, 64) and masks.min() >= 0 and masks.max() <= 1
    assert 0.4 < masks.mean() < 0.6
    assert np.abs(np.diff(masks, axis=2)).max() < 0.5  # bilinear: no hard edges


def test_rise_highlights_the_region_a_classifier_looks_at(chest_xrays):
    from engine.runtime.card import InputContract
    from engine.runtime.preprocess import prepare_radiograph

    image = prepare_radiograph(chest_xrays[0], InputContract("DX", (64, 64), "mean_std", mean=0.5, std=0.25))

    def scores(batch: np.ndarray) -> np.ndarray:
        """Class 0 looks at the upper-left lung field, class 1 at the lower-right corner."""
        upper_left = batch[:, 0, 8:24, 8:24].mean(axis=(1, 2))
        lower_right = batch[:, 0, 48:60, 44:60].mean(axis=(1, 2))
        return 1 / (1 + np.exp(-np.stack([upper_left, lower_right], axis=1)))

    updates = list(rise(scores, image, masks=256, batch=32, fill=-2.0))
    assert [u.done for u in updates] == list(range(32, 257, 32))
    final = updates[-1].maps
    assert final.shape == (2, 64, 64)
    for cls, (rows, cols) in enumerate([(slice(8, 24), slice(8, 24)), (slice(48, 60), slice(44, 60))]):
        inside = final[cls][rows, cols].mean()
        outside = np.delete(final[cls].ravel(), np.ravel_multi_index(np.mgrid[rows, cols].reshape(2, -1), (64, 64))).mean()
        assert inside > outside * 1.1
    first, last = updates[0].maps, final
    assert np.corrcoef(first.ravel(), last.ravel())[0, 1] > 0.3  # the first map already resembles the final one
