"""Golden images of what the reader sees, item by item (pyqtgraph's approach): each view, legend, strip and page is
compared on its own, with a tolerance far below the size of what it guards (checked: taking the overlay away must
fail the comparison by a wide margin).

Re-approve after an intended change: ``APPROVE_SCREENS=1 .venv/bin/python -m pytest tests/test_golden_screens.py``
writes the new PNGs to tests/golden/; look at them before committing. A failing comparison writes the actual image
and a difference map to $SADNN_GOLDEN_FAILURES (default: the system's temporary folder), never into tests/golden.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import io  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.conftest import data_path  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
TOLERANCE = 0.002  # of an item's pixels may differ by more than LEVELS (font hinting, anti-aliasing)
LEVELS = 40
WINDOW_TOLERANCE = 0.01  # the whole window: it guards the layout (panels, menus, views), each far above 1%


def failures_folder() -> Path:
    folder = Path(os.environ.get("SADNN_GOLDEN_FAILURES", Path(tempfile.gettempdir()) / "sadnn-golden-failures"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pixels_of(image) -> np.ndarray:
    """A QImage (or anything grabbed to one) as RGB int16, in memory."""
    from PIL import Image
    from PySide6.QtCore import QBuffer, QIODevice

    image = image.toImage() if hasattr(image, "toImage") else image
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return np.asarray(Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB"), dtype=np.int16)


def changed_fraction(pixels: np.ndarray, expected: np.ndarray) -> float:
    return float((np.abs(pixels - expected).max(axis=-1) > LEVELS).mean())


def golden(name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(GOLDEN / f"{name}.png").convert("RGB"), dtype=np.int16)


def check_item(name: str, pixels: np.ndarray, tolerance: float = TOLERANCE) -> None:
    from PIL import Image

    path = GOLDEN / f"{name}.png"
    if os.environ.get("APPROVE_SCREENS") or not path.exists():
        Image.fromarray(pixels.astype(np.uint8)).save(path)
        if not os.environ.get("APPROVE_SCREENS"):
            pytest.fail(f"no golden image {path.name} yet: written, look at it and commit it")
        return
    expected = golden(name)
    assert pixels.shape == expected.shape, f"{name}: size changed from {expected.shape} to {pixels.shape}"
    changed = changed_fraction(pixels, expected)
    if changed > tolerance:
        folder = failures_folder()
        Image.fromarray(pixels.astype(np.uint8)).save(folder / f"{name}.actual.png")
        difference = (np.abs(pixels - expected).max(axis=-1) > LEVELS).astype(np.uint8) * 255
        Image.fromarray(difference).save(folder / f"{name}.difference.png")
        pytest.fail(f"{name}: {changed:.2%} of pixels changed (limit {tolerance:.2%}); see {folder}/{name}.actual.png")


def alone(qtbot, widget, width: int, height: int) -> np.ndarray:
    """``widget`` on its own at a fixed size (item level: the layout around it cannot move its pixels)."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)
    qtbot.wait(20)
    return pixels_of(widget.grab())


def axial_alone(qtbot, window) -> np.ndarray:
    """The window's axial view at a fixed size (its neighbours and panels cannot move its pixels)."""
    view = window.area.views["axial"]
    view.setFixedSize(560, 560)
    view.fit()
    qtbot.wait(50)
    pixels = pixels_of(view.grab())
    view.setMinimumSize(0, 0)
    view.setMaximumSize(16777215, 16777215)
    return pixels


@pytest.fixture
def window(qtbot):
    from viewer.bundles import InstalledModels
    from viewer.qt.main_window import MainWindow

    main = MainWindow(InstalledModels())
    qtbot.addWidget(main)
    main.resize(1400, 860)
    main.show()
    qtbot.waitExposed(main)
    return main


def shifted_liver_prediction(window, energy=(0, 0, 0, "none"), model=None):
    """The real series with its liver mask shifted 12 columns as the 'prediction', the true mask as reference."""
    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import find_images, read_mask
    from viewer.model.study import SegmentationResult

    window.set_volume(find_images(data_path("ct", "totalseg_abd_dicom"))[0].load())
    study = window.study
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), study.volume) == 5
    shifted = np.roll(liver, 12, axis=2)
    prediction = Segmentation(shifted.astype(np.uint8), shifted.astype(np.float32), EnergyMeasurement(*energy))
    study.set_segmentation(SegmentationResult(prediction, model or {}))
    study.set_reference(liver)
    return study


def test_ct_comparison_items_and_the_tolerance_guards_the_overlay(qtbot, window):
    study = shifted_liver_prediction(window)
    study.set_style(mode="comparison")
    study.set_cursor(12, 256, 150)
    window.tabs.setCurrentWidget(window.segmentation)
    qtbot.wait(50)
    check_item("ct_comparison_window", pixels_of(window.grab()), WINDOW_TOLERANCE)
    check_item("comparison_legend", pixels_of(window.area.overlay_legend.grab()))
    check_item("ct_comparison_axial", axial_alone(qtbot, window))
    study.set_style(visible=False)  # what the tolerance guards: without the overlay the item must fail clearly
    qtbot.wait(50)
    without = changed_fraction(axial_alone(qtbot, window), golden("ct_comparison_axial"))
    assert without > 5 * TOLERANCE, f"the overlay is only {without:.2%} of the item: the tolerance cannot guard it"


def test_outline_only_overlay(qtbot, window):
    study = shifted_liver_prediction(window)
    study.set_style(mode="comparison", outline=True)
    study.set_cursor(12, 256, 150)
    check_item("ct_outline_axial", axial_alone(qtbot, window))


def test_monochrome1_radiograph(qtbot, window):
    from engine.runtime.io import read_image_file

    window.set_volume(read_image_file(data_path("cxr", "nih_txv", "Fake_MONOHR1.dcm")))
    check_item("xray_monochrome1_view", axial_alone(qtbot, window))


def review_in_progress(window):
    """The real series mid-review: a shifted liver 'prediction', reference loaded, marks, a note and an edit."""
    study = shifted_liver_prediction(window, (21.0, 40.0, 410.0, "estimate"),
                                     {"name": "sadnn-seg-demo", "version": "0.1", "sha256": "5e" * 32})
    for z, mark in ((3, "accepted"), (4, "accepted"), (5, "flagged"), (6, "accepted"), (8, "flagged")):
        study.set_cursor(z, 256, 256)
        study.mark_slice(mark)
    study.set_cursor(5, 256, 256)
    study.set_slice_note("dome: lesion excluded from the mask?")
    study.set_cursor(12, 256, 150)
    study.paint(300, 120, 10)
    study.set_note("left lobe tip under-segmented on 3 slices")
    return study


def test_review_mode_items(qtbot, window):
    review_in_progress(window)
    window.study.set_style(mode="comparison")
    window.review.set_tool(tool="brush")
    window.tabs.setCurrentWidget(window.review)
    qtbot.wait(50)
    from viewer.qt.progress_strip import ProgressStrip
    from viewer.qt.review_panel import ReviewPanel

    strip, panel = ProgressStrip(), ReviewPanel()
    for item in (strip, panel):
        item.show_study(window.study)
    panel.set_tool(tool="brush")
    check_item("review_strip", alone(qtbot, strip, 600, 18))
    check_item("review_panel", alone(qtbot, panel, 520, 640))
    check_item("ct_review_window", pixels_of(window.grab()), WINDOW_TOLERANCE)


def test_report_first_page(qtbot, window):
    from tests.cards import segmentation_card
    from viewer.model.review_report import build_report
    from viewer.qt.report_pdf import first_page

    study = review_in_progress(window)
    report = build_report(study, segmentation_card("sadnn_seg"))
    report.body = report.body.replace(report.body[report.body.index("Written "):report.body.index(" by SaDNN")], "Written (date)")
    check_item("report_first_page", pixels_of(first_page(report)))
