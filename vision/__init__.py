"""Information bottleneck attribution for image classifiers (CNNs), on the same bottleneck
math as the text side (``ib_nlp.core.bottleneck``). torchvision is imported only when a torchvision
preset is asked for."""

from .base import ImageExplanation, ImageMethod
from .iba import (
    PRESET_LAYERS,
    VisionIBA,
    estimate_feature_statistics,
    gaussian_kernel,
    smooth,
)

__all__ = ["PRESET_LAYERS", "ImageExplanation", "ImageMethod", "VisionIBA", "estimate_feature_statistics", "gaussian_kernel", "smooth"]
