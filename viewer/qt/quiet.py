"""Setting widgets from the model without their signals writing the same values back."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from PySide6.QtCore import QObject, QSignalBlocker


@contextmanager
def quietly(*widgets: QObject) -> Iterator[None]:
    """Block the signals of ``widgets`` inside the block (restored however it ends)."""
    blockers = [QSignalBlocker(widget) for widget in widgets]
    try:
        yield
    finally:
        for blocker in blockers:
            blocker.unblock()
