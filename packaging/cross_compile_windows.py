"""Cross-compile the SaDNN operator library for 64-bit Windows with mingw-w64, and check the DLL.

Proves that the same source builds for Windows (CI runs it); the installer on Windows builds it with
MSVC instead (``cl /O2 /arch:AVX2 /std:c++17 /EHsc /LD``, see README). Not run on Windows here: the
DLL's exports and imports are checked with objdump.

Usage: python packaging/cross_compile_windows.py [--out build/windows]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "engine" / "runtime" / "operators" / "sadnn_ops.cc"
COMPILER, OBJDUMP = "x86_64-w64-mingw32-g++", "x86_64-w64-mingw32-objdump"
EXPORTS = {"RegisterCustomOps", "SadnnOpsCpuSupported", "SadnnOpsVersion"}
ALLOWED_IMPORTS = {"KERNEL32.dll", "msvcrt.dll"}  # libgcc and libstdc++ are linked in


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "windows")
    args = parser.parse_args(argv)
    if shutil.which(COMPILER) is None:
        print(f"cross_compile_windows: {COMPILER} not found (apt-get install g++-mingw-w64-x86-64)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "packaging"))
    from ort_headers import fetch

    include = fetch(ROOT / "build" / "ort-headers")
    args.out.mkdir(parents=True, exist_ok=True)
    dll = args.out / "sadnn_ops.dll"
    # The ORT headers use MSVC's SAL annotations and _stdcall spelling, which mingw lacks.
    subprocess.run([COMPILER, "-O2", "-mavx2", "-mfma", "-std=c++17", "-shared", "-static-libgcc", "-static-libstdc++",
                    "-D_Return_type_success_(x)=", "-D_stdcall=__stdcall", f"-I{include}", str(SOURCE), "-o", str(dll)],
                   check=True)
    table = subprocess.run([OBJDUMP, "-p", str(dll)], check=True, capture_output=True, text=True).stdout
    exported = {line.split("]")[1].strip() for line in table.splitlines() if line.strip().startswith("[") and "]" in line
                and line.split("]")[1].strip() in EXPORTS}
    imported = {line.split(":", 1)[1].strip() for line in table.splitlines() if "DLL Name:" in line}
    if exported != EXPORTS or not imported <= ALLOWED_IMPORTS:
        print(f"cross_compile_windows: {dll} exports {sorted(exported)} and imports {sorted(imported)}", file=sys.stderr)
        return 1
    print(f"built {dll} ({dll.stat().st_size / 1e6:.2f} MB): exports {sorted(exported)}, imports {sorted(imported)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
