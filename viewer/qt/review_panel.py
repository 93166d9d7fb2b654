"""The review tab: mark the slice, write a note, pick an editing tool, see volume and HU live."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QButtonGroup, QFormLayout, QGridLayout, QGroupBox, QHBoxLayout, QLabel, QLineEdit, QPushButton, QRadioButton,
    QSpinBox, QVBoxLayout, QWidget,
)

from viewer.model.review import ACCEPTED, EDITED, FLAGGED, STRIP_COLOURS
from viewer.model.study import Study
from viewer.model.tools import BRUSH, ERASER, FILL, MAX_RADIUS, MIN_RADIUS, NAVIGATE, ToolSettings
from viewer.qt.quiet import quietly

TOOL_LABELS = {NAVIGATE: "Navigate (V)", BRUSH: "Brush (B)", ERASER: "Eraser (X)", FILL: "Fill hole (G)"}
NOTE_DELAY_MS = 400  # a note is saved this long after the last keystroke


class ReviewPanel(QWidget):
    """Writes marks, notes and tool choices; shows the slice's state and the mask's numbers."""

    tool_changed = Signal(object)  # ToolSettings

    def __init__(self, parent=None):
        super().__init__(parent)
        self.study: Study | None = None
        self.tool = ToolSettings()
        self.slice_state = QLabel()
        self.slice_state.setTextFormat(Qt.TextFormat.RichText)
        self.buttons = {mark: QPushButton(text) for mark, text in
                        ((ACCEPTED, "Accept (A)"), (FLAGGED, "Flag (F)"), (EDITED, "Edited (E)"))}
        self.next_button = QPushButton("Next unreviewed (N)")
        self.clear_button = QPushButton("Clear mark")
        self.slice_note = QLineEdit()
        self.slice_note.setPlaceholderText("Note on this slice (C)")
        self.study_note = QLineEdit()
        self.study_note.setPlaceholderText("Note on the whole study")
        self.counts = QLabel()
        self.numbers = QLabel()
        self.numbers.setTextFormat(Qt.TextFormat.RichText)
        self.numbers.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(self.slice_state)
        layout.addLayout(self._mark_buttons())
        layout.addWidget(self.slice_note)
        layout.addWidget(self.counts)
        layout.addWidget(self._tool_box())
        layout.addWidget(self.numbers)
        layout.addWidget(QLabel("Study note"))
        layout.addWidget(self.study_note)
        layout.addStretch(1)
        self._note_timer = QTimer(self, singleShot=True, interval=NOTE_DELAY_MS)
        self._note_timer.timeout.connect(self._save_notes)
        self._note_slice: int | None = None  # the slice the note being typed belongs to
        self._shown_slice: int | None = None
        self.slice_note.textEdited.connect(self._note_typed)
        self.study_note.textEdited.connect(lambda _text: self._note_timer.start())
        for editor in (self.slice_note, self.study_note):
            editor.editingFinished.connect(self._save_notes)
            editor.returnPressed.connect(editor.clearFocus)  # Enter ends the note: the next key reviews again

    def _mark_buttons(self) -> QGridLayout:
        grid = QGridLayout()
        for column, (mark, button) in enumerate(self.buttons.items()):
            colour = "rgb({},{},{})".format(*STRIP_COLOURS[mark])
            button.setStyleSheet(f"QPushButton {{ border-left: 6px solid {colour}; padding: 4px; }}")
            button.clicked.connect(lambda _checked=False, mark=mark: self._mark(mark))
            grid.addWidget(button, 0, column)
        self.next_button.clicked.connect(lambda: self.study and self.study.go_to_next_unreviewed())
        self.clear_button.clicked.connect(lambda: self._mark(None))
        grid.addWidget(self.next_button, 1, 0, 1, 2)
        grid.addWidget(self.clear_button, 1, 2)
        return grid

    def _tool_box(self) -> QGroupBox:
        box = QGroupBox("Correct the mask (this slice)")
        form = QFormLayout(box)
        row = QHBoxLayout()
        self.tool_buttons = QButtonGroup(self)
        for tool, text in TOOL_LABELS.items():
            button = QRadioButton(text)
            button.setProperty("tool", tool)
            self.tool_buttons.addButton(button)
            row.addWidget(button)
        self.tool_buttons.buttons()[0].setChecked(True)
        self.tool_buttons.buttonClicked.connect(lambda button: self.set_tool(tool=button.property("tool")))
        form.addRow(row)
        self.radius = QSpinBox(minimum=MIN_RADIUS, maximum=MAX_RADIUS, value=self.tool.radius, suffix=" px")
        self.radius.setToolTip("Brush radius: [ and ], or Shift + wheel over the image")
        self.radius.valueChanged.connect(lambda value: self.set_tool(radius=value))
        self.depth = QSpinBox(minimum=0, maximum=5, value=0)
        self.depth.setToolTip("0 edits only the current slice; N also edits N slices above and below")
        self.depth.setSpecialValueText("this slice only")
        self.depth.setSuffix(" slices each side")
        self.depth.valueChanged.connect(lambda value: self.set_tool(depth=value))
        form.addRow("Brush radius", self.radius)
        form.addRow("Also edit", self.depth)
        undo_row = QHBoxLayout()
        self.undo_button, self.redo_button = QPushButton("Undo (Ctrl+Z)"), QPushButton("Redo (Ctrl+Shift+Z)")
        self.undo_button.clicked.connect(lambda: self.study and self.study.undo())
        self.redo_button.clicked.connect(lambda: self.study and self.study.redo())
        undo_row.addWidget(self.undo_button)
        undo_row.addWidget(self.redo_button)
        form.addRow(undo_row)
        return box

    # the study
    def show_study(self, study: Study | None) -> None:
        self.study, self._shown_slice, self._note_slice = study, None, None
        self.study_note.setText("" if study is None else study.note)
        self.refresh()

    def set_tool(self, **changes) -> None:
        self.tool = ToolSettings(**{**self.tool.__dict__, **changes})
        for button in self.tool_buttons.buttons():
            button.setChecked(button.property("tool") == self.tool.tool)
        with quietly(self.radius, self.depth):
            self.radius.setValue(self.tool.radius)
            self.depth.setValue(self.tool.depth)
        self.tool_changed.emit(self.tool)

    def refresh(self) -> None:
        """Show the current slice's mark and note, the counts and the live numbers."""
        study = self.study
        active = study is not None and study.review is not None
        self.setEnabled(active)
        if not active:
            self.slice_state.setText("Segment the liver to start the review.")
            self.counts.clear()
            self.numbers.clear()
            return
        if self._note_timer.isActive():
            self._save_notes()  # a note typed just before moving belongs to the slice it was typed on
        z, review = study.cursor[0], study.review
        mark = review.marks.get(z)
        where = "" if z in review.slices else " (no liver predicted here)"
        self.slice_state.setText(f"<b>Slice {z + 1}</b>{where}: {mark.capitalize() if mark else 'not reviewed'}")
        if not self.study_note.hasFocus():
            self.study_note.setText(study.note)
        if z != self._shown_slice or not self.slice_note.hasFocus():
            self.slice_note.setText(review.notes.get(z, ""))
            self._shown_slice = z
        counts = review.counts()
        done = len(review.slices) - counts["unreviewed"]
        self.counts.setText(f"Reviewed {done} of {len(review.slices)} slices: {counts[ACCEPTED]} accepted, "
                            f"{counts[FLAGGED]} flagged, {counts[EDITED]} edited")
        self.undo_button.setEnabled(study.editor.can_undo)
        self.redo_button.setEnabled(study.editor.can_redo)
        self.numbers.setText(numbers_html(study))

    def focus_note(self) -> None:
        self.slice_note.setFocus()
        self.slice_note.selectAll()

    def _mark(self, mark: str | None) -> None:
        if self.study is not None:
            self._save_notes()
            self.study.mark_slice(mark)

    def _note_typed(self, _text: str) -> None:
        if self.study is not None and self._note_slice is None:
            self._note_slice = self.study.cursor[0]
        self._note_timer.start()

    def _save_notes(self) -> None:
        self._note_timer.stop()
        study, z, self._note_slice = self.study, self._note_slice, None
        if study is None or study.review is None:
            return
        if z is not None and study.review.notes.get(z, "") != self.slice_note.text().strip():
            study.set_slice_note(self.slice_note.text(), z)
        if study.note != self.study_note.text():
            study.set_note(self.study_note.text())


def numbers_html(study: Study) -> str:
    """Liver volume and HU inside the (edited) mask, and Dice against the reference when loaded."""
    stats = study.statistics()
    lines = [f"Liver: <b>{stats.millilitres:.1f} mL</b>"
             + ("" if np.isnan(stats.mean_hu) else f", {stats.mean_hu:.0f} &plusmn; {stats.sd_hu:.0f} HU (mean &plusmn; SD)")]
    if study.comparison is not None:
        z = study.cursor[0]
        here = study.comparison.dice_per_slice[z]
        slice_text = "-" if np.isnan(here) else f"{here:.3f}"
        lines.append(f"Dice vs reference: volume <b>{study.comparison.dice:.3f}</b>, this slice {slice_text} "
                     f"({study.segmentation.dice_caption})")
    return "<br>".join(lines)
