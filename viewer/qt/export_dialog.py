"""Asks where to export and what: masks, report, anonymised or not."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import (
    QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QPushButton,
)

from viewer.model.review_export import ExportRequest
from viewer.model.study import Study


class ExportDialog(QDialog):
    def __init__(self, study: Study, folder: str = "", parent=None, pacs_nodes: list[str] | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export the review")
        self.folder = QLineEdit(folder)
        browse = QPushButton("Choose...")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)
        has_mask = study.segmentation is not None
        self.nifti = QCheckBox("Liver mask as NIfTI (same grid as the source)")
        self.seg = QCheckBox("Liver mask as DICOM SEG (references the source series)")
        self.html = QCheckBox("Report (HTML)")
        self.pdf = QCheckBox("Report (PDF)")
        self.pdf_dicom = QCheckBox("Report also as DICOM, filed in the study (Encapsulated PDF, what a PACS stores)")
        self.anonymise = QCheckBox("Anonymise: no patient identifiers in any file (DICOM basic de-identification profile)")
        for box, enabled in ((self.nifti, has_mask), (self.seg, has_mask and bool(study.volume.files)),
                             (self.html, True), (self.pdf, True), (self.pdf_dicom, bool(study.volume.files)),
                             (self.anonymise, True)):
            box.setChecked(enabled and box is not self.anonymise)
            box.setEnabled(enabled)
        self.pdf.toggled.connect(lambda on: self.pdf_dicom.setEnabled(on and bool(study.volume.files)))
        form = QFormLayout(self)
        form.addRow("Folder", row)
        for box in (self.nifti, self.seg, self.html, self.pdf, self.pdf_dicom, self.anonymise):
            form.addRow(box)
        self.pacs = QComboBox()
        self.pacs.addItems(["Do not send", *(pacs_nodes or [])])
        self.pacs.setEnabled(bool(pacs_nodes) and bool(study.volume.files))
        self.pacs.setToolTip("After the export, send its DICOM files (SEG, measurements SR, PDF report; with anonymising, "
                             "the de-identified images too) to this PACS")
        form.addRow("Then send to PACS", self.pacs)
        form.addRow(QLabel("<small>The export is a folder of its own, written whole or not at all. A review.json "
                           "with every mark and note is always written. A previous export is only replaced after you "
                           "confirm; a folder holding other files is never used.</small>"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Export")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def request(self) -> ExportRequest:
        return ExportRequest(Path(self.folder.text()), nifti=self.nifti.isChecked(), dicom_seg=self.seg.isChecked(),
                             report_html=self.html.isChecked(), report_pdf=self.pdf.isChecked(),
                             report_dicom=self.pdf.isChecked() and self.pdf_dicom.isChecked(), anonymise=self.anonymise.isChecked())

    def send_to(self) -> str | None:
        """The PACS node to send the DICOM results to after the export, if one was chosen."""
        return self.pacs.currentText() if self.pacs.currentIndex() > 0 else None

    def _browse(self) -> None:
        current = Path(self.folder.text())
        parent = QFileDialog.getExistingDirectory(self, "Export into a new folder inside", str(current.parent))
        if parent:
            self.folder.setText(str(Path(parent) / current.name))
