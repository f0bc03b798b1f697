"""The registry of attribution methods: every method is built and called the same way.

    method = load_method("integrated_gradients", model, steps=50)
    explanations = method.explain_batch(texts, targets)

``method_names()`` lists what is available; ``register_method`` adds a user's own
:class:`AttributionMethod` subclass under its ``name``.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import InvalidInputError
from .base import AttributionMethod, attribution_mode

__all__ = ["AttributionMethod", "attribution_mode", "get_method", "load_method", "method_names", "register_method"]

_REGISTERED: dict[str, type[AttributionMethod]] = {}


@functools.cache
def _builtin() -> dict[str, type[AttributionMethod]]:
    """The methods shipped with the toolkit (imported on first use: IBA imports this package)."""
    from ..iba import PerSampleIBA
    from ..input_iba import InputIBA
    from ..readout import ReadoutIBA
    from .attention import AttentionRollout, LastLayerAttention
    from .gradient import GradientTimesInput, IntegratedGradients, Saliency
    from .perturbation import Lime, Occlusion
    from .random import RandomAttribution

    classes = [PerSampleIBA, InputIBA, ReadoutIBA, IntegratedGradients, Saliency, GradientTimesInput, Lime, Occlusion, LastLayerAttention, AttentionRollout, RandomAttribution]
    return {cls.name: cls for cls in classes}


def register_method(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Add a method under ``cls.name`` (usable as a class decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, AttributionMethod)):
        raise InvalidInputError(f"{cls!r} is not an AttributionMethod subclass")
    if not getattr(cls, "name", None):
        raise InvalidInputError(f"{cls.__name__} has no name")
    if cls.name in _builtin():
        raise InvalidInputError(f"{cls.name!r} is a built-in method; choose another name")
    _REGISTERED[cls.name] = cls
    return cls


def method_names() -> list[str]:
    """Names of all available methods, built-in first."""
    return [*_builtin(), *_REGISTERED]


def get_method(name: str) -> type[AttributionMethod]:
    """The method class registered under ``name``."""
    methods = {**_builtin(), **_REGISTERED}
    if name not in methods:
        raise InvalidInputError(f"unknown attribution method {name!r}; available: {', '.join(methods)}")
    return methods[name]


def load_method(name: str, model: Any, **options: Any) -> AttributionMethod:
    """Build the method ``name`` for ``model`` with its options."""
    cls = get_method(name)
    try:
        return cls(model, **options)
    except TypeError as error:
        raise InvalidInputError(f"bad options for {name}: {error}") from error
