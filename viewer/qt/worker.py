"""Long work off the UI thread: one task at a time, with progress, partial results, ETA and cancel."""

from __future__ import annotations

import logging
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from engine.errors import Cancelled, EngineError

log = logging.getLogger(__name__)

# A task gets (progress(done, total), partial(result), cancelled() -> bool) and returns its result.
TaskFunction = Callable[[Callable[[int, int], None], Callable[[Any], None], Callable[[], bool]], Any]


class _Thread(QThread):
    progressed = Signal(int, int)
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    was_cancelled = Signal()

    def __init__(self, function: TaskFunction, cancel: threading.Event):
        super().__init__()
        self.function, self.cancel = function, cancel

    def run(self) -> None:
        try:
            result = self.function(self.progressed.emit, self.partial.emit, self.cancel.is_set)
        except Cancelled:
            self.was_cancelled.emit()
        except EngineError as err:
            self.failed.emit(str(err))
        except MemoryError:
            self.failed.emit("not enough memory for this image on this computer")
        except Exception as err:  # noqa: BLE001 - a bug must not kill the window; it is logged in full
            log.error("task failed:\n%s", traceback.format_exc())
            self.failed.emit(f"unexpected error ({type(err).__name__}: {err})")
        else:
            if self.cancel.is_set():
                self.was_cancelled.emit()
            else:
                self.succeeded.emit(result)


class TaskRunner(QObject):
    """Runs one named task at a time and reports on it with Qt signals (delivered on the UI thread)."""

    started = Signal(str)
    progressed = Signal(int, int, str)  # done, total, "ETA 0:12"
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread: _Thread | None = None
        self._cancel = threading.Event()
        self.name = ""

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def start(self, name: str, function: TaskFunction) -> bool:
        """Start ``function`` in a worker thread; False if another task is still running."""
        if self.busy:
            return False
        self.name, self._cancel = name, threading.Event()
        self._started_at = time.perf_counter()
        thread = _Thread(function, self._cancel)
        thread.progressed.connect(self._progress)
        thread.partial.connect(self.partial)
        thread.succeeded.connect(self.succeeded)
        thread.failed.connect(self.failed)
        thread.was_cancelled.connect(self.cancelled)
        thread.finished.connect(self._done)
        self._thread = thread
        thread.start()
        self.started.emit(name)
        return True

    def cancel(self) -> None:
        self._cancel.set()

    def wait(self, milliseconds: int = 30_000) -> bool:
        """Block until the running task ends (for shutdown and tests)."""
        return self._thread is None or self._thread.wait(milliseconds)

    def _progress(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self._started_at
        eta = "" if done == 0 else f"ETA {_clock(elapsed / done * (total - done))}"
        self.progressed.emit(done, total, eta)

    def _done(self) -> None:
        self._thread.deleteLater()
        self._thread = None
        self.finished.emit()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
