"""Information bottleneck attribution for text classifiers, in bits per token."""

from .api import DEFAULT_MODEL, explain_text
from .attr import AttributionMethod, load_method, method_names, register_method
from .bottleneck import apply_bottleneck, capacity_in_bits, gaussian_capacity
from .classifier import Classifier, shipped_model_names
from .errors import (
    IBNLPError,
    InvalidInputError,
    LayerError,
    LayerNotReadError,
    ModelLoadError,
    NonFiniteError,
    OptimisationError,
    StatisticsError,
)
from .explanation import Explanation
from .iba import IBAConfig, PerSampleIBA
from .statistics import (
    FeatureStatistics,
    StatisticsStore,
    load_statistics,
    save_statistics,
)
from .sweep import Sweep, sweep_betas, sweep_layers
from .words import Word

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "AttributionMethod",
    "Classifier",
    "Explanation",
    "FeatureStatistics",
    "IBAConfig",
    "IBNLPError",
    "InvalidInputError",
    "LayerError",
    "LayerNotReadError",
    "ModelLoadError",
    "NonFiniteError",
    "OptimisationError",
    "PerSampleIBA",
    "StatisticsError",
    "StatisticsStore",
    "Sweep",
    "Word",
    "apply_bottleneck",
    "capacity_in_bits",
    "explain_text",
    "gaussian_capacity",
    "load_method",
    "load_statistics",
    "method_names",
    "register_method",
    "save_statistics",
    "shipped_model_names",
    "sweep_betas",
    "sweep_layers",
]
