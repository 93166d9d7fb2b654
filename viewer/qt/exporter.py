"""Export and screenshot actions: ask, confirm replacing files, write in the worker, report the result."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QBuffer, QIODevice, QObject, Signal
from PySide6.QtWidgets import QDialog, QFileDialog, QWidget

from engine.runtime.atomic import write_atomic
from engine.runtime.card import ModelCard
from viewer import jobs
from viewer.model.review_export import (
    ExportError, ExportExists, ExportRequest, StagedExport, dicom_results, explain, export_folder, exports_folder,
    finish_export, planned_names, unreviewed_summary,
)
from viewer.model.study import Study
from viewer.pacs.nodes import PacsError, PacsSettings, load_settings
from viewer.pacs.send import send_files
from viewer.qt.export_dialog import ExportDialog
from viewer.qt.prompts import Prompts
from viewer.qt.report_pdf import write_pdf
from viewer.qt.worker import TaskRunner


class Exporter(QObject):
    """Exports the review of a study and saves screenshots of ``screen`` (the image area), reporting in ``said``."""

    said = Signal(str)

    def __init__(self, screen: QWidget, prompts: Prompts, runner: TaskRunner, card_for: Callable[[Study], ModelCard | None],
                 config: Path | None = None):
        super().__init__()
        self.screen, self.prompts, self.runner, self.card_for = screen, prompts, runner, card_for
        self.default_folder = exports_folder()
        self.folder = str(self.default_folder)  # where exports go: each one a new folder inside it
        self.config = config  # where the PACS settings are (None: no PACS)
        self.last_export: Path | None = None  # what "Send to PACS" sends

    def export_review(self, study: Study | None, request: ExportRequest | None = None, send_to: str | None = None) -> None:
        """Ask where and what (unless ``request`` says), confirm replacing files, export in the worker; then send the
        DICOM results to the PACS node called ``send_to`` (or chosen in the dialog)."""
        if study is None:
            return
        if request is None:
            if not self._unreviewed_export_confirmed(study):
                return
            dialog = ExportDialog(study, str(Path(self.folder) / time.strftime("review-%Y%m%d-%H%M%S")), self.screen.window(),
                                  [node.name for node in self._pacs_settings(quiet=True).nodes])
            if dialog.exec() != QDialog.DialogCode.Accepted:
                return
            request, send_to = dialog.request(), dialog.send_to()
        try:
            if request.folder.parent == self.default_folder:
                self.default_folder.mkdir(exist_ok=True)  # the app's own exports folder, made on first use
            export_folder(request).check_free(planned_names(study, request))
        except ExportExists as err:
            if not self.prompts.confirm("Replace existing files?", f"{err}.\n\nReplace them?"):
                return
            request = replace(request, overwrite=True)
        except ExportError as err:
            self.prompts.show_error("Cannot export", str(err))
            return
        except OSError as err:
            self.prompts.show_error("Cannot export", explain(err, self.default_folder, self.default_folder.name))
            return
        self.folder = str(request.folder.parent)
        job = jobs.export_review(study.snapshot(), request, self.card_for(study))  # the user may keep editing
        self.runner.run("Exporting the review", job, lambda staged: self._exported(request, staged, send_to))

    def _unreviewed_export_confirmed(self, study: Study) -> bool:
        """Exporting a review that is not finished is allowed, but only knowingly (the report says so too)."""
        left = unreviewed_summary(study)
        if left is None:
            return True
        question = (f"{left}.\n\nThe report will say that the review is incomplete. Export anyway? (Your review is "
                    "kept; you can finish it and export again.)")
        return self.prompts.confirm("The review is not finished", question, default_yes=False)

    def _exported(self, request: ExportRequest, staged: StagedExport, send_to: str | None = None) -> None:
        try:
            result = finish_export(staged, write_pdf)
        except ExportError as err:
            self.prompts.show_error("Cannot export", str(err))
            return
        for problem in result.problems:
            self.prompts.show_error("Export incomplete", problem)
        self.last_export = request.folder
        self.said.emit(f"Exported {len(result.files)} file(s) to {request.folder}.")
        if send_to:
            self.runner.after(lambda: self.send_to_pacs(send_to))

    def send_to_pacs(self, node_name: str | None = None) -> None:
        """Send the last export's DICOM results (SEG, SR, PDF; the de-identified images of an anonymised export)."""
        files = dicom_results(self.last_export) if self.last_export is not None else []
        if not files:
            self.prompts.show_error("Nothing to send", "Export the review first, with the DICOM SEG or the PDF report "
                                    "of a DICOM study: those are what a PACS stores.")
            return
        settings = self._pacs_settings()
        names = [node.name for node in settings.nodes]
        if not names:
            self.prompts.show_error("No PACS configured", "Add a PACS in File > Search PACS... > Nodes... first.")
            return
        if node_name is None:
            index = self.prompts.choose("Send to PACS", f"Send {len(files)} DICOM file(s) from {self.last_export.name} to:", names)
            if index is None:
                return
            node_name = names[index]
        try:
            node = settings.node(node_name)
        except PacsError as err:
            self.prompts.show_error("Cannot send", str(err))
            return
        job = lambda progress, _partial, cancelled: send_files(node, settings, files, progress, cancelled)  # noqa: E731
        self.runner.run(f"Sending to {node.name}", job, lambda count: self.said.emit(f"Sent {count} file(s) to {node.describe()}."))

    def _pacs_settings(self, quiet: bool = False) -> PacsSettings:
        if self.config is None:
            return PacsSettings()
        try:
            return load_settings(self.config)
        except PacsError as err:
            if not quiet:
                self.prompts.show_error("PACS settings", str(err))
            return PacsSettings()

    def save_screenshot(self, path: str | Path | None = None) -> None:
        """The image planes as they are on screen, as a PNG (written atomically)."""
        if path is None:
            path, _ = QFileDialog.getSaveFileName(self.screen.window(), "Save screenshot", str(Path(self.folder) / "screenshot.png"), "PNG (*.png)")
            if not path:
                return
        path = Path(path).with_suffix(".png")
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        self.screen.grab().toImage().save(buffer, "PNG")
        try:
            write_atomic(path, bytes(buffer.data()))
        except OSError as err:
            self.prompts.show_error("Screenshot not saved", explain(err, path.parent, path.name))
            return
        self.said.emit(f"Screenshot saved: {path}")
