"""A thin bar with one cell per axial slice of the open study; a click on a cell asks to go to that slice."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from viewer.model.study import Study


class SliceStrip(QWidget):
    """Subclasses say each slice's colour (``colours``), an empty list when there is nothing to show."""

    slice_chosen = Signal(int)

    def __init__(self, height: int, tooltip: str, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.setFixedHeight(height)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(tooltip)

    def show_study(self, study: Study | None) -> None:
        self.study = study
        self.update()

    def colours(self) -> list[QColor]:
        raise NotImplementedError

    def slice_at(self, x: float) -> int | None:
        """The slice under ``x`` (widget pixels), None when the strip shows nothing."""
        cells = len(self.colours())
        return None if cells == 0 else min(max(int(x / self.width() * cells), 0), cells - 1)

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        colours = self.colours()
        if not colours:
            return
        painter = QPainter(self)
        width = self.width() / len(colours)
        for z, colour in enumerate(colours):
            painter.fillRect(QRectF(z * width, 0, width + 0.5, self.height()), colour)
        self.paint_over(painter, width)
        painter.end()

    def paint_over(self, painter: QPainter, cell_width: float) -> None:
        """Drawn above the cells (nothing by default)."""

    def mousePressEvent(self, event) -> None:  # noqa: N802
        z = self.slice_at(event.position().x())
        if z is not None and event.button() == Qt.MouseButton.LeftButton:
            self.slice_chosen.emit(z)
