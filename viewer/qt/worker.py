"""Long work off the UI thread: one task at a time, with progress, partial results, ETA and cancel."""

from __future__ import annotations

import logging
import queue
import threading
import time
import traceback
from typing import Any, Callable

from PySide6.QtCore import QObject, QThread, Signal

from engine.runtime.errors import Cancelled, EngineError

log = logging.getLogger(__name__)

# A task gets (progress(done, total), partial(result), cancelled() -> bool) and returns its result.
TaskFunction = Callable[[Callable[[int, int], None], Callable[[Any], None], Callable[[], bool]], Any]


class _Thread(QThread):
    """Runs the task; results travel through a queue, signals carry only ints and strings.

    (Passing Python objects through cross-thread signals corrupted reference counts with PySide6 6.12.)
    """

    progressed = Signal(int, int)
    posted = Signal()

    def __init__(self, function: TaskFunction, cancel: threading.Event):
        super().__init__()
        self.function, self.cancel = function, cancel
        self.outbox: queue.SimpleQueue = queue.SimpleQueue()

    def run(self) -> None:
        try:
            result = self.function(self._progress, self._partial, self.cancel.is_set)
        except Cancelled:
            self._post("cancelled", None)
        except EngineError as err:
            self._post("failed", str(err))
        except MemoryError:
            self._post("failed", "not enough memory for this image on this computer")
        except Exception as err:  # noqa: BLE001 - a bug must not kill the window; it is logged in full
            log.error("task failed:\n%s", traceback.format_exc())
            self._post("failed", f"unexpected error ({type(err).__name__}: {err})")
        else:
            self._post("cancelled" if self.cancel.is_set() else "succeeded", result)

    def _progress(self, done: int, total: int) -> None:
        self.progressed.emit(int(done), int(total))

    def _partial(self, update: Any) -> None:
        self._post("partial", update)

    def _post(self, kind: str, value: Any) -> None:
        self.outbox.put((kind, value))
        self.posted.emit()


class TaskRunner(QObject):
    """Runs one named task at a time and reports on it with Qt signals (delivered on the UI thread)."""

    started = Signal(str)
    progressed = Signal(int, int, str)  # done, total, "ETA 0:12"
    partial = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()
    refused = Signal(str)  # why a task was not started

    def __init__(self, parent=None):
        super().__init__(parent)
        self._thread: _Thread | None = None
        self._finished_thread: _Thread | None = None
        self._cancel = threading.Event()
        self.name = ""
        self._handlers: tuple = (None, None, None)  # on_success, on_partial, then: for the task running
        self._follow_up: Callable[[], None] | None = None
        self.succeeded.connect(lambda result: self._handlers[0] and self._handlers[0](result))
        self.partial.connect(lambda update: self._handlers[1] and self._handlers[1](update))

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def run(self, name: str, function: TaskFunction, on_success: Callable[[Any], None],
            on_partial: Callable[[Any], None] | None = None, then: Callable[[], None] | None = None) -> bool:
        """Start ``function``: ``on_success(result)``, ``on_partial(update)`` as it posts, ``then()`` when it has ended
        whatever the outcome. While another task runs it is refused (False, and ``refused`` says why)."""
        if self.busy:
            self.refused.emit(f"Wait for '{self.name}' to finish or cancel it (Esc).")
            return False
        self._handlers = (on_success, on_partial, then)
        return self.start(name, function)

    def after(self, follow_up: Callable[[], None]) -> None:
        """Call ``follow_up`` as soon as the running task has ended (to start the next one)."""
        self._follow_up = follow_up

    def start(self, name: str, function: TaskFunction) -> bool:
        """Start ``function`` in a worker thread; False if another task is still running."""
        if self.busy:
            return False
        self.name, self._cancel = name, threading.Event()
        self._started_at = time.perf_counter()
        thread = _Thread(function, self._cancel)
        thread.progressed.connect(self._progress)
        thread.posted.connect(lambda: self._deliver())
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

    def _deliver(self, everything: bool = False) -> None:
        """Hand what the worker posted to the UI thread's listeners: one item per ``posted`` signal, so results keep
        their order with the progress signals queued around them (a late progress never follows the result)."""
        thread = self._thread
        while thread is not None and not thread.outbox.empty():
            kind, value = thread.outbox.get()
            signal = {"partial": self.partial, "succeeded": self.succeeded, "failed": self.failed}.get(kind)
            if kind == "cancelled":
                self.cancelled.emit()
            else:
                signal.emit(value)
            if not everything:
                return

    def _done(self) -> None:
        self._deliver(everything=True)
        # Python owns the thread object: keep it alive until the next task replaces it (deleting it
        # here, inside its own finished signal, or with deleteLater as well, frees it twice).
        self._finished_thread, self._thread = self._thread, None
        self.finished.emit()
        then, self._handlers = self._handlers[2], (None, None, None)
        follow_up, self._follow_up = self._follow_up, None
        for call in (then, follow_up):
            if call is not None:
                call()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"
