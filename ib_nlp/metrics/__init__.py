"""Faithfulness metrics: each declares its values, which way is better and their range.

Per-text metrics (``degradation``, ``sensitivity_n``, ``insertion_deletion``, ``eraser``) score explanations
of one text with ``compute(classifier, explanations, label)``; the model-randomisation sanity
check re-explains texts on randomised copies of the model (:class:`CascadingRandomization`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..core.metric_info import MetricInfo, ValueInfo, area_under_curve
from .base import FaithfulnessMetric
from .degradation import Degradation, InsertionDeletion
from .eraser import Eraser
from .sanity import CascadingRandomization, parameter_groups, randomized_models
from .sensitivity import SensitivityN

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
    "parameter_groups",
    "randomized_models",
]

METRICS: dict[str, type[FaithfulnessMetric]] = {cls.info.name: cls for cls in (Degradation, SensitivityN, InsertionDeletion, Eraser)}
# What an evaluation computes unless told otherwise (ERASER's metrics are asked for by name, so
# runs started before they existed keep their settings).
DEFAULT_METRICS = ("degradation", "sensitivity_n", "insertion_deletion")


def load_metric(name: str, **options: Any) -> FaithfulnessMetric:
    """The per-text metric ``name`` with its options."""
    if name not in METRICS:
        raise InvalidInputError(f"unknown metric {name!r}; available: {', '.join(METRICS)}")
    try:
        return METRICS[name](**options)
    except TypeError as error:
        raise InvalidInputError(f"bad options for {name}: {error}") from error


def evaluate_module_path() -> str:
    """Path of the ``evaluate`` metric module of these metrics: ``evaluate.load(evaluate_module_path())``."""
    return str(Path(__file__).resolve().parent.parent / "evaluate_modules" / "faithfulness" / "faithfulness.py")
