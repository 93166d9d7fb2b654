"""Autosaved review sessions: every mark, note and edit survives a crash and reopens with the study.

A study's session lives in the user data folder (platformdirs; ``$SADNN_SESSIONS`` overrides it)
under a name derived from a digest of the pixels, so no patient data appears in file names and
a study moved to another folder still finds its session. Two files, each written atomically:

    <key>.prediction.npz   the model's output (masks, probabilities) and identity, written once per run
    <key>.session.npz      review state (JSON) and the edited slices, rewritten on every change

The session records the SHA-256 of the prediction file it belongs to; a mismatch is refused.
A review set aside (segmenting again, or starting afresh) keeps its own copy of the prediction
beside it (``<key>.<why>-<stamp>.session.npz`` and ``.prediction.npz``), so a later run, or a kill
during one, never orphans it; ``saved_reviews`` lists them all. Nothing is unpickled
(``allow_pickle=False``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from engine.runtime.atomic import write_atomic
from engine.runtime.energy import EnergyMeasurement
from engine.runtime.evidence import FindingEvidence
from engine.runtime.inference import Classification, Segmentation
from viewer.model.review import FindingReview, SliceReview
from viewer.model.study import SegmentationResult, Study

FORMAT = 1
APP = "sadnn-viewer"


class SessionError(Exception):
    """A saved session that cannot be used (unreadable, another format, or not this study's)."""


@dataclass(frozen=True)
class SavedSession:
    path: Path
    state: dict
    edited: dict[int, np.ndarray]
    prediction: Path  # the model output this review belongs to
    current: bool = True  # the study's live review (False: one set aside)

    def summary(self) -> str:
        """One line for the restore question: when, which model, how far."""
        saved = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.state["saved_at"]))
        parts = [f"saved {saved}" + ("" if self.current else " (set aside)")]
        models = self.state.get("models", {})
        parts += [f"{m.get('name', '?')} {m.get('version', '')}".strip() for m in models.values()]
        review = self.state.get("slice_review")
        if review:
            marks = list(review["marks"].values())
            parts.append(f"{len(marks)} of {len(review['slices'])} slices reviewed"
                         f" ({marks.count('flagged')} flagged, {marks.count('edited')} edited)")
        decisions = self.state.get("finding_review", {}).get("decisions", {})
        if decisions:
            parts.append(f"{len(decisions)} findings decided")
        return ", ".join(parts)

    def restore_question(self) -> str:
        """The question asked when this is the study's only saved review."""
        return f"This study has a saved review: {self.summary()}.\n\nRestore it?"


def sessions_folder() -> Path:
    """Where sessions are kept: ``$SADNN_SESSIONS`` or the user's data folder."""
    override = os.environ.get("SADNN_SESSIONS")
    if override:
        return Path(override)
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP, appauthor=False)) / "sessions"


def session_paths(study: Study, folder: Path | None = None) -> tuple[Path, Path]:
    """(prediction file, session file) of ``study``."""
    folder = folder or sessions_folder()
    return folder / f"{study.key}.prediction.npz", folder / f"{study.key}.session.npz"


def save_prediction(study: Study, folder: Path | None = None) -> None:
    """Write the model output once, when a segmentation or classification arrives."""
    path, _ = session_paths(study, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays, state = {}, {"format": FORMAT, "study": study.key}
    if study.segmentation is not None:
        result = study.segmentation
        state["segmentation"] = {"model": result.model, "study_role": list(result.study_role), "int8": asdict(result.int8.energy),
                                 "fp32": None if result.fp32 is None else asdict(result.fp32.energy)}
        arrays["int8_mask"] = np.packbits(result.int8.mask)
        arrays["int8_probabilities"] = _to_uint8(result.int8.probabilities)
        if result.fp32 is not None:
            arrays["fp32_mask"] = np.packbits(result.fp32.mask)
            arrays["fp32_probabilities"] = _to_uint8(result.fp32.probabilities)
    if study.classification is not None:
        result = study.classification
        state["classification"] = {"model": study.classification_model, "labels": list(result.labels),
                                   "probabilities": result.probabilities.tolist(),
                                   "thresholds": list(result.thresholds), "energy": asdict(result.energy),
                                   "evidence": [None if e is None else e.to_dict() for e in result.evidence]}
    write_atomic(path, _npz(state, arrays))


def save_session(study: Study, folder: Path | None = None) -> Path:
    """Write the review state and the edited slices (atomic); returns the session file."""
    prediction, path = session_paths(study, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"format": FORMAT, "study": study.key, "saved_at": time.time(), "source": study.volume.source,
             "shape": list(study.volume.shape), "note": study.note, "overrides": study.overrides,
             "models": study.model_identities(),
             "prediction_sha256": _sha256(prediction) if prediction.exists() else None,
             "finding_review": {"decisions": _keys_to_str(study.finding_review.decisions),
                                "notes": _keys_to_str(study.finding_review.notes)}}
    arrays = {}
    if study.review is not None:
        review = study.review
        state["slice_review"] = {"slices": list(review.slices), "marks": _keys_to_str(review.marks),
                                 "notes": _keys_to_str(review.notes)}
    if study.editor is not None:
        edited = study.editor.edited_slices(study.segmentation.mask)
        state["edited_slices"] = edited
        if edited:
            arrays["edited"] = np.packbits(study.editor.mask[edited])
    write_atomic(path, _npz(state, arrays))
    return path


def find_session(study: Study, folder: Path | None = None) -> SavedSession | None:
    """The live saved session of this study, if there is one."""
    prediction, path = session_paths(study, folder)
    if not path.exists():
        return None
    return _load_session(study, path, prediction)


def saved_reviews(study: Study, folder: Path | None = None) -> list[SavedSession]:
    """Every saved review of this study: the live one first, then those set aside, newest first.

    A damaged live session raises SessionError (after it is kept aside); a damaged one set aside is skipped.
    """
    live_prediction, live = session_paths(study, folder)
    found = [] if not live.exists() else [_load_session(study, live, live_prediction)]
    aside = []
    for path in sorted(live.parent.glob(f"{study.key}.*.npz")):
        name = path.name
        if path == live or name.endswith(".prediction.npz") or ".damaged-" in name:
            continue
        prediction = (path.with_name(name.replace(".session.npz", ".prediction.npz"))
                      if name.endswith(".session.npz") else live_prediction)  # older viewers kept no copy
        try:
            state, arrays = _read_npz(path)
        except SessionError:
            continue
        if state.get("format") == FORMAT and state.get("study") == study.key:
            aside.append(replace(_saved(study, path, state, arrays, prediction), current=False))
    return found + sorted(aside, key=lambda saved: -saved.state.get("saved_at", 0))


def _load_session(study: Study, path: Path, prediction: Path) -> SavedSession:
    try:
        state, arrays = _read_npz(path)
        if state.get("format") != FORMAT or state.get("study") != study.key:
            raise SessionError(f"{path.name} belongs to another study or another version of the viewer")
    except SessionError as err:
        kept = _set_aside(path, "damaged")
        raise SessionError(f"{err}. The file was kept as {kept.name} (never overwritten) and a new review starts.") from err
    return _saved(study, path, state, arrays, prediction)


def _saved(study: Study, path: Path, state: dict, arrays: dict, prediction: Path) -> SavedSession:
    edited = state.get("edited_slices", [])
    shape = (len(edited), *study.volume.shape[1:])
    slices = np.unpackbits(arrays["edited"], count=int(np.prod(shape))).reshape(shape).astype(bool) if edited else []
    return SavedSession(path, state, {int(z): s for z, s in zip(edited, slices)}, prediction)


def restore_session(study: Study, saved: SavedSession, folder: Path | None = None) -> None:
    """Put the saved prediction, edits, marks and notes back into ``study``.

    Everything is read before anything is applied: a malformed file raises SessionError and leaves ``study`` as it was.
    """
    prediction_path = saved.prediction
    expected = saved.state.get("prediction_sha256")
    if expected is not None and (not prediction_path.exists() or _sha256(prediction_path) != expected):
        raise SessionError("the saved model output for this review is missing or was changed; the review cannot be restored")
    try:
        segmentation, classification = _read_prediction(study, *_read_npz(prediction_path)) if expected else (None, None)
        review = saved.state.get("slice_review")
        slice_review = None if review is None else SliceReview(tuple(review["slices"]), _keys_to_int(review["marks"]),
                                                                _keys_to_int(review["notes"]))
        findings = saved.state.get("finding_review", {})
        finding_review = FindingReview(_keys_to_int(findings.get("decisions", {})), _keys_to_int(findings.get("notes", {})))
        note, overrides = str(saved.state.get("note", "")), dict(saved.state.get("overrides", {}))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise SessionError(f"{saved.path.name} is malformed ({type(err).__name__}: {err}); the review cannot be restored") from err
    if segmentation is not None:
        study.set_segmentation(segmentation, edited=saved.edited)
    if classification is not None:
        study.set_classification(*classification)
    if slice_review is not None and study.review is not None:
        study.review = slice_review
    study.finding_review, study.note, study.overrides = finding_review, note, overrides
    study.review_changed.emit()


def archive_session(saved: SavedSession, why: str = "set-aside") -> Path:
    """Set the live review aside with its own copy of the prediction (never deleted, never orphaned).

    The copy is written first and the session renamed last: a kill in between leaves the live review as it was.
    """
    target = _free_name(saved.path, why, ".session.npz")
    if saved.prediction.exists():
        write_atomic(target.with_name(target.name.replace(".session.npz", ".prediction.npz")), saved.prediction.read_bytes())
    os.replace(saved.path, target)
    return target


def _set_aside(path: Path, why: str) -> Path:
    """Rename a session file beside itself (never over another file)."""
    target = _free_name(path, why, ".npz")
    os.replace(path, target)
    return target


def _free_name(path: Path, why: str, suffix: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(path.name.replace(".session.npz", f".{why}-{stamp}{suffix}"))
    counter = 1
    while target.exists() or target.with_name(target.name.replace(".session.npz", ".prediction.npz")).exists():
        counter += 1
        target = path.with_name(path.name.replace(".session.npz", f".{why}-{stamp}-{counter}{suffix}"))
    return target


def _read_prediction(study: Study, state: dict, arrays: dict) -> tuple[SegmentationResult | None, tuple | None]:
    """The saved segmentation result and (classification, model), each None when the session has none."""
    shape = study.volume.shape
    segmentation = classification = None
    if "segmentation" in state:
        info = state["segmentation"]
        int8 = Segmentation(_mask(arrays["int8_mask"], shape), _from_uint8(arrays["int8_probabilities"]),
                            EnergyMeasurement(**info["int8"]))
        fp32 = None
        if info["fp32"] is not None:
            fp32 = Segmentation(_mask(arrays["fp32_mask"], shape), _from_uint8(arrays["fp32_probabilities"]),
                                EnergyMeasurement(**info["fp32"]))
        role = tuple(info.get("study_role", ("unseen", None)))
        if len(role) != 2 or role[0] not in ("training", "held-out", "unseen"):
            raise ValueError(f"unknown study role {role!r}")
        segmentation = SegmentationResult(int8, info["model"], fp32, role)
    if "classification" in state:
        info = state["classification"]
        result = Classification(tuple(info["labels"]), np.asarray(info["probabilities"], dtype=np.float32),
                                tuple(info["thresholds"]), EnergyMeasurement(**info["energy"]),
                                evidence=tuple(None if e is None else FindingEvidence(**e) for e in info.get("evidence", ())))
        if not len(result.labels) == len(result.probabilities) == len(result.thresholds):
            raise ValueError("labels, probabilities and thresholds differ in length")
        classification = (result, info["model"])
    return segmentation, classification


def _npz(state: dict, arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, state=np.frombuffer(json.dumps(state).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def _read_npz(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    try:
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as data:  # closed even when the zip is damaged
            arrays = {name: data[name] for name in data.files}
        return json.loads(arrays.pop("state").tobytes().decode()), arrays
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as err:
        raise SessionError(f"{path.name} is not a readable session ({type(err).__name__}: {err})") from err


def _mask(packed: np.ndarray, shape) -> np.ndarray:
    return np.unpackbits(packed, count=int(np.prod(shape))).reshape(shape).astype(bool)


def _to_uint8(probabilities: np.ndarray) -> np.ndarray:
    return np.round(np.clip(probabilities, 0, 1) * 255).astype(np.uint8)


def _from_uint8(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32) / 255


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _keys_to_str(mapping: dict[int, str]) -> dict[str, str]:
    return {str(k): v for k, v in mapping.items()}


def _keys_to_int(mapping: dict[str, str]) -> dict[int, str]:
    return {int(k): v for k, v in mapping.items()}
