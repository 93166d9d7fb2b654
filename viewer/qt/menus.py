"""The window's commands as QActions (keys from the shortcut table), its menu bar and its short toolbar."""

from __future__ import annotations

from typing import Callable

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMenu, QToolBar, QToolButton

from viewer.model.shortcuts import SHORTCUTS, keys_of
from viewer.model.window_level import CT_PRESETS

# Menu texts where the shortcut table's description is too long for a menu.
MENU_TEXT = {
    "open_file": "Open file...", "open_folder": "Open DICOM folder...", "export": "Export review...",
    "pacs": "Search PACS...", "send_pacs": "Send last export to PACS...",
    "screenshot": "Screenshot...", "quit": "Quit", "segment": "Segment liver", "compare_fp32": "Segment + check vs fp32",
    "classify": "Classify X-ray", "reference": "Load reference mask...", "fit": "Fit view",
    "maximise": "Maximise view", "results_panel": "Results panel", "full_screen": "Full screen",
    "overlay": "Show overlay", "outline": "Outline only", "cine": "Cine (play slices)",
    **{f"preset_{n}": f"{name}  {window.label()}" for n, (name, window) in enumerate(CT_PRESETS.items(), start=1)},
    "preset_file": "From the file",
    "next_unreviewed": "Next slice to review", "least_confident": "Next least-confident slice to review",
    "auto_advance": "Auto-advance after accept / flag", "undo": "Undo edit", "redo": "Redo edit",
    "ruler": "Distance ruler", "roi": "Region of interest (mean / SD / area)",
    "clear_measurements": "Remove measurements on this slice", "shortcut_sheet": "Keyboard shortcuts",
}
CHECKABLE = {"results_panel", "full_screen", "overlay", "outline", "cine", "auto_advance", "ruler", "roi",
             "preset_1", "preset_2", "preset_3", "preset_4", "preset_file"}
PRESET_COMMANDS = {**{f"preset_{n}": name for n, name in enumerate(CT_PRESETS, start=1)}, "preset_file": "File"}


def make_actions(window: QMainWindow, slots: dict[str, Callable]) -> dict[str, QAction]:
    """One QAction per command, added to the window so its keys work whether or not a menu shows it."""
    described = {s.command: s.description for s in SHORTCUTS}
    actions = {}
    for command, slot in slots.items():
        action = QAction(MENU_TEXT.get(command, described.get(command, command)), window)
        if command in described:
            action.setShortcuts([QKeySequence(keys) for keys in keys_of(command)])
            action.setToolTip(f"{described[command]} ({' / '.join(keys_of(command))})")
        action.setCheckable(command in CHECKABLE)
        action.triggered.connect(slot)
        window.addAction(action)
        actions[command] = action
    for exclusive in (list(PRESET_COMMANDS), ["ruler", "roi"]):
        group = QActionGroup(window)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for command in exclusive:
            group.addAction(actions[command])
    return actions


def build_menu_bar(window: QMainWindow, actions: dict[str, QAction], submenus: dict[str, QMenu]) -> None:
    """File, View, Window, Review, Measure, Models, Help; ``submenus``: samples, recent, layouts, models."""
    bar = window.menuBar()
    sections = (
        ("&File", ("open_file", "open_folder", "pacs", submenus["samples"], submenus["recent"], None, "export",
                   "send_pacs", "screenshot", None, "quit")),
        ("&View", ("fit", "maximise", submenus["layouts"], None, "results_panel", "full_screen", None, "overlay",
                   "outline", None, "cine")),
        ("&Window", ("preset_1", "preset_2", "preset_3", "preset_4", "preset_file")),
        ("&Review", ("next_unreviewed", "least_confident", "auto_advance", None, "undo", "redo")),
        ("M&easure", ("ruler", "roi", "clear_measurements")),
        ("&Models", ("segment", "compare_fp32", "classify", "reference", None, *submenus["models"].actions())),
        ("&Help", ("shortcut_sheet", submenus["about"])),
    )
    for title, entries in sections:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry is None:
                menu.addSeparator()
            elif isinstance(entry, QMenu):
                menu.addMenu(entry)
            elif isinstance(entry, QAction):
                menu.addAction(entry)
            else:
                menu.addAction(actions[entry])


def build_toolbar(window: QMainWindow, actions: dict[str, QAction], samples: QMenu, presets: QMenu) -> QToolButton:
    """The everyday commands; returns the W/L button, whose text names the active preset."""
    toolbar = QToolBar("Main", window)
    toolbar.setObjectName("main")
    window.addToolBar(toolbar)
    toolbar.addAction(actions["open_file"])
    toolbar.addWidget(menu_button("Open sample", samples))
    toolbar.addSeparator()
    for command in ("segment", "classify", "reference", "export"):
        toolbar.addAction(actions[command])
    toolbar.addSeparator()
    window_button = menu_button("W/L", presets)
    window_button.setToolTip("Window presets (keys 1-4, 0 for the file's window); right-drag on the image to adjust")
    toolbar.addWidget(window_button)
    return window_button


def menu_button(text: str, menu: QMenu) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setMenu(menu)
    button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
    return button
