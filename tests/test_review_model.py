"""Review state, mask editing and autosaved sessions, headless (no Qt)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.runtime.compare import compare_masks
from engine.runtime.energy import EnergyMeasurement
from engine.runtime.inference import Segmentation
from engine.runtime.io import Volume
from viewer.model.mask_editor import MaskEditor
from viewer.model.review import ACCEPTED, EDITED, FLAGGED, SliceReview, review_range
from viewer.model.study import SegmentationResult, Study

ENERGY = EnergyMeasurement(seconds=1.5, cpu_seconds=2.0, joules=30.0, source="estimate")


def liver_like(shape=(12, 64, 64)) -> np.ndarray:
    """A ball of 'liver' in slices 3..8 with a hole in slice 5."""
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    mask = ((z - 5.5) / 3) ** 2 + ((y - 32) / 20) ** 2 + ((x - 30) / 20) ** 2 <= 1
    mask[5, 30:34, 28:32] = False
    return mask


@pytest.fixture
def study(ct_volume):
    image = np.ascontiguousarray(ct_volume[:12, 20:84, 20:84], dtype=np.float32)
    volume = Volume(image, spacing=(3.0, 1.5, 1.5), modality="CT", source="/data/ct")
    study = Study(volume)
    mask = liver_like()
    study.set_segmentation(SegmentationResult(Segmentation(mask, mask * 0.9, ENERGY), {"name": "seg", "version": "1", "sha256": "ab" * 32},
                                              study_role=("training", "liver_1")))
    return study


def test_the_review_covers_liver_slices_and_their_neighbours():
    assert review_range(liver_like()) == tuple(range(2, 10))
    review = SliceReview((2, 3, 4))
    review.mark(3, ACCEPTED)
    assert review.next_unreviewed(3) == 4 and review.next_unreviewed(4) == 2  # wraps around
    review.mark(2, FLAGGED), review.mark(4, EDITED)
    assert review.next_unreviewed(0) is None and review.complete
    assert review.counts() == {"accepted": 1, "flagged": 1, "edited": 1, "unreviewed": 0}
    with pytest.raises(ValueError, match="unknown mark"):
        review.mark(2, "maybe")


def test_brush_eraser_fill_and_many_step_undo_redo(ct_volume):
    image = np.zeros((4, 40, 40), np.float32)
    image[:, :, 20:] = 100.0
    editor = MaskEditor(np.zeros((4, 40, 40), bool), image, voxel_ml=0.002)
    assert editor.paint(1, 10, 10, 3, True) == [1]
    assert editor.mask[1].sum() == 29 and not editor.mask[0].any() and not editor.mask[2].any()  # only this slice
    editor.paint(1, 20, 20, 2, True, depth=1)
    assert editor.mask[[0, 1, 2]].any(axis=(1, 2)).all() and not editor.mask[3].any()
    editor.begin_stroke()
    for column in range(5, 35):  # one drag = one undo step
        editor.paint(2, 30, column, 1, True)
    assert editor.end_stroke() == [2]
    before_erase = editor.mask.copy()
    editor.paint(2, 30, 20, 4, False)
    assert editor.mask.sum() < before_erase.sum()
    editor.undo()
    np.testing.assert_array_equal(editor.mask, before_erase)
    for _ in range(3):
        editor.undo()
    assert not editor.mask.any() and not editor.can_undo
    for _ in range(4):
        editor.redo()
    assert editor.mask.sum() < before_erase.sum() and not editor.can_redo


def test_fill_closes_an_enclosed_hole_and_refuses_open_regions():
    ring = np.zeros((1, 30, 30), bool)
    ring[0, 5:20, 5:20] = True
    ring[0, 9:13, 9:13] = False
    editor = MaskEditor(ring, np.zeros_like(ring, np.float32), 1.0)
    assert editor.fill_hole(0, 10, 10) == [0] and editor.mask[0, 5:20, 5:20].all()
    with pytest.raises(ValueError, match="not a hole"):
        editor.fill_hole(0, 25, 25)
    editor.undo()
    assert not editor.mask[0, 10, 10]


def test_statistics_follow_edits_exactly():
    rng = np.random.default_rng(0)
    image = rng.normal(60, 15, (5, 32, 32)).astype(np.float32)
    mask = np.zeros(image.shape, bool)
    mask[1:4, 8:20, 8:20] = True
    editor = MaskEditor(mask, image, voxel_ml=0.003)
    editor.paint(2, 25, 25, 3, True)
    editor.paint(3, 10, 10, 2, False)
    stats = editor.statistics()
    inside = image[editor.mask].astype(np.float64)
    assert stats.voxels == editor.mask.sum() and stats.millilitres == pytest.approx(editor.mask.sum() * 0.003)
    assert stats.mean_hu == pytest.approx(inside.mean()) and stats.sd_hu == pytest.approx(inside.std(), rel=1e-6)


def test_edits_update_the_comparison_live_and_mark_the_slice(study):
    study.set_reference(liver_like())
    assert study.comparison.dice == 1.0
    study.set_cursor(5, 32, 30)
    study.paint(10, 10, 4)
    fresh = compare_masks(study.mask, study.reference)
    np.testing.assert_array_equal(study.comparison.codes, fresh.codes)
    assert study.comparison.dice == pytest.approx(fresh.dice) and fresh.dice < 1.0
    assert study.review.marks[5] == EDITED
    study.undo()
    assert study.comparison.dice == 1.0


def test_a_saved_session_restores_prediction_edits_marks_and_notes(study, tmp_path):
    from viewer.model.session import find_session, restore_session, save_prediction, save_session

    save_prediction(study, tmp_path)
    study.set_cursor(4, 32, 30)
    study.mark_slice(ACCEPTED)
    study.set_cursor(5, 32, 30)
    study.fill_hole(31, 29)
    study.set_slice_note("hole filled: vessel")
    study.set_cursor(6, 32, 30)
    study.mark_slice(FLAGGED)
    study.set_note("check segment VIII")
    save_session(study, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{study.key}.prediction.npz", f"{study.key}.session.npz"]

    reopened = Study(study.volume)
    saved = find_session(reopened, tmp_path)
    assert "3 of 8 slices reviewed (1 flagged, 1 edited)" in saved.summary()
    restore_session(reopened, saved, tmp_path)
    np.testing.assert_array_equal(reopened.mask, study.mask)
    np.testing.assert_array_equal(reopened.segmentation.mask, liver_like())
    assert reopened.review.marks == {4: ACCEPTED, 5: EDITED, 6: FLAGGED}
    assert reopened.review.notes == {5: "hole filled: vessel"} and reopened.note == "check segment VIII"
    assert reopened.segmentation.model["sha256"] == "ab" * 32 and reopened.segmentation.int8.energy == ENERGY
    assert reopened.statistics() == study.statistics()
    assert reopened.segmentation.study_role == ("training", "liver_1")  # a Dice on it is still not held-out


def test_a_dice_on_a_training_study_never_reads_as_held_out(study):
    from viewer.model.review_report import build_report
    from viewer.qt.segmentation_panel import statistics_html

    study.set_reference(liver_like())
    assert "Dice vs reference: volume <b>1.000</b>" in statistics_html(study)
    assert "(training study liver_1: not a held-out result)" in statistics_html(study)
    assert "1.000 (training study liver_1: not a held-out result)" in build_report(study, None).html()
    held_out = SegmentationResult(study.segmentation.int8, study.segmentation.model, study_role=("held-out", "liver_1"))
    assert held_out.dice_caption == "held-out study liver_1"
    assert SegmentationResult(study.segmentation.int8, {}).dice_caption == "a study new to the model"


def test_the_restore_question_reads_as_one_sentence(study, tmp_path):
    from viewer.model.session import find_session, save_prediction, save_session

    study.go_to_next_unreviewed(from_start=True)
    study.mark_slice("flagged")
    save_prediction(study, tmp_path)
    save_session(study, tmp_path)
    question = find_session(study, tmp_path).restore_question()
    assert question.startswith("This study has a saved review: saved ") and question.endswith(".\n\nRestore it?")
    assert f"1 of {len(study.review.slices)} slices reviewed (1 flagged, 0 edited)." in question
    assert "))" not in question


def test_a_session_whose_prediction_was_changed_is_refused(study, tmp_path):
    from viewer.model.session import SessionError, find_session, restore_session, save_prediction, save_session

    save_prediction(study, tmp_path)
    save_session(study, tmp_path)
    prediction = next(tmp_path.glob("*.prediction.npz"))
    prediction.write_bytes(prediction.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(SessionError, match="missing or was changed"):
        restore_session(Study(study.volume), find_session(study, tmp_path), tmp_path)
    (tmp_path / f"{study.key}.session.npz").write_bytes(b"not a zip")
    with pytest.raises(SessionError, match="not a readable session"):
        find_session(study, tmp_path)


@pytest.mark.parametrize("damage", [
    lambda state: state["segmentation"].update(study_role=["trained-on-it"]),
    lambda state: state["segmentation"].update(study_role=7),
    lambda state: state["segmentation"]["int8"].update(bogus=1),
    lambda state: state.update(classification={"model": {}, "labels": ["A", "B"], "probabilities": [0.5],
                                               "thresholds": [0.5, 0.5], "energy": state["segmentation"]["int8"]}),
    lambda state: state.update(classification={"model": {}, "labels": ["A"], "probabilities": [0.5], "thresholds": [0.5],
                                               "energy": state["segmentation"]["int8"], "evidence": [{"auroc": "high"}]}),
])
def test_a_malformed_saved_prediction_is_refused_and_leaves_the_study_untouched(study, tmp_path, damage):
    """A prediction written by another version (or by hand) whose digest the session records still cannot crash the
    viewer: it raises SessionError, and nothing of it reaches the study."""
    from viewer.model.session import SessionError, _npz, _read_npz, find_session, restore_session, save_prediction, save_session

    save_prediction(study, tmp_path)
    prediction = next(tmp_path.glob("*.prediction.npz"))
    state, arrays = _read_npz(prediction)
    damage(state)
    prediction.write_bytes(_npz(state, arrays))
    save_session(study, tmp_path)  # records the digest of the damaged prediction
    reopened = Study(study.volume)
    with pytest.raises(SessionError, match="is malformed"):
        restore_session(reopened, find_session(study, tmp_path), tmp_path)
    assert reopened.segmentation is None and reopened.classification is None


def test_a_truncated_session_is_kept_aside_with_a_clear_message_and_never_overwritten(study, tmp_path):
    from viewer.model.session import SessionError, find_session, save_session

    path = save_session(study, tmp_path)
    damaged = path.read_bytes()[: path.stat().st_size // 2]  # a kill during a copy, a full disk: a truncated zip
    path.write_bytes(damaged)
    with pytest.raises(SessionError) as caught:
        find_session(study, tmp_path)
    (kept,) = tmp_path.glob("*.damaged-*.npz")
    assert str(caught.value).startswith(f"{path.name} is not a readable session (BadZipFile: ")
    assert str(caught.value).endswith(f"The file was kept as {kept.name} (never overwritten) and a new review starts.")
    assert kept.read_bytes() == damaged and not path.exists()
    study.mark_slice("accepted")
    save_session(study, tmp_path)  # the next autosave writes a new file beside the damaged one
    assert kept.read_bytes() == damaged and find_session(study, tmp_path) is not None
