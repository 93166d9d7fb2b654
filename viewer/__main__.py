"""Launch the viewer: ``python -m viewer`` or the ``sadnn-viewer`` script."""

from __future__ import annotations

import ctypes
import os
import sys

# What Qt's xcb platform plugin loads beyond libxcb itself (Qt >= 6.5), and the Debian/Ubuntu package of each.
XCB_LIBRARIES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
}


def has_display() -> bool:
    """Whether a window can be shown (always on Windows/macOS; on Linux needs X11, Wayland or a Qt platform)."""
    if sys.platform != "linux":
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def missing_xcb_packages(load=ctypes.CDLL) -> list[str]:
    """The Debian/Ubuntu packages whose libraries Qt's X11 plugin needs but cannot load here ([] where it can,
    or where Qt will not use X11)."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if sys.platform != "linux" or (platform and platform != "xcb") or not os.environ.get("DISPLAY"):
        return []
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return []  # Qt prefers Wayland there
    missing = []
    for library, package in XCB_LIBRARIES.items():
        try:
            load(library)
        except OSError:
            missing.append(package)
    return missing


def main(argv: list[str] | None = None) -> int:
    if not has_display():
        print(
            "sadnn-viewer: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop session, "
            f"or under a virtual screen: xvfb-run -a {sys.executable} -m viewer",
            file=sys.stderr,
        )
        return 2
    missing = missing_xcb_packages()
    if missing:
        print(
            "sadnn-viewer: Qt cannot open a window on this X server: system libraries are missing. Install them with\n"
            f"    sudo apt-get install -y {' '.join(missing)}\nthen start the viewer again.",
            file=sys.stderr,
        )
        return 2
    from viewer.app import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
