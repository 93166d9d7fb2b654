"""One plane of the study (axial, coronal or sagittal): image, overlay, crosshair, in millimetres."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsEllipseItem, QLabel

from viewer.model import planes
from viewer.model.measure import ROI, RULER
from viewer.model.overlay import comparison_rgba, heatmap_rgba, mask_rgba, overlay_kind
from viewer.model.study import Study
from viewer.model.tools import BRUSH, ERASER, FILL, ToolSettings
from viewer.model.viewport import corners
from viewer.qt.measurements import Measurements
from viewer.qt.viewport_text import ViewportText

FIT_PADDING = 0.06  # around the image when it is fitted to the view
WHEEL_TICK = 120  # Qt's angle delta of one wheel notch
NONFINITE_RGBA = (255, 0, 255, 255)  # NaN / infinite voxels: magenta, a colour no grey value can take


class SliceViewBox(pg.ViewBox):
    """Radiology mouse: wheel = slice, ctrl+wheel = zoom, left = point, middle/left-drag = pan, right-drag = W/L.

    With an editing tool in hand, left-drag is a brush stroke, a left click a dab (or a fill) and
    shift+wheel resizes the brush; middle-drag still pans.
    """

    scrolled = Signal(int)
    window_dragged = Signal(float, float)
    clicked = Signal(QPointF)
    stroked = Signal(str, QPointF)  # phase ("start", "move", "finish"), scene position
    brush_resized = Signal(int)
    double_clicked = Signal()

    def __init__(self) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._wheel = 0
        self.editing = False

    def wheelEvent(self, ev, axis=None):  # noqa: N802 - Qt naming
        if ev.modifiers() & Qt.KeyboardModifier.ControlModifier:
            return super().wheelEvent(ev, axis)
        self._wheel += ev.delta()
        steps = int(self._wheel / WHEEL_TICK)
        self._wheel -= steps * WHEEL_TICK
        if steps:
            resize = self.editing and ev.modifiers() & Qt.KeyboardModifier.ShiftModifier
            (self.brush_resized if resize else self.scrolled).emit(steps)
        ev.accept()

    def mouseDragEvent(self, ev, axis=None):  # noqa: N802
        if ev.button() == Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            self.window_dragged.emit(delta.x(), delta.y())
            return
        if self.editing and ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            phase = "start" if ev.isStart() else "finish" if ev.isFinish() else "move"
            self.stroked.emit(phase, ev.scenePos())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev):  # noqa: N802
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            (self.double_clicked.emit() if ev.double() else self.clicked.emit(ev.scenePos()))


class SliceView(pg.GraphicsView):
    """A view of ``study`` along one plane; it keeps no state of its own beyond what is drawn."""

    hovered = Signal(str)
    problem = Signal(str)
    maximise_requested = Signal()

    def __init__(self, study: Study, view: str, parent=None):
        super().__init__(parent, background="k")
        self.study, self.view = study, view
        self.box = SliceViewBox()
        self.setCentralItem(self.box)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.invalid = pg.ImageItem(axisOrder="row-major")
        self.invalid.setZValue(5)
        pen = pg.mkPen((80, 200, 255, 160), width=1)
        self.vline, self.hline = pg.InfiniteLine(angle=90, pen=pen), pg.InfiniteLine(angle=0, pen=pen)
        for item in (self.image, self.invalid, self.overlay, self.vline, self.hline):
            self.box.addItem(item, ignoreBounds=item in (self.vline, self.hline))
        self._add_labels()
        self.box.scrolled.connect(lambda steps: study.step(planes.SLICE_AXIS[view], steps))
        self.box.window_dragged.connect(self._drag_window)
        self.box.clicked.connect(self._click)
        self.box.stroked.connect(self._stroke)
        self.box.double_clicked.connect(self.maximise_requested)
        self.box.sigRangeChanged.connect(lambda *_: self.annotate())
        self.tool = ToolSettings()
        self.measure: str | None = None  # RULER or ROI while measuring
        self._last_dab: tuple[float, float] | None = None
        self.brush_outline = QGraphicsEllipseItem()
        self.brush_outline.setPen(pg.mkPen((255, 255, 0), width=1, cosmetic=True))
        self.brush_outline.setZValue(30)
        self.brush_outline.hide()
        self.box.addItem(self.brush_outline, ignoreBounds=True)
        self._last_hover: QPointF | None = None
        self.scene().sigMouseMoved.connect(self._hover)
        self.text = ViewportText(self)
        self.refresh_image()  # the image must exist before its rectangle in mm can be set
        self._set_geometry()
        unit = "HU" if study.volume.modality == "CT" else ""
        in_pixels = not study.volume.pixel_spacing_known
        self.measurements = Measurements(self.box, lambda: self._plane(study.volume.array), self._pixel, unit, in_pixels)
        self.text.scale_bar.in_pixels = in_pixels
        self.refresh_overlay()
        self.refresh_crosshair()

    # drawing
    def refresh(self) -> None:
        self.refresh_image()
        self.refresh_overlay()
        self.refresh_crosshair()

    def follow_cursor(self) -> None:
        """After the crosshair moved: redraw the plane only if this view's slice changed (and probe the new slice
        under a pointer that stayed where it was)."""
        if self.slice_index != self._shown_index:
            self.refresh_image()
            self.refresh_overlay()
            if self._last_hover is not None:  # the pointer is still over this view (leaving clears it)
                self._hover(self._last_hover)
        self.refresh_crosshair()
        self.annotate()

    def refresh_image(self) -> None:
        self._shown_index = self.slice_index
        low, high = self.study.window.bounds
        plane = self._plane(self.study.volume.array)
        if self.study.volume.nonfinite:
            bad = ~np.isfinite(plane)
            plane = np.where(bad, low, plane)
            rgba = np.zeros((*plane.shape, 4), np.uint8)
            rgba[bad] = NONFINITE_RGBA
            self.invalid.setImage(rgba, autoLevels=False, levels=(0, 255))
            if hasattr(self, "_rect"):  # not yet on the first draw: _set_geometry sets it
                self.invalid.setRect(self._rect)
        self.image.setImage(plane, autoLevels=False, levels=(low, high))
        if hasattr(self, "measurements"):  # not yet on the first draw
            self.measurements.show_slice(self._shown_index)
        self.annotate()

    def refresh_overlay(self) -> None:
        rgba = self.overlay_rgba()
        if rgba is None:
            self.overlay.clear()
        else:
            self.overlay.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.overlay.setRect(self._rect)  # pixels to mm, like the image under it

    def refresh_crosshair(self) -> None:
        shape = self.study.volume.shape
        row, column = planes.display_position(shape, self.view, self.study.cursor)
        dy, dx = self._pixel
        self.vline.setPos((column + 0.5) * dx)
        self.hline.setPos((row + 0.5) * dy)
        show = shape[0] > 1
        self.vline.setVisible(show)
        self.hline.setVisible(show)

    def overlay_rgba(self) -> np.ndarray | None:
        """The overlay picture for the current plane, or None when nothing is to be shown."""
        study, style = self.study, self.study.style
        kind = overlay_kind(study)
        fill = 0.0 if style.outline else style.opacity  # outline only: the edges stay opaque
        if kind == "saliency":
            return heatmap_rgba(study.saliency_image(), min(1.0, style.opacity * 1.4))
        if kind == "comparison":
            return comparison_rgba(self._plane(study.comparison.codes), fill)
        if kind == "disagreement":
            return comparison_rgba(self._plane(study.disagreement.codes), fill)
        if kind == "prediction":
            return mask_rgba(self._plane(study.mask), style.colour, fill)
        return None

    # editing (axial view only: a correction is made on the slice being read)
    def set_tool(self, tool: ToolSettings) -> None:
        self.tool = tool
        self._capture_drags()

    def set_measure(self, kind: str | None) -> None:
        """RULER or ROI: a left drag measures (instead of panning or editing); None goes back to the tool."""
        self.measure = kind if kind in (RULER, ROI) else None
        self._capture_drags()

    def clear_measurements(self) -> None:
        self.measurements.clear(self.slice_index)

    def _capture_drags(self) -> None:
        editing = self.tool.edits and self.view == "axial" and self.measure is None
        self.box.editing = editing or self.measure is not None
        self.brush_outline.setVisible(editing and self.tool.tool in (BRUSH, ERASER))

    def _pixel_at(self, scene_pos: QPointF) -> tuple[float, float]:
        local = self.image.mapFromScene(scene_pos)
        return local.y(), local.x()

    def _stroke(self, phase: str, scene_pos: QPointF) -> None:
        if self.measure is not None:
            self.measurements.stroke(self.measure, phase, self.slice_index, self.box.mapSceneToView(scene_pos))
            return
        study = self.study
        if study.editor is None or self.tool.tool not in (BRUSH, ERASER):
            return
        row, column = self._pixel_at(scene_pos)
        if phase == "start":
            study.begin_stroke()
            self._last_dab = None
        self._dab_along(row, column)
        if phase == "finish":
            study.end_stroke()
            self._last_dab = None

    def _dab_along(self, row: float, column: float) -> None:
        """Dabs from the last one to (row, column), close enough to leave no gaps."""
        start = self._last_dab or (row, column)
        distance = float(np.hypot(row - start[0], column - start[1]))
        steps = max(int(distance / max(self.tool.radius / 2, 0.5)), 1)
        for t in np.linspace(0, 1, steps + 1)[1 if self._last_dab else 0:]:
            self.study.paint(start[0] + t * (row - start[0]), start[1] + t * (column - start[1]),
                             self.tool.radius, erase=self.tool.tool == ERASER, depth=self.tool.depth)
        self._last_dab = (row, column)

    def _use_tool_at(self, scene_pos: QPointF) -> None:
        row, column = self._pixel_at(scene_pos)
        rows, columns = self.study.volume.shape[1:]
        if self.study.editor is None or not (0 <= row < rows and 0 <= column < columns):
            return
        if self.tool.tool == FILL:
            try:
                self.study.fill_hole(int(row), int(column))
            except ValueError as err:
                self.problem.emit(str(err))
        else:
            self.study.paint(row, column, self.tool.radius, erase=self.tool.tool == ERASER, depth=self.tool.depth)

    def _show_brush(self, scene_pos: QPointF) -> None:
        if not self.brush_outline.isVisible():
            return
        row, column = self._pixel_at(scene_pos)
        dy, dx = self._pixel
        r = self.tool.radius
        self.brush_outline.setRect(QRectF((column - r) * dx, (row - r) * dy, 2 * r * dx, 2 * r * dy))

    # helpers
    @property
    def slice_index(self) -> int:
        return self.study.cursor[planes.SLICE_AXIS[self.view]]

    def _plane(self, array: np.ndarray) -> np.ndarray:
        return planes.plane(array, self.view, self.slice_index)

    def _set_geometry(self) -> None:
        self._pixel = planes.pixel_size(self.study.volume.spacing, self.view)
        rows, columns = self._plane(self.study.volume.array).shape
        self._rect = rect = QRectF(0, 0, columns * self._pixel[1], rows * self._pixel[0])
        self.image.setRect(rect)
        if self.study.volume.nonfinite:
            self.invalid.setRect(rect)
        self.box.setRange(rect, padding=FIT_PADDING)
        self.box.disableAutoRange()  # overlays must never re-zoom the view

    def _add_labels(self) -> None:
        """Orientation letters pinned to the viewport's edges: they stay in sight however the image is zoomed."""
        self.labels = []
        for text in self.letters():
            label = QLabel(text, self)
            label.setStyleSheet("color: rgb(230, 200, 60); background: transparent; font-weight: bold;")
            label.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.adjustSize()
            self.labels.append(label)

    def letters(self) -> tuple[str, str, str, str]:
        """(top, bottom, left, right) patient directions, from the direction matrix (a radiograph's
        from its PatientOrientation; none when the file does not give one)."""
        volume = self.study.volume
        if volume.is_radiograph and "PatientOrientation" not in volume.metadata:
            return ("", "", "", "")
        return planes.edge_letters(volume.direction, self.view)

    def _place_labels(self) -> None:
        """Top, bottom, left and right letters at the middles of the viewport's edges."""
        top, bottom, left, right = self.labels
        width, height, margin = self.width(), self.height(), 4
        top.move((width - top.width()) // 2, margin)
        bottom.move((width - bottom.width()) // 2, height - bottom.height() - margin)
        left.move(margin, (height - left.height()) // 2)
        right.move(width - right.width() - margin, (height - right.height()) // 2)

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().resizeEvent(event)
        if hasattr(self, "labels"):  # pyqtgraph resizes once before __init__ has made them
            self._place_labels()
        if hasattr(self, "_rect"):
            self.annotate()

    # annotations
    @property
    def zoom(self) -> float:
        """Screen pixels per mm now, relative to the whole image fitted in the view (1.0)."""
        (x0, x1), (y0, y1) = self.box.viewRange()
        width, height = max(self.box.width(), 1.0), max(self.box.height(), 1.0)
        now = min(width / max(x1 - x0, 1e-9), height / max(y1 - y0, 1e-9))
        padded = 1 + 2 * FIT_PADDING
        fitted = min(width / (self._rect.width() * padded), height / (self._rect.height() * padded))
        return now / fitted

    def annotate(self) -> None:
        """Rewrite the corner text and the scale bar (slice, window and zoom change them)."""
        if not hasattr(self, "_rect"):
            return
        mm_per_pixel = self.box.viewPixelSize()[0]
        self.text.show(corners(self.study, self.view, self.zoom), mm_per_pixel)

    def fit(self) -> None:
        """Zoom and pan back to the whole image."""
        self.box.setRange(self._rect, padding=FIT_PADDING)

    def _voxel(self, scene_pos: QPointF) -> tuple[int, int, int] | None:
        local = self.image.mapFromScene(scene_pos)
        rows, columns = self._plane(self.study.volume.array).shape
        row, column = int(np.floor(local.y())), int(np.floor(local.x()))
        if not (0 <= row < rows and 0 <= column < columns):
            return None
        return planes.voxel_at(self.study.volume.shape, self.view, self.slice_index, row, column)

    def _click(self, scene_pos: QPointF) -> None:
        if self.measure is not None:
            return
        if self.box.editing:
            self._use_tool_at(scene_pos)
            return
        voxel = self._voxel(scene_pos)
        if voxel is not None:
            self.study.set_cursor(*voxel)

    def _hover(self, scene_pos: QPointF) -> None:
        self._last_hover = scene_pos
        self._show_brush(scene_pos)
        voxel = self._voxel(scene_pos)
        self.hovered.emit("" if voxel is None else self.study.probe(*voxel))

    def leaveEvent(self, event) -> None:  # noqa: N802 - Qt naming
        self._last_hover = None
        self.hovered.emit("")  # a value shown with no pointer over the image would be stale
        super().leaveEvent(event)

    def _drag_window(self, dx: float, dy: float) -> None:
        sensitivity = max(self.study.window.width, 50.0) / 250.0
        self.study.set_window(self.study.window.dragged(dx, dy, sensitivity))
