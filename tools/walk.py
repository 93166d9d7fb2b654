"""Walk the real window through a radiologist's workflow and save a screenshot of every step.

    xvfb-run -a -s "-screen 0 1800x1100x24" .venv/bin/python tools/walk.py OUT_FOLDER

It opens the bundled samples (``make samples``) with the bundled models, segments the CT and checks it against fp32,
loads the TotalSegmentator reference mask when ../shared/data is there, reviews slices by key, measures, changes the
layout, classifies the X-ray with saliency, and tries hostile inputs (a missing file, a text file named .dcm). Look at
every PNG it writes. Autosaves and settings go to OUT_FOLDER, never to the user's folders.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "data" / "ct" / "totalseg_nifti" / "example_seg_dicom.nii.gz"


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    for name, folder in (("SADNN_SESSIONS", "sessions"), ("SADNN_CONFIG", "config"), ("SADNN_EXPORTS", "exports")):
        os.environ[name] = str(out / folder)
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from viewer.bundles import installed_models
    from viewer.qt.main_window import MainWindow

    window = MainWindow(installed_models(ROOT / "resources" / "models"))
    window.prompts.confirm = lambda *_args, **_kwargs: True
    window.prompts.choose = lambda _title, _text, _options, current=0: current
    window.resize(1600, 980)
    window.show()
    window.activateWindow()

    def settle(seconds: float = 0.3) -> None:
        end = time.time() + seconds
        while time.time() < end:
            app.processEvents()
            time.sleep(0.01)

    def wait() -> None:
        while window.runner.busy:
            settle(0.05)
        settle()

    def key(code, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
        QTest.keyClick(window, code, modifiers)
        settle(0.1)

    def shot(name: str) -> None:
        settle()
        window.grab().save(str(out / f"{name}.png"))
        print(f"{name}.png: {window.message.text()[:140]}", flush=True)

    window.open_sample("ct"), wait(), shot("01_ct_open")
    window.segment(with_fp32=True), wait(), shot("02_ct_segmented")
    window.study.set_style(mode="disagreement"), shot("02b_ct_int8_vs_fp32"), window.study.set_style(mode="prediction")
    key(Qt.Key.Key_U), key(Qt.Key.Key_A), key(Qt.Key.Key_N), key(Qt.Key.Key_F), shot("03_ct_reviewed_by_key")
    if REFERENCE.exists():
        window.load_reference(REFERENCE), settle(), shot("04_ct_vs_reference")
    key(Qt.Key.Key_O, Qt.KeyboardModifier.ShiftModifier), shot("05_ct_outline_only")
    key(Qt.Key.Key_1), shot("06_ct_liver_window")
    key(Qt.Key.Key_D)
    view = window.area.views["axial"]
    start, end = view.image.mapToScene(150, 250), view.image.mapToScene(350, 250)
    for phase, point in (("start", start), ("move", end), ("finish", end)):
        view._stroke(phase, point)
    key(Qt.Key.Key_Escape), shot("07_ct_ruler")
    window.area.view_grid.set_layout("1x3"), shot("08_layout_1x3")
    window.area.view_grid.set_layout("2x2"), shot("09_layout_2x2")
    window.area.view_grid.set_layout("1+2")
    key(Qt.Key.Key_F9), shot("10_results_panel_hidden"), key(Qt.Key.Key_F9)
    window.tabs.setCurrentWidget(window.energy), shot("11_ct_energy")
    window.show_shortcuts(), settle(), window.shortcut_sheet.grab().save(str(out / "12_shortcut_sheet.png"))
    window.shortcut_sheet.close()
    window.open_sample("xray"), wait(), shot("13_xray_open")
    window.classify(), wait(), wait(), shot("14_xray_saliency")
    window.tabs.setCurrentWidget(window.energy), shot("15_xray_energy")
    window.open_path(out / "does not exist.dcm"), settle(), shot("16_missing_file")
    (out / "notes.dcm").write_text("not a DICOM file")
    window.open_path(out / "notes.dcm"), wait(), shot("17_text_file_named_dcm")
    window.close()
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1])))
