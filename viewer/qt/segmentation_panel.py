"""Overlay controls and the numbers of a segmentation: liver volume, Dice per slice and per volume."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QCheckBox, QColorDialog, QComboBox, QFormLayout, QLabel, QPushButton, QSlider, QWidget
from PySide6.QtCore import Qt

from viewer.model.study import OVERLAY_MODES, Study
from viewer.qt.quiet import quietly

MODE_NAMES = {
    "prediction": "Prediction (int8)",
    "comparison": "vs reference: agree / over / under",
    "disagreement": "int8 vs fp32 disagreement",
}


class SegmentationPanel(QWidget):
    """Writes overlay style into the study; shows its statistics."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.visible = QCheckBox("Show overlay (O)")
        self.outline = QCheckBox("Outline only (Shift+O): the tissue under the mask stays visible")
        self.mode = QComboBox()
        for mode in OVERLAY_MODES:
            self.mode.addItem(MODE_NAMES[mode], mode)
        self.colour = QPushButton("Colour...")
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(5, 100)
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.stats.setTextFormat(Qt.TextFormat.RichText)
        layout = QFormLayout(self)
        layout.addRow(self.visible)
        layout.addRow(self.outline)
        layout.addRow("Show", self.mode)
        layout.addRow("Fill colour", self.colour)
        layout.addRow("Opacity", self.opacity)
        layout.addRow(self.stats)
        self.visible.toggled.connect(lambda on: self._write(visible=on))
        self.outline.toggled.connect(lambda on: self._write(outline=on))
        self.mode.currentIndexChanged.connect(lambda _i: self._write(mode=self.mode.currentData()))
        self.opacity.valueChanged.connect(lambda v: self._write(opacity=v / 100))
        self.colour.clicked.connect(self._pick_colour)

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.refresh()

    def refresh(self) -> None:
        study = self.study
        self.setEnabled(study is not None and study.segmentation is not None)
        if study is None:
            self.stats.setText("")
            return
        with quietly(self.visible, self.outline, self.mode, self.opacity):
            self.visible.setChecked(study.style.visible)
            self.outline.setChecked(study.style.outline)
            self.mode.setCurrentIndex(OVERLAY_MODES.index(study.style.mode))
            self.opacity.setValue(round(study.style.opacity * 100))
        self.stats.setText(statistics_html(study))

    def _write(self, **changes) -> None:
        if self.study is not None:
            self.study.set_style(**changes)

    def _pick_colour(self) -> None:
        if self.study is None:
            return
        colour = QColorDialog.getColor(QColor(*self.study.style.colour), self, "Overlay colour")
        if colour.isValid():
            self._write(colour=(colour.red(), colour.green(), colour.blue()))


def statistics_html(study: Study) -> str:
    """Liver volume and agreement numbers for the current slice and the whole volume."""
    if study.segmentation is None:
        return "Run <b>Segment liver</b> to see the prediction."
    z = study.cursor[0]
    stats = study.statistics()  # of the mask as shown: the prediction with the reviewer's edits
    lines = [f"Liver mask: <b>{stats.millilitres:.1f} mL</b> ({stats.slices} slices)"]
    for name, comparison in (("reference", study.comparison), ("fp32", study.disagreement)):
        if comparison is not None:
            here = comparison.dice_per_slice[z]
            slice_text = "no mask on this slice" if np.isnan(here) else f"{here:.3f}"
            caption = f" ({study.segmentation.dice_caption})" if name == "reference" else ""
            lines.append(f"Dice vs {name}: volume <b>{comparison.dice:.3f}</b>, slice {z + 1}: {slice_text}{caption}")
    if study.comparison is None:
        lines.append("Load a reference mask to see over- and under-segmentation.")
    return "<br>".join(lines)
