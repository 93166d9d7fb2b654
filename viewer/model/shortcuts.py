"""Every keyboard shortcut of the viewer in one table: the window binds them, the shortcut sheet (?) lists them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Shortcut:
    """``keys`` in Qt's portable text ("Ctrl+O", "PgUp"); ``command`` names what the window does."""

    keys: str
    command: str
    description: str
    group: str


SHORTCUTS = (
    Shortcut("Ctrl+O", "open_file", "Open an image file", "File"),
    Shortcut("Ctrl+Shift+O", "open_folder", "Open a DICOM folder", "File"),
    Shortcut("Ctrl+E", "export", "Export the review", "File"),
    Shortcut("Ctrl+Shift+S", "screenshot", "Save a screenshot of the views", "File"),
    Shortcut("Ctrl+Q", "quit", "Quit (the review is already saved)", "File"),
    Shortcut("Ctrl+L", "segment", "Segment the liver (int8)", "Models"),
    Shortcut("Ctrl+Shift+L", "compare_fp32", "Segment and check int8 against fp32", "Models"),
    Shortcut("Ctrl+K", "classify", "Classify the chest X-ray", "Models"),
    Shortcut("Ctrl+R", "reference", "Load a reference mask", "Models"),
    Shortcut("Up", "next_slice", "Next slice (also the mouse wheel)", "Slices"),
    Shortcut("Down", "previous_slice", "Previous slice", "Slices"),
    Shortcut("PgUp", "ten_up", "Ten slices up", "Slices"),
    Shortcut("PgDown", "ten_down", "Ten slices down", "Slices"),
    Shortcut("Home", "first_slice", "First slice", "Slices"),
    Shortcut("End", "last_slice", "Last slice", "Slices"),
    Shortcut("Space", "cine", "Play / stop cine through the slices", "Slices"),
    Shortcut("Ctrl+0", "fit", "Fit every view to its image", "View"),
    Shortcut("M", "maximise", "Maximise the view under the pointer / back to the layout", "View"),
    Shortcut("F9", "results_panel", "Show / hide the results panel", "View"),
    Shortcut("F11", "full_screen", "Full screen", "View"),
    Shortcut("O", "overlay", "Show / hide the overlay (mask or saliency map)", "View"),
    Shortcut("Shift+O", "outline", "Overlay as outline only / filled", "View"),
    Shortcut("1", "preset_1", "Window preset: Liver", "Window"),
    Shortcut("2", "preset_2", "Window preset: Abdomen", "Window"),
    Shortcut("3", "preset_3", "Window preset: Lung", "Window"),
    Shortcut("4", "preset_4", "Window preset: Bone", "Window"),
    Shortcut("0", "preset_file", "The window stored in the file", "Window"),
    Shortcut("A", "accept", "Accept the slice (a finding on an X-ray)", "Review"),
    Shortcut("F", "flag", "Flag the slice for a second look", "Review"),
    Shortcut("E", "edited", "Mark the slice edited", "Review"),
    Shortcut("R", "reject", "Reject the finding (X-ray)", "Review"),
    Shortcut("N", "next_unreviewed", "Next slice still to review", "Review"),
    Shortcut("U", "least_confident", "Next unreviewed slice where the model is least sure", "Review"),
    Shortcut("C", "note", "Write a note on the slice or finding (Enter: done)", "Review"),
    Shortcut("Ctrl+Shift+A", "auto_advance", "Auto-advance to the next slice after A or F", "Review"),
    Shortcut("V", "navigate", "Navigate (no editing)", "Edit"),
    Shortcut("B", "brush", "Brush: add to the mask", "Edit"),
    Shortcut("X", "eraser", "Eraser: remove from the mask", "Edit"),
    Shortcut("G", "fill", "Fill a hole in the mask", "Edit"),
    Shortcut("[", "smaller_brush", "Smaller brush (also Shift+wheel)", "Edit"),
    Shortcut("]", "larger_brush", "Larger brush", "Edit"),
    Shortcut("Ctrl+Z", "undo", "Undo the last edit", "Edit"),
    Shortcut("Ctrl+Shift+Z", "redo", "Redo", "Edit"),
    Shortcut("Ctrl+Y", "redo", "Redo", "Edit"),
    Shortcut("D", "ruler", "Distance ruler: drag across the image", "Measure"),
    Shortcut("I", "roi", "Region of interest: drag an ellipse for mean/SD HU and area", "Measure"),
    Shortcut("Del", "clear_measurements", "Remove the measurements of this view", "Measure"),
    Shortcut("Esc", "cancel", "Cancel the running task (and stop cine)", "Tasks"),
    Shortcut("?", "shortcut_sheet", "This sheet of shortcuts", "Help"),
    Shortcut("F1", "shortcut_sheet", "This sheet of shortcuts", "Help"),
)

MOUSE = (
    ("Wheel", "Next / previous slice"),
    ("Ctrl+wheel", "Zoom"),
    ("Left click", "Move the crosshair (or use the editing tool)"),
    ("Left / middle drag", "Pan (middle drag while editing)"),
    ("Right drag", "Window: right widens, up raises the level"),
    ("Double click", "Maximise the view / back to the layout"),
)


def keys_of(command: str) -> list[str]:
    """The keys bound to ``command`` (one command may have several)."""
    found = [s.keys for s in SHORTCUTS if s.command == command]
    if not found:
        raise KeyError(f"no shortcut for {command!r}")
    return found


def groups() -> dict[str, list[Shortcut]]:
    """The table by group, in the order of first appearance, each command once with all its keys."""
    grouped: dict[str, list[Shortcut]] = {}
    seen: set[str] = set()
    for shortcut in SHORTCUTS:
        if shortcut.command in seen:
            continue
        seen.add(shortcut.command)
        keys = " / ".join(keys_of(shortcut.command))
        grouped.setdefault(shortcut.group, []).append(Shortcut(keys, shortcut.command, shortcut.description, shortcut.group))
    return grouped
