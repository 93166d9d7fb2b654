"""Errors a training user sees as one clear line."""

from engine.runtime.errors import EngineError


class DatasetError(EngineError):
    """A dataset folder does not have the public layout or holds no usable samples."""
