"""Typed, actionable errors raised by the engine and shown as one clear line by the UI and CLI."""


class EngineError(Exception):
    """Base class for every error the engine reports to a user."""


class BundleError(EngineError):
    """A model bundle is missing, malformed or unusable."""


class BundleChecksumError(BundleError):
    """A bundle file does not match the SHA-256 recorded in its card (tampered or truncated)."""


class InputError(EngineError):
    """An image does not meet a model's input contract."""


class Cancelled(EngineError):
    """The user cancelled a running inference."""
