"""Viewer benchmark: slice-change time with overlays on a 512x512 CT, brush editing with live Dice and
autosave, and time to the first window.

Run: ``make bench-viewer`` (or ``python -m benchmarks.viewer_bench``), offscreen. Targets (reported
against, not enforced): slice change with overlays <= 16 ms; first window measured cold and warm.
The overlay is the real reference liver mask of the real 20-slice DICOM series, shown as the
prediction and in the agree/over/under comparison (no model is needed to measure drawing).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.results import save_results

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERIES = DATA / "ct" / "totalseg_abd_dicom"
MASK = DATA / "ct" / "totalseg_nifti" / "example_seg_dicom.nii.gz"


def window_with_liver(repeat: int = 1):
    """The main window over the real series (stacked ``repeat`` times) with a shifted-liver prediction and the reference."""
    import dataclasses

    import numpy as np
    from PySide6.QtWidgets import QApplication

    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import find_images, read_mask
    from viewer.bundles import InstalledModels
    from viewer.model.study import SegmentationResult
    from viewer.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(InstalledModels())
    window.prompts.confirm = lambda *_: False  # an earlier run's session is set aside, not restored
    window.resize(1400, 900)
    window.show()
    volume = find_images(SERIES)[0].load()
    liver = read_mask(MASK, volume) == 5
    volume = dataclasses.replace(volume, array=np.concatenate([volume.array] * repeat), files=(), instance_uids=())
    liver = np.concatenate([liver] * repeat)
    window.set_volume(volume)
    shifted = np.roll(liver, 12, axis=2)  # a plausible imperfect prediction
    prediction = Segmentation(shifted, shifted.astype(np.float32), EnergyMeasurement(0, 0, 0, "none"))
    window.study.set_segmentation(SegmentationResult(prediction, {"name": "bench", "version": "0", "sha256": "0" * 64}))
    window.sessions.save_prediction()
    window.study.set_reference(liver)
    return app, window


def slice_change_ms(steps: int = 200) -> dict[str, float]:
    """Median and 95th percentile milliseconds per slice change (model update + all three views redrawn)."""
    app, window = window_with_liver()
    results = {}
    for mode in ("prediction", "comparison"):
        window.study.set_style(mode=mode)
        results[mode] = _time_steps(app, window, steps)
    window.close()
    return results


def _time_steps(app, window, steps: int) -> dict[str, float]:
    times = []
    for i in range(steps):
        direction = 1 if (i // 19) % 2 == 0 else -1
        start = time.perf_counter()
        window.study.step(0, direction)
        for view in window.area.views.values():
            view.viewport().repaint()
        app.processEvents()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times))]}


def editing_ms(repeat: int, dabs: int = 60) -> dict[str, float]:
    """A brush stroke with the comparison overlay and live Dice: ms per dab (three views redrawn), and
    the stroke's end, which autosaves the session (atomic write, fsync) before returning."""
    app, window = window_with_liver(repeat)
    study = window.study
    study.set_style(mode="comparison")
    study.set_cursor(study.volume.shape[0] // 2, 256, 256)
    dab_times, save_times = [], []
    for stroke in range(dabs // 20):
        study.begin_stroke()
        for i in range(20):
            start = time.perf_counter()
            study.paint(200 + 3 * i, 100 + 40 * stroke, 8)
            for view in window.area.views.values():
                view.viewport().repaint()
            app.processEvents()
            dab_times.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        study.end_stroke()
        save_times.append((time.perf_counter() - start) * 1000)
    window.close()
    return {"slices": study.volume.shape[0], "dab_median_ms": statistics.median(dab_times),
            "stroke_end_with_autosave_median_ms": statistics.median(save_times)}


def first_window_seconds(runs: int = 3) -> list[float]:
    """Process start to first painted window, in fresh processes (the first is the coldest)."""
    seconds = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-m", "viewer", "--report-first-window"], capture_output=True,
                                text=True, check=True, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
        line = next(x for x in result.stdout.splitlines() if x.startswith("first_window_seconds"))
        seconds.append(float(line.split()[1]))
    return seconds


def main() -> int:
    import tempfile

    os.environ["SADNN_SESSIONS"] = tempfile.mkdtemp(prefix="sadnn-bench-sessions-")  # not the user's folder
    first = first_window_seconds()
    slices = slice_change_ms()
    editing = [editing_ms(repeat) for repeat in (1, 5)]
    report = {"first_window_s": {"first_run": first[0], "warm_runs": first[1:]}, "slice_change": slices,
              "target_slice_change_ms": 16, "editing": editing}
    print(json.dumps(report, indent=2))
    for mode, numbers in slices.items():
        verdict = "meets" if numbers["median_ms"] <= 16 else "misses"
        print(f"slice change ({mode} overlay, 3 views, 512x512): median {numbers['median_ms']:.1f} ms, "
              f"p95 {numbers['p95_ms']:.1f} ms -> {verdict} the 16 ms target")
    for numbers in editing:
        print(f"brush on a {numbers['slices']}-slice CT with live Dice: {numbers['dab_median_ms']:.1f} ms per dab; "
              f"end of stroke incl. autosave {numbers['stroke_end_with_autosave_median_ms']:.1f} ms")
    print(f"first window: {first[0]:.2f} s first run, warm {', '.join(f'{s:.2f}' for s in first[1:])} s")
    save_results("viewer_bench", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
