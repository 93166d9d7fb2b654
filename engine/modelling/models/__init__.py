"""Model families, one per file, registered by name. Imported explicitly (no folder walking)."""

from engine.modelling.models import resnet, sadnn, sumnet, unet  # noqa: F401  (registers the factories)
from engine.modelling.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
