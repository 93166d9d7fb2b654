"""The studies opened lately (File > Open recent), remembered in the user's configuration folder."""

from __future__ import annotations

import json
from pathlib import Path

from engine.runtime.atomic import write_atomic

RECENT_LIMIT = 10


class RecentStudies:
    """Paths of opened files and folders, newest first; an unreadable list is treated as empty, never fatal."""

    def __init__(self, file: Path):
        self.file = Path(file)

    def paths(self) -> list[Path]:
        """The remembered paths that still exist."""
        return [path for path in self._read() if path.exists()]

    def add(self, path: str | Path) -> None:
        """Remember ``path`` as the newest (once); best effort: a read-only profile just forgets."""
        path = Path(path).absolute()
        kept = [path] + [p for p in self._read() if p != path]
        self._write(kept[:RECENT_LIMIT])

    def clear(self) -> None:
        self._write([])

    def _read(self) -> list[Path]:
        try:
            listed = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        if not isinstance(listed, list):
            return []
        return [Path(item) for item in listed if isinstance(item, str) and item]

    def _write(self, paths: list[Path]) -> None:
        try:
            self.file.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.file, json.dumps([str(p) for p in paths], indent=1).encode())
        except OSError:
            pass


def display_name(path: Path) -> str:
    """The study's name for the reader: the file or folder name, or for a series retrieved from a PACS (a cache
    folder named by its UID) where it came from."""
    from viewer.pacs.cache import retrieved_from

    return (retrieved_from(path) if path.is_dir() else None) or path.name


def menu_label(path: Path) -> str:
    """'series_folder  (…/parent)': the name first, where it lies after (a retrieved series: its UID)."""
    name = display_name(path)
    return f"{path.name}  ({path.parent})" if name == path.name else f"{name[0].upper()}{name[1:]}  ({path.name})"
