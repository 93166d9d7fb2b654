"""One cell per axial slice, brighter where the model is less sure than on the study's other slices: where to look
first. Click to go there; the tooltip gives the slice's own confidence."""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QToolTip

from viewer.model.confidence import confidence_text, relative_doubt
from viewer.qt.slice_strip import SliceStrip

SURE, UNSURE = (45, 45, 45), (205, 90, 255)  # dark grey to violet: no overlay or review-strip colour is reused


def doubt_colour(doubt: float) -> QColor:
    """The colour of a slice: SURE at doubt 0, UNSURE at 1."""
    doubt = min(max(doubt, 0.0), 1.0)
    return QColor(*(round(a + (b - a) * doubt) for a, b in zip(SURE, UNSURE)))


class ConfidenceStrip(SliceStrip):
    def __init__(self, parent=None):
        super().__init__(9, "Model confidence per slice: the brighter, the less sure the model is of its mask there than "
                            "on the other slices. U goes to the least-confident slice still to review.", parent)

    def colours(self) -> list[QColor]:
        confidence = None if self.study is None else self.study.confidence
        if confidence is None:
            return []
        return [doubt_colour(float(doubt)) for doubt in relative_doubt(confidence)]

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip and (z := self.slice_at(event.pos().x())) is not None:
            QToolTip.showText(event.globalPos(), confidence_text(z, self.study.confidence), self)
            return True
        return super().event(event)
