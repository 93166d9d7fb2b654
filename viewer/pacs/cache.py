"""The local copy of retrieved series: one folder per series, one file per instance, complete or not.

A series folder is only *complete* once every instance the PACS listed for it has arrived; then a marker
is written last. A retrieve that stops early leaves the files that arrived (a later retrieve fetches
only the rest) and no marker, so a partial series is never shown as a complete study.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
from pathlib import Path

from engine.runtime.atomic import write_atomic
from viewer.pacs.nodes import PacsError

CACHE_ENV = "SADNN_PACS_CACHE"
COMPLETE = ".complete.json"
UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


def cache_root() -> Path:
    """$SADNN_PACS_CACHE, else the user's cache folder (platformdirs) / pacs."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("sadnn-viewer", appauthor=False)) / "pacs"


def checked_uid(uid: object, what: str) -> str:
    """``uid`` when it is a DICOM UID (digits and dots, at most 64 characters); a PACS sending anything else
    (a path, an empty value) is refused, so that no name it sends can lead outside the cache."""
    text = str(uid or "").strip().rstrip("\0")
    if not UID.match(text) or len(text) > 64:
        raise PacsError(f"the PACS sent an instance whose {what} is not a DICOM UID ({text[:70]!r})")
    return text


def _marker(folder: Path) -> dict:
    """The complete-marker of a series folder; {} when there is none or it cannot be read."""
    try:
        marker = json.loads((Path(folder) / COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return marker if isinstance(marker, dict) else {}


def retrieved_from(folder: Path) -> str | None:
    """'series retrieved from <node>' for a series folder of the cache (whose name is only a UID) that names its
    PACS in its marker, else None: a name for the reader, not a check that the series is complete."""
    node = _marker(folder).get("node")
    return f"series retrieved from {node}" if isinstance(node, str) and node else None


class SeriesCache:
    """The cached instances of one series of one study."""

    def __init__(self, root: Path, study_uid: str, series_uid: str):
        self.study_uid, self.series_uid = checked_uid(study_uid, "Study Instance UID"), checked_uid(series_uid, "Series Instance UID")
        self.folder = Path(root) / self.study_uid / self.series_uid

    def present(self) -> set[str]:
        """The SOP Instance UIDs whose files are here."""
        if not self.folder.is_dir():
            return set()
        return {path.stem for path in self.folder.glob("*.dcm") if UID.match(path.stem)}

    def store(self, dataset) -> Path:
        """Write one received instance (its UIDs checked against this series) atomically; returns its path."""
        for keyword, expected in (("StudyInstanceUID", self.study_uid), ("SeriesInstanceUID", self.series_uid)):
            if checked_uid(dataset.get(keyword), keyword) != expected:
                raise PacsError(f"the PACS sent an instance of another {'study' if 'Study' in keyword else 'series'}")
        sop = checked_uid(dataset.get("SOPInstanceUID"), "SOP Instance UID")
        self.folder.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()
        dataset.save_as(buffer, enforce_file_format=True)
        path = self.folder / f"{sop}.dcm"
        write_atomic(path, buffer.getvalue())
        return path

    def mark_complete(self, expected: set[str], node: str) -> None:
        """Write the marker: every instance in ``expected`` is here (checked)."""
        missing = expected - self.present()
        if missing:
            raise PacsError(f"{len(missing)} of {len(expected)} images are missing")
        marker = {"instances": sorted(expected), "node": node, "retrieved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        write_atomic(self.folder / COMPLETE, json.dumps(marker, indent=1).encode())

    def is_complete(self) -> bool:
        """The marker is there and every instance it lists is on disk."""
        try:
            listed = set(_marker(self.folder).get("instances") or ())
        except TypeError:  # not a list of UIDs
            return False
        return bool(listed) and listed <= self.present()

    def forget_complete(self) -> None:
        """Drop the marker (before fetching again: the series on the PACS may have grown)."""
        (self.folder / COMPLETE).unlink(missing_ok=True)

    def files(self) -> list[Path]:
        return sorted(self.folder.glob("*.dcm"))
