"""The 14 findings of a radiograph, most probable first; selecting one shows its RISE saliency."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from viewer.model.study import Study


class FindingsPanel(QWidget):
    """A sorted probability table; the selected row is the study's finding."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.table = QTableWidget(0, 3)
        self.table.setHorizontalHeaderLabels(["Finding", "Probability", ""])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.itemSelectionChanged.connect(self._selected)
        self.status = QLabel("Classify the radiograph to see findings.")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table)
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
                cells = [label, f"{probability:.3f}", "positive" if above else ""]
                for column, text in enumerate(cells):
                    item = QTableWidgetItem(text)
                    item.setData(Qt.ItemDataRole.UserRole, index)
                    self.table.setItem(row, column, item)
            self._select_current()
        self.table.blockSignals(False)
        self._update_status()

    def _select_current(self) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(Qt.ItemDataRole.UserRole) == self.study.finding:
                self.table.selectRow(row)

    def _selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if self.study is not None and rows:
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
