"""Model bundles: a folder of ONNX models, torch weights and ``card.json``, verified before use.

Layout::

    <bundle>/card.json            the model card (engine.runtime.card), with the SHA-256 of every file
    <bundle>/model_fp32.onnx      float model, portable graph (plain ONNX Runtime)
    <bundle>/model_int8.onnx      static int8 QDQ model, portable graph
    <bundle>/model_fp32_fused.onnx, model_int8_fused.onnx
                                  the same model over the ai.sadnn operators (SaDNN models; optional)
    <bundle>/weights.safetensors  float weights for training and the torch path (optional)
    <bundle>/signature.json       Ed25519 signature over card.json's bytes (engine.runtime.signing)

The card records ``files`` (name -> SHA-256) and ``card_sha256``, the digest of the card itself
without that field, so an edited card, a tampered or a truncated file are all refused; the
signature, checked against the keys this installation trusts, makes a forged card that was
re-sealed refused as well. Files are read once, hashed, and those same bytes are used
(``Bundle.read``). Nothing is unpickled: ONNX and safetensors are data formats.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runtime.atomic import write_atomic
from engine.runtime.card import ModelCard
from engine.runtime.errors import BundleChecksumError, BundleError
from engine.runtime.signing import SIGNATURE, Signer, SigningKey, TrustedKeys, default_trusted_keys, sign_bundle, verify_card

CARD = "card.json"
MODEL_FILES = {"fp32": "model_fp32.onnx", "int8": "model_int8.onnx"}
FUSED_FILES = {"fp32": "model_fp32_fused.onnx", "int8": "model_int8_fused.onnx"}
WEIGHTS = "weights.safetensors"
REQUIRED_FILES = tuple(MODEL_FILES.values())  # the weights are optional: shipped bundles leave them out


@dataclass(frozen=True)
class Bundle:
    """A verified bundle: its folder, its card, its identity (``digest``) and who signed it."""

    path: Path
    card: ModelCard
    digest: str
    signer: Signer | None = None

    def read(self, name: str) -> bytes:
        """The bytes of one of the bundle's files, checked against the card's SHA-256 as they are read."""
        if name not in self.card.files:
            raise BundleError(f"bundle {self.card.name} has no {name}")
        return _verified_bytes(self.path, name, self.card.files[name])

    def model_bytes(self, precision: str, fused: bool = False) -> bytes:
        """The verified ONNX model for ``precision``: give these bytes, not the path, to ONNX Runtime."""
        return self.read(FUSED_FILES[precision] if fused else self.model_path(precision).name)

    @property
    def has_fused(self) -> bool:
        """True when the bundle carries the graphs over the ai.sadnn operators."""
        return all(name in self.card.files for name in FUSED_FILES.values())

    def model_path(self, precision: str) -> Path:
        """Path of the ONNX model for ``precision`` ("int8" or "fp32")."""
        try:
            return self.path / MODEL_FILES[precision]
        except KeyError:
            raise BundleError(f"unknown precision {precision!r}; expected one of {sorted(MODEL_FILES)}") from None

    @property
    def identity(self) -> dict[str, str]:
        """Name, version, SHA-256, intended use and signer that tie a result to this exact model."""
        identity = {"name": self.card.name, "version": self.card.version, "sha256": self.digest,
                    "intended_use": self.card.intended_use}
        if self.signer is not None:
            identity["signed_by"] = str(self.signer)
        return identity


def load_bundle(path: str | os.PathLike, keys: TrustedKeys | None = None, *, require_signature: bool = True) -> Bundle:
    """Read a bundle, check its signature against ``keys`` (default: the trusted keys) and every SHA-256.

    ``require_signature=False`` is for the exporter's own intermediate bundles only.
    """
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"model bundle {path} " + ("is not a folder" if path.exists() else "does not exist"))
    raw = _read_card_bytes(path / CARD)
    data = _parse_card(path / CARD, raw)
    signer = verify_card(path, raw, keys or default_trusted_keys()) if require_signature else None
    recorded = data.pop("card_sha256", None)
    if recorded != card_digest(data):
        raise BundleChecksumError(f"{path / CARD} was modified after the bundle was sealed (card checksum mismatch)")
    card = ModelCard.from_dict(data)
    missing = [name for name in REQUIRED_FILES if name not in card.files]
    if missing:
        raise BundleError(f"bundle {path} does not list {', '.join(missing)} in its card")
    for name, expected in card.files.items():
        _verify_file(path, name, expected)
    return Bundle(path, card, recorded, signer)


def seal_bundle(path: str | os.PathLike, card: ModelCard, key: SigningKey | None = None) -> Bundle:
    """Hash every file in ``path``, write ``card.json`` with the hashes atomically, sign it with ``key``, reload.

    A stale signature is removed first, so a bundle sealed without a key is plainly unsigned.
    """
    path = Path(path)
    (path / SIGNATURE).unlink(missing_ok=True)
    for item in path.iterdir():
        item.chmod(item.stat().st_mode | 0o644)  # some writers (safetensors) create owner-only files
    files = {p.name: sha256_file(p) for p in sorted(path.iterdir()) if p.is_file() and p.name not in (CARD, SIGNATURE)}
    data = {**card.to_dict(), "files": files}
    data["card_sha256"] = card_digest(data)
    write_atomic(path / CARD, json.dumps(data, indent=2, sort_keys=True).encode())
    if key is None:
        return load_bundle(path, require_signature=False)
    sign_bundle(path, key)
    return load_bundle(path, TrustedKeys([key.public]))


def card_digest(data: dict[str, Any]) -> str:
    """SHA-256 of the card's canonical JSON (sorted keys, no whitespace)."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _read_card_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path.parent} is not a model bundle: it has no {CARD}") from None


def _parse_card(path: Path, raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise BundleError(f"{path} must hold a JSON object")
    return data


def _verify_file(folder: Path, name: str, expected: str) -> None:
    target = folder / name
    if Path(name).name != name:
        raise BundleError(f"bundle card lists {name!r}, which is not a plain file name")
    if not target.is_file():
        raise BundleError(f"bundle {folder} is missing {name}")
    _check_digest(target, sha256_file(target), expected)


def _verified_bytes(folder: Path, name: str, expected: str) -> bytes:
    target = folder / name
    try:
        payload = target.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"bundle {folder} is missing {name}") from None
    _check_digest(target, hashlib.sha256(payload).hexdigest(), expected)
    return payload


def _check_digest(target: Path, actual: str, expected: str) -> None:
    if actual != expected:
        raise BundleChecksumError(
            f"{target} does not match its recorded SHA-256 (expected {expected[:12]}..., found {actual[:12]}...): "
            "the file is corrupt, truncated or was modified; reinstall the model"
        )
