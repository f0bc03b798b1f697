"""Information bottleneck attribution for text classifiers, in bits per token.

The names below are imported on first use (PEP 562), so ``import ib_nlp`` and the command
line's ``--help`` do not pay for torch and transformers until something needs them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the submodule that defines it.
_EXPORTS = {
    "DEFAULT_MODEL": "text.shipped",
    "shipped_model_names": "text.shipped",
    "explain_text": "api",
    "clear_cache": "api",
    "AttributionMethod": "text.methods",
    "load_method": "text.methods",
    "method_names": "text.methods",
    "register_method": "text.methods",
    "apply_bottleneck": "core.bottleneck",
    "capacity_in_bits": "core.bottleneck",
    "gaussian_capacity": "core.bottleneck",
    "Classifier": "text.classifier",
    "IBNLPError": "errors",
    "InvalidInputError": "errors",
    "LayerError": "errors",
    "LayerNotReadError": "errors",
    "ModelLoadError": "errors",
    "NonFiniteError": "errors",
    "OptimisationError": "errors",
    "StatisticsError": "errors",
    "TruncationWarning": "errors",
    "Explanation": "text.explanation",
    "IBAConfig": "core.optimise",
    "PerSampleIBA": "text.methods.iba",
    "FeatureStatistics": "core.statistics",
    "StatisticsStore": "core.statistics",
    "load_statistics": "core.statistics",
    "save_statistics": "core.statistics",
    "Sweep": "text.sweep",
    "sweep_betas": "text.sweep",
    "sweep_layers": "text.sweep",
    "Word": "text.words",
    "explorer": "ui.widgets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ib_nlp' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


if TYPE_CHECKING:
    from ib_nlp.api import clear_cache, explain_text
    from ib_nlp.text.methods import AttributionMethod, load_method, method_names, register_method
    from ib_nlp.core.bottleneck import apply_bottleneck, capacity_in_bits, gaussian_capacity
    from ib_nlp.text.classifier import Classifier
    from ib_nlp.errors import (
        IBNLPError,
        InvalidInputError,
        LayerError,
        LayerNotReadError,
        ModelLoadError,
        NonFiniteError,
        OptimisationError,
        StatisticsError,
        TruncationWarning,
    )
    from ib_nlp.text.explanation import Explanation
    from ib_nlp.core.optimise import IBAConfig
    from ib_nlp.text.methods.iba import PerSampleIBA
    from ib_nlp.text.shipped import DEFAULT_MODEL, shipped_model_names
    from ib_nlp.core.statistics import FeatureStatistics, StatisticsStore, load_statistics, save_statistics
    from ib_nlp.text.sweep import Sweep, sweep_betas, sweep_layers
    from ib_nlp.ui.widgets import explorer
    from ib_nlp.text.words import Word
