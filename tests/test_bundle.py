"""Bundles are sealed with SHA-256, refuse tampering and truncation, and load without pickle."""

import json
import shutil

import numpy as np
import pytest

from engine.runtime.bundle import CARD, load_bundle
from engine.runtime.errors import BundleChecksumError, BundleError


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory, ct_volume, test_signing_key):
    from engine.modelling.onnx_export import export_bundle
    from engine.runtime.preprocess import prepare_ct_slices
    from tests.cards import segmentation_card
    from tests.conftest import seeded

    card = segmentation_card("unet_small")
    calibration = [prepare_ct_slices(ct_volume[10:12], card.input)]
    return export_bundle(seeded("unet_small"), card, tmp_path_factory.mktemp("b") / "unet", calibration, key=test_signing_key)


@pytest.fixture
def copy_of(small_bundle, tmp_path):
    target = tmp_path / "copy"
    shutil.copytree(small_bundle.path, target)
    return target


def test_sealed_bundle_records_every_file(small_bundle):
    card = small_bundle.card
    assert set(card.files) == {"model_fp32.onnx", "model_int8.onnx", "weights.safetensors"}
    assert card.quantisation["calibration_images"] == 2
    assert card.profile["params"] == pytest.approx(1.94e6, rel=0.01)
    assert card.versions["torch"].startswith("2.13.0")
    assert small_bundle.identity["sha256"] == load_bundle(small_bundle.path).digest


@pytest.mark.parametrize("name", ["model_int8.onnx", "weights.safetensors"])
def test_a_flipped_byte_is_refused(copy_of, name):
    data = bytearray((copy_of / name).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy_of / name).write_bytes(bytes(data))
    with pytest.raises(BundleChecksumError, match=name):
        load_bundle(copy_of)


def test_a_truncated_model_is_refused(copy_of):
    path = copy_of / "model_fp32.onnx"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(BundleChecksumError, match="model_fp32.onnx"):
        load_bundle(copy_of)


def test_an_edited_card_is_refused(copy_of):
    data = json.loads((copy_of / CARD).read_text())
    data["thresholds"] = [0.1, 0.1]
    (copy_of / CARD).write_text(json.dumps(data))
    with pytest.raises(BundleError, match="card was changed after it was signed"):
        load_bundle(copy_of)
    with pytest.raises(BundleChecksumError, match="card checksum"):  # the seal catches it too, signature or not
        load_bundle(copy_of, require_signature=False)


def test_missing_pieces_get_clear_errors(copy_of, tmp_path):
    (copy_of / "model_int8.onnx").unlink()
    with pytest.raises(BundleError, match="missing model_int8.onnx"):
        load_bundle(copy_of)
    with pytest.raises(BundleError, match="no card.json"):
        load_bundle(tmp_path)
    (tmp_path / CARD).write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_bundle(tmp_path)
    with pytest.raises(BundleError, match="nowhere does not exist$"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "a_file").write_text("")
    with pytest.raises(BundleError, match="a_file is not a folder$"):
        load_bundle(tmp_path / "a_file")


def test_weights_reload_into_the_same_model(small_bundle, ct_volume):
    import torch

    from engine.modelling.onnx_export import load_model
    from engine.runtime.inference import OnnxModel
    from engine.runtime.preprocess import prepare_ct_slices

    batch = prepare_ct_slices(ct_volume[15:16], small_bundle.card.input)
    with torch.no_grad():
        torch_logits = load_model(small_bundle)(torch.from_numpy(batch)).numpy()
    onnx_logits = OnnxModel(small_bundle.model_path("fp32"))(batch)
    np.testing.assert_allclose(onnx_logits, torch_logits, rtol=1e-3, atol=1e-4)


def test_export_refuses_a_used_folder(small_bundle, ct_volume):
    from engine.modelling.onnx_export import export_bundle
    from tests.cards import segmentation_card
    from tests.conftest import seeded

    with pytest.raises(FileExistsError):
        export_bundle(seeded("unet_small"), segmentation_card("unet_small"), small_bundle.path, [np.zeros((1, 1, 256, 256))])
