"""The viewer end to end, offscreen: open real files, navigate, run both models, check overlay pixels."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from viewer.model.overlay import COMPARISON_COLOURS, PREDICTION_COLOUR  # noqa: E402
from tests.conftest import OPERATORS_RAN, data_path  # noqa: E402
from tests.viewer_support import finish, rendered  # noqa: E402


def open_and_wait(qtbot, window, path) -> None:
    window.open_path(path)
    finish(qtbot, window)
    assert window.study is not None, window.message.text()


def test_a_dicom_series_opens_in_three_linked_planes(qtbot, window):
    import pydicom
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    study = window.study
    assert set(window.area.views) == {"axial", "coronal", "sagittal"}
    assert study.cursor == (10, 256, 256) and study.window.label() == "W 300 / L 40"  # from the DICOM header
    axial = window.area.views["axial"]
    assert axial.image.image.shape == (512, 512)
    assert window.area.views["coronal"].image.image.shape == (20, 512)
    rect = window.area.views["coronal"].image.mapRectToParent(window.area.views["coronal"].image.boundingRect())
    assert rect.height() == pytest.approx(40.0) and rect.width() == pytest.approx(500.0)  # 20 x 2 mm by 512 x 0.98 mm
    qtbot.keyClick(window, Qt.Key.Key_Up)
    assert study.cursor[0] == 11 and window.area.slider.value() == 11
    qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert study.cursor[0] == 1
    qtbot.keyClick(window, Qt.Key.Key_End)
    files = [pydicom.dcmread(p, stop_before_pixels=True) for p in data_path("ct", "totalseg_abd_dicom").iterdir()]
    top = max(files, key=lambda ds: float(ds.ImagePositionPatient[2]))  # canonical z runs to the head
    assert study.cursor[0] == 19
    assert window.area.slice_label.text() == f"Slice 20 / 20 (Im {top.InstanceNumber}), location {float(top.ImagePositionPatient[2]):.1f} mm"
    np.testing.assert_array_equal(axial.image.image, study.volume.array[19])
    axial.scene().sigMouseMoved.emit(axial.image.mapToScene(100.5, 300.5))  # column 100, row 300 from 0
    x, y = (float(top.ImagePositionPatient[i]) + float(top.PixelSpacing[1 - i]) * (100, 300)[i] for i in range(2))
    assert window.status.probe.text() == (f"Im {top.InstanceNumber}, ({x:.1f}, {y:.1f}, {float(top.ImagePositionPatient[2]):.1f}) "
                                   f"mm LPS  {study.volume.array[19, 300, 100]:.0f} HU")
    qtbot.keyClick(window, Qt.Key.Key_Down)  # the pointer stays: the probe follows the new slice
    assert window.status.probe.text().startswith(f"Im {study.volume.instance_number(18)},")
    assert f"{study.volume.array[18, 300, 100]:.0f} HU" in window.status.probe.text()
    qtbot.keyClick(window, Qt.Key.Key_1)
    assert study.window.label() == "W 150 / L 90" and axial.image.levels.tolist() == [15, 165]
    open_and_wait(qtbot, window, data_path("cxr", "nih_txv", "00000001_000.png"))
    assert window.status.probe.text() == ""  # the CT's value does not stay beside the radiograph


def test_wheel_steps_one_slice_per_notch_and_right_drag_changes_the_window(qtbot, window):
    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    box, study = window.area.views["axial"].box, window.study
    box.scrolled.emit(1)
    assert study.cursor[0] == 11
    width = study.window.width
    box.window_dragged.emit(50.0, 0.0)
    assert study.window.width > width


def test_clicking_a_plane_moves_the_crosshair_in_the_others(qtbot, window):
    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    axial = window.area.views["axial"]
    point = axial.image.mapToScene(100.5, 300.5)  # column 100, row 300 in pixel coordinates
    axial.box.clicked.emit(point)
    assert window.study.cursor == (10, 300, 100)
    assert window.area.views["coronal"].image.image.shape == (20, 512)
    np.testing.assert_array_equal(window.area.views["coronal"].image.image, window.study.volume.array[::-1, 300, :])
    np.testing.assert_array_equal(window.area.views["sagittal"].image.image, window.study.volume.array[::-1, :, 100])


def test_segmentation_overlay_and_comparison_with_a_reference(qtbot, window):
    from PySide6.QtCore import Qt

    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    assert window.actions["segment"].isEnabled() and not window.actions["classify"].isEnabled()
    assert window.area.overlay_legend.isHidden() and window.area.strip.isHidden()  # no review yet: no strip saying "no liver"
    window.segment(with_fp32=True)
    assert window.runner.busy  # off the UI thread
    finish(qtbot, window)
    study, axial = window.study, window.area.views["axial"]
    mask = study.segmentation.mask
    assert mask.shape == study.volume.shape and 0 < mask.mean() < 1
    for precision in (study.segmentation.int8, study.segmentation.fp32):  # one timing per slice: a spread, not one number
        assert len(precision.energy.run_seconds) == 20 and min(precision.energy.run_seconds) > 0
    energy = window.energy.toPlainText()
    assert "What these results cost: 40 forward passes" in energy and "int8" in energy and "per pass (medians)" in energy
    assert "(estimate)" in energy or "(measured)" in energy
    assert not window.area.strip.isHidden()
    overlay = rendered(axial)
    assert overlay.shape == (512, 512, 4)
    np.testing.assert_array_equal(overlay[..., 3] > 0, mask[study.cursor[0]].astype(bool))
    assert (overlay[mask[study.cursor[0]].astype(bool)][:, :3] == PREDICTION_COLOUR).all()
    assert window.area.overlay_legend.legend.describe() == "Prediction: liver (int8 model, with your edits)"
    study.set_style(mode="disagreement")
    assert window.area.overlay_legend.legend.describe() == "int8 vs fp32: both, int8 only, fp32 only"
    assert "mL" in window.segmentation.stats.text() and "Dice vs fp32" in window.segmentation.stats.text()
    assert "GMAC" in window.energy.toHtml() or "GMAC" in window.energy.toPlainText()
    window.load_reference(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), label=5)
    assert study.style.mode == "comparison"
    codes = study.comparison.codes[study.cursor[0]]
    overlay = rendered(axial)
    for code, colour in COMPARISON_COLOURS.items():
        region = codes == code
        if region.any():
            assert (overlay[region][:, :3] == colour).all()
    assert window.area.overlay_legend.legend.describe() == ("Mask vs reference: both, over-segmented (mask only), "
                                                       "under-segmented (reference only)")
    assert "Dice vs reference" in window.segmentation.stats.text()
    qtbot.keyClick(window, Qt.Key.Key_O)
    assert rendered(axial).size == 0 or not rendered(axial)[..., 3].any()
    assert window.area.overlay_legend.isHidden()


def test_cancel_stops_segmentation_and_keeps_the_window_usable(qtbot, window):
    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    window.segment(with_fp32=True)
    window.runner.cancel()
    finish(qtbot, window)
    assert window.study.segmentation is None and "cancelled" in window.message.text()
    window.study.step(0, 1)
    assert window.study.cursor[0] == 11


def test_classify_an_nih_xray_with_saliency_and_the_radiologist_box(qtbot, window):
    import pyqtgraph as pg
    from PySide6.QtCore import Qt

    rows = [r.split(",")[0] for r in data_path("cxr", "BBox_List_2017.csv").read_text().splitlines()[1:]]
    images = data_path("cxr", "nih_64", "images")
    boxed = next(images / name for name in rows if (images / name).exists())
    open_and_wait(qtbot, window, boxed)
    assert window.study.volume.is_radiograph and set(window.area.views) == {"axial"}
    assert any(isinstance(item, pg.QtWidgets.QGraphicsRectItem) for item in window.area.views["axial"].box.addedItems)
    window.classify()
    qtbot.waitUntil(lambda: window.study.saliency is not None, timeout=60_000)
    first_done = window.study.saliency_progress[0]
    finish(qtbot, window)
    study = window.study
    assert study.classification is not None and window.findings.table.rowCount() == 14
    assert f"Ran on: {OPERATORS_RAN}" in window.energy.toPlainText()  # the fused graph, and it says so
    probabilities = [float(window.findings.table.item(r, 1).text()) for r in range(14)]
    assert probabilities == sorted(probabilities, reverse=True)
    assert study.saliency_progress[0] == study.saliency_progress[1] > first_done
    masks = study.saliency_progress[1]  # every RISE pass is counted in the cost, each one timed
    costs = {cost.what: cost for cost in study.costs()}
    rise = costs["RISE saliency (int8), one pass per mask"]
    assert rise.inferences == masks and len(rise.energy.run_seconds) == masks // 8 and rise.energy.seconds > 0
    assert f"What these results cost: {masks + 1} forward passes" in window.energy.toPlainText()
    assert study.finding == int(np.argmax(study.classification.probabilities))
    overlay = rendered(window.area.views["axial"])
    assert overlay.shape[:2] == study.volume.shape[1:] and overlay[..., 3].any()
    assert (overlay[..., 3] == 0).mean() > 0.3  # the low end of the map is transparent: the film stays readable
    window.findings.table.selectRow(5)
    assert study.finding == window.findings.table.item(5, 0).data(0x0100)
    assert "training set" not in window.area.banner.text()  # a study the model never saw
    name = study.classification.labels[study.finding]
    assert window.area.overlay_legend.legend.ramp and name in window.area.overlay_legend.legend.title
    assert window.findings.show_map.isEnabled() and window.findings.map_opacity.isEnabled()
    window.findings.map_opacity.setValue(20)
    assert study.style.opacity == 0.2 and rendered(window.area.views["axial"])[..., 3].max() <= round(255 * 0.2 * 1.4)
    qtbot.keyClick(window, Qt.Key.Key_O)  # O hides the map on a radiograph too
    assert not rendered(window.area.views["axial"])[..., 3].any() and window.area.overlay_legend.isHidden()
    assert not window.findings.show_map.isChecked()
    window.findings.show_map.setChecked(True)
    assert rendered(window.area.views["axial"])[..., 3].any()


def test_findings_show_their_held_out_evidence_and_unvalidated_ones_are_greyed(qtbot, window):
    from viewer.qt.findings_panel import COLUMNS, NOT_VALIDATED

    window.open_path(data_path("cxr", "nih_txv", "00000001_000.png"))
    finish(qtbot, window)
    window.classify()
    finish(qtbot, window)
    table, result = window.findings.table, window.study.classification
    rows = {table.item(r, 0).text(): [table.item(r, c) for c in range(len(COLUMNS))] for r in range(14)}
    effusion, mass, atelectasis, hernia = rows["Effusion"], rows["Mass"], rows["Atelectasis"], rows["Hernia"]
    index = result.labels.index("Effusion")
    called = "positive" if result.probabilities[index] >= result.thresholds[index] else "below threshold"
    assert [effusion[c].text() for c in (2, 3, 4)] == [f"{result.thresholds[index]:.3f}", called, "0.74 (0.66-0.81)"]
    assert effusion[0].foreground().color() != NOT_VALIDATED
    assert [mass[c].text() for c in (3, 4)] == ["not validated", "0.91 (0.80-0.99)"]
    assert "only 3 held-out positives" in mass[3].toolTip() and mass[1].foreground().color() == NOT_VALIDATED
    assert atelectasis[3].text() == "not validated" and "95% CI includes chance" in atelectasis[4].toolTip()
    assert [hernia[c].text() for c in (3, 4)] == ["not validated", "not recorded"]
    assert "not a diagnostic tool" in window.findings.validity.text()
    assert window.area.banner.isVisible() and "was in the training set of sadnn_cls-test 0.0.0 (as 00000001_000.png)" in window.area.banner.text()
    assert "1 of 14 findings are better than chance" in window.findings.validity.text()
    assert "at least 10 positives" in window.findings.validity.text()
    report = window.card.toPlainText()  # the card panel carries the same numbers
    assert "0.74 (0.66-0.81)" in report and "only 3 held-out positives (at least 10 needed)" in report


@pytest.mark.parametrize(
    "path",
    [
        ("cxr", "nih_txv", "Fake_MONOHR1.dcm"),
        ("cxr", "nih_txv", "00000001_000.png"),
        ("ct", "totalseg_nifti", "example_ct_sm.nii.gz"),
    ],
)
def test_each_kind_of_file_opens(qtbot, window, path):
    open_and_wait(qtbot, window, data_path(*path))
    assert window.area.views["axial"].image.image is not None


def test_bad_input_gets_a_message_not_a_traceback(qtbot, window, tmp_path):
    (tmp_path / "scan.dcm").write_bytes(b"\x00" * 128 + b"DICM" + b"\x00" * 50)
    window.open_path(tmp_path / "scan.dcm")
    finish(qtbot, window)
    assert window.study is None
    assert "Opening scan.dcm failed" in window.message.text() and window.prompts.error_box.isVisible()
    window.open_path(tmp_path / "empty")
    assert "does not exist" in window.message.text()
    open_and_wait(qtbot, window, data_path("cxr", "nih_txv", "00000001_000.png"))
    window.segment()
    assert window.study.segmentation is None  # the action is disabled and segment() refuses a radiograph


def test_paging_through_slices_leaks_no_references(qtbot, window):
    """PySide6 6.12.0 over-released Python's True in QGraphicsItem calls: the app died after ~400 slice changes."""
    import sys

    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    window.study.step(0, 1)
    before = sys.getrefcount(True)
    for _ in range(5):
        for _ in range(8):
            window.study.step(0, 1)
        for _ in range(8):
            window.study.step(0, -1)
    assert abs(sys.getrefcount(True) - before) < 20


def test_a_folder_with_several_series_asks_which_to_open(qtbot, window):
    from pydicom.data import get_testdata_file

    offered = []

    def choose(_title, _text, items, current=0):
        offered.extend(items)
        return next(index for index, item in enumerate(items) if item.startswith("MR"))

    window.prompts.choose = choose
    window.open_path(get_testdata_file("dicomdirtests/DICOMDIR"))
    finish(qtbot, window)
    finish(qtbot, window)
    assert len(offered) >= 3
    assert window.study is not None and window.study.volume.modality == "MR"


def test_orientation_letters_stay_in_the_viewport_when_zoomed_and_fit_brings_the_image_back(qtbot, window):
    open_and_wait(qtbot, window, data_path("ct", "totalseg_abd_dicom"))
    axial = window.area.views["axial"]
    whole = axial.box.viewRect()
    axial.box.scaleBy((0.2, 0.2))  # zoomed in 5x: the image edges are far outside the viewport
    axial.box.translateBy((40, 30))
    assert axial.box.viewRect().width() < whole.width() / 4
    viewport = axial.rect()
    assert [label.text() for label in axial.labels] == ["A", "P", "R", "L"]
    for label in axial.labels:
        assert label.isVisible() and viewport.contains(label.geometry())
    top, bottom, left, right = (label.geometry().center() for label in axial.labels)
    assert top.y() < viewport.height() * 0.1 and bottom.y() > viewport.height() * 0.9
    assert left.x() < viewport.width() * 0.1 and right.x() > viewport.width() * 0.9
    window.actions["fit"].trigger()
    fitted = axial.box.viewRect()
    assert abs(fitted.width() - whole.width()) < 1 and abs(fitted.center().x() - whole.center().x()) < 1
