"""An export folder that appears whole or not at all.

Files are written into a hidden staging folder beside the target, a manifest with every file's
SHA-256 is written last, and the staging folder is then swapped in with one rename (on Linux an
atomic exchange with the previous export). A kill at any moment leaves the previous export intact
or the new one complete; what a killed export left beside the target is cleared (or, after a kill
between the two renames of the portable swap, finished) by the next export to the same place.

The target must be new, empty or a previous export: a folder holding anything else (the home
folder, a patient's files) is refused rather than replaced.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import psutil

from engine.runtime.errors import EngineError

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "sadnn-viewer-export"
CLUTTER = {".DS_Store", "Thumbs.db", "desktop.ini"}  # made by file browsers, never by a user


class ExportError(EngineError):
    """Something the user can act on: a full disk, a read-only folder, a source that cannot be referenced."""


class ExportExists(ExportError):
    """Files of a previous export are in the folder; ``names`` lists them."""

    def __init__(self, names: list[str]):
        super().__init__(f"{len(names)} file(s) would be replaced: {', '.join(names)}")
        self.names = names


class ExportFolder:
    """The target of one export. ``begin`` opens the staging folder, ``commit`` swaps it in, ``abort`` drops it."""

    def __init__(self, target: Path, overwrite: bool = False, legacy_names: frozenset[str] = frozenset()):
        """``legacy_names``: files an export wrote before exports had a manifest (they may be replaced)."""
        self.target, self.overwrite, self.legacy_names = Path(target), overwrite, legacy_names
        self.staging: Path | None = None
        if self.target.exists() and not self.target.is_dir():
            raise ExportError(f"{self.target} is not a folder")
        if not self.target.parent.is_dir():
            raise ExportError(f"{self.target.parent} is not a folder: choose a folder that exists")

    # checks (no side effects)
    def check_free(self, names: list[str]) -> None:
        """Refuse a folder holding other files; raise ExportExists unless replacing a previous export was agreed."""
        existing = self._previous_entries()
        foreign = sorted(existing - self._owned())
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise ExportError(f"{self.target} already holds files that are not an export of this app ({shown}); "
                              "export into a new or empty folder")
        taken = [name for name in names if (self.target / name).exists()]
        if existing and not taken:
            taken = sorted(existing - {MANIFEST})
        if taken and not self.overwrite:
            raise ExportExists(taken)

    # writing
    def begin(self) -> Path:
        """Clear leftovers of a killed export, then create the hidden staging folder."""
        recover(self.target)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.staging = self.target.parent / f".{self.target.name}.export-new-{os.getpid()}-{stamp}"
        with self.guard(self.target.name):
            self.staging.mkdir()
        return self.staging

    def path(self, name: str) -> Path:
        """``name`` inside the staging folder; refuses anything that would land elsewhere."""
        if self.staging is None:
            raise RuntimeError("begin() the export first")
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise ExportError(f"refusing to write {name!r}: it is not a plain file inside {self.target}")
        return self.staging / relative

    def write_bytes(self, name: str, payload: bytes) -> Path:
        with self.guard(name):
            self.path(name).write_bytes(payload)
        return self.target / name

    @contextmanager
    def writing(self, name: str) -> Iterator[Path]:
        """A path in the staging folder for writers that need a file name (nibabel, pydicom, Qt)."""
        with self.guard(name):
            yield self.path(name)

    def mkdir(self, name: str) -> Path:
        with self.guard(name):
            self.path(name).mkdir(exist_ok=True)
        return self.path(name)

    def commit(self) -> list[Path]:
        """Write the manifest last, swap the staging folder in, and return the exported files."""
        files = sorted(p for p in self.staging.rglob("*") if p.is_file())
        with self.guard(MANIFEST):
            manifest = {"format": MANIFEST_FORMAT, "exported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                        "files": {p.relative_to(self.staging).as_posix(): _sha256_synced(p) for p in files}}
            _write_synced(self.staging / MANIFEST, json.dumps(manifest, indent=2).encode())
            swap_in(self.staging, self.target)
        self.staging = None
        return [self.target / name for name in manifest["files"]]

    def abort(self) -> None:
        """Drop the staging folder; the target is untouched."""
        if self.staging is not None:
            shutil.rmtree(self.staging, ignore_errors=True)
            self.staging = None

    @contextmanager
    def guard(self, name: str) -> Iterator[None]:
        try:
            yield
        except OSError as err:
            raise ExportError(explain(err, self.target, name)) from err

    def _previous_entries(self) -> set[str]:
        if not self.target.is_dir():
            return set()
        return {p.name for p in self.target.iterdir() if p.name not in CLUTTER}

    def _owned(self) -> set[str]:
        manifest = read_manifest(self.target)
        if manifest is None:
            return set(self.legacy_names)
        return {MANIFEST} | {name.split("/")[0] for name in manifest["files"]}


def read_manifest(folder: Path) -> dict | None:
    """The manifest of an export folder, or None when there is none (or it is not ours)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or data.get("format") != MANIFEST_FORMAT or not isinstance(data.get("files"), dict):
        return None
    return data


def is_complete(folder: Path) -> bool:
    """True when ``folder`` has a manifest and every file it lists is there with its SHA-256."""
    manifest = read_manifest(folder)
    if manifest is None:
        return False
    for name, digest in manifest["files"].items():
        path = folder / name
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            return False
    return True


def swap_in(staging: Path, target: Path) -> None:
    """Put ``staging`` at ``target``: one rename when the target is new, an exchange (or two renames) otherwise."""
    if not target.exists():
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging)  # it now holds the previous export
        return
    old = staging.with_name(staging.name.replace(".export-new-", ".export-old-"))
    os.rename(target, old)
    os.rename(staging, target)  # a kill between the renames is finished by recover()
    shutil.rmtree(old)


def recover(target: Path) -> None:
    """Finish or clear what killed exports to ``target`` left beside it (never touching a live one)."""
    prefix = f".{target.name}.export-"
    leftovers = sorted(p for p in target.parent.iterdir() if p.name.startswith(prefix) and p.is_dir())
    for path in (p for p in leftovers if p.name.startswith(prefix + "new-")):
        if _alive(path, prefix + "new-"):
            continue
        if not target.exists() and is_complete(path):
            os.rename(path, target)  # killed between the two renames: the new export was complete
        else:
            shutil.rmtree(path, ignore_errors=True)
    for path in (p for p in leftovers if p.name.startswith(prefix + "old-")):
        if _alive(path, prefix + "old-"):
            continue
        if target.exists():
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.rename(path, target)  # killed before the new export was in place: the previous one returns


def leftovers(target: Path) -> list[Path]:
    """Hidden folders that exports to ``target`` left beside it."""
    return sorted(p for p in target.parent.iterdir() if p.name.startswith(f".{target.name}.export-"))


def explain(err: OSError, folder: Path, name: str) -> str:
    """A full disk, a read-only folder or a missing permission, said plainly."""
    if err.errno == errno.ENOSPC:
        return f"the disk holding {folder} is full: {name} was not written (nothing was overwritten)"
    if err.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return f"cannot write into {folder}: the folder is read-only or you lack permission ({name} not written)"
    return f"cannot write {name} into {folder}: {err.strerror or err}"


def _alive(path: Path, prefix: str) -> bool:
    pid = path.name[len(prefix):].split("-")[0]
    return pid.isdigit() and int(pid) != os.getpid() and psutil.pid_exists(int(pid))


def _exchange(first: Path, second: Path) -> bool:
    """Atomically exchange two paths (Linux renameat2 RENAME_EXCHANGE); False where that is unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd, rename_exchange = -100, 2
    if renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False  # the file system cannot exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(second))


def _sha256_synced(path: Path) -> str:
    with open(path, "rb") as stream:
        digest = hashlib.sha256(stream.read()).hexdigest()
        os.fsync(stream.fileno())
    return digest


def _write_synced(path: Path, payload: bytes) -> None:
    with open(path, "wb") as stream:
        stream.write(payload)
        stream.flush()
        os.fsync(stream.fileno())
