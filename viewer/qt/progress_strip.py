"""One cell per axial slice, coloured by its review state; click a cell to go to that slice."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel

from viewer.model.review import STRIP_COLOURS, strip_states
from viewer.qt.confidence_strip import UNSURE
from viewer.qt.slice_strip import SliceStrip

LEGEND = (("accepted", "accepted"), ("flagged", "flagged"), ("edited", "edited"), ("unreviewed", "to review"),
          ("outside", "no liver predicted"))


class ProgressStrip(SliceStrip):
    """Reads the study's review, with the current slice framed; its legend is a label placed by the window."""

    def __init__(self, parent=None):
        super().__init__(18, "Review progress: green accepted, orange flagged, blue edited, grey to review. Click to go "
                             "there.", parent)
        self.legend = QLabel(legend_html())

    def states(self) -> list[str]:
        if self.study is None:
            return []
        return strip_states(self.study.review, self.study.volume.shape[0])

    def colours(self) -> list[QColor]:
        return [QColor(*STRIP_COLOURS[state]) for state in self.states()]

    def paint_over(self, painter: QPainter, cell_width: float) -> None:
        current = self.study.cursor[0]
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawRect(QRectF(current * cell_width + 1, 1, max(cell_width - 2, 2), self.height() - 2))


def legend_html() -> str:
    """Coloured squares naming each strip colour."""
    items = ["<font color='#{:02x}{:02x}{:02x}'>&#9632;</font> {}".format(*STRIP_COLOURS[state], text) for state, text in LEGEND]
    unsure = "#{:02x}{:02x}{:02x}".format(*UNSURE)
    items.append(f"&nbsp;&nbsp;<font color='{unsure}'>&#9644;</font> thin strip: brighter where the model is less sure (U)")
    return "&nbsp;&nbsp;".join(items)
