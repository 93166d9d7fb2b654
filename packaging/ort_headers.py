"""Fetch ONNX Runtime's C/C++ API headers for building the SaDNN operator library.

No PyPI wheel ships them. Debian trixie's ``libonnxruntime-dev`` does: this downloads that one package
with a private apt state (its own sources list, package lists and cache under ``build/``; nothing is
installed and the system's apt state is untouched), checks it against the SHA-256 pinned here, and
unpacks only its headers into ``build/ort-headers/include``. apt verifies the archive's signatures.

Usage: python packaging/ort_headers.py [--out build/ort-headers]   (prints the include folder)
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "libonnxruntime-dev=1.21.0+dfsg-1"
DEB_SHA256 = "14f7d959d5deacbcf1504830d4189f91fc67382b399ed9ae9d3aa9c4050ced08"
SOURCES = "deb http://deb.debian.org/debian trixie main\n"


def include_folder(out: Path) -> Path:
    return out / "include" / "onnxruntime"


def fetch(out: Path) -> Path:
    """The include folder, fetched once (later calls reuse it)."""
    target = include_folder(out)
    if (target / "onnxruntime_cxx_api.h").is_file():
        return target
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise SystemExit("ort_headers: apt-get and dpkg-deb are needed to fetch the headers; or set ORT_INCLUDE_DIR "
                         "to a folder holding onnxruntime_cxx_api.h (ONNX Runtime >= 1.21)")
    state = out / "apt"
    for folder in (state / "lists" / "partial", state / "cache" / "archives" / "partial"):
        folder.mkdir(parents=True, exist_ok=True)
    (state / "sources.list").write_text(SOURCES)
    options = [f"-oDir::Etc::SourceList={state / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
               f"-oDir::State::Lists={state / 'lists'}", f"-oDir::Cache={state / 'cache'}", "-oDebug::NoLocking=1",
               "-oAPT::Sandbox::User=root", "-qq"]
    subprocess.run(["apt-get", *options, "update"], check=True)
    with tempfile.TemporaryDirectory(dir=out) as download:
        subprocess.run(["apt-get", *options, "download", PACKAGE], check=True, cwd=download)
        (deb,) = Path(download).glob("*.deb")
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != DEB_SHA256:
            raise SystemExit(f"ort_headers: {deb.name} has SHA-256 {digest}, expected {DEB_SHA256}")
        unpacked = Path(download) / "unpacked"
        subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(unpacked / "usr" / "include" / "onnxruntime", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "ort-headers")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    print(fetch(args.out.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
