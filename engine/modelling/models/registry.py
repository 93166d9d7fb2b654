"""Model registry: ``@register_model`` on a factory, ``create_model(name)`` to build it (like timm)."""

from __future__ import annotations

from typing import Callable

from torch import nn

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}


def register_model(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``factory`` under its function name."""
    name = factory.__name__
    if name in _FACTORIES:
        raise ValueError(f"model {name!r} is already registered")
    _FACTORIES[name] = factory
    return factory


def create_model(name: str, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its factory."""
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}") from None
    return factory(**kwargs)


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_FACTORIES)
