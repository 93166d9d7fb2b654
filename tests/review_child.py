"""A viewer process for the kill -9 test: reviews and edits, prints what it did, then waits to be killed.

Usage: python tests/review_child.py MODELS_FOLDER DICOM_FOLDER [resegment]  (SADNN_SESSIONS set by the test)

With ``resegment`` it then segments again (agreeing to set the review aside), prints RESEGMENTING
as the new run starts, and goes on until killed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def wait_until(app, condition, timeout: float = 300.0) -> None:
    end = time.time() + timeout
    while not condition():
        app.processEvents()
        time.sleep(0.01)
        if time.time() > end:
            raise TimeoutError("the viewer did not finish in time")


def main(models: str, series: str, then: str = "") -> None:
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    from viewer.bundles import installed_models
    from viewer.qt.main_window import MainWindow

    app = QApplication(["review-child"])
    window = MainWindow(installed_models(Path(models)))
    window.resize(1200, 800)
    window.show()
    window.open_path(series)
    wait_until(app, lambda: window.study is not None and not window.runner.busy)
    window.segment()
    wait_until(app, lambda: window.study.segmentation is not None and not window.runner.busy)
    study, axial = window.study, window.area.views["axial"]
    QTest.keyClick(window, Qt.Key.Key_A)
    QTest.keyClick(window, Qt.Key.Key_N)
    QTest.keyClick(window, Qt.Key.Key_F)
    QTest.keyClick(window, Qt.Key.Key_C)  # as a user: C focuses the note, type, Enter
    QTest.keyClicks(window.review.slice_note, "check this slice")
    QTest.keyClick(window.review.slice_note, Qt.Key.Key_Return)
    app.processEvents()
    QTest.keyClick(window, Qt.Key.Key_N)
    QTest.keyClick(window, Qt.Key.Key_B)
    z = study.cursor[0]
    point = lambda row, column: axial.image.mapToScene(QPointF(column, row))  # noqa: E731
    axial.box.stroked.emit("start", point(200, 150))
    axial.box.stroked.emit("move", point(220, 170))
    axial.box.stroked.emit("finish", point(240, 190))
    QTest.keyClick(window, Qt.Key.Key_X)
    axial.box.clicked.emit(point(300, 300))
    app.processEvents()
    state = {
        "marks": {str(k): v for k, v in study.review.marks.items()},
        "notes": {str(k): v for k, v in study.review.notes.items()},
        "mask_voxels": int(study.mask.sum()),
        "edited_slices": study.editor.edited_slices(study.segmentation.mask),
        "model": study.segmentation.model,
        "slice": z,
    }
    print("STATE " + json.dumps(state), flush=True)
    if then == "resegment":
        window.prompts.confirm = lambda *args, **kwargs: True
        window.segment()
        print("RESEGMENTING", flush=True)
    while True:  # keep working as a user would, until killed
        app.processEvents()
        time.sleep(0.05)


if __name__ == "__main__":
    main(*sys.argv[1:4])
