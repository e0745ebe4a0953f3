"""A small registry so training, export and tests build every network by name (after timm's `_registry`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from models.base import PosecastModel

ModelBuilder = Callable[..., PosecastModel]
_BuilderT = TypeVar("_BuilderT", bound=ModelBuilder)
_REGISTRY: dict[str, ModelBuilder] = {}


def register_model(name: str) -> Callable[[_BuilderT], _BuilderT]:
    """Decorator that records a builder `fn(**config_fields) -> PosecastModel` under `name`."""

    def decorator(builder: _BuilderT) -> _BuilderT:
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = builder
        return builder

    return decorator


def create_model(name: str, **kwargs: Any) -> PosecastModel:
    """Build a registered network; keyword arguments are fields of its config dataclass."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(list_models())}") from None
    return builder(**kwargs)


def list_models() -> list[str]:
    """Names of every registered network, sorted."""
    return sorted(_REGISTRY)
