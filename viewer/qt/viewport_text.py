"""The text in a view's corners and its scale bar: widgets pinned to the viewport, above the image."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QLabel, QWidget

from viewer.model.viewport import Corners, scale_bar_mm, scale_caption

TEXT_STYLE = "color: rgb(225, 225, 225); background: transparent; font-size: 11px;"
MARGIN = 6
BAR_SHARE = 0.25  # the scale bar is at most this share of the view's width


class ScaleBar(QWidget):
    """A horizontal bar of a round length in mm, with its length written above it."""

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.length_mm, self.length_px = 0.0, 0
        self.in_pixels = False  # the image has no pixel size: its "mm" are pixels, and the bar says so

    def set_scale(self, mm_per_pixel: float, view_width: int) -> None:
        self.length_mm = scale_bar_mm(mm_per_pixel, view_width * BAR_SHARE)
        self.length_px = round(self.length_mm / mm_per_pixel) if self.length_mm else 0
        self.setVisible(self.length_px > 0)
        self.resize(max(self.length_px, 60) + 2, 26)
        self.update()

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt naming
        painter = QPainter(self)
        painter.setPen(QPen(QColor(225, 225, 225), 2))
        right, bottom = self.width() - 1, self.height() - 3
        painter.drawLine(right - self.length_px, bottom, right, bottom)
        for x in (right - self.length_px, right):
            painter.drawLine(x, bottom - 5, x, bottom)
        painter.drawText(0, 0, right, bottom - 6, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignBottom,
                         scale_caption(self.length_mm, self.in_pixels))
        painter.end()


class ViewportText:
    """Three corners of text and the scale bar in the fourth, laid over ``view``."""

    def __init__(self, view: QWidget):
        self.view = view
        self.top_left, self.top_right, self.bottom_left = (self._label(view) for _ in range(3))
        self.top_right.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.scale_bar = ScaleBar(view)

    def show(self, corners: Corners, mm_per_pixel: float) -> None:
        for label, text in ((self.top_left, corners.top_left), (self.top_right, corners.top_right),
                            (self.bottom_left, corners.bottom_left)):
            label.setText(text)
            label.adjustSize()
        self.scale_bar.set_scale(mm_per_pixel, self.view.width())
        self.place()

    def place(self) -> None:
        width, height = self.view.width(), self.view.height()
        self.top_left.move(MARGIN, MARGIN)
        self.top_right.move(width - self.top_right.width() - MARGIN, MARGIN)
        self.bottom_left.move(MARGIN, height - self.bottom_left.height() - MARGIN)
        self.scale_bar.move(width - self.scale_bar.width() - MARGIN, height - self.scale_bar.height() - MARGIN)

    def texts(self) -> Corners:
        return Corners(self.top_left.text(), self.top_right.text(), self.bottom_left.text())

    @staticmethod
    def _label(parent: QWidget) -> QLabel:
        label = QLabel(parent)
        label.setStyleSheet(TEXT_STYLE)
        label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        label.setTextFormat(Qt.TextFormat.PlainText)
        return label
