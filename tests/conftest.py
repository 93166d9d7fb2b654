"""Shared fixtures: real data from ../shared/data and exported bundles (built once per session)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def test_signing_key(tmp_path_factory):
    """Bundles made by the tests are signed with a throw-away key that only the tests trust.

    Set in the environment, so the engine-train and viewer subprocesses the tests start see it too.
    """
    from engine.runtime.signing import SIGNING_KEY_ENV, TRUSTED_KEYS_ENV, SigningKey

    folder = tmp_path_factory.mktemp("keys")
    key = SigningKey.generate("SaDNN test suite")
    public = key.save(folder / "test_key.json")
    trusted = folder / "trusted"
    trusted.mkdir()
    public.rename(trusted / public.name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SIGNING_KEY_ENV, str(folder / "test_key.json"))
        patch.setenv(TRUSTED_KEYS_ENV, str(trusted))
        yield key


@pytest.fixture(scope="session", autouse=True)
def training_cache(tmp_path_factory):
    """Prepared training shards go to one folder per test session (shared by its tests), never the user's cache."""
    folder = tmp_path_factory.mktemp("training-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SADNN_TRAINING_CACHE", str(folder))
        yield folder


@pytest.fixture(autouse=True)
def private_sessions(tmp_path, monkeypatch):
    """Autosaved reviews (and the viewer's settings) go to the test's own folder, never the user's."""
    monkeypatch.setenv("SADNN_SESSIONS", str(tmp_path / "sessions"))
    monkeypatch.setenv("SADNN_CONFIG", str(tmp_path / "config"))
    monkeypatch.setenv("SADNN_EXPORTS", str(tmp_path / "exports"))
    monkeypatch.setenv("SADNN_PACS_CACHE", str(tmp_path / "pacs-cache"))
    return tmp_path / "sessions"


# What the engine says when the fused graph runs through the operator library built from this source.
OPERATORS_RAN = "SaDNN operators 1.2.0 (AVX2)"


def data_path(*parts: str) -> Path:
    """A file under ../shared/data, or skip the test with the reason."""
    path = DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not available: {path}")
    return path


def copy_nih_images(out: Path, count: int) -> Path:
    """The first ``count`` real NIH images (64 px) in the public layout under ``out``, with the real label file cut
    to them."""
    import shutil

    source = data_path("cxr")
    (out / "images").mkdir(parents=True)
    names = sorted(p.name for p in (source / "nih_64" / "images").glob("*.png"))[:count]
    for name in names:
        shutil.copy(source / "nih_64" / "images" / name, out / "images" / name)
    lines = (source / "Data_Entry_2017_v2020.csv").read_text().splitlines()
    kept = [line for line in lines[1:] if line.split(",")[0] in set(names)]
    (out / "Data_Entry_2017_v2020.csv").write_text("\n".join([lines[0], *kept]) + "\n")
    return out


@pytest.fixture(scope="session")
def ct_volume() -> np.ndarray:
    """The real 30-slice abdominal CT (TotalSegmentator example), (Z, Y, X) in HU."""
    import SimpleITK as sitk

    return sitk.GetArrayFromImage(sitk.ReadImage(str(data_path("ct", "totalseg_nifti", "example_ct_sm.nii.gz"))))


@pytest.fixture(scope="session")
def chest_xrays() -> list[np.ndarray]:
    """Real NIH ChestX-ray14 images: two at 512 px and twelve 64 px thumbnails (RGB)."""
    from PIL import Image

    big = sorted(data_path("cxr", "nih_txv").glob("*.png"))
    small = sorted(data_path("cxr", "nih_64", "images").glob("*.png"))[:12]
    return [np.asarray(Image.open(path)) for path in big + small]


def seeded(name: str, **model_args):
    import torch

    from engine.modelling.models import create_model

    torch.manual_seed(0)
    return create_model(name, **model_args).eval()


@pytest.fixture(scope="session")
def cls_bundle(tmp_path_factory, chest_xrays, test_signing_key):
    """A SaDNN-cls bundle (random-init weights) calibrated on real chest X-rays."""
    from engine.modelling.onnx_export import export_bundle
    from engine.runtime.preprocess import prepare_radiograph
    from tests.cards import classification_card

    card = classification_card()
    calibration = [prepare_radiograph(image, card.input) for image in chest_xrays[::2]]
    return export_bundle(seeded("sadnn_cls"), card, tmp_path_factory.mktemp("cls") / "bundle", calibration, key=test_signing_key)


@pytest.fixture(scope="session")
def seg_bundle(tmp_path_factory, ct_volume, test_signing_key):
    """A SaDNN-seg bundle (random-init weights) calibrated on real CT slices."""
    from engine.modelling.onnx_export import export_bundle
    from engine.runtime.preprocess import prepare_ct_slices
    from tests.cards import segmentation_card

    card = segmentation_card("sadnn_seg")
    calibration = [prepare_ct_slices(ct_volume[z : z + 1], card.input) for z in range(0, 30, 6)]
    model = centred(seeded("sadnn_seg"), calibration[2])
    return export_bundle(model, card, tmp_path_factory.mktemp("seg") / "bundle", calibration, key=test_signing_key)


def centred(model, batch: np.ndarray):
    """Shift a random segmenter's output bias so its mask cuts through the image (not empty, not full)."""
    import torch

    with torch.no_grad():
        logits = model(torch.from_numpy(batch))
        margin = (logits[:, 1] - logits[:, 0]).median()
        model.classifier.bias[1] -= margin
    return model


@pytest.fixture(scope="session")
def models_folder(tmp_path_factory, chest_xrays, ct_volume, test_signing_key):
    """Fast viewer bundles (SaDNN-cls at 64 px, UNet-small), calibrated on real images."""
    from tests.viewer_support import build_viewer_models

    folder = tmp_path_factory.mktemp("models")
    build_viewer_models(folder, chest_xrays, ct_volume, test_signing_key)
    return folder


@pytest.fixture
def window(qtbot, models_folder):
    """The main window offscreen over the fast bundles (Qt tests only)."""
    from viewer.bundles import installed_models
    from viewer.qt.main_window import MainWindow

    main = MainWindow(installed_models(models_folder))
    qtbot.addWidget(main)
    main.resize(1200, 800)
    main.show()
    main.activateWindow()  # as a user's window is: its keys reach the window's actions from the first press
    yield main
    main.runner.cancel()
    main.runner.wait()
