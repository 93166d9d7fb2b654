"""The ruler and region-of-interest items drawn on one view; each belongs to the slice it was drawn on."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsLineItem

from viewer.model.measure import RULER, distance_caption, ellipse_statistics

COLOUR = (120, 255, 120)


@dataclass
class Measurement:
    kind: str
    slice_index: int
    start: tuple[float, float]
    end: tuple[float, float]
    shape: QGraphicsLineItem | QGraphicsEllipseItem
    label: pg.TextItem

    def items(self):
        return (self.shape, self.label)


class Measurements:
    """Adds, updates and removes measurement items in ``box``; ``plane()`` gives the values of the shown slice."""

    def __init__(self, box: pg.ViewBox, plane, pixel: tuple[float, float], unit: str, in_pixels: bool = False):
        self.box, self.plane, self.pixel, self.unit, self.in_pixels = box, plane, pixel, unit, in_pixels
        self.done: list[Measurement] = []
        self.current: Measurement | None = None

    def stroke(self, kind: str, phase: str, slice_index: int, point: QPointF) -> None:
        """A drag: "start" begins a ruler or an ellipse at ``point``, "move" and "finish" pull its other end."""
        position = (point.x(), point.y())
        if phase == "start" or self.current is None:
            self.current = self._new(kind, slice_index, position)
        self.current.end = position
        self._draw(self.current)
        if phase == "finish":
            self.done.append(self.current)
            self.current = None

    def show_slice(self, slice_index: int) -> None:
        """Only the measurements made on the slice shown are visible."""
        for measurement in self.done:
            for item in measurement.items():
                item.setVisible(measurement.slice_index == slice_index)

    def clear(self, slice_index: int) -> None:
        """Remove the measurements of ``slice_index``."""
        for measurement in [m for m in self.done if m.slice_index == slice_index]:
            for item in measurement.items():
                self.box.removeItem(item)
            self.done.remove(measurement)

    def captions(self, slice_index: int) -> list[str]:
        return [m.label.toPlainText() for m in self.done if m.slice_index == slice_index]

    def _new(self, kind: str, slice_index: int, position: tuple[float, float]) -> Measurement:
        shape = QGraphicsLineItem() if kind == RULER else QGraphicsEllipseItem()
        shape.setPen(pg.mkPen(COLOUR, width=2, cosmetic=True))
        shape.setZValue(40)
        label = pg.TextItem("", color=COLOUR, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 170))
        label.setZValue(41)
        for item in (shape, label):
            self.box.addItem(item, ignoreBounds=True)
        return Measurement(kind, slice_index, position, position, shape, label)

    def _draw(self, measurement: Measurement) -> None:
        (x0, y0), (x1, y1) = measurement.start, measurement.end
        if measurement.kind == RULER:
            measurement.shape.setLine(x0, y0, x1, y1)
            text = distance_caption(measurement.start, measurement.end, self.in_pixels)
        else:
            measurement.shape.setRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
            stats = ellipse_statistics(np.asarray(self.plane()), self.pixel, measurement.start, measurement.end, self.unit)
            text = replace(stats, in_pixels=self.in_pixels).caption()
        measurement.label.setText(text)
        measurement.label.setPos(max(x0, x1), min(y0, y1))

