"""The package build compiles the SaDNN operator library for ONNX Runtime (metadata: pyproject.toml).

``pip install .`` (or ``-e .``) compiles ``engine/runtime/operators/sadnn_ops.cc`` into
``engine/runtime/operators/libsadnn_ops.so`` (``sadnn_ops.dll`` with MSVC) against ONNX Runtime's C/C++ API
headers: ``$ORT_INCLUDE_DIR``, else fetched once by ``packaging/ort_headers.py``. Where no compiler or
no headers can be had, the build says so and goes on: the engine then runs the portable graph.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
SOURCE = ROOT / "engine" / "runtime" / "operators" / "sadnn_ops.cc"


def library_name() -> str:
    return "sadnn_ops.dll" if sys.platform == "win32" else "libsadnn_ops.so"


def ort_include() -> Path:
    if os.environ.get("ORT_INCLUDE_DIR"):
        return Path(os.environ["ORT_INCLUDE_DIR"])
    sys.path.insert(0, str(ROOT / "packaging"))
    from ort_headers import fetch

    out = ROOT / "build" / "ort-headers"
    out.mkdir(parents=True, exist_ok=True)
    return fetch(out)


def compile_command(include: Path, target: Path) -> list[str]:
    """The one compiler call: g++/clang (``$CXX``) or MSVC's ``cl``."""
    if sys.platform == "win32":
        return ["cl", "/nologo", "/O2", "/arch:AVX2", "/std:c++17", "/EHsc", "/LD", f"/I{include}", str(SOURCE),
                f"/Fe:{target}"]
    return [os.environ.get("CXX", "c++"), "-O3", "-mavx2", "-mfma", "-std=c++17", "-fPIC", "-shared",
            "-fvisibility=hidden", f"-I{include}", str(SOURCE), "-o", str(target)]


def compile_library(target_folder: Path) -> Path:
    """Compile the operator library into ``target_folder``."""
    target = target_folder / library_name()
    subprocess.run(compile_command(ort_include(), target), check=True)
    return target


class BuildWithOperators(build_py):
    """build_py, then the operator library into the package (in place for editable installs)."""

    def run(self) -> None:
        super().run()
        folder = SOURCE.parent if getattr(self, "editable_mode", False) else Path(self.build_lib) / "engine" / "runtime" / "operators"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            print(f"sadnn-viewer: built {compile_library(folder)}")
        except (Exception, SystemExit) as err:  # noqa: BLE001 -- the build goes on; the engine falls back
            print(f"sadnn-viewer: WARNING: the SaDNN operator library was not built ({err}); "
                  "the engine will run the portable graph", file=sys.stderr)


setup(cmdclass={"build_py": BuildWithOperators})
