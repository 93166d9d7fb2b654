"""The viewer's Qt-free state: planes, window/level, overlays, study events."""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime.compare import AGREE, OVER, UNDER
from engine.runtime.io import Volume
from viewer.model import planes
from viewer.model.overlay import (
    COMPARISON_COLOURS, PREDICTION_COLOUR, SALIENCY_FLOOR, comparison_rgba, heatmap_rgba, mask_rgba,
)
from viewer.model.review import STRIP_COLOURS
from viewer.model.study import Study
from viewer.model.window_level import CT_PRESETS, WindowLevel, initial_window


@pytest.mark.parametrize("view", planes.AXES)
def test_display_positions_map_back_to_the_same_voxel(view):
    shape = (7, 11, 13)
    rng = np.random.default_rng(0)
    array = rng.random(shape)
    for _ in range(20):
        voxel = tuple(int(rng.integers(0, n)) for n in shape)
        index = voxel[planes.SLICE_AXIS[view]]
        row, column = planes.display_position(shape, view, voxel)
        assert planes.voxel_at(shape, view, index, row, column) == voxel
        assert planes.plane(array, view, index)[row, column] == array[voxel]


def test_coronal_and_sagittal_put_the_head_at_the_top():
    array = np.zeros((5, 4, 3))
    array[-1] = 1  # the most superior slice (canonical volumes run feet to head)
    assert planes.plane(array, "coronal", 0)[0].all() and planes.plane(array, "sagittal", 0)[0].all()


def test_window_level_presets_and_drag():
    assert CT_PRESETS["Liver"].bounds == (15, 165)
    assert CT_PRESETS["Lung"].bounds == (-1350, 150)
    dragged = WindowLevel(400, 40).dragged(dx=10, dy=-10, sensitivity=2)
    assert dragged == WindowLevel(420, 60)  # right widens, up raises the level
    assert WindowLevel(5, 0).dragged(-100, 0, 1).width == 1.0
    assert initial_window(np.zeros((2, 4, 4)), "CT", (50.0, 350.0)) == WindowLevel(350, 50)
    assert initial_window(np.zeros((2, 4, 4)), "CT", None) == CT_PRESETS["Abdomen"]


def test_mask_overlay_fills_translucently_and_outlines_opaquely():
    mask = np.zeros((8, 8), bool)
    mask[2:6, 2:6] = True
    rgba = mask_rgba(mask, (255, 0, 0), 0.4)
    assert (rgba[~mask] == 0).all()
    assert (rgba[mask][:, :3] == (255, 0, 0)).all()
    assert rgba[3, 3, 3] == 102 and rgba[2, 3, 3] == 255 and rgba[5, 5, 3] == 255


def test_comparison_overlay_colours_are_not_review_colours():
    codes = np.array([[0, AGREE, OVER, UNDER]], dtype=np.uint8)
    rgba = comparison_rgba(codes, 0.5)
    assert rgba[0, 0].tolist() == [0, 0, 0, 0]
    assert rgba[0, 1, :3].tolist() == [255, 255, 255]
    assert rgba[0, 2, :3].tolist() == [0, 220, 255]
    assert rgba[0, 3, :3].tolist() == [230, 0, 0]
    overlay_colours = {PREDICTION_COLOUR, *COMPARISON_COLOURS.values()}
    assert not overlay_colours & set(STRIP_COLOURS.values())
    for colour in overlay_colours:  # not even close: at least 60 apart in some channel from every strip colour
        assert all(max(abs(a - b) for a, b in zip(colour, strip)) >= 60 for strip in STRIP_COLOURS.values())


def test_heatmap_is_transparent_below_its_floor_and_opaque_at_its_peak():
    values = np.linspace(0, 1, 64).reshape(8, 8)
    rgba = heatmap_rgba(values, 1.0)
    low = values < SALIENCY_FLOOR
    assert (rgba[low][:, 3] == 0).all() and rgba[-1, -1, 3] == 255
    assert (np.diff(rgba[..., 3].ravel().astype(int)) >= 0).all()  # alpha rises with saliency
    assert (heatmap_rgba(values, 0.5)[..., 3] <= 128).all()


def test_study_clamps_the_cursor_and_emits_events():
    study = Study(Volume(np.zeros((4, 6, 6), np.float32), modality="CT"))
    moves = []
    study.cursor_changed.connect(lambda: moves.append(study.cursor))
    study.step(0, 10)
    study.step(0, 10)  # already at the last slice: no event
    assert moves == [(3, 3, 3)]
    with pytest.raises(ValueError, match="does not match"):
        study.set_reference(np.zeros((4, 6, 5), bool))


def test_orientation_letters_come_from_the_direction_matrix():
    from viewer.model.planes import edge_letters

    assert edge_letters(np.eye(3), "axial") == ("A", "P", "R", "L")
    assert edge_letters(np.eye(3), "coronal") == ("S", "I", "R", "L")
    assert edge_letters(np.eye(3), "sagittal") == ("S", "I", "A", "P")
    rf = np.stack([[-1, 0, 0], [0, 0, -1], [0, -1, 0]], axis=1)  # a radiograph stored R\F (AP film)
    assert edge_letters(rf, "axial") == ("S", "I", "L", "R")
    angle = np.radians(30)  # an axial series rotated 30 degrees in-plane
    oblique = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    assert edge_letters(oblique, "axial") == ("AL", "PR", "RA", "LP")


def test_nan_voxels_do_not_break_the_window_or_the_statistics():
    from viewer.model.mask_editor import MaskEditor
    from viewer.model.window_level import initial_window

    image = np.linspace(0, 100, 8 * 32 * 32, dtype=np.float32).reshape(8, 32, 32)
    image[:, :4] = np.nan
    window = initial_window(image, "MR", None)
    assert np.isfinite(window.width) and np.isfinite(window.level)
    mask = np.zeros(image.shape, bool)
    mask[2, :8] = True  # half of it over NaN rows
    stats = MaskEditor(mask, image, 1.0).statistics()
    assert np.isfinite(stats.mean_hu) and stats.mean_hu == pytest.approx(float(np.nanmean(image[2, :8])), rel=1e-5)
