"""Launch the viewer: ``python -m viewer`` or the ``sadnn-viewer`` script."""

from __future__ import annotations

import os
import sys


def has_display() -> bool:
    """Whether a window can be shown (always on Windows/macOS; on Linux needs X11, Wayland or a Qt platform)."""
    if sys.platform != "linux":
        return True
    return any(os.environ.get(name) for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"))


def main(argv: list[str] | None = None) -> int:
    if not has_display():
        print(
            "sadnn-viewer: no display found (DISPLAY/WAYLAND_DISPLAY unset). Run it on a desktop session, "
            "or under a virtual screen: xvfb-run -a python -m viewer",
            file=sys.stderr,
        )
        return 2
    from viewer.app import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
