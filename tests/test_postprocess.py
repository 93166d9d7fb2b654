"""Mask post-processing against SimpleITK (an independent implementation), on random blobs and a real
expert liver mask, and as the Segmenter applies it from a card."""

from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk

from engine.runtime.errors import BundleError
from engine.runtime.postprocess import fill_holes, label, largest_component, postprocess


def blobs(seed: int, shape=(9, 40, 50), density: float = 0.45) -> np.ndarray:
    """Random speckle: many components of every shape, corner contacts included."""
    return np.random.default_rng(seed).random(shape) < density


def sitk_components(mask: np.ndarray, full: bool) -> np.ndarray:
    image = sitk.ConnectedComponent(sitk.GetImageFromArray(mask.astype(np.uint8)), full)
    return sitk.GetArrayFromImage(image)


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Two labellings describe the same components (label numbers may differ)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == len(np.unique(pairs[1])) == pairs.shape[1]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("full", [True, False], ids=["26-connected", "6-connected"])
def test_components_match_simpleitk(seed, full):
    mask = blobs(seed, density=0.12 if full else 0.25)
    labels, count = label(mask, full)
    expected = sitk_components(mask, full)
    assert count == expected.max() > 10
    assert same_partition(labels, expected)


def test_the_largest_component_and_hole_filling_match_simpleitk():
    mask = blobs(7, density=0.3)
    expected = sitk_components(mask, True)
    sizes = np.bincount(expected.ravel())[1:]
    np.testing.assert_array_equal(largest_component(mask), expected == 1 + np.argmax(sizes))
    for z, plane in enumerate(blobs(8, density=0.6)):
        reference = sitk.GetArrayFromImage(sitk.BinaryFillhole(sitk.GetImageFromArray(plane.astype(np.uint8)), False))
        np.testing.assert_array_equal(fill_holes(plane[None])[0], reference > 0, err_msg=f"slice {z}")


def test_on_a_real_expert_liver_mask_a_stray_island_goes_and_a_vessel_hole_is_filled():
    from tests.conftest import data_path
    from training.data_ircadb import list_cases

    _, liver = list_cases(data_path("ct", "ircadb"))[0].read()
    liver = liver[40:90]
    damaged = liver.copy()
    damaged[5:8, 20:30, 20:30] = True  # an island far from the liver (a false positive in the spleen, say)
    z = 25
    rows, cols = np.nonzero(liver[z])
    centre = int(np.median(rows)), int(np.median(cols))
    damaged[z, centre[0] - 4 : centre[0] + 4, centre[1] - 4 : centre[1] + 4] = False  # a vessel inside the liver
    assert liver[z, centre[0] - 4 : centre[0] + 4, centre[1] - 4 : centre[1] + 4].all()
    cleaned = postprocess(damaged, ("largest_component_3d", "fill_holes_2d")).astype(bool)
    assert not cleaned[5:8, 20:30, 20:30].any() and cleaned[z, centre[0], centre[1]]
    assert (cleaned != fill_holes(liver)).sum() == 0


def test_empty_and_unknown():
    empty = np.zeros((3, 4, 5), bool)
    assert label(empty) [1] == 0 and not largest_component(empty).any() and not fill_holes(empty).any()
    with pytest.raises(BundleError, match="^unknown post-processing step\\(s\\) smooth; this engine has "
                                          "largest_component_3d, fill_holes_2d$"):
        postprocess(empty, ("smooth",))
