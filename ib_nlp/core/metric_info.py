"""How a faithfulness metric declares what it reports, for text and images alike: each value
with its direction and range, the main value, the curves; and the area under a curve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ValueInfo:
    """One scalar a metric reports: which way is better and the range it lives in."""

    name: str
    higher_is_better: bool
    low: float
    high: float
    description: str

    @property
    def direction(self) -> str:
        return "higher is better" if self.higher_is_better else "lower is better"


@dataclass(frozen=True)
class MetricInfo:
    """Metadata of a metric: its name, its scalar values and the main one."""

    name: str
    description: str
    values: tuple[ValueInfo, ...]
    main: str
    curves: tuple[str, ...] = field(default=())

    def value(self, name: str) -> ValueInfo:
        for info in self.values:
            if info.name == name:
                return info
        raise KeyError(name)


def area_under_curve(values: Sequence[float], fractions: Sequence[float]) -> float:
    """Trapezoidal area under a curve sampled at increasing fractions of [0, 1]."""
    y = np.asarray(values, dtype=np.float64)
    x = np.asarray(fractions, dtype=np.float64)
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
