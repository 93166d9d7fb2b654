"""The sheet of every keyboard and mouse shortcut (? or F1), generated from the one shortcut table."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QScrollArea, QVBoxLayout

from viewer.model.shortcuts import MOUSE, groups


def sheet_html() -> str:
    """Two-column tables by group: the keys, then what they do."""
    parts = []
    for group, shortcuts in groups().items():
        rows = "".join(f"<tr><td><b>{escape(s.keys)}</b></td><td>{escape(s.description)}</td></tr>" for s in shortcuts)
        parts.append(f"<h4>{escape(group)}</h4><table cellpadding='2'>{rows}</table>")
    mouse = "".join(f"<tr><td><b>{escape(keys)}</b></td><td>{escape(text)}</td></tr>" for keys, text in MOUSE)
    parts.append(f"<h4>Mouse</h4><table cellpadding='2'>{mouse}</table>")
    return "".join(parts)


class ShortcutSheet(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Keyboard and mouse shortcuts")
        self.resize(620, 720)
        text = QLabel(sheet_html())
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setMargin(8)
        scroll = QScrollArea()
        scroll.setWidget(text)
        scroll.setWidgetResizable(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        layout.addWidget(buttons)
