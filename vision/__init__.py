"""Information bottleneck attribution for image classifiers (CNNs), on the same bottleneck
math as the text side (``ib_nlp.core.bottleneck``). Image models by name are in
``ib_nlp.vision.models`` (torchvision is imported only when one of its models loads)."""

from .base import ImageExplanation, ImageMethod
from .iba import (
    VisionIBA,
    estimate_feature_statistics,
    gaussian_kernel,
    smooth,
)

__all__ = ["ImageExplanation", "ImageMethod", "VisionIBA", "estimate_feature_statistics", "gaussian_kernel", "smooth"]
