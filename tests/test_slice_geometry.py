"""Spacing-aware preprocessing: anatomy has the same size in input pixels on every scanner and field of view,
and predictions go back onto the source slice where they came from."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from engine.runtime.card import InputContract, ModelCard
from engine.runtime.errors import BundleError, InputError
from engine.runtime.preprocess import prepare_ct_slices, prepare_mask, restore_probabilities, slice_geometry
from tests.cards import segmentation_card

CONTRACT = InputContract("CT", (256, 256), "hu_window", window=(-160.0, 240.0), pixel_spacing_mm=1.6)


def disk(shape: tuple[int, int], spacing: float, radius_mm: float, centre_mm: tuple[float, float]) -> np.ndarray:
    rows, cols = np.mgrid[: shape[0], : shape[1]] * spacing
    return ((rows - centre_mm[0]) ** 2 + (cols - centre_mm[1]) ** 2 <= radius_mm**2).astype(np.uint8)


@pytest.mark.parametrize("spacing", [0.57, 0.78, 1.0])
def test_a_liver_sized_disk_has_the_same_size_in_input_pixels_whatever_the_pixel_spacing(spacing):
    source = disk((512, 512), spacing, 50.0, (256 * spacing, 256 * spacing))  # centred, 100 mm across
    area = prepare_mask(source, CONTRACT, (spacing, spacing)).sum()
    assert area == pytest.approx(np.pi * (50.0 / 1.6) ** 2, rel=0.03)


def test_without_a_pixel_spacing_the_old_contract_resizes_and_the_new_one_refuses():
    old = replace(CONTRACT, pixel_spacing_mm=None)
    source = disk((512, 512), 0.57, 50.0, (146.0, 146.0))
    assert prepare_mask(source, old).sum() == pytest.approx(np.pi * (50.0 / 0.57 / 2) ** 2, rel=0.03)
    with pytest.raises(InputError, match="^this model needs the image's pixel spacing in mm, and the file does not give it$"):
        prepare_ct_slices(np.zeros((1, 512, 512), np.float32), CONTRACT)


def test_a_wide_field_is_cropped_a_narrow_one_padded_with_air_and_probabilities_go_back_where_they_came_from():
    wide = slice_geometry((512, 512), CONTRACT, (1.0, 1.0))  # 512 mm: 320 input pixels, 32 cropped on each side
    assert wide.scaled == (320, 320) and wide.offset == (-32, -32)
    restored = restore_probabilities(np.ones((256, 256), np.float32), wide)
    assert restored.shape == (512, 512)
    assert restored[256, 256] == 1.0 and restored[256, :40].max() == 0.0 and restored[256, -40:].max() == 0.0
    narrow = prepare_ct_slices(np.full((1, 400, 300), 40.0, np.float32), CONTRACT, (0.7, 0.8))
    assert narrow.shape == (1, 1, 256, 256)
    rows, cols = np.nonzero(narrow[0, 0])
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (40, 214, 53, 202)  # 175 x 150 pixels, centred
    assert narrow[0, 0, 0, 0] == 0.0  # the pad is air (the bottom of the HU window)


def test_a_round_trip_puts_a_predicted_mask_back_on_the_source_pixels():
    spacing = 0.78
    source = disk((512, 512), spacing, 60.0, (180.0, 220.0))
    geometry = slice_geometry(source.shape, CONTRACT, (spacing, spacing))
    back = restore_probabilities(prepare_mask(source, CONTRACT, (spacing, spacing)).astype(np.float32), geometry) >= 0.5
    overlap = 2 * (back & (source > 0)).sum() / (back.sum() + source.sum())
    assert overlap > 0.98


def test_the_card_keeps_the_pixel_spacing_and_refuses_a_nonsense_one():
    card = replace(segmentation_card("sadnn_seg"), input=CONTRACT)
    assert ModelCard.from_dict(card.to_dict()).input.pixel_spacing_mm == 1.6
    with pytest.raises(BundleError, match="^pixel_spacing_mm must be positive, got -1.0$"):
        replace(CONTRACT, pixel_spacing_mm=-1.0)
