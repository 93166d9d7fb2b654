"""Review in the viewer, offscreen: marks and notes by key, brush / eraser / fill with undo, live Dice,
finding decisions on a radiograph, and a review that survives ``kill -9``."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("pytestqt")

from tests.conftest import data_path  # noqa: E402
from tests.viewer_support import finish  # noqa: E402
from viewer.model.export_folder import is_complete, read_manifest  # noqa: E402
from viewer.qt.findings_panel import DECISION_COLUMN  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def open_series(qtbot, window) -> None:
    window.open_path(data_path("ct", "totalseg_abd_dicom"))
    finish(qtbot, window)
    finish(qtbot, window)
    assert window.study is not None, window.message.text()


def with_reference_prediction(window):
    """The real series with the TotalSegmentator liver shifted 12 px as the 'prediction' and the original as reference."""
    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import read_mask
    from viewer.model.study import SegmentationResult

    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), window.study.volume) == 5
    shifted = np.roll(liver, 12, axis=2)
    prediction = Segmentation(shifted, shifted.astype(np.float32), EnergyMeasurement(1.0, 1.0, 10.0, "estimate"))
    window.study.set_segmentation(SegmentationResult(prediction, {"name": "test", "version": "0", "sha256": "0" * 64}))
    window.study.set_reference(liver)
    return liver, shifted


def scene_point(view, row: float, column: float):
    """The scene position of pixel (row, column) of a view's image."""
    from PySide6.QtCore import QPointF

    return view.image.mapToScene(QPointF(column + 0.5, row + 0.5))


def test_marking_slices_by_key_with_notes_and_the_progress_strip(qtbot, window):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication

    open_series(qtbot, window)
    window.segment()
    finish(qtbot, window)
    study = window.study
    assert window.tabs.currentWidget() is window.review
    first = study.review.slices[0]
    assert study.cursor[0] == first  # the review starts at the first slice to review
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert study.review.marks[first] == "accepted"
    qtbot.keyClick(window, Qt.Key.Key_N)
    second = study.cursor[0]
    assert second != first and second in study.review.slices
    qtbot.keyClick(window, Qt.Key.Key_F)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClicks(window.review.slice_note, "lesion at the dome?")
    qtbot.keyClick(window.review.slice_note, Qt.Key.Key_Return)
    assert study.review.notes[second] == "lesion at the dome?"
    assert study.review.marks[second] == "flagged"  # typing A-Z in the note did not mark anything
    assert not window.review.slice_note.hasFocus()  # Enter ends the note: the next key is a review key again
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_A)
    assert study.review.marks[second] == "accepted" and study.review.notes[second] == "lesion at the dome?"
    qtbot.keyClick(window, Qt.Key.Key_F)
    states = window.area.strip.states()
    assert states[first] == "accepted" and states[second] == "flagged"
    assert "Reviewed 2 of" in window.review.counts.text()
    window.area.strip.slice_chosen.emit(first)
    assert study.cursor[0] == first and window.review.slice_note.text() == ""
    qtbot.keyClick(window, Qt.Key.Key_E)
    assert study.review.marks[first] == "edited"


def test_brush_eraser_fill_and_undo_redo_update_dice_and_volume_live(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    liver, shifted = with_reference_prediction(window)
    study, axial, coronal = window.study, window.area.views["axial"], window.area.views["coronal"]
    study.set_cursor(12, 256, 150)
    study.set_style(mode="comparison")
    z = 12
    dice_before, ml_before = study.comparison.dice, study.statistics().millilitres
    qtbot.keyClick(window, Qt.Key.Key_B)
    assert window.review.tool.tool == "brush" and axial.box.editing and not coronal.box.editing
    rows, columns = np.nonzero(liver[z] & ~shifted[z])  # under-segmented pixels on this slice
    row, column = int(np.median(rows)), int(np.median(columns))
    axial.box.stroked.emit("start", scene_point(axial, row - 10, column))
    axial.box.stroked.emit("move", scene_point(axial, row, column))
    axial.box.stroked.emit("finish", scene_point(axial, row + 10, column))
    assert study.mask[z, row, column] and study.mask[z, row - 10 : row + 10, column].all()  # a continuous stroke
    assert not (study.mask[z - 1] != shifted[z - 1]).any()  # only the current slice
    assert study.comparison.dice > dice_before and study.statistics().millilitres > ml_before
    assert study.review.marks[z] == "edited"
    assert f"{study.comparison.dice:.3f}" in window.review.numbers.text()
    assert np.asarray(coronal.overlay.image).shape[:2] == (20, 512)  # other planes redrawn
    edited = study.mask.copy()
    qtbot.keyClick(window, Qt.Key.Key_X)
    axial.box.clicked.emit(scene_point(axial, row, column))
    assert not study.mask[z, row, column]
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(study.mask, edited)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    np.testing.assert_array_equal(study.mask, shifted)
    assert study.comparison.dice == pytest.approx(dice_before)
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    np.testing.assert_array_equal(study.mask, edited)
    qtbot.keyClick(window, Qt.Key.Key_G)
    axial.box.clicked.emit(scene_point(axial, 5, 5))  # outside the body: not a hole
    assert "not a hole" in window.message.text()
    radius = window.review.tool.radius
    qtbot.keyClick(window, Qt.Key.Key_BracketRight)
    assert window.review.tool.radius > radius


def test_the_undo_button_follows_a_stroke_and_undo_gives_back_the_slice_verdict(qtbot, window):
    from PySide6.QtCore import Qt

    open_series(qtbot, window)
    liver, shifted = with_reference_prediction(window)
    study, axial = window.study, window.area.views["axial"]
    z = 12
    study.set_cursor(z, 256, 150)
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert study.review.marks[z] == "accepted" and not window.review.undo_button.isEnabled()
    qtbot.keyClick(window, Qt.Key.Key_B)
    rows, columns = np.nonzero(liver[z] & ~shifted[z])
    row, column = int(np.median(rows)), int(np.median(columns))
    axial.box.stroked.emit("start", scene_point(axial, row - 5, column))
    axial.box.stroked.emit("finish", scene_point(axial, row + 5, column))
    assert study.review.marks[z] == "edited"
    assert window.review.undo_button.isEnabled() and not window.review.redo_button.isEnabled()
    qtbot.mouseClick(window.review.undo_button, Qt.MouseButton.LeftButton)
    np.testing.assert_array_equal(study.mask, shifted)
    assert study.review.marks[z] == "accepted"  # the verdict the slice had before the edit
    assert window.review.redo_button.isEnabled() and not window.review.undo_button.isEnabled()
    qtbot.mouseClick(window.review.redo_button, Qt.MouseButton.LeftButton)
    assert study.review.marks[z] == "edited" and study.mask[z, row, column]
    study.set_cursor(z + 1, 256, 150)  # a slice never marked: undo clears its "edited" again
    axial.box.clicked.emit(scene_point(axial, row, column))
    assert study.review.marks[z + 1] == "edited"
    qtbot.keyClick(window, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert z + 1 not in study.review.marks and study.review.marks[z] == "edited"


def test_finding_decisions_and_notes_on_a_radiograph(qtbot, window):
    from PySide6.QtCore import Qt

    window.open_path(data_path("cxr", "nih_txv", "00000001_000.png"))
    finish(qtbot, window)
    window.classify()
    finish(qtbot, window)
    finish(qtbot, window)
    study = window.study
    top = study.finding
    qtbot.keyClick(window, Qt.Key.Key_A)
    assert study.finding_review.decisions == {top: "accepted"}
    window.findings.table.selectRow(1)
    second = study.finding
    qtbot.keyClick(window, Qt.Key.Key_R)
    qtbot.keyClick(window, Qt.Key.Key_C)
    qtbot.keyClicks(window.findings.note, "old scar, not active")
    qtbot.keyClick(window.findings.note, Qt.Key.Key_Return)
    assert not window.findings.note.hasFocus()  # the next key decides again
    assert study.finding_review.decisions[second] == "rejected"
    assert study.finding_review.notes == {second: "old scar, not active"}
    assert window.findings.table.item(1, DECISION_COLUMN).text() == "rejected"
    qtbot.keyClick(window, Qt.Key.Key_F)  # slice marks mean nothing on a radiograph
    assert len(study.finding_review.decisions) == 2

    reopened = type(window)(window.models)
    qtbot.addWidget(reopened)
    reopened.prompts.confirm = lambda *_: True
    reopened.open_path(data_path("cxr", "nih_txv", "00000001_000.png"))
    finish(qtbot, reopened)
    assert reopened.study.finding_review.decisions == study.finding_review.decisions
    assert reopened.study.classification is not None
    np.testing.assert_allclose(reopened.study.classification.probabilities, study.classification.probabilities)
    assert reopened.study.classification.evidence == study.classification.evidence  # the held-out evidence too
    assert reopened.findings.validity.text() == window.findings.validity.text()


def test_a_review_killed_mid_way_reopens_with_every_mark_and_edit(qtbot, window, models_folder, private_sessions):
    """A real viewer process reviews and edits, is killed with SIGKILL, and the review comes back."""
    command = [sys.executable, str(ROOT / "tests" / "review_child.py"), str(models_folder), str(data_path("ct", "totalseg_abd_dicom"))]
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_SESSIONS": str(private_sessions)}
    with subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        expected = None
        for line in child.stdout:
            if line.startswith("STATE "):
                expected = json.loads(line[6:])
                break
        child.send_signal(signal.SIGKILL)  # mid-review: no clean shutdown, no save on exit
        errors = child.stderr.read()
        child.wait()
    assert expected is not None, errors[-3000:]
    assert child.returncode == -signal.SIGKILL
    assert list(expected["notes"].values()) == ["check this slice"]  # typed with key events: the test can fail

    window.prompts.confirm = lambda *_: True
    open_series(qtbot, window)
    study = window.study
    assert {str(z): m for z, m in study.review.marks.items()} == expected["marks"]
    assert {str(z): n for z, n in study.review.notes.items()} == expected["notes"]
    assert int(study.mask.sum()) == expected["mask_voxels"]
    assert study.editor.edited_slices(study.segmentation.mask) == expected["edited_slices"]
    assert study.segmentation.model == expected["model"]
    assert "restored" in window.message.text()


def test_export_from_the_window_writes_masks_reports_and_a_screenshot(qtbot, window, tmp_path):
    from viewer.model.review_export import ExportRequest
    from engine.runtime.io import read_mask

    tmp_path = tmp_path / "export"
    open_series(qtbot, window)
    liver, shifted = with_reference_prediction(window)
    window.study.set_cursor(12, 256, 150)
    window.study.mark_slice("flagged")
    window.export_review(ExportRequest(tmp_path))
    finish(qtbot, window)
    assert "Exported 7 file(s)" in window.message.text(), window.message.text()
    assert sorted(read_manifest(tmp_path)["files"]) == ["liver_mask.nii.gz", "liver_seg.dcm", "liver_sr.dcm", "report.html",
                                                        "report.pdf", "report_pdf.dcm", "review.json"]
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")
    import pydicom

    wrapped = pydicom.dcmread(tmp_path / "report_pdf.dcm")  # the same PDF, filed in the source study
    pdf = (tmp_path / "report.pdf").read_bytes()
    assert bytes(wrapped.EncapsulatedDocument)[:wrapped.EncapsulatedDocumentLength] == pdf == pdf[:wrapped.EncapsulatedDocumentLength]
    assert wrapped.StudyInstanceUID == pydicom.dcmread(tmp_path / "liver_seg.dcm").StudyInstanceUID and wrapped.Modality == "DOC"
    np.testing.assert_array_equal(read_mask(tmp_path / "liver_seg.dcm", window.study.volume) == 1, shifted)
    before = (tmp_path / "report.pdf").read_bytes()
    asked = []
    window.prompts.confirm = lambda title, text: asked.append(text) or False
    window.export_review(ExportRequest(tmp_path))
    finish(qtbot, window)
    assert asked and "would be replaced" in asked[0] and (tmp_path / "report.pdf").read_bytes() == before
    window.export_review(ExportRequest(tmp_path.parent))  # the folder holding the export and the sessions: refused
    assert "already holds files that are not an export of this app" in window.prompts.last_error
    window.save_screenshot(tmp_path.parent / "view")
    from PIL import Image

    with Image.open(tmp_path.parent / "view.png") as shot:
        assert shot.size[0] > 500 and shot.size[1] > 400 and "Screenshot saved" in window.message.text()


def test_segmenting_again_asks_and_keeps_the_review_in_progress(qtbot, window, private_sessions):
    open_series(qtbot, window)
    with_reference_prediction(window)
    window.sessions.save_prediction()
    window.study.mark_slice("flagged")
    questions = []
    window.prompts.confirm = lambda title, text: questions.append(text) or False
    window.segment()
    assert questions and "1 slice(s) marked" in questions[0] and not window.runner.busy  # refused: nothing replaced
    assert window.study.review.marks  # the review is untouched
    window.prompts.confirm = lambda *_: True
    window.segment()
    finish(qtbot, window)
    assert not window.study.review.marks  # a fresh review of the new prediction
    kept = list(private_sessions.glob("*.replaced-*.session.npz"))
    assert len(kept) == 1  # the old review was set aside with its own prediction, not deleted
    assert kept[0].with_name(kept[0].name.replace(".session.", ".prediction.")).is_file()
    old_mask = window.study.segmentation.mask.copy()
    window.study.mark_slice("accepted")

    reopened = type(window)(window.models)  # reopening offers both reviews; the one set aside comes back whole
    qtbot.addWidget(reopened)
    offered = []
    reopened.prompts.choose = lambda title, text, options: offered.append(options) or 1
    open_series(qtbot, reopened)
    assert len(offered[0]) == 3 and "(set aside)" not in offered[0][0] and "(set aside)" in offered[0][1]
    assert "1 flagged" in offered[0][1] and ", test 0," in offered[0][1]  # date, model, progress
    assert list(reopened.study.review.marks.values()) == ["flagged"]
    assert len(list(private_sessions.glob("*.session.npz"))) == 3  # live (restored) + the two set aside
    assert old_mask.shape == reopened.study.segmentation.mask.shape


def test_a_kill_while_segmenting_again_never_orphans_the_review(qtbot, window, models_folder, private_sessions):
    """A real viewer reviews, segments again and is killed mid-run; the earlier review is offered and restored."""
    command = [sys.executable, str(ROOT / "tests" / "review_child.py"), str(models_folder),
               str(data_path("ct", "totalseg_abd_dicom")), "resegment"]
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_SESSIONS": str(private_sessions)}
    with subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as child:
        expected, started = None, False
        for line in child.stdout:
            if line.startswith("STATE "):
                expected = json.loads(line[6:])
            if line.startswith("RESEGMENTING"):
                started = True
                break
        child.send_signal(signal.SIGKILL)
        errors = child.stderr.read()
        child.wait()
    assert expected is not None and started, errors[-3000:]
    offered = []

    def choose(title, text, options):
        offered.append(options)
        return next(i for i, option in enumerate(options) if "(set aside)" in option and "1 flagged" in option)

    window.prompts.choose = choose
    window.prompts.confirm = lambda *_: True
    open_series(qtbot, window)
    study = window.study
    assert offered, "the review set aside was not offered"
    assert {str(z): m for z, m in study.review.marks.items()} == expected["marks"]
    assert {str(z): n for z, n in study.review.notes.items()} == expected["notes"]
    assert int(study.mask.sum()) == expected["mask_voxels"]


def test_an_autosave_failure_is_shown_and_the_review_goes_on(qtbot, window, monkeypatch):
    import errno

    import viewer.model.session as session

    open_series(qtbot, window)
    with_reference_prediction(window)

    def disk_full(*_args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(session, "write_atomic", disk_full)
    window.study.mark_slice("accepted")
    assert window.area.banner.isVisible() and "Autosave failed (No space left on device)" in window.area.banner.text()
    assert window.study.review.marks[window.study.cursor[0]] == "accepted"


def test_a_seg_opened_as_an_image_is_offered_as_the_reference_mask(qtbot, window, tmp_path):
    from engine.runtime.io import read_mask
    from engine.runtime.io.writers import write_dicom_seg

    open_series(qtbot, window)
    volume = window.study.volume
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), volume) == 5
    write_dicom_seg(volume, liver, tmp_path / "liver_seg.dcm", {"name": "expert", "version": "1"}, edited=True)
    asked = []
    window.prompts.confirm = lambda title, text, default_yes=True: asked.append(text) or True
    window.open_path(tmp_path / "liver_seg.dcm")
    finish(qtbot, window)
    assert asked and asked[0].startswith("liver_seg.dcm is a DICOM segmentation (SEG), not an image.")
    assert window.study.volume is volume  # the CT stays open
    np.testing.assert_array_equal(window.study.reference, liver)
    assert "Reference mask liver_seg.dcm" in window.message.text()


def test_a_seg_opened_with_no_ct_open_is_explained(qtbot, window):
    from tests.test_io import pydicom_test_file

    window.open_path(pydicom_test_file("liver_1frame.dcm"))
    finish(qtbot, window)
    finish(qtbot, window)
    assert window.study is None
    assert window.prompts.last_error.startswith("Not an image: liver_1frame.dcm is a DICOM segmentation (SEG), not an image")


def test_the_default_export_goes_to_a_new_folder_in_the_apps_exports_folder(qtbot, window, tmp_path, monkeypatch):
    from viewer.model.review_export import ExportRequest

    open_series(qtbot, window)
    with_reference_prediction(window)
    window.exporter.default_folder = tmp_path / "SaDNN exports"  # as Documents/SaDNN exports on a first run
    window.export_review(ExportRequest(tmp_path / "SaDNN exports" / "review-1", report_pdf=False))
    finish(qtbot, window)
    assert is_complete(tmp_path / "SaDNN exports" / "review-1"), window.message.text()
    assert window.exporter.folder == str(tmp_path / "SaDNN exports")  # the next export is proposed beside it


def test_the_reference_label_picker_names_the_labels_and_preselects_the_liver(qtbot, window):
    open_series(qtbot, window)
    with_reference_prediction(window)
    offered = []

    def choose(title, text, options, current=0):
        offered.append((title, text, options, current))
        return current  # the user accepts what is preselected

    window.prompts.choose = choose
    window.load_reference(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"))
    title, text, options, current = offered[0]
    assert options[current] == "5: liver" and options[0] == "1: spleen"  # not the first label by default
    assert "TotalSegmentator" in text and "check" in text
    assert "(label 5: liver)" in window.message.text()
    liver = window.study.reference
    assert liver.sum() > 0 and window.study.comparison is not None
    window.prompts.choose = lambda *args, **kwargs: None  # cancelled: the reference stays as it was
    window.load_reference(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"))
    assert window.study.reference is liver
