"""Ed25519 signatures over a bundle's card, and the public keys this installation trusts.

The card lists the SHA-256 of every file, so one signature over the card's exact bytes covers the
whole bundle. A bundle is used only when its signature verifies against a trusted key: the keys the
application ships (``resources/trusted_keys``) plus those the user added on purpose (a per-user
folder, ``$SADNN_TRUSTED_KEYS`` overrides it). Nothing is trusted because a bundle says so.

Key files are small JSON documents::

    {"format": "sadnn-ed25519-public-key", "signer": "...", "public_key": "<base64, 32 bytes>"}
    {"format": "sadnn-ed25519-private-key", "signer": "...", "private_key": "<base64, 32 bytes>"}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from engine.runtime.atomic import write_atomic
from engine.runtime.errors import BundleError

SIGNATURE = "signature.json"
PUBLIC_FORMAT = "sadnn-ed25519-public-key"
PRIVATE_FORMAT = "sadnn-ed25519-private-key"
SIGNATURE_FORMAT = "sadnn-ed25519-signature"
TRUSTED_KEYS_ENV = "SADNN_TRUSTED_KEYS"
SIGNING_KEY_ENV = "SADNN_SIGNING_KEY"
PUBLIC_SUFFIX = ".pub.json"


class BundleSignatureError(BundleError):
    """A bundle is unsigned, or its signature does not verify."""


class UntrustedSigner(BundleError):
    """A bundle is validly signed by a key this installation does not trust."""

    def __init__(self, message: str, signer: Signer):
        super().__init__(message)
        self.signer = signer


@dataclass(frozen=True)
class Signer:
    """Who signed: the name recorded with the key and the key's fingerprint."""

    name: str
    key_id: str

    def __str__(self) -> str:
        return f"{self.name} (key {self.key_id})"


@dataclass(frozen=True)
class PublicKey:
    """A named Ed25519 public key."""

    signer: str
    raw: bytes

    @property
    def key_id(self) -> str:
        """Fingerprint: the first 16 hex digits of the key's SHA-256, grouped for reading aloud."""
        digest = hashlib.sha256(self.raw).hexdigest()[:16]
        return ":".join(digest[i : i + 4] for i in range(0, 16, 4))

    @property
    def as_signer(self) -> Signer:
        return Signer(self.signer, self.key_id)

    def verify(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def to_json(self) -> str:
        return json.dumps({"format": PUBLIC_FORMAT, "signer": self.signer, "public_key": _b64(self.raw)}, indent=2)

    @classmethod
    def from_file(cls, path: Path) -> PublicKey:
        data = _read_json(path, PUBLIC_FORMAT)
        return cls(_name(data, path), _unb64(data.get("public_key"), 32, path))


@dataclass(frozen=True)
class SigningKey:
    """A named Ed25519 private key. Keep its file private: whoever holds it can sign bundles."""

    signer: str
    raw: bytes

    @classmethod
    def generate(cls, signer: str) -> SigningKey:
        from cryptography.hazmat.primitives import serialization

        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
        return cls(_checked_name(signer), raw)

    @property
    def public(self) -> PublicKey:
        from cryptography.hazmat.primitives import serialization

        key = Ed25519PrivateKey.from_private_bytes(self.raw).public_key()
        return PublicKey(self.signer, key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))

    def sign(self, message: bytes) -> bytes:
        return Ed25519PrivateKey.from_private_bytes(self.raw).sign(message)

    def save(self, path: Path) -> Path:
        """Write the private key (owner-only) and its public key beside it; returns the public key's path."""
        if path.exists():
            raise BundleError(f"{path} already exists; refusing to overwrite a signing key")
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"format": PRIVATE_FORMAT, "signer": self.signer, "private_key": _b64(self.raw)}, indent=2)
        write_atomic(path, text.encode(), mode=0o600)
        public = public_key_path(path)
        write_atomic(public, self.public.to_json().encode())
        return public

    @classmethod
    def from_file(cls, path: Path) -> SigningKey:
        data = _read_json(path, PRIVATE_FORMAT)
        return cls(_name(data, path), _unb64(data.get("private_key"), 32, path))


def public_key_path(private: Path) -> Path:
    """Where a private key's public half is written: ``<stem>.pub.json`` beside it."""
    return private.with_name(private.name.removesuffix(".json") + PUBLIC_SUFFIX)


def sign_bundle(folder: Path, key: SigningKey) -> Signer:
    """Sign ``folder``'s card.json as it is on disk, writing ``signature.json`` atomically."""
    card = (folder / "card.json").read_bytes()
    public = key.public
    document = {"format": SIGNATURE_FORMAT, "signer": key.signer, "public_key": _b64(public.raw),
                "signature": _b64(key.sign(card))}
    write_atomic(folder / SIGNATURE, json.dumps(document, indent=2).encode())
    return public.as_signer


def verify_card(folder: Path, card: bytes, keys: TrustedKeys) -> Signer:
    """Check the signature over ``card`` (the exact bytes that will be parsed) against ``keys``."""
    path = folder / SIGNATURE
    if not path.is_file():
        raise BundleSignatureError(
            f"bundle {folder} is not signed ({SIGNATURE} is missing); only signed bundles are used: "
            "sign it with `engine-train sign`")
    data = _read_json(path, SIGNATURE_FORMAT)
    claimed = PublicKey(_name(data, path), _unb64(data.get("public_key"), 32, path))
    signature = _unb64(data.get("signature"), 64, path)
    if not claimed.verify(signature, card):
        raise BundleSignatureError(
            f"the signature of {folder.name} by {claimed.as_signer} does not match its card.json: "
            "the card was changed after it was signed; reinstall the model")
    trusted = keys.find(claimed.raw)
    if trusted is None:
        raise UntrustedSigner(
            f"{folder.name} is signed by {claimed.as_signer}, a key this installation does not trust; "
            "if you trust whoever trained it, add their public key (Models > Trust a signing key..., "
            "or `engine-train trust KEY.pub.json`)", claimed.as_signer)
    return trusted.as_signer


class TrustedKeys:
    """The public keys signatures are checked against, each with the file it came from."""

    def __init__(self, keys: list[PublicKey]):
        self.keys = keys

    def find(self, raw: bytes) -> PublicKey | None:
        return next((key for key in self.keys if key.raw == raw), None)

    @classmethod
    def from_folders(cls, *folders: Path) -> TrustedKeys:
        """Every ``*.pub.json`` in ``folders``; an unreadable key file is an error, not skipped."""
        keys = [PublicKey.from_file(path) for folder in folders if folder.is_dir()
                for path in sorted(folder.glob(f"*{PUBLIC_SUFFIX}"))]
        return cls(keys)


def shipped_keys_folder() -> Path:
    """resources/trusted_keys inside the frozen app or next to the source tree."""
    root = Path(getattr(sys, "_MEIPASS", Path(__file__).resolve().parents[2]))
    return root / "resources" / "trusted_keys"


def user_keys_folder() -> Path:
    """$SADNN_TRUSTED_KEYS, else the user's configuration folder: keys the user chose to trust."""
    if os.environ.get(TRUSTED_KEYS_ENV):
        return Path(os.environ[TRUSTED_KEYS_ENV])
    from platformdirs import user_config_dir

    return Path(user_config_dir("sadnn-viewer", appauthor=False)) / "trusted_keys"


def default_trusted_keys() -> TrustedKeys:
    """The shipped keys and the user's own trusted keys."""
    return TrustedKeys.from_folders(shipped_keys_folder(), user_keys_folder())


def trust_key(path: Path) -> PublicKey:
    """Add the public key in ``path`` to the user's trusted keys (a copy named by its fingerprint)."""
    key = PublicKey.from_file(path)
    folder = user_keys_folder()
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / f"{key.key_id.replace(':', '')}{PUBLIC_SUFFIX}", key.to_json().encode())
    return key


def default_signing_key() -> Path:
    """$SADNN_SIGNING_KEY, else the user's own signing key (created on first use)."""
    if os.environ.get(SIGNING_KEY_ENV):
        return Path(os.environ[SIGNING_KEY_ENV])
    from platformdirs import user_config_dir

    return Path(user_config_dir("sadnn-viewer", appauthor=False)) / "signing" / "signing_key.json"


def load_or_create_signing_key(path: Path, signer: str) -> SigningKey:
    """The key in ``path``, or a new one saved there for ``signer``."""
    if not path.exists():
        SigningKey.generate(signer).save(path)
    return SigningKey.from_file(path)


def _read_json(path: Path, expected_format: str) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(f"{path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BundleSignatureError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(data, dict) or data.get("format") != expected_format:
        raise BundleSignatureError(f"{path} is not a {expected_format.replace('-', ' ')} file")
    return data


def _name(data: dict, path: Path) -> str:
    signer = data.get("signer")
    if not isinstance(signer, str):
        raise BundleSignatureError(f"{path} does not name its signer")
    return _checked_name(signer)


def _checked_name(signer: str) -> str:
    signer = " ".join(signer.split())
    if not 0 < len(signer) <= 200:
        raise BundleSignatureError("a signer name must have 1 to 200 characters")
    return signer


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _unb64(text: object, length: int, path: Path) -> bytes:
    try:
        raw = base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != length:
        raise BundleSignatureError(f"{path} holds a malformed key or signature")
    return raw
