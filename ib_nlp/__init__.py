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
    "DEFAULT_MODEL": "shipped",
    "shipped_model_names": "shipped",
    "explain_text": "api",
    "clear_cache": "api",
    "AttributionMethod": "attr",
    "load_method": "attr",
    "method_names": "attr",
    "register_method": "attr",
    "apply_bottleneck": "bottleneck",
    "capacity_in_bits": "bottleneck",
    "gaussian_capacity": "bottleneck",
    "Classifier": "classifier",
    "IBNLPError": "errors",
    "InvalidInputError": "errors",
    "LayerError": "errors",
    "LayerNotReadError": "errors",
    "ModelLoadError": "errors",
    "NonFiniteError": "errors",
    "OptimisationError": "errors",
    "StatisticsError": "errors",
    "TruncationWarning": "errors",
    "Explanation": "explanation",
    "IBAConfig": "core.optimise",
    "PerSampleIBA": "iba",
    "FeatureStatistics": "statistics",
    "StatisticsStore": "statistics",
    "load_statistics": "statistics",
    "save_statistics": "statistics",
    "Sweep": "sweep",
    "sweep_betas": "sweep",
    "sweep_layers": "sweep",
    "Word": "words",
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
    from .api import clear_cache, explain_text
    from .attr import AttributionMethod, load_method, method_names, register_method
    from .bottleneck import apply_bottleneck, capacity_in_bits, gaussian_capacity
    from .classifier import Classifier
    from .errors import (
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
    from .explanation import Explanation
    from .core.optimise import IBAConfig
    from .iba import PerSampleIBA
    from .shipped import DEFAULT_MODEL, shipped_model_names
    from .statistics import FeatureStatistics, StatisticsStore, load_statistics, save_statistics
    from .sweep import Sweep, sweep_betas, sweep_layers
    from .ui.widgets import explorer
    from .words import Word
