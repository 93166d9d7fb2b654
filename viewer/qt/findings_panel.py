"""The 14 findings of a radiograph, most probable first; selecting one shows its RISE saliency."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSlider, QTableWidget,
    QTableWidgetItem, QVBoxLayout, QWidget,
)

from engine.runtime.evidence import MIN_POSITIVES
from viewer.model.review import ACCEPT, REJECT
from viewer.model.study import Study
from viewer.qt.quiet import quietly

DECISION_COLOURS = {ACCEPT: QColor(40, 170, 70), REJECT: QColor(220, 60, 40)}
NOT_VALIDATED = QColor(150, 150, 150)
COLUMNS = ["Finding", "Prob.", "Thresh.", "Model", "AUROC (95% CI)", "Decision"]
COLUMN_TIPS = ["The finding (NIH ChestX-ray14 label)", "The model's probability for this radiograph",
               "The finding's operating point, chosen on validation patients (Youden's J)",
               "'positive' when the probability reaches the threshold; no call on a finding that is not validated",
               "AUROC on held-out patients with its 95% CI (patient bootstrap): how well the model ranks this finding",
               "Your decision: accepted or rejected"]
DECISION_COLUMN = COLUMNS.index("Decision")


class FindingsPanel(QWidget):
    """A sorted probability table with the reader's decision per finding; the selected row is the study's finding."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._selected)
        self.status = QLabel("Classify the radiograph to see findings.")
        self.status.setWordWrap(True)
        self.validity = QLabel()
        self.validity.setWordWrap(True)
        self.accept_button, self.reject_button = QPushButton("Accept (A)"), QPushButton("Reject (R)")
        self.clear_button = QPushButton("Clear")
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note on the selected finding (C)")
        self.note.editingFinished.connect(self._save_note)
        self.note.returnPressed.connect(self.note.clearFocus)  # Enter ends the note: the next key decides again
        buttons = QHBoxLayout()
        for button, decision in ((self.accept_button, ACCEPT), (self.reject_button, REJECT), (self.clear_button, None)):
            button.clicked.connect(lambda _checked=False, decision=decision: self.decide(decision))
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.validity)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addLayout(self._map_controls())
        layout.addWidget(self.status)

    def _map_controls(self) -> QHBoxLayout:
        """Show / hide the saliency map (O) and its opacity: the film must be readable without it."""
        self.show_map = QCheckBox("Show saliency map (O)")
        self.show_map.toggled.connect(lambda on: self.study and self.study.set_style(visible=on))
        self.map_opacity = QSlider(Qt.Orientation.Horizontal)
        self.map_opacity.setRange(5, 100)
        self.map_opacity.setToolTip("Opacity of the saliency map")
        self.map_opacity.valueChanged.connect(lambda value: self.study and self.study.set_style(opacity=value / 100))
        row = QHBoxLayout()
        row.addWidget(self.show_map)
        row.addWidget(QLabel("Opacity"))
        row.addWidget(self.map_opacity, 1)
        return row

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.refresh()

    def refresh(self) -> None:
        result = None if self.study is None else self.study.classification
        with quietly(self.table):
            self.table.setRowCount(0)
            if result is not None:
                ranked = result.ranked()
                self.table.setRowCount(len(ranked))
                for row, (label, probability) in enumerate(ranked):
                    index = result.labels.index(label)
                    self._fill_row(row, index, probability, result)
                self._select_current()
        for widget in (self.accept_button, self.reject_button, self.clear_button, self.note):
            widget.setEnabled(result is not None and self.study.finding is not None)
        self._show_map_controls()
        self._show_note()
        self._update_status()
        self.validity.setText(validity_text(result, self.study.classification_model if self.study else None))

    def _fill_row(self, row: int, index: int, probability: float, result) -> None:
        evidence = result.evidence_for(index)
        validated = evidence is not None and evidence.validated
        decision = self.study.finding_review.decisions.get(index)
        cells = [result.labels[index], f"{probability:.3f}", f"{result.thresholds[index]:.3f}", result.call(index),
                 "not recorded" if evidence is None else evidence.describe(), decision or ""]
        tip = _evidence_tip(evidence)
        for column, text in enumerate(cells):
            item = QTableWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, index)
            if column == DECISION_COLUMN and decision:
                item.setForeground(DECISION_COLOURS[decision])
            elif not validated:
                item.setForeground(NOT_VALIDATED)
            item.setToolTip(tip)
            if column == 0 and index in self.study.finding_review.notes:
                item.setToolTip(self.study.finding_review.notes[index])
            self.table.setItem(row, column, item)

    def _show_map_controls(self) -> None:
        study = self.study
        for widget in (self.show_map, self.map_opacity):
            widget.setEnabled(study is not None and study.saliency is not None)
        if study is not None:
            with quietly(self.show_map, self.map_opacity):
                self.show_map.setChecked(study.style.visible)
                self.map_opacity.setValue(round(study.style.opacity * 100))

    def decide(self, decision: str | None) -> None:
        """Accept or reject (None: clear) the selected finding."""
        if self.study is not None and self.study.classification is not None and self.study.finding is not None:
            self._save_note()
            self.study.decide_finding(self.study.finding, decision)

    def focus_note(self) -> None:
        self.note.setFocus()

    def _show_note(self) -> None:
        study = self.study
        if not self.note.hasFocus():
            finding = None if study is None else study.finding
            self.note.setText("" if finding is None else study.finding_review.notes.get(finding, ""))

    def _save_note(self) -> None:
        study = self.study
        if study is None or study.classification is None or study.finding is None:
            return
        if study.finding_review.notes.get(study.finding, "") != self.note.text().strip():
            study.set_finding_note(study.finding, self.note.text())

    def _select_current(self) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == self.study.finding:
                self.table.selectRow(row)

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if self.study is not None and rows:
            self._save_note()  # a note being typed belongs to the finding it was typed for
            self.study.select_finding(self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole))
        self._update_status()

    def _update_status(self) -> None:
        study = self.study
        if study is None or study.classification is None:
            self.status.setText("Classify the radiograph to see findings.")
            return
        done, total = study.saliency_progress
        if study.saliency is None:
            saliency = "Saliency: computing..."
        else:
            saliency = f"RISE saliency from {done} of {total} masks" + (" (refining)" if done < total else "")
        self.status.setText(f"{saliency}. Select a finding to show the pixels that drove its score.")


def _evidence_tip(evidence) -> str:
    if evidence is None:
        return "The model card records no held-out AUROC for this finding: not validated."
    if evidence.validated:
        return (f"Held-out AUROC {evidence.describe()} on {evidence.positives} positives: better than chance on "
                "patients the model never saw. 'positive' means the probability reaches the finding's threshold.")
    return f"Not validated: {evidence.reason}. Held-out AUROC {evidence.describe()}. The probability is shown, not called."


def validity_text(result, model: dict | None) -> str:
    """The panel's plain statement of what the model is, and how many findings held-out data supports."""
    if result is None:
        return ""
    use = (model or {}).get("intended_use", "")
    validated = result.validated_count
    if "not for clinical use" in use.lower():
        lead = "<b style='color:#c00'>Demo model: not a diagnostic tool.</b> "
    else:
        lead = f"<b>{escape(use) or 'Intended use not stated.'}</b> "
    return (f"{lead}{validated} of {len(result.labels)} findings are better than chance on held-out patients "
            f"(95% CI of the AUROC above 0.5, at least {MIN_POSITIVES} positives); the others are greyed as "
            "<i>not validated</i> (hover a finding for why).")
