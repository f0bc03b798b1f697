"""The registry of attribution methods: every method is built and called the same way.

    method = load_method("integrated_gradients", model, steps=50)
    explanations = method.explain_batch(texts, targets)

``method_names()`` lists what is available; ``register_method`` adds a user's own
:class:`AttributionMethod` subclass under its ``name``.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ib_nlp.core.registry import Registry, check_options, option_names
from ib_nlp.errors import InvalidInputError

if TYPE_CHECKING:
    from ib_nlp.core.runtime import attribution_mode
    from ib_nlp.text.methods.base import AttributionMethod

__all__ = ["AttributionMethod", "attribution_mode", "check_method_options", "display_name", "get_method", "load_method", "method_names", "method_options", "register_method"]

# The methods shipped with the toolkit, imported on first use, so listing the names (the command
# line's --help) loads neither torch nor the methods.
METHODS = Registry("attribution method")
METHODS.add("iba", "ib_nlp.text.methods.iba:PerSampleIBA", display="Information Bottleneck Attribution (IBA)")
METHODS.add("contrastive_iba", "ib_nlp.text.methods.contrastive_iba:ContrastiveIBA", display="Contrastive IBA")
METHODS.add("gradient_signed_iba", "ib_nlp.text.methods.signed_iba:GradientSignedIBA", display="Gradient-signed IBA")
METHODS.add("open_signed_iba", "ib_nlp.text.methods.signed_iba:OpenSignedIBA", display="Open-signed IBA")
METHODS.add("closing_signed_iba", "ib_nlp.text.methods.signed_iba:ClosingSignedIBA", display="Closing-signed IBA")
METHODS.add("input_iba", "ib_nlp.text.methods.input_iba:InputIBA", display="InputIBA")
METHODS.add("readout", "ib_nlp.text.methods.readout:ReadoutIBA", display="Readout bottleneck")
METHODS.add("integrated_gradients", "ib_nlp.text.methods.gradient:IntegratedGradients", display="Integrated Gradients")
METHODS.add("saliency", "ib_nlp.text.methods.gradient:Saliency", display="Saliency")
METHODS.add("gradient_x_input", "ib_nlp.text.methods.gradient:GradientTimesInput", display="Gradient × input")
METHODS.add("lime", "ib_nlp.text.methods.perturbation:Lime", display="LIME")
METHODS.add("occlusion", "ib_nlp.text.methods.perturbation:Occlusion", display="Occlusion")
METHODS.add("attention", "ib_nlp.text.methods.attention:LastLayerAttention", display="Last-layer attention")
METHODS.add("attention_rollout", "ib_nlp.text.methods.attention:AttentionRollout", display="Attention rollout")
METHODS.add("random", "ib_nlp.text.methods.random:RandomAttribution", display="Random baseline")


def __getattr__(name: str) -> Any:
    if name == "AttributionMethod":
        return getattr(importlib.import_module(".base", __name__), name)
    if name == "attribution_mode":
        return getattr(importlib.import_module("ib_nlp.core.runtime"), name)
    raise AttributeError(f"module 'ib_nlp.text.methods' has no attribute {name!r}")


def register_method(cls: type[AttributionMethod]) -> type[AttributionMethod]:
    """Add a method under ``cls.name`` (usable as a class decorator)."""
    from ib_nlp.text.methods.base import AttributionMethod

    if not (isinstance(cls, type) and issubclass(cls, AttributionMethod)):
        raise InvalidInputError(f"{cls!r} is not an AttributionMethod subclass")
    if not getattr(cls, "name", None):
        raise InvalidInputError(f"{cls.__name__} has no name")
    METHODS.add(cls.name, cls, builtin=False)
    return cls


def method_names() -> list[str]:
    """Names of all available methods, built-in first."""
    return METHODS.names()


def display_name(name: str) -> str:
    """How reports title the method ``name``: a built-in's full name, a registered class's
    ``display_name`` attribute, else the name itself (e.g. scores computed elsewhere)."""
    if name not in METHODS:
        return name
    if METHODS.is_builtin(name):
        return METHODS.display_name(name) or name
    return getattr(METHODS.get(name), "display_name", None) or name


def get_method(name: str) -> type[AttributionMethod]:
    """The method class registered under ``name``."""
    return METHODS.get(name)


def load_method(name: str, model: Any, **options: Any) -> AttributionMethod:
    """Build the method ``name`` for ``model`` with its options (a misspelt option is refused
    before the model is loaded, with the list of the method's options)."""
    cls = get_method(name)
    check_method_options(cls, options)
    return cls(model, **options)


def method_options(cls: type[AttributionMethod]) -> list[str] | None:
    """The keyword options a method takes (see :func:`ib_nlp.core.registry.option_names`)."""
    return option_names(cls)


def check_method_options(cls: type[AttributionMethod], options: Iterable[str]) -> None:
    """Refuse option names the method does not take, before anything is loaded, listing its options."""
    check_options(cls.name, option_names(cls), options)
