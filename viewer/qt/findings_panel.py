"""The 14 findings of a radiograph, most probable first; selecting one shows its RISE saliency."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QTableWidget, QTableWidgetItem,
    QVBoxLayout, QWidget,
)

from viewer.model.review import ACCEPT, REJECT
from viewer.model.study import Study

DECISION_COLOURS = {ACCEPT: QColor(40, 170, 70), REJECT: QColor(220, 60, 40)}


class FindingsPanel(QWidget):
    """A sorted probability table with the reader's decision per finding; the selected row is the study's finding."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["Finding", "Probability", "Model", "Your decision"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._selected)
        self.status = QLabel("Classify the radiograph to see findings.")
        self.status.setWordWrap(True)
        self.accept_button, self.reject_button = QPushButton("Accept (A)"), QPushButton("Reject (R)")
        self.clear_button = QPushButton("Clear")
        self.note = QLineEdit()
        self.note.setPlaceholderText("Note on the selected finding (C)")
        self.note.editingFinished.connect(self._save_note)
        buttons = QHBoxLayout()
        for button, decision in ((self.accept_button, ACCEPT), (self.reject_button, REJECT), (self.clear_button, None)):
            button.clicked.connect(lambda _checked=False, decision=decision: self.decide(decision))
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
        layout.addLayout(buttons)
        layout.addWidget(self.note)
        layout.addWidget(self.status)

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.refresh()

    def refresh(self) -> None:
        result = None if self.study is None else self.study.classification
        self.table.blockSignals(True)
        self.table.setRowCount(0)
        if result is not None:
            ranked = result.ranked()
            self.table.setRowCount(len(ranked))
            for row, (label, probability) in enumerate(ranked):
                index = result.labels.index(label)
                above = probability >= result.thresholds[index]
                decision = self.study.finding_review.decisions.get(index)
                cells = [label, f"{probability:.3f}", "positive" if above else "", decision or ""]
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, index)
                    if column == 3 and decision:
                        item.setForeground(DECISION_COLOURS[decision])
                    if column == 0 and index in self.study.finding_review.notes:
                        item.setToolTip(self.study.finding_review.notes[index])
                    self.table.setItem(row, column, item)
            self._select_current()
        self.table.blockSignals(False)
        for widget in (self.accept_button, self.reject_button, self.clear_button, self.note):
            widget.setEnabled(result is not None and self.study.finding is not None)
        self._show_note()
        self._update_status()

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
