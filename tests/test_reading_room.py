"""The reading room a radiologist expects (OHIF, 3D Slicer, Weasis): menus with the standard keys, recent studies,
W/L presets named on the view, corner text and a scale bar, layouts, outline overlays, ruler and ROI, cine, and the
per-slice confidence strip with its "least-confident unreviewed slice" key."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from tests.conftest import data_path  # noqa: E402
from tests.test_review_viewer import open_series, scene_point, with_reference_prediction  # noqa: E402
from viewer.model.confidence import least_confident_unreviewed, slice_confidence  # noqa: E402
from viewer.model.measure import ellipse_statistics  # noqa: E402
from viewer.model.recent import RECENT_LIMIT, RecentStudies  # noqa: E402
from viewer.model.review import SliceReview  # noqa: E402
from viewer.model.shortcuts import SHORTCUTS, groups  # noqa: E402
from viewer.model.viewport import scale_bar_mm, scale_caption  # noqa: E402


# the tables and models, headless
def test_every_shortcut_is_bound_once_and_the_sheet_lists_every_command(qtbot, window):
    from PySide6.QtGui import QKeySequence

    from viewer.qt.shortcut_sheet import sheet_html

    bound: dict[str, str] = {}
    for command, action in window.actions.items():
        for sequence in action.shortcuts():
            text = sequence.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in bound, f"{text} is bound to both {bound[text]} and {command}"
            bound[text] = command
    for shortcut in SHORTCUTS:
        text = QKeySequence(shortcut.keys).toString(QKeySequence.SequenceFormat.PortableText)
        assert bound.get(text) == shortcut.command, f"{shortcut.keys} does not run {shortcut.command}"
    sheet = sheet_html()
    for grouped in groups().values():
        for shortcut in grouped:
            assert shortcut.description in sheet
    assert "Ctrl+O" in sheet and "Right drag" in sheet


def test_the_menu_bar_has_the_standard_menus_and_keys(qtbot, window):
    from PySide6.QtCore import Qt

    titles = [action.text().replace("&", "") for action in window.menuBar().actions()]
    assert titles == ["File", "View", "Window", "Review", "Measure", "Models", "Help"]
    assert window.actions["open_file"].shortcut().toString() == "Ctrl+O"
    assert window.actions["quit"].shortcut().toString() == "Ctrl+Q"
    assert window.actions["full_screen"].shortcut().toString() == "F11"
    qtbot.keyClick(window, Qt.Key.Key_F1)
    assert window.shortcut_sheet.isVisible() and "Keyboard" in window.shortcut_sheet.windowTitle()
    window.shortcut_sheet.close()
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert not window.results_dock.isVisible() and not window.actions["results_panel"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_F9)
    assert window.results_dock.isVisible()
    qtbot.keyClick(window, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    assert not window.isVisible()


def test_the_window_fits_a_1366_pixel_wide_clinic_screen(qtbot, window):
    open_series(qtbot, window)
    with_reference_prediction(window)
    window.study.set_style(mode="comparison")
    assert window.minimumSizeHint().width() <= 1366


def test_recent_studies_are_remembered_newest_first_and_bad_lists_are_ignored(tmp_path):
    recent = RecentStudies(tmp_path / "config" / "recent.json")
    assert recent.paths() == []
    folders = [tmp_path / f"study{i}" for i in range(RECENT_LIMIT + 2)]
    for folder in folders:
        folder.mkdir()
        recent.add(folder)
    recent.add(folders[3])
    assert recent.paths()[0] == folders[3] and len(recent.paths()) == RECENT_LIMIT
    folders[-1].rmdir()
    assert folders[-1] not in recent.paths()  # a study moved away is not offered
    for hostile in ("{not json", json.dumps({"a": 1}), json.dumps([1, None, "", str(folders[4])])):
        recent.file.write_text(hostile)
        assert recent.paths() == ([folders[4]] if "study4" in hostile else [])
    recent.clear()
    assert recent.paths() == []


def test_an_opened_study_appears_under_open_recent(qtbot, window):
    open_series(qtbot, window)
    assert window.recent.paths() == [data_path("ct", "totalseg_abd_dicom").absolute()]
    menu = next(a.menu() for a in window.menuBar().actions()[0].menu().actions() if a.text() == "Open recent")
    window._fill_recent(menu)
    assert menu.actions()[0].text().startswith("totalseg_abd_dicom")


def test_scale_bar_lengths_are_round_and_fit():
    assert scale_bar_mm(0.5, 120) == 50  # 60 mm fit: the longest 1-2-5 length is 5 cm
    assert scale_bar_mm(0.98, 100) == 50 and scale_bar_mm(0.98, 200) == 100
    assert scale_bar_mm(0.01, 50) == 0.5 and scale_bar_mm(0.0001, 50) == 0.0
    assert scale_bar_mm(float("nan"), 100) == 0.0 and scale_bar_mm(1.0, 0) == 0.0
    assert scale_caption(100) == "10 cm" and scale_caption(5) == "5 mm" and scale_caption(0.5) == "0.5 mm"


def test_ellipse_statistics_match_an_independent_count():
    rng = np.random.default_rng(0)
    plane = rng.normal(40, 10, (64, 80)).astype(np.float32)
    pixel = (0.5, 0.8)
    stats = ellipse_statistics(plane, pixel, (8.0, 4.0), (40.0, 24.0), "HU")  # centre (24, 14) mm, radii 16 x 10 mm
    rows, columns = np.mgrid[0:64, 0:80]
    x, y = (columns + 0.5) * 0.8, (rows + 0.5) * 0.5
    inside = ((x - 24) / 16) ** 2 + ((y - 14) / 10) ** 2 <= 1
    assert stats.pixels == inside.sum() and stats.mean == pytest.approx(plane[inside].mean(), rel=1e-6)
    assert stats.sd == pytest.approx(plane[inside].std(ddof=1), rel=1e-5)
    assert stats.area_mm2 == pytest.approx(inside.sum() * 0.4) and abs(stats.area_mm2 - np.pi * 160) < 8
    plane[inside] = np.nan  # no finite pixel inside: said, not a NaN mean
    assert ellipse_statistics(plane, pixel, (8.0, 4.0), (40.0, 24.0), "HU").caption() == "no pixel inside"
    assert ellipse_statistics(plane, pixel, (8.0, 4.0), (8.0, 24.0)).pixels == 0  # a flat ellipse is empty


def test_slice_confidence_and_the_least_confident_unreviewed_slice():
    p = np.zeros((5, 10, 10), np.float32)
    p[1, :5] = 0.95  # sure liver
    p[2, :5], p[2, 5:7] = 0.95, 0.5  # 20 undecided of 70 liver-like voxels
    p[3, :2], p[3, 2:8] = 0.95, 0.6  # mostly undecided
    confidence = slice_confidence(p)
    assert confidence[0] == 1.0 and confidence[1] == 1.0
    assert confidence[2] == pytest.approx(1 - 20 / 70) and confidence[3] == pytest.approx(1 - 60 / 80)
    review = SliceReview((1, 2, 3, 4))
    assert least_confident_unreviewed(review, confidence) == 3
    review.mark(3, "accepted")
    assert least_confident_unreviewed(review, confidence) == 2
    for z in (1, 2, 4):
        review.mark(z, "flagged")
    assert least_confident_unreviewed(review, confidence) is None


# in the window
def test_presets_are_named_in_the_menu_on_the_toolbar_and_on_the_view(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    assert window.window_button.text() == "W/L: File" and window.actions["preset_file"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert window.study.window.label() == "W 150 / L 90" and window.actions["preset_1"].isChecked()
    assert window.window_button.text() == "W/L: Liver"
    assert "W 150 / L 90 (Liver)" in window.area.views["coronal"].text.texts().bottom_left
    window.area.views["axial"]._drag_window(30, 0)
    assert window.window_button.text() == "W/L: custom" and not any(
        window.actions[c].isChecked() for c in ("preset_1", "preset_2", "preset_3", "preset_4", "preset_file"))
    assert "(Liver)" not in window.area.views["axial"].text.texts().bottom_left


def test_corner_text_names_the_study_slice_window_and_zoom_with_a_true_scale_bar(qtbot, window):
    import pydicom

    open_series(qtbot, window)
    folder = data_path("ct", "totalseg_abd_dicom")
    first = pydicom.dcmread(next(p for p in sorted(folder.iterdir()) if p.is_file()), stop_before_pixels=True)
    axial = window.area.views["axial"]
    corners = axial.text.texts()
    date = str(first.StudyDate)
    assert f"{date[:4]}-{date[4:6]}-{date[6:]}" in corners.top_left
    assert str(first.SeriesDescription) in corners.top_right and "CT" in corners.top_right
    z = window.study.cursor[0]
    assert f"Slice {z + 1} / 20 (Im {window.study.volume.instance_number(z)})" in corners.bottom_left
    assert "Zoom 1.0x" in corners.bottom_left and "W 300 / L 40 (File)" in corners.bottom_left
    bar = axial.text.scale_bar
    mm_per_pixel = axial.box.viewPixelSize()[0]
    assert bar.isVisible() and bar.length_px * mm_per_pixel == pytest.approx(bar.length_mm, abs=mm_per_pixel)
    axial.box.scaleBy((0.5, 0.5))  # zoom in 2x
    assert "Zoom 2.0x" in axial.text.texts().bottom_left
    assert bar.length_px * axial.box.viewPixelSize()[0] == pytest.approx(bar.length_mm, abs=mm_per_pixel)
    window.study.step(0, 1)
    assert f"Slice {z + 2} / 20" in axial.text.texts().bottom_left
    for label in (axial.text.top_left, axial.text.top_right, axial.text.bottom_left, bar):
        assert axial.rect().contains(label.geometry())


def test_layouts_and_maximising_one_view(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    views, grid = window.area.views, window.area.view_grid
    qtbot.wait(20)
    grid.set_layout("1x3")
    qtbot.wait(20)
    tops = {name: view.geometry().top() for name, view in views.items()}
    assert len(set(tops.values())) == 1 and all(view.isVisible() for view in views.values())
    grid.set_layout("2x2")
    qtbot.wait(20)
    assert views["sagittal"].geometry().top() > views["axial"].geometry().bottom() and grid.spare.isVisible()
    grid.set_layout("1x1")
    assert grid.visible_views() == ["axial"]
    grid.set_layout("1+2")
    window.area.pointer_over("coronal", "Im 1 ...")  # the pointer is over the coronal view
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert grid.visible_views() == ["coronal"]
    qtbot.keyClick(window, Qt.Key.Key_M)
    assert grid.visible_views() == ["axial", "coronal", "sagittal"]
    views["sagittal"].maximise_requested.emit()  # a double click
    assert grid.visible_views() == ["sagittal"]
    with pytest.raises(ValueError, match="unknown layout"):
        grid.set_layout("3x3")


def test_outline_only_draws_the_edges_and_leaves_the_tissue_uncovered(qtbot, window):
    from PySide6.QtCore import Qt

    from tests.viewer_support import rendered

    open_series(qtbot, window)
    liver, shifted = with_reference_prediction(window)
    window.study.set_cursor(12, 256, 150)
    filled = rendered(window.area.views["axial"])[..., 3] > 0
    qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier)
    assert window.study.style.outline and window.segmentation.outline.isChecked()
    outline = rendered(window.area.views["axial"])[..., 3]
    assert filled.sum() == shifted[12].sum()
    assert 0 < (outline > 0).sum() < filled.sum() / 4 and set(np.unique(outline)) == {0, 255}
    assert (outline > 0).sum() == ((outline > 0) & filled).sum()  # only pixels of the mask: its edges


def test_ruler_and_roi_measure_in_mm_and_hu_and_belong_to_their_slice(qtbot, window):
    from PySide6.QtCore import QPointF, Qt

    open_series(qtbot, window)
    axial = window.area.views["axial"]
    qtbot.keyClick(window, Qt.Key.Key_D)
    assert window.area.measure == "ruler" and axial.box.editing
    dy, dx = window.study.volume.spacing[1:]
    start, end = scene_point(axial, 100, 100), scene_point(axial, 100, 200)
    for phase, point in (("start", start), ("move", end), ("finish", end)):
        axial._stroke(phase, point)
    assert axial.measurements.captions(axial.slice_index) == [f"{100 * dx:.1f} mm"]
    qtbot.keyClick(window, Qt.Key.Key_I)
    assert window.area.measure == "roi" and window.actions["roi"].isChecked() and not window.actions["ruler"].isChecked()
    corner, opposite = QPointF(200 * dx, 250 * dy), QPointF(260 * dx, 290 * dy)
    for phase, point in (("start", corner), ("finish", opposite)):
        axial.measurements.stroke("roi", phase, axial.slice_index, point)
    plane = window.study.volume.array[axial.slice_index]
    expected = ellipse_statistics(plane, (dy, dx), (200 * dx, 250 * dy), (260 * dx, 290 * dy), "HU")
    assert axial.measurements.captions(axial.slice_index)[1] == expected.caption() and "HU" in expected.caption()
    z = axial.slice_index
    qtbot.keyClick(window, Qt.Key.Key_Up)  # another slice: its own (no) measurements
    assert not any(m.shape.isVisible() for m in axial.measurements.done)
    qtbot.keyClick(window, Qt.Key.Key_Down)
    assert all(m.shape.isVisible() for m in axial.measurements.done)
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert window.area.measure is None and not axial.box.editing
    qtbot.keyClick(window, Qt.Key.Key_Delete)
    assert axial.measurements.captions(z) == []


def test_cine_plays_through_the_slices_and_escape_stops_it(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    start = window.study.cursor[0]
    qtbot.keyClick(window, Qt.Key.Key_Space)
    assert window.area.cine.isActive() and window.actions["cine"].isChecked()
    qtbot.waitUntil(lambda: window.study.cursor[0] != start and window.study.cursor[0] < start, timeout=5000)  # looped
    qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert not window.area.cine.isActive() and not window.actions["cine"].isChecked()


def test_confidence_strip_least_confident_key_and_auto_advance(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    liver, shifted = with_reference_prediction(window)
    study = window.study
    assert window.area.confidence_strip.isVisible() and study.confidence is not None
    # the test prediction's probabilities are 0/1: every slice is sure; make slice 9 the doubtful one
    study.confidence = study.confidence.copy()
    study.confidence[9] = 0.3
    study.set_cursor(0, 256, 256)
    qtbot.keyClick(window, Qt.Key.Key_U)
    assert study.cursor[0] == 9
    qtbot.keyClick(window, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert study.auto_advance and window.actions["auto_advance"].isChecked()
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert study.review.marks[9] == "accepted" and study.cursor[0] == study.review.next_unreviewed(9)
    z = study.cursor[0]
    qtbot.keyClick(window, Qt.Key.Key_E)  # "edited" is not a verdict that moves on
    assert study.cursor[0] == z


def test_the_confidence_strip_ranks_slices_within_the_study_and_tells_each_value(qtbot, window):
    """A whole CT in a narrow band (0.65-0.71, as the demo model gives on the sample) still shows where to look."""
    from PySide6.QtCore import QPoint

    from viewer.model.confidence import confidence_text, relative_doubt

    np.testing.assert_allclose(relative_doubt(np.array([0.71, 0.65, 0.68])), [0.0, 1.0, 0.5])
    assert not relative_doubt(np.full(4, 0.9)).any()  # equally sure everywhere: nothing stands out
    assert confidence_text(1, np.array([0.71, 0.65, 0.68])).startswith("Slice 2: confidence 0.65 (this study: 0.65 to 0.71)")
    open_series(qtbot, window)
    with_reference_prediction(window)
    study, strip = window.study, window.area.confidence_strip
    study.confidence = np.linspace(0.71, 0.65, study.volume.shape[0])  # the last slice is the least sure
    strip.update()
    image = strip.grab().toImage()
    first, last = image.pixelColor(QPoint(1, 4)), image.pixelColor(QPoint(image.width() - 2, 4))
    assert (first.red(), first.green(), first.blue()) == (45, 45, 45)  # the surest slice of this study
    assert (last.red(), last.green(), last.blue()) == (205, 90, 255)  # the least sure, though only 0.06 lower
    assert strip.slice_at(strip.width() - 1) == study.volume.shape[0] - 1


def test_the_status_bar_says_a_task_is_done_not_its_last_progress(qtbot, window):
    from tests.viewer_support import finish

    def job(progress, partial, _cancelled):
        for done in range(1, 513):
            progress(done, 512)
            partial(done)
        return 512

    window.runner.run("Computing RISE saliency", job, lambda total: window.message.setText(f"Saliency ready ({total})."))
    finish(qtbot, window)
    qtbot.wait(100)  # any signal still queued has arrived
    assert window.message.text() == "Saliency ready (512)." and not window.status.progress.isVisible()


def test_exports_go_to_the_documents_folder_and_an_unfinished_review_asks_first(qtbot, window, monkeypatch):
    from platformdirs import user_documents_dir

    from viewer.model.review_export import exports_folder
    from viewer.qt import exporter

    monkeypatch.delenv("SADNN_EXPORTS")
    assert exports_folder() == Path(user_documents_dir()) / "SaDNN exports" and exports_folder() != Path.home()
    open_series(qtbot, window)
    with_reference_prediction(window)
    opened, asked = [], []
    monkeypatch.setattr(exporter.ExportDialog, "exec", lambda dialog: opened.append(dialog) or 0)
    window.prompts.confirm = lambda title, text, default_yes=True: asked.append((title, text, default_yes)) or False
    window.export_review()
    total = len(window.study.review.slices)
    assert asked == [("The review is not finished", f"{total} of {total} slices under review are not marked yet.\n\n"
                      "The report will say that the review is incomplete. Export anyway? (Your review is kept; you can "
                      "finish it and export again.)", False)]
    assert opened == []  # declined: no export dialog
    for z in window.study.review.slices:
        window.study.set_cursor(z, 256, 256)
        window.study.mark_slice("accepted")
    window.export_review()
    assert len(asked) == 1 and len(opened) == 1  # a finished review goes straight to the dialog


def test_int8_and_fp32_timings_are_compared_against_their_spread():
    from engine.runtime.energy import EnergyMeasurement
    from viewer.model.energy_report import costs_html
    from viewer.model.study import InferenceCost

    def cost(what, timings):
        return InferenceCost(what, len(timings), EnergyMeasurement(sum(timings), sum(timings), 1.0, "estimate: x", timings))

    rng = np.random.default_rng(1)
    noisy = tuple(rng.normal(1.516, 0.2, 20))
    same = costs_html([cost("Liver segmentation (int8)", noisy), cost("Check against fp32", tuple(np.array(noisy) + 0.004))])
    assert "no difference beyond the pass-to-pass spread" in same and "40 forward passes" in same
    faster = costs_html([cost("Liver segmentation (int8)", tuple(np.full(20, 0.05) + rng.normal(0, 0.002, 20))),
                         cost("Check against fp32", tuple(np.full(20, 0.10) + rng.normal(0, 0.002, 20)))])
    assert "int8 is 2.0x faster per pass here" in faster and "<b>2.00 J</b> (estimate)" in faster
    restored = EnergyMeasurement(**json.loads(json.dumps({"seconds": 1, "cpu_seconds": 1, "joules": 1, "source": "s",
                                                          "run_seconds": [0.1, 0.2]})))
    assert restored.run_seconds == (0.1, 0.2)  # a saved session's timings come back as they were


def test_an_image_without_a_pixel_size_measures_and_scales_in_pixels_never_in_mm(qtbot, window):
    from PySide6.QtCore import QPointF
    from pydicom.data import get_testdata_file

    window.open_path(get_testdata_file("RG1_J2KR.dcm"))  # a CR whose PixelSpacing is 0/0: pixel size unknown
    from tests.viewer_support import finish

    finish(qtbot, window)
    finish(qtbot, window)
    assert not window.study.volume.pixel_spacing_known
    view = window.area.views["axial"]
    bar = view.text.scale_bar
    assert bar.in_pixels and bar.isVisible() and scale_caption(bar.length_mm, bar.in_pixels).endswith(" px")
    for phase, point in (("start", QPointF(100, 100)), ("finish", QPointF(400, 500))):
        view.measurements.stroke("ruler", phase, view.slice_index, point)
    for phase, point in (("start", QPointF(600, 600)), ("finish", QPointF(800, 700))):
        view.measurements.stroke("roi", phase, view.slice_index, point)
    ruler, region = view.measurements.captions(view.slice_index)
    assert ruler == "500.0 px" and "px (pixel size unknown)" in region and "mm" not in ruler + region
