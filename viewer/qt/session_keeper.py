"""Keeps the open study's review on disk: saves on every change, offers to restore on reopening."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from viewer.model import session
from viewer.model.study import Study
from viewer.qt.prompts import Prompts


class SessionKeeper(QObject):
    """Saves through ``viewer.model.session``; a failure is reported (``autosave_failed``), never raised."""

    said = Signal(str)
    autosave_failed = Signal(str)
    restored = Signal(object)  # the Study whose review came back

    def __init__(self, folder: Path, prompts: Prompts):
        super().__init__()
        self.folder, self.prompts = folder, prompts
        self.study: Study | None = None

    def watch(self, study: Study) -> None:
        """Save ``study`` whenever the user changes something; offer its saved review, if any."""
        self.study = study
        study.saved_state_changed.connect(self.save)
        self.offer_restore(study)

    def save(self) -> None:
        """Save the review now (atomic)."""
        if self.study is not None:
            self._guarded(session.save_session, self.study)

    def save_prediction(self) -> None:
        """After a model run: its output once, then the review that refers to it."""
        study = self.study
        if self._guarded(session.save_prediction, study):
            self._guarded(session.save_session, study)

    def may_replace_review(self, study: Study) -> bool:
        """Before a new prediction replaces a review in progress: ask, and keep the old review aside."""
        review, editor = study.review, study.editor
        started = review is not None and (review.marks or review.notes or editor.can_undo or
                                          editor.edited_slices(study.segmentation.mask))
        if not started:
            return True
        question = (f"Segmenting again replaces the current prediction and its review ({len(review.marks)} slice(s) marked). "
                    "The current review will be kept in a separate file. Continue?")
        if not self.prompts.confirm("Replace the review in progress?", question):
            return False
        self.save()
        try:
            saved = session.find_session(study, self.folder)
            if saved is not None:
                session.archive_session(saved, "replaced")
                self.said.emit("The previous review is kept; reopen the study to go back to it.")
        except (session.SessionError, OSError) as err:
            self.prompts.show_error("Previous review not set aside", str(err))
            return False
        return True

    def offer_restore(self, study: Study) -> None:
        """If this study has saved reviews, offer them (date, model, progress); the one chosen comes back."""
        try:
            reviews = session.saved_reviews(study, self.folder)
        except session.SessionError as err:
            self.prompts.show_error("Saved review not usable", str(err))
            return
        if not reviews:
            return
        chosen = self._ask_which(reviews)
        live = reviews[0] if reviews[0].current else None
        try:
            if live is not None and chosen is not live:
                kept = session.archive_session(live)  # starting afresh or going back: the live review is kept too
                self.said.emit(f"Starting a new review; the previous one is kept ({kept.name}).")
            if chosen is None:
                return
            session.restore_session(study, chosen, self.folder)
        except (session.SessionError, OSError) as err:
            self.prompts.show_error("Cannot restore the review", str(err))
            return
        if not chosen.current:
            self.save_prediction()  # the review chosen becomes the live one again
        self.restored.emit(study)

    def _ask_which(self, reviews: list[session.SavedSession]) -> session.SavedSession | None:
        if len(reviews) == 1 and reviews[0].current:
            return reviews[0] if self.prompts.confirm("Restore your review?", reviews[0].restore_question()) else None
        options = [saved.summary() for saved in reviews] + ["Start a new review (the saved ones are kept)"]
        index = self.prompts.choose("Restore a review?", f"This study has {len(reviews)} saved reviews. Which one?", options)
        return reviews[index] if index is not None and index < len(reviews) else None

    def _guarded(self, save, study: Study) -> bool:
        try:
            save(study, self.folder)
            return True
        except OSError as err:
            self.autosave_failed.emit(f"Autosave failed ({err.strerror or err}): your review is not being saved to "
                                      f"{self.folder}. Free disk space or export the review now.")
            return False
