"""``sadnn-viewer --self-test OUT``: proves an installation works end to end, headless if need be.

Opens the bundled CT sample, checks the picture is not blank, segments the liver, exports the review
(anonymised: NIfTI, DICOM SEG, HTML + PDF report), opens the bundled chest radiograph (JPEG 2000),
checks its picture, classifies it with RISE saliency, exports its review, writes ``OUT/self_test.json`` and returns 0; any failure prints one line and returns 1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from viewer.model.review_export import ExportRequest
from viewer.samples import sample

STEP_TIMEOUT_S = 600


class SelfTestFailed(Exception):
    pass


def run_self_test(app, window, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    window.prompts.confirm = lambda *_: False  # no saved review is restored: start from scratch
    window.sessions.folder = out / "sessions"  # the test's autosaves stay in OUT, not in the user's folder
    window.recent.file = out / "recent.json"  # and the samples it opens stay out of the user's recent studies
    started = time.perf_counter()
    try:
        report = {"models": _models(window), "operators": _operators(), "decoders": _decoders(),
                  "password_store": _password_store(), "ct": _ct(app, window, out),
              "xray": _xray(app, window, out)}
    except SelfTestFailed as err:
        print(f"self-test failed: {err}", flush=True)
        return 1
    report["seconds"] = round(time.perf_counter() - started, 1)
    (out / "self_test.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"self-test passed in {report['seconds']} s: {json.dumps(report)}", flush=True)
    return 0


def _models(window) -> dict:
    names = {task: window.models.get(task) for task in ("segmentation", "classification")}
    missing = [task for task, bundle in names.items() if bundle is None]
    if missing:
        raise SelfTestFailed(f"no {', '.join(missing)} model: " + "; ".join(window.models.problems))
    return {task: bundle.identity for task, bundle in names.items()}


def _operators() -> dict:
    """The SaDNN operator library is in the app and loads (on a CPU without AVX2 it says so and is not used)."""
    from engine.runtime import operators

    found = operators.status()
    if found.path is None:
        raise SelfTestFailed(found.reason)
    return {"usable": found.usable, "reason": found.reason, "sha256": found.sha256}


def _password_store() -> dict:
    """keyring finds its backends (Windows Credential Manager, macOS Keychain, Secret Service) through package entry
    points: they are in the app and import; which one this computer uses (none on a headless Linux)."""
    import importlib
    from importlib.metadata import entry_points

    import keyring

    found = sorted(point.value for point in entry_points(group="keyring.backends"))
    if not found:
        raise SelfTestFailed("the password store backends (keyring's entry points) are missing from this installation")
    for module in found:
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise SelfTestFailed(f"the password store backend {module} does not load: {err}") from err
    return {"backends": found, "in_use": type(keyring.get_keyring()).__module__}


def _decoders() -> dict:
    """Every compressed transfer syntax the viewer promises has a working decoder (the plugins load)."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEG2000, JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless

    import importlib

    for module in ("libjpeg", "openjpeg", "rle", "jpeg_ls"):  # loads each codec's compiled library
        try:
            importlib.import_module(module)
        except ImportError as err:
            raise SelfTestFailed(f"the {module} decoder does not load: {err}") from err
    found = {}
    for uid in (JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless, JPEG2000, RLELossless):
        decoder = get_decoder(uid)
        if not decoder.is_available:
            raise SelfTestFailed(f"no decoder for {uid.name} (a pixel-data plugin failed to load)")
        found[uid.name] = list(decoder.available_plugins)
    return found


def _ct(app, window, out: Path) -> dict:
    volume = _open(app, window, sample("ct").path())
    picture = _picture(app, window, "CT")
    window.segment()
    _wait(app, window, "liver segmentation")
    study = window.study
    if study.segmentation is None or not study.mask.any():
        raise SelfTestFailed(f"segmentation produced no liver ({window.message.text()})")
    written = _export(app, window, out / "ct_export", ("liver_mask.nii.gz", "liver_seg.dcm", "report.html", "report.pdf",
                                                       "review.json"))
    stats = study.statistics()
    graph = study.segmentation.int8.graph
    _check_graph(window.models.get("segmentation"), graph)
    return {"shape": list(volume.shape), "liver_ml": round(stats.millilitres, 1), "picture": picture, "graph": graph,
            "seconds_int8": round(study.segmentation.int8.energy.seconds, 2), "exported": written}


def _check_graph(bundle, graph: str) -> None:
    """Where the bundle carries fused graphs and this CPU can run the operators, the operators must have run."""
    from engine.runtime import operators

    if bundle.has_fused and operators.status().usable and not graph.startswith("SaDNN operators"):
        raise SelfTestFailed(f"the segmentation ran the portable graph, not the SaDNN operators: {graph}")


def _export(app, window, folder: Path, expected: tuple[str, ...]) -> list[str]:
    window.export_review(ExportRequest(folder, anonymise=True))
    _wait(app, window, "export")
    written = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    for name in expected:
        if name not in written:
            raise SelfTestFailed(f"export did not write {name} ({window.message.text()})")
    return written


def _picture(app, window, what: str) -> dict:
    """The axial view as the user sees it: fails when it is blank (one grey level over most of the picture)."""
    import numpy as np

    app.processEvents()
    shot = window.area.views["axial"].grab().toImage()
    image = shot.convertToFormat(shot.Format.Format_Grayscale8)
    width, height, stride = image.width(), image.height(), image.bytesPerLine()
    grey = np.frombuffer(image.constBits(), np.uint8, count=stride * height).reshape(height, stride)[:, :width]
    levels = np.bincount(grey.ravel(), minlength=256)
    stats = {"mean": round(float(grey.mean()), 1), "std": round(float(grey.std()), 1),
             "commonest_level_share": round(float(levels.max() / grey.size), 3)}
    if grey.std() < 10 or levels.max() > 0.9 * grey.size:
        raise SelfTestFailed(f"the {what} sample renders blank ({stats})")
    return stats


def _xray(app, window, out: Path) -> dict:
    volume = _open(app, window, sample("xray").path())
    picture = _picture(app, window, "radiograph")
    window.classify()
    _wait(app, window, "classification and saliency")
    study = window.study
    if study.classification is None or study.saliency is None:
        raise SelfTestFailed(f"classification or saliency missing ({window.message.text()})")
    top = study.classification.ranked()[0]
    written = _export(app, window, out / "xray_export", ("report.html", "report.pdf", "review.json"))
    return {"shape": list(volume.shape), "top_finding": top[0], "probability": round(top[1], 3), "picture": picture,
            "saliency_masks": study.saliency_progress[1], "exported": written}


def _open(app, window, path: Path):
    if not path.exists():
        raise SelfTestFailed(f"bundled sample missing: {path}")
    previous = window.study
    window.open_path(path)
    _wait(app, window, f"opening {path.name}", lambda: window.study is not previous)
    return window.study.volume


def _wait(app, window, what: str, done=lambda: True) -> None:
    """Let the event loop run until the worker is idle (and ``done()``), or fail after the timeout."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while window.runner.busy or not done():
        app.processEvents()
        time.sleep(0.01)
        if time.monotonic() > deadline:
            raise SelfTestFailed(f"{what} did not finish in {STEP_TIMEOUT_S} s")
    app.processEvents()
    if window.prompts.last_error:
        raise SelfTestFailed(f"{what}: {window.prompts.last_error}")
