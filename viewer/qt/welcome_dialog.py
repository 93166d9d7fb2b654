"""The first-run screen: what the app does, that the models are demos, and the samples to try."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPushButton, QVBoxLayout

from viewer.samples import available_samples
from viewer.welcome import welcome_html


class WelcomeDialog(QDialog):
    """Calls ``open_sample(key)`` when a sample button is pressed."""

    def __init__(self, open_sample, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Welcome to SaDNN Viewer")
        self.setMinimumWidth(560)
        text = QLabel(welcome_html(bool(available_samples())))
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.RichText)
        buttons = QDialogButtonBox()
        for sample in available_samples():
            button = QPushButton(f"Open sample {sample.key.upper() if sample.key == 'ct' else 'X-ray'}")
            button.setToolTip(f"{sample.title} - {sample.credit}")
            button.clicked.connect(lambda _checked=False, key=sample.key: (self.accept(), open_sample(key)))
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.addButton(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(buttons)
