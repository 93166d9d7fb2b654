"""The main window: three linked planes (or one radiograph), result panels, and the engine in a worker."""

from __future__ import annotations

from dataclasses import replace
from html import escape
from pathlib import Path

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import (
    QDockWidget, QFileDialog, QHBoxLayout, QInputDialog, QLabel, QMainWindow, QMessageBox, QProgressBar, QMenu,
    QPushButton, QSlider, QTabWidget, QVBoxLayout, QWidget,
)

from engine.runtime.contract import check_contract
from engine.runtime.errors import EngineError
from engine.runtime.signing import PublicKey, trust_key
from engine.runtime.io import ImageSource, Volume, read_mask
from engine.runtime.io.mask_labels import label_names
from engine.runtime.io.masks import labels_present
from engine.runtime.io.nih import boxes_for
from viewer import tasks
from viewer.bundles import InstalledModels, installed_models
from viewer.model.energy_report import card_html, costs_html, energy_html, training_study_warning
from viewer.model.measure import ROI, RULER
from viewer.model.recent import RecentStudies, menu_label
from viewer.model.session import sessions_folder
from viewer.model.review import ACCEPT, ACCEPTED, EDITED, FLAGGED, REJECT
from viewer.model.study import Study
from viewer.model.tools import BRUSH, ERASER, FILL, NAVIGATE
from viewer.model.window_level import preset_name
from viewer.qt.confidence_strip import ConfidenceStrip
from viewer.qt.exporter import Exporter
from viewer.qt.findings_panel import FindingsPanel
from viewer.qt.html_panel import HtmlPanel
from viewer.qt.menus import PRESET_COMMANDS, build_menu_bar, build_toolbar, make_actions
from viewer.qt.overlay_legend import OverlayLegend
from viewer.qt.progress_strip import ProgressStrip
from viewer.qt.review_panel import ReviewPanel
from viewer.qt.segmentation_panel import SegmentationPanel
from viewer.qt.session_keeper import SessionKeeper
from viewer.qt.shortcut_sheet import ShortcutSheet
from viewer.qt.slice_view import SliceView
from viewer.qt.view_grid import LAYOUT_TITLES, ViewGrid
from viewer.qt.welcome_dialog import WelcomeDialog
from viewer.qt.worker import TaskRunner
from viewer.samples import available_samples, sample
from viewer.welcome import config_folder
from viewer.qt.quiet import quietly

IMAGE_FILTER = "Images (*.dcm *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"
MASK_FILTER = "Masks (*.nii *.nii.gz *.nrrd *.mha *.dcm);;All files (*)"
CINE_INTERVAL_MS = 100  # 10 slices per second
ALL_MARKED = "Every slice under review is marked. Export the review with Ctrl+E."


class MainWindow(QMainWindow):
    """Owns the Study and the TaskRunner; every widget reads from the study and writes through it."""

    def __init__(self, models: InstalledModels | None = None):
        super().__init__()
        self.setWindowTitle("SaDNN Viewer - verify every prediction")
        self.resize(1400, 900)
        self.models = models if models is not None else installed_models()
        self.sessions = SessionKeeper(self, sessions_folder())
        self.exporter = Exporter(self)
        self.study: Study | None = None
        self.last_error: str | None = None  # the last message shown by show_error
        self.views: dict[str, SliceView] = {}
        self.measure: str | None = None  # RULER or ROI while measuring
        self.recent = RecentStudies(config_folder() / "recent.json")
        self._opening: Path | None = None  # what the user asked to open, remembered once it opened
        self.runner = TaskRunner(self)
        self._build_panels()
        self._build_status_bar()
        self._build_actions()
        self._connect_runner()
        self._show_welcome()

    # building
    def _build_panels(self) -> None:
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background:#5a4a00; color:#fff3c0; padding:4px;")
        self.banner.hide()
        self.view_grid = ViewGrid()
        self.view_grid.hide()
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.valueChanged.connect(self._slider_moved)
        self.slice_label = QLabel()
        self.strip = ProgressStrip()
        self.strip.slice_chosen.connect(self._slider_moved)
        self.confidence_strip = ConfidenceStrip()
        self.confidence_strip.slice_chosen.connect(self._slider_moved)
        self.overlay_legend = OverlayLegend()
        for widget in (self.slider, self.slice_label, self.strip, self.strip.legend, self.confidence_strip):
            widget.hide()
        self.placeholder = QLabel("Open a CT or a chest X-ray:  Open file (Ctrl+O)  or  Open folder (Ctrl+Shift+O)")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet("color: #666; font-size: 15px;")
        central = QWidget()
        layout = QVBoxLayout(central)
        layout.addWidget(self.banner)
        layout.addWidget(self.placeholder, 1)
        layout.addWidget(self.view_grid, 1)
        layout.addWidget(self.slider)
        layout.addWidget(self.strip)
        layout.addWidget(self.confidence_strip)
        layout.addWidget(self.strip.legend)  # under the strip it explains (two rows: no legend forces the width)
        below = QHBoxLayout()
        below.addWidget(self.slice_label)
        below.addStretch(1)
        below.addWidget(self.overlay_legend)
        layout.addLayout(below)
        self.setCentralWidget(central)
        self.findings, self.segmentation, self.review = FindingsPanel(), SegmentationPanel(), ReviewPanel()
        self.review.tool_changed.connect(self._tool_changed)
        self.energy = HtmlPanel("Run a model to see what the inference cost.")
        self.card = HtmlPanel("Run a model to see its model card.")
        self.tabs = QTabWidget()
        for widget, title in ((self.findings, "Findings"), (self.review, "Review"), (self.segmentation, "Segmentation"),
                              (self.energy, "Energy"), (self.card, "Model card")):
            self.tabs.addTab(widget, title)
        self.results_dock = dock = QDockWidget("Results", self)
        dock.setObjectName("results")
        dock.setWidget(self.tabs)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        dock.setMinimumWidth(380)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
        self.resizeDocks([dock], [560], Qt.Orientation.Horizontal)  # the findings table with its evidence columns

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.message, self.probe, self.window_label = QLabel("Open a study."), QLabel(), QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p%")
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.runner.cancel)
        bar.addWidget(self.message, 1)
        for widget in (self.probe, self.window_label, self.progress, self.eta, self.cancel_button):
            bar.addPermanentWidget(widget)
        self._set_busy(False)

    def _build_actions(self) -> None:
        """Every command as an action with its keys (viewer.model.shortcuts), in menus and a short toolbar."""
        step, preset = (lambda n: lambda: self._step(n)), (lambda name: lambda: self._preset(name))
        tool = lambda name: lambda: self.review.set_tool(tool=name)  # noqa: E731
        slots = {
            "open_file": self.choose_file, "open_folder": self.choose_folder, "export": lambda: self.export_review(),
            "screenshot": lambda: self.save_screenshot(), "quit": self.close,
            "segment": lambda: self.segment(), "compare_fp32": lambda: self.segment(with_fp32=True),
            "classify": self.classify, "reference": self.choose_reference,
            "next_slice": step(1), "previous_slice": step(-1), "ten_up": step(10), "ten_down": step(-10),
            "first_slice": lambda: self._jump(0), "last_slice": lambda: self._jump(-1), "cine": self.toggle_cine,
            "fit": self.fit_views, "maximise": self.maximise_view, "results_panel": self.toggle_results_panel,
            "full_screen": self.toggle_full_screen, "overlay": self._toggle_overlay, "outline": self._toggle_outline,
            **{command: preset(name) for command, name in PRESET_COMMANDS.items()},
            "accept": lambda: self._verdict(ACCEPTED, ACCEPT), "flag": lambda: self._verdict(FLAGGED, None),
            "edited": lambda: self._verdict(EDITED, None), "reject": lambda: self._verdict(None, REJECT),
            "next_unreviewed": self._next_unreviewed, "least_confident": self.next_least_confident,
            "note": self._focus_note, "auto_advance": self._toggle_auto_advance,
            "navigate": tool(NAVIGATE), "brush": tool(BRUSH), "eraser": tool(ERASER), "fill": tool(FILL),
            "smaller_brush": lambda: self._resize_brush(-1), "larger_brush": lambda: self._resize_brush(1),
            "undo": self._undo, "redo": self._redo,
            "ruler": lambda: self.set_measure(RULER), "roi": lambda: self.set_measure(ROI),
            "clear_measurements": self.clear_measurements, "cancel": self._cancel, "shortcut_sheet": self.show_shortcuts,
        }
        self.actions = make_actions(self, slots)
        self.actions["results_panel"].setChecked(True)
        self.actions["overlay"].setChecked(True)
        presets = QMenu("Window presets", self)
        presets.addActions([self.actions[command] for command in PRESET_COMMANDS])
        submenus = {"samples": self._sample_menu(), "recent": self._recent_menu(), "layouts": self._layout_menu(),
                    "models": self._models_menu(), "about": self._about_action()}
        build_menu_bar(self, self.actions, submenus)
        self.window_button = build_toolbar(self, self.actions, submenus["samples"], presets)
        self.cine = QTimer(self, interval=CINE_INTERVAL_MS)
        self.cine.timeout.connect(self._cine_step)
        self.refresh_actions()

    def _sample_menu(self) -> QMenu:
        """'Open sample' with the real images shipped with the app (see viewer.samples)."""
        menu = QMenu("Open sample", self)
        for item in available_samples():
            action = menu.addAction(item.title)
            action.setToolTip(item.credit)
            action.triggered.connect(lambda _checked=False, key=item.key: self.open_sample(key))
        if not menu.actions():
            menu.addAction("No samples installed (make samples)").setEnabled(False)
        return menu

    def _recent_menu(self) -> QMenu:
        menu = QMenu("Open recent", self)
        menu.aboutToShow.connect(lambda: self._fill_recent(menu))
        return menu

    def _fill_recent(self, menu: QMenu) -> None:
        menu.clear()
        for path in self.recent.paths():
            menu.addAction(menu_label(path)).triggered.connect(lambda _checked=False, path=path: self.open_path(path))
        if not menu.actions():
            menu.addAction("No recent studies").setEnabled(False)
            return
        menu.addSeparator()
        menu.addAction("Clear the list").triggered.connect(self.recent.clear)

    def _layout_menu(self) -> QMenu:
        menu = QMenu("Layout", self)
        group = QActionGroup(self)
        self.layout_actions = {}
        for name, title in LAYOUT_TITLES.items():
            action = group.addAction(title)
            action.setCheckable(True)
            action.setChecked(name == self.view_grid.layout_name)
            action.triggered.connect(lambda _checked=False, name=name: self.view_grid.set_layout(name))
            menu.addAction(action)
            self.layout_actions[name] = action
        return menu

    def _models_menu(self) -> QMenu:
        menu = QMenu("Models", self)
        menu.addAction("Models and signatures...").triggered.connect(self._show_models)
        menu.addAction("Trust a signing key...").triggered.connect(lambda: self.trust_signing_key())
        return menu

    def _about_action(self) -> QAction:
        action = QAction("About this app...", self)
        action.triggered.connect(self.show_welcome)
        return action

    def trust_signing_key(self, path: str | Path | None = None) -> None:
        """Add a public key the user chose to the trusted keys (after showing its signer and fingerprint)."""
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Trust a signing key", "", "Public signing keys (*.pub.json)")
            if not path:
                return
        try:
            key = PublicKey.from_file(Path(path))
        except EngineError as err:
            self.show_error("Cannot read the key", str(err))
            return
        question = (f"Trust every model bundle signed by\n\n  {key.signer}\n  fingerprint {key.key_id}\n\nOnly do this if "
                    "whoever trained the models gave you this fingerprint themselves. Trusted models can run on your "
                    "patients' images.")
        if not self.confirm("Trust a signing key", question, default_yes=False):
            return
        trust_key(Path(path))
        self.models = installed_models(self.models.folder)
        self.refresh_actions()
        self._show_models()
        self.message.setText(f"Trusted {key.as_signer}")

    def _show_models(self) -> None:
        rows = "".join(f"<li><b>{escape(b.card.name)}</b> {escape(b.card.version)} ({escape(task)}): signed by "
                       f"{escape(str(b.signer))}</li>" for task, b in sorted(self.models.by_task.items()))
        refused = "".join(f"<li>{escape(problem)}</li>" for problem in self.models.problems)
        self.card.show_html(f"<h3>Installed models</h3><ul>{rows or '<li>none</li>'}</ul>"
                            + (f"<p><b>Not used</b></p><ul style='color:#c00'>{refused}</ul>" if refused else ""))
        self.tabs.setCurrentWidget(self.card)

    def open_sample(self, key: str) -> None:
        self.open_path(sample(key).path())

    def show_welcome(self) -> None:
        """The first-run screen (also under Open sample > About)."""
        self.welcome = WelcomeDialog(self.open_sample, self)
        self.welcome.open()

    def _connect_runner(self) -> None:
        self.runner.started.connect(lambda name: (self._set_busy(True), self.message.setText(f"{name}...")))
        self.runner.progressed.connect(self._show_progress)
        self.runner.failed.connect(lambda text: self.show_error(f"{self.runner.name} failed", text))
        self.runner.cancelled.connect(lambda: self.message.setText(f"{self.runner.name} cancelled."))
        self.runner.succeeded.connect(self._task_succeeded)
        self.runner.partial.connect(self._task_partial)
        self.runner.finished.connect(self._task_finished)
        self._handlers = (None, None, None)
        self._queued = None  # a job to start as soon as the running one has finished

    # opening
    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open image", "", IMAGE_FILTER)
        if path:
            self.open_path(path)

    def choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open DICOM folder")
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a file, a DICOMDIR or a folder (scanned in the worker); several series open a picker."""
        path = Path(path)
        if not path.exists():
            self.show_error("Cannot open", f"{path} does not exist")
            return
        self._opening = path
        self.run_job(f"Scanning {path.name}", tasks.find_sources(path), self._sources_found)

    def _sources_found(self, sources: list[ImageSource]) -> None:
        source = sources[0] if len(sources) == 1 else self._pick_series(sources)
        if source is not None:
            self._queued = lambda: self.run_job("Opening " + source.label, tasks.load_image(source), self._opened)

    def _opened(self, result: Volume | tasks.MaskFile) -> None:
        if isinstance(result, tasks.MaskFile):
            self._offer_as_reference(result)
        else:
            self.set_volume(result)

    def _offer_as_reference(self, mask: tasks.MaskFile) -> None:
        """A SEG opened as an image: offered as the reference mask of the open CT, else explained."""
        study = self.study
        if study is None or study.volume.is_radiograph:
            self.show_error("Not an image", mask.message)
            return
        name = Path(study.volume.source).name
        question = (f"{mask.path.name} is a DICOM segmentation (SEG), not an image.\n\nLoad it as the reference mask "
                    f"of the open study ({name}), to compare the prediction with it?")
        if self.confirm("Load as reference mask?", question):
            self.load_reference(mask.path)

    def _pick_series(self, sources: list[ImageSource]) -> ImageSource | None:
        labels = [source.label for source in sources]
        label, ok = QInputDialog.getItem(self, "Choose a series", f"{len(sources)} series found:", labels, 0, False)
        return sources[labels.index(label)] if ok else None

    def set_volume(self, volume: Volume) -> None:
        """Show a newly opened image; results of the previous study are dropped."""
        if self.cine.isActive():
            self.toggle_cine()
        self.study = study = Study(volume)
        study.auto_advance = self.actions["auto_advance"].isChecked()
        study.style = replace(study.style, outline=self.actions["outline"].isChecked())
        study.cursor_changed.connect(self._cursor_moved)
        study.window_changed.connect(self._window_changed)
        study.overlay_changed.connect(self._overlay_changed)
        study.mask_changed.connect(self._mask_changed)
        study.review_changed.connect(self._review_changed)
        self._build_views(volume)
        for panel in (self.findings, self.segmentation, self.review, self.strip, self.confidence_strip):
            panel.show_study(study)
        self.energy.show_html(None)
        self.card.show_html(None)
        self.overlay_legend.show_legend_of(study)
        self.probe.clear()  # the last study's value must not stay beside this one
        self._show_warnings(volume)
        self._cursor_moved()
        self.window_label.setText(study.window.label())  # the new views were drawn with this window
        self._show_preset()
        self.actions["overlay"].setChecked(True)
        self.refresh_actions()
        self.tabs.setCurrentWidget(self.findings if volume.is_radiograph else self.segmentation)
        self.message.setText(f"{Path(volume.source).name}: {volume.describe()}")
        if self._opening is not None:
            self.recent.add(self._opening)
            self._opening = None
        self.sessions.watch(study)

    def _build_views(self, volume: Volume) -> None:
        self.placeholder.hide()
        self.view_grid.show()
        names = ("axial",) if volume.shape[0] == 1 else ("axial", "coronal", "sagittal")
        self.views = {name: SliceView(self.study, name) for name in names}
        self.view_grid.set_views(self.views)
        self._pointer_view = "axial"
        for name, view in self.views.items():
            view.hovered.connect(lambda text, name=name: self._hovered(name, text))
            view.problem.connect(self.message.setText)
            view.maximise_requested.connect(lambda name=name: self.view_grid.toggle_maximise(name))
            view.box.brush_resized.connect(self._resize_brush)
            view.set_tool(self.review.tool)
            view.set_measure(self.measure)
        self.slider.setRange(0, volume.shape[0] - 1)
        for widget in (self.slider, self.slice_label):
            widget.setVisible(volume.shape[0] > 1)
        self._show_strip()
        self._draw_boxes(volume)

    def _show_strip(self) -> None:
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

    def _show_warnings(self, volume: Volume, bundle=None) -> None:
        """The reader's banner: problems found reading the study, and whether the model was trained on it."""
        trained_on = "" if bundle is None else training_study_warning(bundle.card, volume)
        found = list(volume.warnings) + ([trained_on] if trained_on else [])
        self.banner.setVisible(bool(found))
        self.banner.setText("Check: " + "; ".join(found))

    # engine
    def segment(self, with_fp32: bool = False) -> None:
        bundle = self.models.get("segmentation")
        if self.study is None or bundle is None:
            return
        try:
            job = tasks.segment_liver(bundle, self.study.volume, with_fp32)
        except EngineError as err:
            self.show_error("Cannot segment", str(err))
            return
        if not self.contract_allows("segmentation", bundle) or not self.sessions.may_replace_review(self.study):
            return
        self.run_job("Segmenting liver", job, self._segmented)

    def _segmented(self, result) -> None:
        self.study.set_segmentation(result)
        self.sessions.save_prediction()
        runs = self.study.volume.shape[0]
        bundle = self.models.get("segmentation")
        fp32 = None if result.fp32 is None else result.fp32.energy
        self.energy.show_html(costs_html(self.study.costs()) + energy_html(bundle.card, result.int8.energy, runs, fp32,
                                                                            result.int8.graph))
        self.card.show_html(card_html(bundle.card, bundle.identity))
        self._show_warnings(self.study.volume, bundle)
        self.tabs.setCurrentWidget(self.review)
        self.study.go_to_next_unreviewed(from_start=True)
        self.message.setText(f"Liver segmented on {runs} slices in {result.int8.energy.seconds:.1f} s (int8). "
                             "Review: A accept, F flag, E edited, N next slice to review.")

    def classify(self) -> None:
        bundle = self.models.get("classification")
        if self.study is None or bundle is None:
            return
        try:
            job = tasks.classify_radiograph(bundle, self.study.volume)
        except EngineError as err:
            self.show_error("Cannot classify", str(err))
            return
        if not self.contract_allows("classification", bundle):
            return
        self.run_job("Classifying", job, self._classified, then=self._start_saliency)

    def contract_allows(self, task: str, bundle) -> bool:
        """Run only on studies the card accepts, unless the user explicitly overrides (recorded in the review)."""
        check = check_contract(self.study.volume, bundle.card.input)
        if check.ok:
            return True
        listed = "\n".join(f"- {problem}" for problem in check.problems)
        question = (f"This study does not meet the input contract of {bundle.card.name}:\n{listed}\n\nThe model's output on "
                    "it may be meaningless. Run it anyway? Your decision is recorded in the review and the report.")
        if not self.confirm("Outside the model's input contract", question, default_yes=False):
            self.message.setText(f"Not run: {check.problems[0]}")
            return False
        self.study.override_contract(task, check.problems)
        return True

    def _classified(self, result) -> None:
        """Show the findings, then refine RISE maps for all of them in the background."""
        bundle = self.models.get("classification")
        self.study.set_classification(result, bundle.identity)
        self.sessions.save_prediction()
        self._show_xray_costs()
        self.card.show_html(card_html(bundle.card, bundle.identity))
        self._show_warnings(self.study.volume, bundle)
        top = int(np.argmax(result.probabilities))
        self.study.select_finding(top)
        self.tabs.setCurrentWidget(self.findings)

    def _start_saliency(self) -> None:
        bundle = self.models.get("classification")
        study = self.study
        if study is None or bundle is None or study.classification is None:
            return
        show = lambda update: study.set_saliency(update.maps, update.done, update.total)  # noqa: E731

        def done(result: tasks.SaliencyResult) -> None:
            update = result.update
            study.set_saliency(update.maps, update.done, update.total, result.energy)
            self._show_xray_costs()
            self.message.setText(f"Saliency ready ({update.total} RISE masks). Select a finding to see its map.")

        self.run_job("Computing RISE saliency", tasks.rise_saliency(bundle, study.volume), done, show)

    def _show_xray_costs(self) -> None:
        """The classification and, once done, its saliency's forward passes, each counted."""
        bundle, result = self.models.get("classification"), self.study.classification
        self.energy.show_html(costs_html(self.study.costs()) + energy_html(bundle.card, result.energy, 1, graph=result.graph))

    def choose_reference(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load reference mask", "", MASK_FILTER)
        if path:
            self.load_reference(path)

    def load_reference(self, path: str | Path, label: int | None = None) -> None:
        """A reference mask; with several labels, the user picks which one is the liver (named where the file or a
        known atlas names them; the liver preselected)."""
        if self.study is None:
            return
        try:
            labels = read_mask(path, self.study.volume)
        except EngineError as err:
            self.show_error("Cannot load the reference mask", str(err))
            return
        present = labels_present(labels)
        names = label_names(path, present)
        if label is None and len(present) > 1:
            liver = names.liver(present)
            where = f" (names from {names.source})" if names.source else " (the file does not name them)"
            chosen = self.choose("Which label is the liver?", f"Labels in {Path(path).name}{where}:",
                                 [names.describe(value) for value in present], current=present.index(liver) if liver else 0)
            if chosen is None:
                return
            label = present[chosen]
        label = label if label is not None else (present[0] if present else 1)
        self.study.set_reference(labels == label)
        if self.study.segmentation is not None:
            self.study.set_style(mode="comparison")
        self.message.setText(f"Reference mask {Path(path).name} (label {names.describe(label)}) loaded.")

    # review
    def _verdict(self, slice_mark: str | None, finding_decision: str | None) -> None:
        """A on a CT marks the slice accepted, on a radiograph accepts the finding (R rejects it)."""
        study = self.study
        if study is None:
            return
        if study.volume.is_radiograph:
            if finding_decision is not None:
                self.findings.decide(finding_decision)
        elif slice_mark is not None and study.review is not None:
            study.mark_slice(slice_mark)

    def _next_unreviewed(self) -> None:
        if self.study is not None and self.study.review is not None and not self.study.go_to_next_unreviewed():
            self.message.setText(ALL_MARKED)

    def _focus_note(self) -> None:
        if self.study is None:
            return
        panel = self.findings if self.study.volume.is_radiograph else self.review
        self.tabs.setCurrentWidget(panel)
        panel.focus_note()

    def _tool_changed(self, tool) -> None:
        for view in self.views.values():
            view.set_tool(tool)
        if tool.edits and self.study is not None and self.study.editor is None:
            self.message.setText("Segment the liver first; the tools correct its mask.")

    def _resize_brush(self, steps: int) -> None:
        self.review.set_tool(radius=self.review.tool.resized(steps).radius)

    def _undo(self) -> None:
        if self.study is not None:
            self.study.undo()

    def _redo(self) -> None:
        if self.study is not None:
            self.study.redo()

    def _mask_changed(self, slices: list[int]) -> None:
        for name, view in self.views.items():
            if name != "axial" or view.slice_index in slices:
                view.refresh_overlay()

    def _review_changed(self) -> None:
        self._show_strip()
        self.refresh_actions()
        self.review.refresh()
        self.strip.update()
        self.confidence_strip.update()
        self.findings.refresh()
        self.segmentation.refresh()

    def confirm(self, title: str, text: str, default_yes: bool = True) -> bool:
        """A yes/no question (tests replace this)."""
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
        answer = QMessageBox.question(self, title, text, buttons, default)
        return answer == QMessageBox.StandardButton.Yes

    def choose(self, title: str, text: str, options: list[str], current: int = 0) -> int | None:
        """Pick one of ``options`` (``current`` preselected); None when cancelled (tests replace this)."""
        dialog = QInputDialog(self)
        dialog.setWindowTitle(title)
        dialog.setLabelText(text)
        dialog.setComboBoxItems(options)
        dialog.setTextValue(options[current])
        dialog.setMinimumWidth(max(420, 9 * max(map(len, [text, *options]))))  # no clipped names
        if dialog.exec() != QInputDialog.DialogCode.Accepted or dialog.textValue() not in options:
            return None
        return options.index(dialog.textValue())

    # export
    def export_review(self, request=None) -> None:
        self.exporter.export_review(request)

    def save_screenshot(self, path=None) -> None:
        self.exporter.save_screenshot(path)

    # reactions to the study
    def _cursor_moved(self) -> None:
        z = self.study.cursor[0]
        with quietly(self.slider):
            self.slider.setValue(z)
        self.slice_label.setText(self.study.slice_caption(z))
        for view in self.views.values():
            view.follow_cursor()
        self.segmentation.refresh()
        self.review.refresh()
        self.strip.update()

    def _window_changed(self) -> None:
        for view in self.views.values():
            view.refresh_image()
        self.window_label.setText(self.study.window.label())
        self._show_preset()

    def _show_preset(self) -> None:
        """The preset the window is now (checked in the menu, named on the toolbar button), or none when adjusted."""
        name = preset_name(self.study.window, self.study.volume.window)
        for command, preset in PRESET_COMMANDS.items():
            self.actions[command].setChecked(preset == name)
        self.window_button.setText(f"W/L: {name or 'custom'}")

    def _overlay_changed(self) -> None:
        for view in self.views.values():
            view.refresh_overlay()
        self.overlay_legend.show_legend_of(self.study)
        self.segmentation.refresh()
        self.findings.refresh()

    # helpers
    def run_job(self, name: str, job, on_success, on_partial=None, then=None) -> None:
        """Run ``job`` in the worker; ``on_success(result)``, ``on_partial(update)``, then ``then()`` when it ends."""
        if self.runner.busy:
            self.message.setText(f"Wait for '{self.runner.name}' to finish or cancel it (Esc).")
            return
        self._handlers = (on_success, on_partial, then)
        self.runner.start(name, job)

    def _task_succeeded(self, result) -> None:
        self._handlers[0](result)

    def _task_partial(self, update) -> None:
        if self._handlers[1] is not None:
            self._handlers[1](update)

    def _task_finished(self) -> None:
        self._set_busy(False)
        self.refresh_actions()
        then, self._handlers = self._handlers[2], (None, None, None)
        queued, self._queued = self._queued, None
        for follow_up in (then, queued):
            if follow_up is not None:
                follow_up()

    def _show_progress(self, done: int, total: int, eta: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta.setText(eta)
        self.message.setText(f"{self.runner.name}: {done} / {total}")

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.progress, self.eta, self.cancel_button):
            widget.setVisible(busy)
        if not busy:
            self.progress.reset()
            self.eta.clear()

    def refresh_actions(self) -> None:
        study = self.study
        seg, cls = self.models.get("segmentation"), self.models.get("classification")
        is_ct = study is not None and study.volume.modality == "CT" and study.volume.shape[0] > 1
        is_xray = study is not None and study.volume.is_radiograph
        self.actions["segment"].setEnabled(is_ct and seg is not None)
        self.actions["compare_fp32"].setEnabled(is_ct and seg is not None)
        self.actions["classify"].setEnabled(is_xray and cls is not None)
        self.actions["reference"].setEnabled(study is not None and not is_xray)
        self.actions["export"].setEnabled(study is not None)
        self.actions["screenshot"].setEnabled(study is not None)
        for command in ("fit", "maximise", "ruler", "roi", "clear_measurements", "outline", "overlay"):
            self.actions[command].setEnabled(study is not None)
        self.actions["cine"].setEnabled(study is not None and study.volume.shape[0] > 1)
        for command in ("next_unreviewed", "least_confident", "undo", "redo"):
            self.actions[command].setEnabled(study is not None and study.review is not None)
        missing = "no {} model installed (" + "; ".join(self.models.problems or ["see resources/models"]) + ")"
        self.actions["segment"].setToolTip("Segment the liver slice by slice (int8)" if seg else missing.format("segmentation"))
        self.actions["classify"].setToolTip("14 chest X-ray findings (int8) and RISE saliency" if cls else missing.format("classification"))

    # reading-room commands
    def toggle_cine(self) -> None:
        """Play through the axial slices (looping) or stop."""
        playing = self.study is not None and self.study.volume.shape[0] > 1 and not self.cine.isActive()
        self.cine.start() if playing else self.cine.stop()
        self.actions["cine"].setChecked(playing)

    def _cine_step(self) -> None:
        if self.study is None:
            self.toggle_cine()
            return
        z = (self.study.cursor[0] + 1) % self.study.volume.shape[0]
        self.study.set_cursor(z, *self.study.cursor[1:])

    def _cancel(self) -> None:
        """Esc: cancel the running task, stop cine, put down a measuring tool."""
        self.runner.cancel()
        if self.cine.isActive():
            self.toggle_cine()
        if self.measure is not None:
            self.set_measure(None)

    def maximise_view(self) -> None:
        """The view under the pointer alone, or back to the layout."""
        if self.views:
            self.view_grid.toggle_maximise(self._pointer_view)

    def _hovered(self, view: str, text: str) -> None:
        self.probe.setText(text)
        if text:
            self._pointer_view = view

    def toggle_results_panel(self) -> None:
        self.results_dock.setVisible(not self.results_dock.isVisible())
        self.actions["results_panel"].setChecked(self.results_dock.isVisible())

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
        self.actions["full_screen"].setChecked(self.isFullScreen())

    def set_measure(self, kind: str | None) -> None:
        """Pick up the ruler or the ROI tool (the same key again, or Esc, puts it down)."""
        self.measure = None if kind == self.measure else kind
        for command, tool in (("ruler", RULER), ("roi", ROI)):
            self.actions[command].setChecked(self.measure == tool)
        for view in self.views.values():
            view.set_measure(self.measure)
        if self.measure is not None:
            self.message.setText(("Drag across the image to measure a distance" if self.measure == RULER else
                                  "Drag an ellipse over the region") + "; Esc puts the tool down, Del removes them.")

    def clear_measurements(self) -> None:
        for view in self.views.values():
            view.clear_measurements()

    def next_least_confident(self) -> None:
        study = self.study
        if study is not None and study.review is not None and not study.go_to_least_confident():
            self.message.setText(ALL_MARKED)

    def _toggle_auto_advance(self) -> None:
        on = self.actions["auto_advance"].isChecked()
        if self.study is not None:
            self.study.auto_advance = on

    def _toggle_outline(self) -> None:
        if self.study is not None:
            self.study.set_style(outline=not self.study.style.outline)
        self.actions["outline"].setChecked(self.study is not None and self.study.style.outline)

    def show_shortcuts(self) -> None:
        self.shortcut_sheet = ShortcutSheet(self)
        self.shortcut_sheet.open()

    def fit_views(self) -> None:
        """Every view back to its whole image (after zooming and panning)."""
        for view in self.views.values():
            view.fit()

    def _step(self, steps: int) -> None:
        if self.study is not None:
            self.study.step(0, steps)

    def _jump(self, index: int) -> None:
        if self.study is not None:
            z = index % self.study.volume.shape[0]
            self.study.set_cursor(z, *self.study.cursor[1:])

    def _slider_moved(self, value: int) -> None:
        if self.study is not None:
            self.study.set_cursor(value, *self.study.cursor[1:])

    def _preset(self, name: str) -> None:
        if self.study is not None:
            self.study.apply_preset(name)

    def _toggle_overlay(self) -> None:
        if self.study is not None:
            self.study.set_style(visible=not self.study.style.visible)
        self.actions["overlay"].setChecked(self.study is None or self.study.style.visible)

    def _show_welcome(self) -> None:
        problems = "" if not self.models.problems else "<p>" + "<br>".join(self.models.problems) + "</p>"
        self.card.show_html(
            "<h3>SaDNN Viewer</h3><p>Open a CT (DICOM folder, NIfTI, NRRD, MHA) to segment the liver, or a chest "
            "X-ray (DICOM, PNG, JPEG) to classify 14 findings. Every prediction is shown with its evidence so you "
            "can verify it.</p><p style='color:#c00'><b>The bundled models are demonstration models, not for "
            f"clinical use.</b></p>{problems}")
        self.tabs.setCurrentWidget(self.card)

    def show_error(self, title: str, text: str) -> None:
        """A specific message in a dialog and in the status bar; the window stays usable."""
        self.message.setText(f"{title}: {text}")
        self.last_error = f"{title}: {text}"
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        self.error_box.open()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.cine.stop()
        self.runner.cancel()
        self.runner.wait()
        super().closeEvent(event)
