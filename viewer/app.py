"""Application start-up: one QApplication, the main window, and a last-resort error dialog."""

from __future__ import annotations

import argparse
import logging
import sys
import traceback

log = logging.getLogger("viewer")


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sadnn-viewer", description="Verify CT liver segmentations and chest X-ray findings.")
    parser.add_argument("path", nargs="?", help="an image file, a DICOMDIR or a DICOM folder to open")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot after opening PATH and quit (for docs and checks)")
    parser.add_argument("--report-first-window", action="store_true",
                        help="print seconds from process start to the first painted window, then quit (benchmark)")
    parser.add_argument("--self-test", metavar="OUT",
                        help="open the bundled samples, run both models, export a review into OUT, exit 0 if all worked")
    return parser.parse_args(argv)


def run(argv: list[str]) -> int:
    """Create the application and its main window, run the event loop, return its exit code."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from viewer.qt.main_window import MainWindow

    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("highdicom").setLevel(logging.WARNING)  # it logs every attribute it copies
    app = QApplication(["sadnn-viewer"])
    app.setApplicationName("SaDNN Viewer")
    window = MainWindow()
    sys.excepthook = lambda *exc: _report_bug(window, exc)
    window.show()
    if args.path:
        QTimer.singleShot(0, lambda: window.open_path(args.path))
    if args.report_first_window:
        QTimer.singleShot(0, lambda: _report_first_window(app))
    if args.screenshot:
        QTimer.singleShot(0, lambda: _screenshot_when_idle(window, args.screenshot, app))
    if args.self_test:
        from pathlib import Path

        from viewer.qt.self_test import run_self_test

        QTimer.singleShot(0, lambda: app.exit(run_self_test(app, window, Path(args.self_test))))
    elif not (args.screenshot or args.report_first_window or args.path):
        _welcome_on_first_run(window)
    return app.exec()


def _welcome_on_first_run(window) -> None:
    from viewer.welcome import is_first_run, mark_welcomed

    if is_first_run():
        window.show_welcome()
        mark_welcomed()


def _report_bug(window, exc_info) -> None:
    """A bug in a slot is logged in full and shown as one line; the window stays open."""
    log.error("unexpected error:\n%s", "".join(traceback.format_exception(*exc_info)))
    window.show_error("Unexpected error", f"{exc_info[0].__name__}: {exc_info[1]} (details in the log)")


def _report_first_window(app) -> None:
    """Called once the event loop has shown and painted the window."""
    import time

    import psutil

    print(f"first_window_seconds {time.time() - psutil.Process().create_time():.3f}", flush=True)
    app.quit()


def _screenshot_when_idle(window, path: str, app) -> None:
    from PySide6.QtCore import QTimer

    if window.runner.busy:
        QTimer.singleShot(200, lambda: _screenshot_when_idle(window, path, app))
        return
    QTimer.singleShot(300, lambda: (window.grab().save(path), app.quit()))
