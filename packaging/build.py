"""Build the standalone viewer with PyInstaller (onedir), report its size, and smoke-test it.

    python packaging/build.py [--skip-smoke]

Steps: a clean build environment with only the runtime (viewer) dependencies and PyInstaller, so
torch cannot slip in; PyInstaller with packaging/sadnn_viewer.spec; pruning of Qt parts the viewer
never loads; a size report; ``sadnn-viewer --self-test`` headless. Exit status 0 only if all passed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build" / "installer"
DIST = ROOT / "dist"
APP = DIST / "sadnn-viewer"
WINDOWS = sys.platform == "win32"
VENV_PYTHON = BUILD / "venv" / ("Scripts/python.exe" if WINDOWS else "bin/python")
SIZE_TARGET_MB = 350
# Qt pieces PyInstaller's hooks collect that a QtWidgets app with no web, QML or printing dialogs never loads.
PRUNE = ["translations", "qml", "plugins/tls", "plugins/networkinformation", "plugins/qmltooling",
         "plugins/generic", "plugins/platforminputcontexts", "plugins/platformthemes", "plugins/egldeviceintegrations",
         "plugins/wayland-decoration-client", "plugins/wayland-graphics-integration-client", "plugins/wayland-shell-integration",
         "plugins/xcbglintegrations", "plugins/iconengines", "plugins/platforms/libqminimalegl.so",
         "plugins/platforms/libqvnc.so", "plugins/platforms/libqlinuxfb.so", "plugins/platforms/libqeglfs.so"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build, measure and smoke-test the standalone viewer.")
    parser.add_argument("--skip-smoke", action="store_true", help="do not run the built app's --self-test")
    args = parser.parse_args(argv)
    if not (ROOT / "resources" / "samples" / "abdominal_ct").is_dir():
        print("build: error: resources/samples is empty; run `make samples` first", file=sys.stderr)
        return 2
    started = time.perf_counter()
    build_environment()
    run([str(VENV_PYTHON), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--workpath", str(BUILD / "work"), "--distpath", str(DIST), str(ROOT / "packaging" / "sadnn_viewer.spec")])
    prune()
    stripped = strip_binaries()
    report = size_report()
    report["stripped_mb"] = stripped
    report["build_seconds"] = round(time.perf_counter() - started, 1)
    if not args.skip_smoke:
        report["smoke"] = smoke_test()
        report["first_window_s"] = first_window()
    (BUILD / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(json.dumps(report, indent=2))
    ok = report["total_mb"] <= SIZE_TARGET_MB and (args.skip_smoke or report["smoke"]["exit_code"] == 0)
    return 0 if ok else 1


def build_environment() -> None:
    """A venv with the viewer's runtime dependencies and PyInstaller; refuse it if torch got in."""
    if not VENV_PYTHON.exists():
        run([sys.executable, "-m", "venv", str(BUILD / "venv")])
    run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([str(VENV_PYTHON), "-m", "pip", "install", "--quiet", f"{ROOT}[viewer]", "pyinstaller>=6.10"])
    run([str(VENV_PYTHON), "-m", "pip", "uninstall", "--quiet", "--yes", "sadnn-viewer"])  # the spec takes the source tree
    probe = subprocess.run([str(VENV_PYTHON), "-c", "import torch"], capture_output=True)
    if probe.returncode == 0:
        raise SystemExit("build: error: torch is installed in the build environment; the viewer must not need it")


def prune() -> None:
    qt = next(APP.rglob("PySide6/Qt"), None)
    if qt is None:
        return
    for relative in PRUNE:
        target = qt / relative
        if target.is_dir():
            shutil.rmtree(target)
        elif target.exists():
            target.unlink()


def strip_binaries() -> float:
    """Debug symbols out of shared libraries that are safe to strip (Linux only); returns MB saved.

    Libraries that auditwheel patched (in a ``*.libs`` folder, or with an $ORIGIN run path) are left
    alone: stripping a patchelf-modified file breaks its program headers.
    """
    if not sys.platform.startswith("linux") or shutil.which("strip") is None or shutil.which("readelf") is None:
        return 0.0
    saved = 0
    for path in APP.rglob("*.so*"):
        if not path.is_file() or path.is_symlink() or any(part.endswith(".libs") for part in path.parts):
            continue
        dynamic = subprocess.run(["readelf", "-d", str(path)], capture_output=True, text=True).stdout
        if "$ORIGIN" in dynamic:
            continue
        before = path.stat().st_size
        if subprocess.run(["strip", "--strip-unneeded", str(path)], capture_output=True).returncode == 0:
            saved += before - path.stat().st_size
    return round(saved / 2**20, 1)


def size_report(top: int = 12) -> dict:
    """Total size and the biggest files and folders (two levels deep) of the built app."""
    sizes: dict[str, int] = {}
    total = 0
    for path in APP.rglob("*"):
        if path.is_file() and not path.is_symlink():
            size = path.stat().st_size
            total += size
            parts = path.relative_to(APP).parts
            key = "/".join(parts[:3]) if parts[0] == "_internal" and len(parts) > 2 else "/".join(parts[:2])
            sizes[key] = sizes.get(key, 0) + size
    biggest = sorted(sizes.items(), key=lambda item: -item[1])[:top]
    return {"total_mb": round(total / 2**20, 1), "target_mb": SIZE_TARGET_MB,
            "biggest_mb": {name: round(size / 2**20, 1) for name, size in biggest}}


def smoke_test() -> dict:
    """The frozen app, headless: open both samples, run both models, export; time it."""
    out = BUILD / "self-test"
    shutil.rmtree(out, ignore_errors=True)
    executable = APP / ("sadnn-viewer.exe" if WINDOWS else "sadnn-viewer")
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_CONFIG": str(out / "config")}
    environment.pop("SADNN_MODELS", None)
    environment.pop("SADNN_SAMPLES", None)
    started = time.perf_counter()
    result = subprocess.run([str(executable), "--self-test", str(out)], capture_output=True, text=True, env=environment)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if "self-test" in line]
    return {"exit_code": result.returncode, "seconds": round(time.perf_counter() - started, 1),
            "result": lines[-1] if lines else (result.stdout + result.stderr)[-2000:]}


def first_window(warm_runs: int = 3) -> dict:
    """Seconds from process start to the first painted window of the frozen app: once after dropping
    the page cache (a true cold start; needs root on Linux, else the first run is only the coldest we
    can get) and ``warm_runs`` times right after."""
    executable = APP / ("sadnn-viewer.exe" if WINDOWS else "sadnn-viewer")
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SADNN_CONFIG": str(BUILD / "self-test" / "config")}
    cold = _drop_page_cache()
    times = []
    for _ in range(1 + warm_runs):
        result = subprocess.run([str(executable), "--report-first-window"], capture_output=True, text=True, env=environment)
        line = next((x for x in result.stdout.splitlines() if x.startswith("first_window_seconds")), None)
        times.append(float(line.split()[1]) if line else None)
    return {"cold": times[0], "cold_is_true_cold_start": cold, "warm": times[1:]}


def _drop_page_cache() -> bool:
    if sys.platform != "linux":
        return False
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run(command: list[str]) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True, cwd=ROOT)


if __name__ == "__main__":
    raise SystemExit(main())
