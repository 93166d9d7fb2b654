"""The legend of the overlay on screen: named colour swatches, or the saliency colour ramp with low and high ends."""

from __future__ import annotations

from html import escape

import numpy as np
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import QHBoxLayout, QLabel, QWidget

from viewer.model.overlay import Legend, heat_lut, overlay_legend
from viewer.model.study import Study

RAMP_SIZE = (160, 12)


class OverlayLegend(QWidget):
    """Reads the study's overlay; hidden when no overlay is drawn."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.legend: Legend | None = None
        self.text, self.ramp, self.high = QLabel(), QLabel(), QLabel("high")
        self.ramp.setPixmap(_ramp_pixmap())
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for widget in (self.text, self.ramp, self.high):
            layout.addWidget(widget)
        self.hide()

    def show_legend_of(self, study: Study | None) -> None:
        self.legend = None if study is None else overlay_legend(study)
        self.setVisible(self.legend is not None)
        if self.legend is None:
            return
        self.setToolTip(self.legend.describe())
        for widget in (self.ramp, self.high):
            widget.setVisible(self.legend.ramp)
        if self.legend.ramp:
            self.text.setText(f"<b>{escape(self.legend.title)}</b>&nbsp; low")
        else:
            swatches = "&nbsp;&nbsp;".join("<font color='#{:02x}{:02x}{:02x}'>&#9632;</font> {}".format(*colour, escape(text))
                                           for colour, text in self.legend.swatches)
            self.text.setText(f"<b>{escape(self.legend.title)}</b>&nbsp; {swatches}")


def _ramp_pixmap() -> QPixmap:
    """heat_lut as a horizontal bar, composited over mid grey so the transparent low end reads as 'nothing drawn'."""
    width, height = RAMP_SIZE
    lut = heat_lut()[np.linspace(0, 255, width).astype(int)].astype(np.float32)
    alpha = lut[:, 3:] / 255
    rgb = (lut[:, :3] * alpha + 90 * (1 - alpha)).astype(np.uint8)
    bar = np.ascontiguousarray(np.repeat(rgb[None], height, axis=0))
    image = QImage(bar.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return QPixmap.fromImage(image.copy())
