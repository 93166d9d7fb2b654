"""The questions and messages any part of the window may put to the user, parented to the window.

Controllers receive one ``Prompts`` instead of reaching back into the window; tests replace ``confirm`` and
``choose`` on it to answer without a dialog.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget


class Prompts:
    """Yes/no questions, a choice among options, and error messages (in a dialog and on the status line)."""

    def __init__(self, parent: QWidget, say: Callable[[str], None]):
        self.parent, self.say = parent, say
        self.last_error: str | None = None  # the last message shown by show_error
        self.error_box: QMessageBox | None = None

    def confirm(self, title: str, text: str, default_yes: bool = True) -> bool:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
        default = QMessageBox.StandardButton.Yes if default_yes else QMessageBox.StandardButton.No
        return QMessageBox.question(self.parent, title, text, buttons, default) == QMessageBox.StandardButton.Yes

    def choose(self, title: str, text: str, options: list[str], current: int = 0) -> int | None:
        """The index of the option picked (``current`` preselected); None when cancelled."""
        dialog = QInputDialog(self.parent)
        dialog.setWindowTitle(title)
        dialog.setLabelText(text)
        dialog.setComboBoxItems(options)
        dialog.setTextValue(options[current])
        dialog.setMinimumWidth(max(420, 9 * max(map(len, [text, *options]))))  # no clipped names
        if dialog.exec() != QInputDialog.DialogCode.Accepted or dialog.textValue() not in options:
            return None
        return options.index(dialog.textValue())

    def show_error(self, title: str, text: str) -> None:
        """A specific message in a dialog and on the status line; the window stays usable."""
        self.last_error = f"{title}: {text}"
        self.say(self.last_error)
        self.error_box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self.parent)
        self.error_box.open()
