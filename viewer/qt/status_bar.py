"""The status line: the last message, the value under the pointer, the window, and a running task's progress."""

from __future__ import annotations

from PySide6.QtWidgets import QLabel, QProgressBar, QPushButton, QStatusBar

from viewer.qt.worker import TaskRunner


class StatusBar(QStatusBar):
    """Shows what ``runner`` is doing (progress, ETA, a Cancel button while it runs) and the window's messages."""

    def __init__(self, runner: TaskRunner):
        super().__init__()
        self.runner = runner
        self.message, self.probe, self.window_label = QLabel("Open a study."), QLabel(), QLabel()
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setFormat("%p%")
        self.eta = QLabel()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(runner.cancel)
        self.addWidget(self.message, 1)
        for widget in (self.probe, self.window_label, self.progress, self.eta, self.cancel_button):
            self.addPermanentWidget(widget)
        runner.started.connect(lambda name: (self._set_busy(True), self.say(f"{name}...")))
        runner.progressed.connect(self._show_progress)
        runner.cancelled.connect(lambda: self.say(f"{runner.name} cancelled."))
        runner.refused.connect(self.say)
        runner.finished.connect(lambda: self._set_busy(False))
        self._set_busy(False)

    def say(self, text: str) -> None:
        self.message.setText(text)

    def _show_progress(self, done: int, total: int, eta: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(done)
        self.eta.setText(eta)
        self.say(f"{self.runner.name}: {done} / {total}")

    def _set_busy(self, busy: bool) -> None:
        for widget in (self.progress, self.eta, self.cancel_button):
            widget.setVisible(busy)
        if not busy:
            self.progress.reset()
            self.eta.clear()
