"""One cell per axial slice, coloured by its review state; click a cell to go to that slice."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

from viewer.model.review import STRIP_COLOURS, strip_states
from viewer.model.study import Study
from viewer.qt.confidence_strip import UNSURE

LEGEND = (("accepted", "accepted"), ("flagged", "flagged"), ("edited", "edited"), ("unreviewed", "to review"),
          ("outside", "no liver predicted"))


class ProgressStrip(QWidget):
    """Reads the study's review; emits ``slice_chosen`` when clicked."""

    slice_chosen = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.setFixedHeight(18)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip("Review progress: green accepted, orange flagged, blue edited, grey to review. Click to go there.")
        self.legend = QLabel(legend_html())


    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.update()

    def states(self) -> list[str]:
        if self.study is None:
            return []
        return strip_states(self.study.review, self.study.volume.shape[0])

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        states = self.states()
        if not states:
            return
        painter = QPainter(self)
        width = self.width() / len(states)
        for z, state in enumerate(states):
            painter.fillRect(QRectF(z * width, 0, width + 0.5, self.height()), QColor(*STRIP_COLOURS[state]))
        current = self.study.cursor[0]
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawRect(QRectF(current * width + 1, 1, max(width - 2, 2), self.height() - 2))
        painter.end()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        states = self.states()
        if states and event.button() == Qt.MouseButton.LeftButton:
            z = int(event.position().x() / self.width() * len(states))
            self.slice_chosen.emit(min(max(z, 0), len(states) - 1))


def legend_html() -> str:
    """Coloured squares naming each strip colour."""
    items = ["<font color='#{:02x}{:02x}{:02x}'>&#9632;</font> {}".format(*STRIP_COLOURS[state], text) for state, text in LEGEND]
    unsure = "#{:02x}{:02x}{:02x}".format(*UNSURE)
    items.append(f"&nbsp;&nbsp;<font color='{unsure}'>&#9644;</font> thin strip: brighter where the model is less sure (U)")
    return "&nbsp;&nbsp;".join(items)
