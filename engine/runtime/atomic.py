"""Atomic file writes: a reader sees the old file or the new one, never half of either."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


def write_atomic(path: Path, payload: bytes, mode: int | None = None) -> None:
    """Write ``payload`` to ``path`` through a temporary file in the same folder (flushed, then renamed).

    ``mode`` sets the permissions (e.g. 0o600 for a private key); by default the umask decides.
    """
    with atomic_path(Path(path), mode) as temporary:
        with open(temporary, "wb") as stream:
            stream.write(payload)
            stream.flush()
            os.fsync(stream.fileno())


@contextmanager
def atomic_path(path: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that needs a file name (nibabel, pydicom).

    When the block succeeds the file is renamed onto ``path``; when it fails it is removed and
    ``path`` is untouched.
    """
    path = Path(path)
    suffix = "".join(path.suffixes) or ".tmp"  # writers pick the format from the suffix (.nii.gz)
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".partial{suffix}")
    os.close(descriptor)
    temporary = Path(name)
    try:
        if mode is not None:
            os.chmod(temporary, mode)  # before any byte is written
        yield temporary
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(temporary, 0o666 & ~umask)  # mkstemp makes 0600; a written file gets ordinary permissions
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
