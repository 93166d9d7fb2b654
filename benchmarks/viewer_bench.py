"""Viewer benchmark: slice-change time with overlays on a 512x512 CT, and time to the first window.

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


def slice_change_ms(steps: int = 200) -> dict[str, float]:
    """Median and 95th percentile milliseconds per slice change (model update + all three views redrawn)."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from engine.energy import EnergyMeasurement
    from engine.inference import Segmentation
    from engine.io import find_images, read_mask
    from viewer.bundles import InstalledModels
    from viewer.model.study import SegmentationResult
    from viewer.qt.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    window = MainWindow(InstalledModels())
    window.resize(1400, 900)
    window.show()
    window.set_volume(find_images(SERIES)[0].load())
    liver = read_mask(MASK, window.study.volume) == 5
    shifted = np.roll(liver, 12, axis=2)  # a plausible imperfect prediction
    prediction = Segmentation(shifted.astype(np.uint8), shifted.astype(np.float32), EnergyMeasurement(0, 0, 0, "none"))
    window.study.set_segmentation(SegmentationResult(prediction, {}))
    window.study.set_reference(liver)
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
        for view in window.views.values():
            view.viewport().repaint()
        app.processEvents()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return {"median_ms": statistics.median(times), "p95_ms": times[int(0.95 * len(times))]}


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
    first = first_window_seconds()
    slices = slice_change_ms()
    report = {"first_window_s": {"first_run": first[0], "warm_runs": first[1:]}, "slice_change": slices,
              "target_slice_change_ms": 16}
    print(json.dumps(report, indent=2))
    for mode, numbers in slices.items():
        verdict = "meets" if numbers["median_ms"] <= 16 else "misses"
        print(f"slice change ({mode} overlay, 3 views, 512x512): median {numbers['median_ms']:.1f} ms, "
              f"p95 {numbers['p95_ms']:.1f} ms -> {verdict} the 16 ms target")
    print(f"first window: {first[0]:.2f} s first run, warm {', '.join(f'{s:.2f}' for s in first[1:])} s")
    save_results("viewer_bench", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
