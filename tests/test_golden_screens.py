"""Golden screenshots of the main screens, compared with stated tolerances.

Re-approve after an intended change: ``APPROVE_SCREENS=1 make test`` writes the new PNGs to
tests/golden/; look at them before committing.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests.conftest import data_path  # noqa: E402

GOLDEN = Path(__file__).parent / "golden"
MAX_CHANGED_FRACTION = 0.01  # of pixels differing by more than 40 grey levels (fonts, anti-aliasing)


def grab(window) -> np.ndarray:
    from PIL import Image

    image = window.grab().toImage()
    path = GOLDEN / "_last.png"
    image.save(str(path))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    path.unlink()
    return pixels


def check_screen(name: str, pixels: np.ndarray) -> None:
    from PIL import Image

    golden = GOLDEN / f"{name}.png"
    if os.environ.get("APPROVE_SCREENS") or not golden.exists():
        Image.fromarray(pixels.astype(np.uint8)).save(golden)
        if not os.environ.get("APPROVE_SCREENS"):
            pytest.fail(f"no golden screenshot {golden.name} yet: written, look at it and commit it")
        return
    expected = np.asarray(Image.open(golden).convert("RGB"), dtype=np.int16)
    assert pixels.shape == expected.shape, f"{name}: screen size changed"
    changed = (np.abs(pixels - expected).max(axis=-1) > 40).mean()
    if changed > MAX_CHANGED_FRACTION:
        Image.fromarray(pixels.astype(np.uint8)).save(GOLDEN / f"{name}.actual.png")
        pytest.fail(f"{name}: {changed:.1%} of pixels changed (limit {MAX_CHANGED_FRACTION:.0%}); see {name}.actual.png")


@pytest.fixture
def window(qtbot):
    from viewer.bundles import InstalledModels
    from viewer.qt.main_window import MainWindow

    main = MainWindow(InstalledModels())
    qtbot.addWidget(main)
    main.resize(1200, 800)
    main.show()
    qtbot.waitExposed(main)
    return main


def test_ct_with_the_agree_over_under_comparison(qtbot, window):
    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import find_images, read_mask
    from viewer.model.study import SegmentationResult

    window.set_volume(find_images(data_path("ct", "totalseg_abd_dicom"))[0].load())
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), window.study.volume) == 5
    shifted = np.roll(liver, 12, axis=2)
    prediction = Segmentation(shifted.astype(np.uint8), shifted.astype(np.float32), EnergyMeasurement(0, 0, 0, "none"))
    window.study.set_segmentation(SegmentationResult(prediction, {}))
    window.study.set_reference(liver)
    window.study.set_style(mode="comparison")
    window.study.set_cursor(12, 256, 150)
    window.tabs.setCurrentWidget(window.segmentation)
    qtbot.wait(50)
    check_screen("ct_comparison", grab(window))


def test_monochrome1_radiograph(qtbot, window):
    from engine.runtime.io import read_image_file

    window.set_volume(read_image_file(data_path("cxr", "nih_txv", "Fake_MONOHR1.dcm")))
    qtbot.wait(50)
    check_screen("xray_monochrome1", grab(window))


def review_in_progress(window):
    """The real series mid-review: a shifted liver 'prediction', reference loaded, marks, a note and an edit."""
    from engine.runtime.energy import EnergyMeasurement
    from engine.runtime.inference import Segmentation
    from engine.runtime.io import find_images, read_mask
    from viewer.model.study import SegmentationResult

    window.set_volume(find_images(data_path("ct", "totalseg_abd_dicom"))[0].load())
    study = window.study
    liver = read_mask(data_path("ct", "totalseg_nifti", "example_seg_dicom.nii.gz"), study.volume) == 5
    shifted = np.roll(liver, 12, axis=2)
    prediction = Segmentation(shifted, shifted.astype(np.float32), EnergyMeasurement(21.0, 40.0, 410.0, "estimate"))
    study.set_segmentation(SegmentationResult(prediction, {"name": "sadnn-seg-demo", "version": "0.1", "sha256": "5e" * 32}))
    study.set_reference(liver)
    for z, mark in ((3, "accepted"), (4, "accepted"), (5, "flagged"), (6, "accepted"), (8, "flagged")):
        study.set_cursor(z, 256, 256)
        study.mark_slice(mark)
    study.set_cursor(5, 256, 256)
    study.set_slice_note("dome: lesion excluded from the mask?")
    study.set_cursor(12, 256, 150)
    study.paint(300, 120, 10)
    study.set_note("left lobe tip under-segmented on 3 slices")
    return study


def test_review_mode(qtbot, window):
    review_in_progress(window)
    window.study.set_style(mode="comparison")
    window.review.set_tool(tool="brush")
    window.tabs.setCurrentWidget(window.review)
    qtbot.wait(50)
    check_screen("ct_review", grab(window))


def test_report_first_page(qtbot, window):
    from PIL import Image

    from tests.cards import segmentation_card
    from viewer.model.report import build_report
    from viewer.qt.report_pdf import first_page

    study = review_in_progress(window)
    report = build_report(study, segmentation_card("sadnn_seg"))
    report.body = report.body.replace(report.body[report.body.index("Written "):report.body.index(" by SaDNN")], "Written (date)")
    page = first_page(report)
    path = GOLDEN / "_page.png"
    page.save(str(path))
    pixels = np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)
    path.unlink()
    check_screen("report_first_page", pixels)
