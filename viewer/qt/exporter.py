"""Export and screenshot actions: ask, confirm replacing files, write in the worker, report the result."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtWidgets import QDialog, QFileDialog

from engine.runtime.atomic import write_atomic
from viewer import tasks
from viewer.model.export import (
    ExportError, ExportExists, ExportRequest, StagedExport, explain, export_folder, exports_folder, finish_export,
    planned_names, unreviewed_summary,
)
from viewer.model.study import Study
from viewer.qt.export_dialog import ExportDialog
from viewer.qt.report_pdf import write_pdf

if TYPE_CHECKING:
    from viewer.qt.main_window import MainWindow


class Exporter:
    def __init__(self, window: MainWindow):
        self.window = window
        self.default_folder = exports_folder()
        self.folder = str(self.default_folder)  # where exports go: each one a new folder inside it

    def export_review(self, request: ExportRequest | None = None) -> None:
        """Ask where and what (unless ``request`` says), confirm replacing files, export in the worker."""
        window, study = self.window, self.window.study
        if study is None:
            return
        if request is None:
            if not self._unreviewed_export_confirmed(study):
                return
            dialog = ExportDialog(study, str(Path(self.folder) / time.strftime("review-%Y%m%d-%H%M%S")), window)
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            request = dialog.request()
        try:
            if request.folder.parent == self.default_folder:
                self.default_folder.mkdir(exist_ok=True)  # the app's own exports folder, made on first use
            export_folder(request).check_free(planned_names(study, request))
        except ExportExists as err:
            if not window.confirm("Replace existing files?", f"{err}.\n\nReplace them?"):
                return
            request = replace(request, overwrite=True)
        except ExportError as err:
            window.show_error("Cannot export", str(err))
            return
        except OSError as err:
            window.show_error("Cannot export", explain(err, self.default_folder, self.default_folder.name))
            return
        self.folder = str(request.folder.parent)
        job = tasks.export_review(study.snapshot(), request, self.card_for(study))  # the user may keep editing
        window.run_job("Exporting the review", job, lambda staged: self._exported(request, staged))

    def _unreviewed_export_confirmed(self, study: Study) -> bool:
        """Exporting a review that is not finished is allowed, but only knowingly (the report says so too)."""
        left = unreviewed_summary(study)
        if left is None:
            return True
        question = (f"{left}.\n\nThe report will say that the review is incomplete. Export anyway? (Your review is "
                    "kept; you can finish it and export again.)")
        return self.window.confirm("The review is not finished", question, default_yes=False)

    def _exported(self, request: ExportRequest, staged: StagedExport) -> None:
        try:
            result = finish_export(staged, write_pdf)
        except ExportError as err:
            self.window.show_error("Cannot export", str(err))
            return
        for problem in result.problems:
            self.window.show_error("Export incomplete", problem)
        self.window.message.setText(f"Exported {len(result.files)} file(s) to {request.folder}.")

    def card_for(self, study: Study):
        """The installed card of the model that made the study's prediction (None if it is not installed)."""
        for task, model in study.model_identities().items():
            bundle = self.window.models.get(task)
            if bundle is not None and bundle.identity["sha256"] == model.get("sha256"):
                return bundle.card
        return None

    def save_screenshot(self, path: str | Path | None = None) -> None:
        """The image planes as they are on screen, as a PNG (written atomically)."""
        window = self.window
        if window.study is None:
            return
        if path is None:
            path, _ = QFileDialog.getSaveFileName(window, "Save screenshot", str(Path(self.folder) / "screenshot.png"), "PNG (*.png)")
            if not path:
                return
        path = Path(path).with_suffix(".png")
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        window.centralWidget().grab().toImage().save(buffer, "PNG")
        try:
            write_atomic(path, bytes(buffer.data()))
        except OSError as err:
            window.show_error("Screenshot not saved", explain(err, path.parent, path.name))
            return
        window.message.setText(f"Screenshot saved: {path}")
