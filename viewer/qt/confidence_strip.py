"""One cell per axial slice, brighter where the model is less sure: where to look first. Click to go there."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from viewer.model.study import Study

SURE, UNSURE = (45, 45, 45), (205, 90, 255)  # dark grey to violet: no overlay or review-strip colour is reused


def doubt_colour(confidence: float) -> QColor:
    """The colour of a slice: SURE at confidence 1, UNSURE at 0 (and below half the way, already clearly violet)."""
    doubt = min(max(1.0 - confidence, 0.0), 1.0) ** 0.5
    return QColor(*(round(a + (b - a) * doubt) for a, b in zip(SURE, UNSURE)))


class ConfidenceStrip(QWidget):
    slice_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.setFixedHeight(9)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Model confidence per slice: the brighter, the less sure the model is of its mask there. "
                        "U goes to the least-confident slice still to review.")

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        confidence = None if self.study is None else self.study.confidence
        if confidence is None or len(confidence) == 0:
            return
        painter = QPainter(self)
        width = self.width() / len(confidence)
        for z, value in enumerate(confidence):
            painter.fillRect(QRectF(z * width, 0, width + 0.5, self.height()), doubt_colour(float(value)))
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        if self.study is not None and self.study.confidence is not None and event.button() == Qt.MouseButton.LeftButton:
            slices = len(self.study.confidence)
            self.slice_chosen.emit(min(max(int(event.position().x() / self.width() * slices), 0), slices - 1))
