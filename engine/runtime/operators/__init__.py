"""The SaDNN operator library for ONNX Runtime: where it is, whether this CPU can run it, registering it.

The library (``sadnn_ops.cc``, compiled by the package build) adds the domain ``ai.sadnn``: the fused
3x3 local attention and NHWC 2x2 max pooling / unpooling. It needs AVX2 and FMA; where the library is
missing or the CPU lacks them, ``status()`` says why and models run their portable graph instead.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DOMAIN = "ai.sadnn"
LIBRARY_ENV = "SADNN_OPS_LIBRARY"


@dataclass(frozen=True)
class OpsStatus:
    """Whether the operators can run here, and if not, why (one line for the UI)."""

    usable: bool
    reason: str
    path: Path | None = None
    version: str = ""
    sha256: str = ""


def library_path() -> Path:
    """$SADNN_OPS_LIBRARY, else the library beside this module (or in the frozen app)."""
    if os.environ.get(LIBRARY_ENV):
        return Path(os.environ[LIBRARY_ENV])
    name = "sadnn_ops.dll" if sys.platform == "win32" else "libsadnn_ops.so"
    return Path(__file__).resolve().parent / name


@lru_cache(maxsize=None)
def _status(path: Path) -> OpsStatus:
    if not path.is_file():
        return OpsStatus(False, f"the SaDNN operator library was not built ({path.name} is missing)")
    try:
        library = ctypes.CDLL(str(path))
    except OSError as err:
        return OpsStatus(False, f"the SaDNN operator library cannot be loaded: {err}", path)
    library.SadnnOpsVersion.restype = ctypes.c_char_p
    version = library.SadnnOpsVersion().decode()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not library.SadnnOpsCpuSupported():
        return OpsStatus(False, "this CPU lacks AVX2/FMA, which the SaDNN operators need", path, version, digest)
    return OpsStatus(True, f"SaDNN operators {version} (AVX2)", path, version, digest)


def status() -> OpsStatus:
    """Can the operator library run on this machine? (checked once per path)"""
    return _status(library_path())


def register(options) -> None:
    """Add the operators to ``options`` (an onnxruntime.SessionOptions); raises RuntimeError with the reason."""
    found = status()
    if not found.usable:
        raise RuntimeError(found.reason)
    options.register_custom_ops_library(str(found.path))
