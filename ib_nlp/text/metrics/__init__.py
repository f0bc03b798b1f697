"""Faithfulness metrics: each declares its values, which way is better and their range.

Per-text metrics (``degradation``, ``sensitivity_n``, ``insertion_deletion``, ``eraser``) score explanations
of one text with ``compute(classifier, explanations, label)``; the model-randomisation sanity
check re-explains texts on randomised copies of the model (:class:`CascadingRandomization`).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ib_nlp.core.registry import Registry, check_options, option_names

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "CascadingRandomization",
    "Degradation",
    "Eraser",
    "FaithfulnessMetric",
    "InsertionDeletion",
    "MetricInfo",
    "SensitivityN",
    "ValueInfo",
    "area_under_curve",
    "evaluate_module_path",
    "load_metric",
    "metric_names",
    "register_metric",
    "parameter_groups",
    "randomized_models",
]

# The per-text metrics by name, each imported on first use (so listing them loads no torch).
METRICS = Registry("metric")
METRICS.add("degradation", "ib_nlp.text.metrics.degradation:Degradation")
METRICS.add("sensitivity_n", "ib_nlp.text.metrics.sensitivity:SensitivityN")
METRICS.add("insertion_deletion", "ib_nlp.text.metrics.degradation:InsertionDeletion")
METRICS.add("eraser", "ib_nlp.text.metrics.eraser:Eraser")
# What an evaluation computes unless told otherwise (ERASER's metrics are asked for by name, so
# runs started before they existed keep their settings).
DEFAULT_METRICS = ("degradation", "sensitivity_n", "insertion_deletion")

_LAZY = {
    "FaithfulnessMetric": ".base", "Degradation": ".degradation", "InsertionDeletion": ".degradation", "Eraser": ".eraser",
    "SensitivityN": ".sensitivity", "CascadingRandomization": ".sanity", "parameter_groups": ".sanity", "randomized_models": ".sanity",
    "MetricInfo": "ib_nlp.core.metric_info", "ValueInfo": "ib_nlp.core.metric_info", "area_under_curve": "ib_nlp.core.metric_info",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'ib_nlp.text.metrics' has no attribute {name!r}")


def register_metric(cls: Any) -> Any:
    """Class decorator: make a user's ``FaithfulnessMetric`` subclass available under
    ``cls.info.name`` to ``load_metric``, the evaluation (``--metrics``) and its summaries (a
    built-in name is refused)."""
    METRICS.add(cls.info.name, cls, builtin=False)
    return cls


def metric_names() -> list[str]:
    """Every per-text metric ``load_metric`` accepts."""
    return METRICS.names()


def load_metric(name: str, **options: Any) -> Any:
    """The per-text metric ``name`` with its options (an unknown name or option is refused with the valid ones)."""
    factory, options = METRICS.resolve(name, options)
    check_options(name, option_names(factory), options)
    return factory(**options)


def evaluate_module_path() -> str:
    """Path of the ``evaluate`` metric module of these metrics: ``evaluate.load(evaluate_module_path())``."""
    return str(Path(__file__).resolve().parents[2] / "evaluate_modules" / "faithfulness" / "faithfulness.py")
