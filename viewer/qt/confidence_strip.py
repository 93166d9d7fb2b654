"""One cell per axial slice, brighter where the model is less sure than on the study's other slices: where to look
first. Click to go there; the tooltip gives the slice's own confidence."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from viewer.model.confidence import confidence_text, relative_doubt
from viewer.model.study import Study

SURE, UNSURE = (45, 45, 45), (205, 90, 255)  # dark grey to violet: no overlay or review-strip colour is reused


def doubt_colour(doubt: float) -> QColor:
    """The colour of a slice: SURE at doubt 0, UNSURE at 1."""
    doubt = min(max(doubt, 0.0), 1.0)
    return QColor(*(round(a + (b - a) * doubt) for a, b in zip(SURE, UNSURE)))


class ConfidenceStrip(QWidget):
    slice_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.setFixedHeight(9)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Model confidence per slice: the brighter, the less sure the model is of its mask there than on "
                        "the other slices. U goes to the least-confident slice still to review.")

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        confidence = None if self.study is None else self.study.confidence
        if confidence is None or len(confidence) == 0:
            return
        painter = QPainter(self)
        width = self.width() / len(confidence)
        for z, doubt in enumerate(relative_doubt(confidence)):
            painter.fillRect(QRectF(z * width, 0, width + 0.5, self.height()), doubt_colour(float(doubt)))
        painter.end()

    def slice_at(self, x: float) -> int | None:
        confidence = None if self.study is None else self.study.confidence
        if confidence is None or len(confidence) == 0:
            return None
        return min(max(int(x / self.width() * len(confidence)), 0), len(confidence) - 1)

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and (z := self.slice_at(event.pos().x())) is not None:
            QToolTip.showText(event.globalPos(), confidence_text(z, self.study.confidence), self)
            return True
        return super().event(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802
        z = self.slice_at(event.position().x())
        if z is not None and event.button() == Qt.MouseButton.LeftButton:
            self.slice_chosen.emit(z)
