"""Bundles are signed, not only hashed: forged re-sealed cards, unknown signers and swapped files are refused."""

import base64
import json
import shutil
import stat
from dataclasses import replace

import pytest

from engine.runtime.bundle import CARD, load_bundle, seal_bundle
from engine.runtime.errors import BundleChecksumError, BundleError
from engine.runtime.signing import (
    SIGNATURE,
    BundleSignatureError,
    SigningKey,
    TrustedKeys,
    UntrustedSigner,
    default_trusted_keys,
    sign_bundle,
    trust_key,
    user_keys_folder,
)


@pytest.fixture
def bundle(cls_bundle, tmp_path):
    target = tmp_path / "bundle"
    shutil.copytree(cls_bundle.path, target)
    return target


def forged_card(folder, **changes):
    """What an attacker does: edit the card (labels, thresholds, use) and re-seal it with fresh SHA-256s."""
    card = load_bundle(folder).card
    forged = replace(card, files={}, **changes)
    signature = (folder / SIGNATURE).read_bytes()
    seal_bundle(folder, forged)  # a valid seal; the old signature is removed by sealing
    return signature


def test_the_signer_is_recorded_and_shown(cls_bundle, test_signing_key):
    assert cls_bundle.signer.name == "SaDNN test suite"
    assert cls_bundle.signer.key_id == test_signing_key.public.key_id
    assert cls_bundle.identity["signed_by"] == f"SaDNN test suite (key {test_signing_key.public.key_id})"


@pytest.mark.parametrize("changes", [
    {"intended_use": "cleared for clinical use"},
    {"thresholds": (0.01,) * 14},
    {"version": "9.9.9"},
])
def test_a_forged_resealed_card_is_refused(bundle, changes):
    old_signature = forged_card(bundle, **changes)
    load_bundle(bundle, require_signature=False)  # the seal itself is consistent: only the signature can tell
    with pytest.raises(BundleSignatureError, match="is not signed"):
        load_bundle(bundle)
    (bundle / SIGNATURE).write_bytes(old_signature)  # keep the genuine signature beside the forged card
    with pytest.raises(BundleSignatureError, match="card was changed after it was signed"):
        load_bundle(bundle)


def test_permuted_labels_resigned_by_another_key_are_untrusted(bundle):
    card = load_bundle(bundle).card
    attacker = SigningKey.generate("SaDNN test suite")  # same name, different key
    seal_bundle(bundle, replace(card, files={}, labels=tuple(reversed(card.labels))), attacker)
    with pytest.raises(UntrustedSigner, match=f"signed by SaDNN test suite \\(key {attacker.public.key_id}\\), a key this "
                                              "installation does not trust") as refused:
        load_bundle(bundle)
    assert refused.value.signer.key_id == attacker.public.key_id


def test_a_trusted_public_key_with_a_foreign_signature_is_refused(bundle, test_signing_key):
    attacker = SigningKey.generate("mallory")
    card = (bundle / CARD).read_bytes().replace(b"not for clinical use", b"for clinical use")
    (bundle / CARD).write_bytes(card)
    document = json.loads((bundle / SIGNATURE).read_text())
    document["signature"] = base64.b64encode(attacker.sign(card)).decode()  # signed, but by another key
    (bundle / SIGNATURE).write_text(json.dumps(document))
    with pytest.raises(BundleSignatureError, match="does not match its card.json"):
        load_bundle(bundle)


def test_a_user_trained_bundle_is_trusted_only_after_its_key_is_added(bundle, tmp_path):
    own = SigningKey.generate("Dr Example, St Elsewhere radiology")
    public = own.save(tmp_path / "keys" / "own.json")
    card = load_bundle(bundle).card
    seal_bundle(bundle, replace(card, files={}, name="locally-trained"), own)
    with pytest.raises(UntrustedSigner):
        load_bundle(bundle)
    added = trust_key(public)
    assert (user_keys_folder() / f"{added.key_id.replace(':', '')}.pub.json").is_file()
    try:
        loaded = load_bundle(bundle)
        assert str(loaded.signer) == f"Dr Example, St Elsewhere radiology (key {own.public.key_id})"
        assert loaded.card.name == "locally-trained"
    finally:
        (user_keys_folder() / f"{added.key_id.replace(':', '')}.pub.json").unlink()


def test_private_keys_are_owner_only_and_never_overwritten(tmp_path):
    key = SigningKey.generate("release")
    public = key.save(tmp_path / "release.json")
    assert stat.S_IMODE((tmp_path / "release.json").stat().st_mode) == 0o600
    assert public.name == "release.pub.json" and "private_key" not in public.read_text()
    assert SigningKey.from_file(tmp_path / "release.json").public == key.public
    with pytest.raises(BundleError, match="refusing to overwrite a signing key"):
        SigningKey.generate("other").save(tmp_path / "release.json")


@pytest.mark.parametrize("content, message", [
    ("{not json", "is not valid JSON"),
    ('{"format": "something-else"}', "is not a sadnn ed25519 signature file"),
    ('{"format": "sadnn-ed25519-signature", "signer": "x", "public_key": "AAAA", "signature": "AAAA"}', "malformed key or signature"),
    ('{"format": "sadnn-ed25519-signature", "public_key": "AAAA", "signature": "AAAA"}', "does not name its signer"),
])
def test_a_damaged_signature_file_gets_a_clear_error(bundle, content, message):
    (bundle / SIGNATURE).write_text(content)
    with pytest.raises(BundleSignatureError, match=message):
        load_bundle(bundle)


def test_models_run_from_the_bytes_that_were_checked(bundle):
    loaded = load_bundle(bundle)
    for name in ("model_int8.onnx", "model_int8_fused.onnx"):
        model = loaded.path / name
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))  # swapped after the check: the bytes read for ONNX Runtime are checked again
    with pytest.raises(BundleChecksumError, match="model_int8.onnx"):
        loaded.model_bytes("int8")
    with pytest.raises(BundleChecksumError, match="model_int8_fused.onnx"):
        loaded.model_bytes("int8", fused=True)
    from engine.runtime.inference import Classifier

    with pytest.raises(BundleChecksumError):
        Classifier(loaded)


def test_the_shipped_keys_are_public_keys_only():
    from engine.runtime.signing import shipped_keys_folder

    files = sorted(shipped_keys_folder().iterdir())
    assert files and all(path.name.endswith(".pub.json") for path in files)
    for path in files:
        assert "private_key" not in path.read_text()
    shipped = TrustedKeys.from_folders(shipped_keys_folder())
    assert {key.signer for key in shipped.keys} == {"SaDNN Viewer release"}
    assert len(default_trusted_keys().keys) == len(shipped.keys) + 1  # plus the test suite's own key


def test_sign_and_trust_from_the_command_line(bundle, tmp_path):
    from training.cli import main

    assert main(["keygen", "--out", str(tmp_path / "lab.json"), "--signer", "Lab A"]) == 0
    seal_bundle(bundle, replace(load_bundle(bundle).card, files={}))
    assert main(["sign", "--bundle", str(bundle), "--key", str(tmp_path / "lab.json")]) == 0
    with pytest.raises(UntrustedSigner):
        load_bundle(bundle)
    assert main(["trust", str(tmp_path / "lab.pub.json")]) == 0
    key_id = SigningKey.from_file(tmp_path / "lab.json").public.key_id
    try:
        assert load_bundle(bundle).signer.name == "Lab A"
    finally:
        (user_keys_folder() / f"{key_id.replace(':', '')}.pub.json").unlink()


def test_sign_refuses_a_bundle_whose_files_do_not_match(bundle, tmp_path, capsys):
    from training.cli import main

    main(["keygen", "--out", str(tmp_path / "lab.json"), "--signer", "Lab A"])
    signature = (bundle / SIGNATURE).read_bytes()
    (bundle / "model_fp32.onnx").write_bytes(b"tampered")
    assert main(["sign", "--bundle", str(bundle), "--key", str(tmp_path / "lab.json")]) == 2
    assert "model_fp32.onnx does not match its recorded SHA-256" in capsys.readouterr().err
    assert (bundle / SIGNATURE).read_bytes() == signature
