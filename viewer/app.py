"""Application start-up: one QApplication and the main window."""

from __future__ import annotations


def run(argv: list[str]) -> int:
    """Create the application and its main window, run the event loop, return its exit code."""
    from PySide6.QtWidgets import QApplication, QLabel, QMainWindow

    app = QApplication(["sadnn-viewer", *argv])
    window = QMainWindow()
    window.setWindowTitle("SaDNN Viewer")
    label = QLabel("The study viewer is being built (issue 3). The engine, models and bundles are ready.")
    label.setMargin(24)
    window.setCentralWidget(label)
    window.resize(900, 600)
    window.show()
    return app.exec()
