"""The image side of the window: the views of the open study in their layout, the slice slider, the review and
confidence strips, the overlay legend, the warning banner, cine and the measuring tools.

It follows the study's signals itself and reports to the window only through its own signals.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from engine.runtime.io import Volume
from engine.runtime.io.nih import boxes_for
from viewer.model.measure import RULER
from viewer.model.study import Study
from viewer.model.tools import ToolSettings
from viewer.qt.confidence_strip import ConfidenceStrip
from viewer.qt.overlay_legend import OverlayLegend
from viewer.qt.progress_strip import ProgressStrip
from viewer.qt.quiet import quietly
from viewer.qt.slice_view import SliceView
from viewer.qt.view_grid import ViewGrid

CINE_INTERVAL_MS = 100  # 10 slices per second
PLACEHOLDER = "Open a CT or a chest X-ray:  Open file (Ctrl+O)  or  Open folder (Ctrl+Shift+O)"


class ViewingArea(QWidget):
    """Shows one study at a time (``show_study``); the views are rebuilt for each."""

    hovered = Signal(str)  # the value under the pointer ("" when it left the image)
    said = Signal(str)
    brush_resized = Signal(int)  # steps, from the mouse wheel with a brush
    cine_changed = Signal(bool)
    measure_changed = Signal(object)  # RULER, ROI or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.views: dict[str, SliceView] = {}
        self.measure: str | None = None
        self.tool: ToolSettings | None = None
        self.pointer_view = "axial"  # the view under the pointer, last seen
        self.cine = QTimer(self, interval=CINE_INTERVAL_MS)
        self.cine.timeout.connect(self._cine_step)
        self._build()

    def _build(self) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#5a4a00; color:#fff3c0; padding:4px;")
        self.banner.hide()
        self.view_grid = ViewGrid()
        self.view_grid.hide()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._go_to_slice)
        self.slice_label = QLabel()
        self.strip = ProgressStrip()
        self.strip.slice_chosen.connect(self._go_to_slice)
        self.confidence_strip = ConfidenceStrip()
        self.confidence_strip.slice_chosen.connect(self._go_to_slice)
        self.overlay_legend = OverlayLegend()
        for widget in (self.slider, self.slice_label, self.strip, self.strip.legend, self.confidence_strip):
            widget.hide()
        self.placeholder = QLabel(PLACEHOLDER)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #666; font-size: 15px;")
        layout = QVBoxLayout(self)
        for widget, stretch in ((self.banner, 0), (self.placeholder, 1), (self.view_grid, 1), (self.slider, 0),
                                (self.strip, 0), (self.confidence_strip, 0), (self.strip.legend, 0)):
            layout.addWidget(widget, stretch)  # the legend under the strip it explains
        below = QHBoxLayout()
        below.addWidget(self.slice_label)
        below.addStretch(1)
        below.addWidget(self.overlay_legend)
        layout.addLayout(below)

    # the study
    def show_study(self, study: Study, tool: ToolSettings) -> None:
        self.stop_cine()
        self.study, self.tool = study, tool
        study.cursor_changed.connect(self.follow_cursor)
        study.window_changed.connect(self._refresh_images)
        study.overlay_changed.connect(self._refresh_overlays)
        study.mask_changed.connect(self._refresh_masks)
        study.review_changed.connect(self._review_changed)
        self.placeholder.hide()
        self.view_grid.show()
        volume = study.volume
        names = ("axial",) if volume.shape[0] == 1 else ("axial", "coronal", "sagittal")
        self.views = {name: SliceView(study, name) for name in names}
        self.view_grid.set_views(self.views)
        self.pointer_view = "axial"
        for name, view in self.views.items():
            view.hovered.connect(lambda text, name=name: self.pointer_over(name, text))
            view.problem.connect(self.said)
            view.maximise_requested.connect(lambda name=name: self.view_grid.toggle_maximise(name))
            view.box.brush_resized.connect(self.brush_resized)
            view.set_tool(tool)
            view.set_measure(self.measure)
        with quietly(self.slider):
            self.slider.setRange(0, volume.shape[0] - 1)
        for widget in (self.slider, self.slice_label):
            widget.setVisible(volume.shape[0] > 1)
        for strip in (self.strip, self.confidence_strip):
            strip.show_study(study)
        self.overlay_legend.show_legend_of(study)
        self._show_strips()
        self._draw_boxes(volume)
        self.follow_cursor()

    def show_warnings(self, found: list[str]) -> None:
        """The banner above the views: what the reader or the model's card says to check (hidden when nothing)."""
        self.banner.setVisible(bool(found))
        self.banner.setText("Check: " + "; ".join(found))

    def follow_cursor(self) -> None:
        z = self.study.cursor[0]
        with quietly(self.slider):
            self.slider.setValue(z)
        self.slice_label.setText(self.study.slice_caption(z))
        for view in self.views.values():
            view.follow_cursor()
        self.strip.update()

    def _refresh_images(self) -> None:
        for view in self.views.values():
            view.refresh_image()

    def _refresh_overlays(self) -> None:
        for view in self.views.values():
            view.refresh_overlay()
        self.overlay_legend.show_legend_of(self.study)

    def _refresh_masks(self, slices: list[int]) -> None:
        for name, view in self.views.items():
            if name != "axial" or view.slice_index in slices:
                view.refresh_overlay()

    def _review_changed(self) -> None:
        self._show_strips()
        self.strip.update()
        self.confidence_strip.update()

    def _show_strips(self) -> None:
        """The review strip exists once there is a review: before a segmentation it would only say 'no liver'."""
        for widget in (self.strip, self.strip.legend, self.confidence_strip):
            widget.setVisible(self.study is not None and self.study.review is not None)

    def _draw_boxes(self, volume: Volume) -> None:
        """NIH radiologist boxes for this image, if a BBox_List_2017.csv lies beside it."""
        if not volume.is_radiograph:
            return
        rows, columns = volume.shape[1:]
        for box in boxes_for(volume.source):
            x, y, w, h = box.scaled(columns, rows)
            dy, dx = volume.spacing[1:]
            rect = pg.QtWidgets.QGraphicsRectItem(x * dx, y * dy, w * dx, h * dy)
            rect.setPen(pg.mkPen((0, 255, 255), width=2, cosmetic=True))
            rect.setZValue(20)  # above the saliency heatmap
            label = pg.TextItem(f"radiologist: {box.label}", color=(0, 255, 255), anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 180))
            label.setZValue(21)
            label.setPos(x * dx, y * dy)
            self.views["axial"].box.addItem(rect)
            self.views["axial"].box.addItem(label)

    # commands
    def step(self, steps: int) -> None:
        if self.study is not None:
            self.study.step(0, steps)

    def jump(self, index: int) -> None:
        """To slice ``index`` (negative from the end)."""
        if self.study is not None:
            self._go_to_slice(index % self.study.volume.shape[0])

    def _go_to_slice(self, z: int) -> None:
        if self.study is not None:
            self.study.set_cursor(z, *self.study.cursor[1:])

    def set_tool(self, tool: ToolSettings) -> None:
        self.tool = tool
        for view in self.views.values():
            view.set_tool(tool)

    def toggle_cine(self) -> None:
        """Play through the axial slices (looping) or stop."""
        playing = self.study is not None and self.study.volume.shape[0] > 1 and not self.cine.isActive()
        self.cine.start() if playing else self.cine.stop()
        self.cine_changed.emit(playing)

    def stop_cine(self) -> None:
        if self.cine.isActive():
            self.toggle_cine()

    def _cine_step(self) -> None:
        if self.study is None:
            self.stop_cine()
            return
        self._go_to_slice((self.study.cursor[0] + 1) % self.study.volume.shape[0])

    def set_measure(self, kind: str | None) -> None:
        """Pick up the ruler or the ROI tool (the same key again puts it down)."""
        self.measure = None if kind == self.measure else kind
        for view in self.views.values():
            view.set_measure(self.measure)
        if self.measure is not None:
            self.said.emit(("Drag across the image to measure a distance" if self.measure == RULER else
                            "Drag an ellipse over the region") + "; Esc puts the tool down, Del removes them.")
        self.measure_changed.emit(self.measure)

    def clear_measurements(self) -> None:
        for view in self.views.values():
            view.clear_measurements()

    def fit_views(self) -> None:
        """Every view back to its whole image (after zooming and panning)."""
        for view in self.views.values():
            view.fit()

    def maximise(self) -> None:
        """The view under the pointer alone, or back to the layout."""
        if self.views:
            self.view_grid.toggle_maximise(self.pointer_view)

    def pointer_over(self, view: str, text: str) -> None:
        if text:
            self.pointer_view = view
        self.hovered.emit(text)

