"""The main window: three linked planes (or one radiograph), result panels, and the engine in a worker."""

from __future__ import annotations

from dataclasses import replace
from html import escape
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMenu, QTabWidget

from engine.runtime.contract import check_contract
from engine.runtime.errors import EngineError
from engine.runtime.signing import PublicKey, trust_key
from engine.runtime.io import ImageSource, Volume, read_mask
from engine.runtime.io.mask_labels import label_names
from engine.runtime.io.masks import labels_present
from viewer import jobs
from viewer.bundles import InstalledModels, installed_models
from viewer.model.energy_report import card_html, costs_html, energy_html, training_study_warning
from viewer.model.measure import ROI, RULER
from viewer.model.recent import RecentStudies, display_name, menu_label
from viewer.model.session import sessions_folder
from viewer.model.review import ACCEPT, ACCEPTED, EDITED, FLAGGED, REJECT
from viewer.model.study import Study
from viewer.model.tools import BRUSH, ERASER, FILL, NAVIGATE
from viewer.model.window_level import preset_name
from viewer.qt.exporter import Exporter
from viewer.qt.findings_panel import FindingsPanel
from viewer.qt.html_panel import HtmlPanel
from viewer.qt.menus import PRESET_COMMANDS, build_menu_bar, build_toolbar, make_actions
from viewer.qt.prompts import Prompts
from viewer.qt.review_panel import ReviewPanel
from viewer.qt.segmentation_panel import SegmentationPanel
from viewer.qt.session_keeper import SessionKeeper
from viewer.qt.shortcut_sheet import ShortcutSheet
from viewer.qt.status_bar import StatusBar
from viewer.qt.view_grid import LAYOUT_TITLES
from viewer.qt.viewing_area import ViewingArea
from viewer.qt.welcome_dialog import WelcomeDialog
from viewer.qt.worker import TaskRunner
from viewer.samples import available_samples, sample
from viewer.welcome import config_folder

IMAGE_FILTER = "Images (*.dcm *.nii *.nii.gz *.nrrd *.nhdr *.mha *.mhd *.png *.jpg *.jpeg *.tif *.tiff);;All files (*)"
MASK_FILTER = "Masks (*.nii *.nii.gz *.nrrd *.mha *.dcm);;All files (*)"
ALL_MARKED = "Every slice under review is marked. Export the review with Ctrl+E."


class MainWindow(QMainWindow):
    """Holds the open Study and puts the parts together: the viewing area, the result panels, the status bar, the
    worker, the session keeper and the exporter, each of which talks to the others through the study and signals."""

    def __init__(self, models: InstalledModels | None = None):
        super().__init__()
        self.setWindowTitle("SaDNN Viewer - verify every prediction")
        self.resize(1400, 900)
        self.models = models if models is not None else installed_models()
        self.study: Study | None = None
        self.recent = RecentStudies(config_folder() / "recent.json")
        self._opening: Path | None = None  # what the user asked to open, remembered once it opened
        self.runner = TaskRunner(self)
        self.status = StatusBar(self.runner)
        self.setStatusBar(self.status)
        self.message = self.status.message
        self.prompts = Prompts(self, self.status.say)
        self.area = ViewingArea()
        self.setCentralWidget(self.area)
        self.sessions = SessionKeeper(sessions_folder(), self.prompts)
        self.exporter = Exporter(self.area, self.prompts, self.runner, self._card_of_prediction, config_folder())
        self.pacs_browser = None  # made when first asked for
        self._build_panels()
        self._build_actions()
        self._connect_parts()
        self._show_welcome()

    # building
    def _build_panels(self) -> None:
        self.findings, self.segmentation, self.review = FindingsPanel(), SegmentationPanel(), ReviewPanel()
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

    def _build_actions(self) -> None:
        """Every command as an action with its keys (viewer.model.shortcuts), in menus and a short toolbar."""
        area, step, preset = self.area, (lambda n: lambda: self.area.step(n)), (lambda name: lambda: self._preset(name))
        tool = lambda name: lambda: self.review.set_tool(tool=name)  # noqa: E731
        slots = {
            "open_file": self.choose_file, "open_folder": self.choose_folder, "export": lambda: self.export_review(),
            "pacs": self.show_pacs, "send_pacs": lambda: self.exporter.send_to_pacs(),
            "screenshot": lambda: self.save_screenshot(), "quit": self.close,
            "segment": lambda: self.segment(), "compare_fp32": lambda: self.segment(with_fp32=True),
            "classify": self.classify, "reference": self.choose_reference,
            "next_slice": step(1), "previous_slice": step(-1), "ten_up": step(10), "ten_down": step(-10),
            "first_slice": lambda: area.jump(0), "last_slice": lambda: area.jump(-1), "cine": area.toggle_cine,
            "fit": area.fit_views, "maximise": area.maximise, "results_panel": self.toggle_results_panel,
            "full_screen": self.toggle_full_screen, "overlay": self._toggle_overlay, "outline": self._toggle_outline,
            **{command: preset(name) for command, name in PRESET_COMMANDS.items()},
            "accept": lambda: self._verdict(ACCEPTED, ACCEPT), "flag": lambda: self._verdict(FLAGGED, None),
            "edited": lambda: self._verdict(EDITED, None), "reject": lambda: self._verdict(None, REJECT),
            "next_unreviewed": self._next_unreviewed, "least_confident": self.next_least_confident,
            "note": self._focus_note, "auto_advance": self._toggle_auto_advance,
            "navigate": tool(NAVIGATE), "brush": tool(BRUSH), "eraser": tool(ERASER), "fill": tool(FILL),
            "smaller_brush": lambda: self._resize_brush(-1), "larger_brush": lambda: self._resize_brush(1),
            "undo": self._undo, "redo": self._redo,
            "ruler": lambda: area.set_measure(RULER), "roi": lambda: area.set_measure(ROI),
            "clear_measurements": area.clear_measurements, "cancel": self._cancel, "shortcut_sheet": self.show_shortcuts,
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
            action.setChecked(name == self.area.view_grid.layout_name)
            action.triggered.connect(lambda _checked=False, name=name: self.area.view_grid.set_layout(name))
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
        if not self.prompts.confirm("Trust a signing key", question, default_yes=False):
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

    def _connect_parts(self) -> None:
        say = self.status.say
        self.runner.failed.connect(lambda text: self.show_error(f"{self.runner.name} failed", text))
        self.runner.finished.connect(self.refresh_actions)
        self.area.said.connect(say)
        self.area.hovered.connect(self.status.probe.setText)
        self.area.brush_resized.connect(self._resize_brush)
        self.area.cine_changed.connect(self.actions["cine"].setChecked)
        self.area.measure_changed.connect(self._measure_changed)
        self.review.tool_changed.connect(self._tool_changed)
        self.sessions.said.connect(say)
        self.sessions.autosave_failed.connect(lambda text: self.area.show_warnings([text]))
        self.sessions.restored.connect(self._show_restored)
        self.exporter.said.connect(say)

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
        self.runner.run(f"Scanning {path.name}", jobs.find_sources(path), self._sources_found)

    def _sources_found(self, sources: list[ImageSource]) -> None:
        source = sources[0] if len(sources) == 1 else self._pick_series(sources)
        if source is not None:
            self.runner.after(lambda: self.runner.run("Opening " + source.label, jobs.load_image(source), self._opened))

    def _opened(self, result: Volume | jobs.MaskFile) -> None:
        if isinstance(result, jobs.MaskFile):
            self._offer_as_reference(result)
        else:
            self.set_volume(result)

    def _offer_as_reference(self, mask: jobs.MaskFile) -> None:
        """A SEG opened as an image: offered as the reference mask of the open CT, else explained."""
        study = self.study
        if study is None or study.volume.is_radiograph:
            self.show_error("Not an image", mask.message)
            return
        name = Path(study.volume.source).name
        question = (f"{mask.path.name} is a DICOM segmentation (SEG), not an image.\n\nLoad it as the reference mask "
                    f"of the open study ({name}), to compare the prediction with it?")
        if self.prompts.confirm("Load as reference mask?", question):
            self.load_reference(mask.path)

    def _pick_series(self, sources: list[ImageSource]) -> ImageSource | None:
        index = self.prompts.choose("Choose a series", f"{len(sources)} series found:", [s.label for s in sources])
        return None if index is None else sources[index]

    def set_volume(self, volume: Volume) -> None:
        """Show a newly opened image; results of the previous study are dropped."""
        self.study = study = Study(volume)
        study.auto_advance = self.actions["auto_advance"].isChecked()
        study.style = replace(study.style, outline=self.actions["outline"].isChecked())
        self.area.show_study(study, self.review.tool)
        study.cursor_changed.connect(self._cursor_moved)
        study.window_changed.connect(self._window_changed)
        study.overlay_changed.connect(self._overlay_changed)
        study.review_changed.connect(self._review_changed)
        for panel in (self.findings, self.segmentation, self.review):
            panel.show_study(study)
        self.energy.show_html(None)
        self.card.show_html(None)
        self.status.probe.clear()  # the last study's value must not stay beside this one
        self._show_warnings(volume)
        self.status.window_label.setText(study.window.label())  # the new views were drawn with this window
        self._show_preset()
        self.actions["overlay"].setChecked(True)
        self.refresh_actions()
        self.tabs.setCurrentWidget(self.findings if volume.is_radiograph else self.segmentation)
        self.message.setText(f"{display_name(Path(volume.source))}: {volume.describe()}")
        if self._opening is not None:
            self.recent.add(self._opening)
            self._opening = None
        self.sessions.watch(study)

    def _show_warnings(self, volume: Volume, bundle=None) -> None:
        """The reader's banner: problems found reading the study, and whether the model was trained on it."""
        trained_on = "" if bundle is None else training_study_warning(bundle.card, volume)
        self.area.show_warnings(list(volume.warnings) + ([trained_on] if trained_on else []))

    # engine
    def segment(self, with_fp32: bool = False) -> None:
        bundle = self.models.get("segmentation")
        if self.study is None or bundle is None:
            return
        try:
            job = jobs.segment_liver(bundle, self.study.volume, with_fp32)
        except EngineError as err:
            self.show_error("Cannot segment", str(err))
            return
        if not self.contract_allows("segmentation", bundle) or not self.sessions.may_replace_review(self.study):
            return
        self.runner.run("Segmenting liver", job, self._segmented)

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
            job = jobs.classify_radiograph(bundle, self.study.volume)
        except EngineError as err:
            self.show_error("Cannot classify", str(err))
            return
        if not self.contract_allows("classification", bundle):
            return
        self.runner.run("Classifying", job, self._classified, then=self._start_saliency)

    def contract_allows(self, task: str, bundle) -> bool:
        """Run only on studies the card accepts, unless the user explicitly overrides (recorded in the review)."""
        check = check_contract(self.study.volume, bundle.card.input)
        if check.ok:
            return True
        listed = "\n".join(f"- {problem}" for problem in check.problems)
        question = (f"This study does not meet the input contract of {bundle.card.name}:\n{listed}\n\nThe model's output on "
                    "it may be meaningless. Run it anyway? Your decision is recorded in the review and the report.")
        if not self.prompts.confirm("Outside the model's input contract", question, default_yes=False):
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

        def done(result: jobs.SaliencyResult) -> None:
            update = result.update
            study.set_saliency(update.maps, update.done, update.total, result.energy)
            self._show_xray_costs()
            self.message.setText(f"Saliency ready ({update.total} RISE masks). Select a finding to see its map.")

        self.runner.run("Computing RISE saliency", jobs.rise_saliency(bundle, study.volume), done, show)

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
            chosen = self.prompts.choose("Which label is the liver?", f"Labels in {Path(path).name}{where}:",
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
        self.area.set_tool(tool)
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

    def _review_changed(self) -> None:
        self.refresh_actions()
        self.review.refresh()
        self.findings.refresh()
        self.segmentation.refresh()

    # PACS and export
    def show_pacs(self) -> None:
        """The PACS browser (non-modal): search a node, retrieve a series, open it here."""
        from viewer.qt.pacs_browser import PacsBrowser

        if self.pacs_browser is None:
            self.pacs_browser = PacsBrowser(self.runner, self.open_path, config_folder(), self)
        self.pacs_browser.show()
        self.pacs_browser.raise_()

    def export_review(self, request=None, send_to: str | None = None) -> None:
        self.exporter.export_review(self.study, request, send_to)

    def save_screenshot(self, path=None) -> None:
        if self.study is not None:
            self.exporter.save_screenshot(path)

    def _card_of_prediction(self, study: Study):
        """The installed card of the model that made the study's prediction (None if it is not installed)."""
        for task, model in study.model_identities().items():
            bundle = self.models.get(task)
            if bundle is not None and bundle.identity["sha256"] == model.get("sha256"):
                return bundle.card
        return None

    def _show_restored(self, study: Study) -> None:
        """A saved review came back: its model's card, and whether that model is the one installed now."""
        for task, model in study.model_identities().items():
            bundle = self.models.get(task)
            if bundle is not None:
                self.card.show_html(card_html(bundle.card, bundle.identity))
                self._show_warnings(study.volume, bundle)
                if bundle.identity["sha256"] != model.get("sha256"):
                    self.message.setText("Review restored. It was made by a model other than the one installed now.")
                    break
        else:
            self.message.setText("Review restored.")
        if study.segmentation is not None:
            self.tabs.setCurrentWidget(self.review)
        self.refresh_actions()

    # reactions to the study
    def _cursor_moved(self) -> None:
        self.segmentation.refresh()
        self.review.refresh()

    def _window_changed(self) -> None:
        self.status.window_label.setText(self.study.window.label())
        self._show_preset()

    def _show_preset(self) -> None:
        """The preset the window is now (checked in the menu, named on the toolbar button), or none when adjusted."""
        name = preset_name(self.study.window, self.study.volume.window)
        for command, preset in PRESET_COMMANDS.items():
            self.actions[command].setChecked(preset == name)
        self.window_button.setText(f"W/L: {name or 'custom'}")

    def _overlay_changed(self) -> None:
        self.segmentation.refresh()
        self.findings.refresh()

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
        self.actions["send_pacs"].setEnabled(self.exporter.last_export is not None)
        for command in ("fit", "maximise", "ruler", "roi", "clear_measurements", "outline", "overlay"):
            self.actions[command].setEnabled(study is not None)
        self.actions["cine"].setEnabled(study is not None and study.volume.shape[0] > 1)
        for command in ("next_unreviewed", "least_confident", "undo", "redo"):
            self.actions[command].setEnabled(study is not None and study.review is not None)
        missing = "no {} model installed (" + "; ".join(self.models.problems or ["see resources/models"]) + ")"
        self.actions["segment"].setToolTip("Segment the liver slice by slice (int8)" if seg else missing.format("segmentation"))
        self.actions["classify"].setToolTip("14 chest X-ray findings (int8) and RISE saliency" if cls else missing.format("classification"))

    def _cancel(self) -> None:
        """Esc: cancel the running task, stop cine, put down a measuring tool."""
        self.runner.cancel()
        self.area.stop_cine()
        if self.area.measure is not None:
            self.area.set_measure(None)

    def toggle_results_panel(self) -> None:
        self.results_dock.setVisible(not self.results_dock.isVisible())
        self.actions["results_panel"].setChecked(self.results_dock.isVisible())

    def toggle_full_screen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()
        self.actions["full_screen"].setChecked(self.isFullScreen())

    def _measure_changed(self, kind: str | None) -> None:
        for command, tool in (("ruler", RULER), ("roi", ROI)):
            self.actions[command].setChecked(kind == tool)

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
        self.prompts.show_error(title, text)

    def closeEvent(self, event) -> None:  # noqa: N802
        self.area.stop_cine()
        self.runner.cancel()
        self.runner.wait()
        super().closeEvent(event)
