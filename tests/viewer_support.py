"""Helpers for viewer tests: a models folder with fast bundles, and waiting for the worker."""

from __future__ import annotations

import numpy as np


def build_viewer_models(folder, chest_xrays, ct_volume, key) -> None:
    """A small SaDNN-cls (64 px input) and a UNet-small segmenter, calibrated on real images."""
    from engine.modelling.onnx_export import export_bundle
    from engine.runtime.preprocess import prepare_ct_slices, prepare_radiograph
    from tests.cards import classification_card, segmentation_card
    from tests.conftest import centred, seeded

    cls_card = classification_card(size=64)
    calibration = [prepare_radiograph(image, cls_card.input) for image in chest_xrays[::2]]
    export_bundle(seeded("sadnn_cls", img_size=64), cls_card, folder / "cls", calibration, key=key)
    seg_card = segmentation_card("unet_small")
    slices = [prepare_ct_slices(ct_volume[z : z + 1], seg_card.input) for z in range(0, 30, 6)]
    export_bundle(centred(seeded("unet_small"), slices[2]), seg_card, folder / "seg", slices, key=key)


def finish(qtbot, window, timeout_ms: int = 120_000) -> None:
    """Wait until the window's worker is idle (the UI thread keeps processing events meanwhile)."""
    qtbot.waitUntil(lambda: not window.runner.busy, timeout=timeout_ms)


def rendered(view) -> np.ndarray:
    """The RGBA overlay array currently shown by a SliceView (empty if none)."""
    image = view.overlay.image
    return np.zeros((0, 0, 4), np.uint8) if image is None else np.asarray(image)
