"""Image faithfulness and localisation metrics (docs/vision.md): each an ``ImageMetric`` with
its declared values, direction and range like the text metrics, looked up by name in
``IMAGE_METRICS`` (``load_image_metric("tiles_14")``).

- ``TileDegradation``: replace tiles (8x8 or 14x14 pixels) by a baseline in order of their mean
  score, most relevant first (MoRF) and least relevant first (LeRF). Each curve of the target
  probability is normalised per image to run from 1 (nothing removed) to 0 (everything
  removed): (p_k - p_all) / (p_0 - p_all). The score is the area between LeRF and MoRF.
- ``bounding_box_ratio``: with n the number of pixels inside the boxes, the fraction of the n
  highest-scored pixels that lie inside them (IBA, Schulz et al.).
- ``effective_heat_ratio``: for quantile thresholds 0..1 of the scores, the heat inside the
  boxes over the number of pixels above the threshold; the area under that curve (InputIBA).
- ``ImageInsertionDeletion``: delete pixels into a black image, or insert them into a blurred
  copy, in order of their score; areas under the target probability.
"""

from __future__ import annotations

import math

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.metric_info import MetricInfo, ValueInfo, area_under_curve
from ib_nlp.core.registry import Registry, check_options, option_names
from ib_nlp.errors import InvalidInputError

from .iba import gaussian_kernel


Box = Sequence[float]
"""A bounding box (x_min, y_min, x_max, y_max) in pixels, max exclusive."""


class ImageMetric:
    """A score of one image's attribution map: ``compute(model, image, scores, target, boxes)``
    returns the values declared in ``info`` (a value is None where the metric does not apply
    to the image, e.g. a localisation metric on an image without boxes). Options are the
    fields of the (dataclass) subclass."""

    info: ClassVar[MetricInfo]

    def compute(self, model: nn.Module, image: torch.Tensor, scores: torch.Tensor, target: int, boxes: Sequence[Box] = ()) -> dict[str, Any]:
        raise NotImplementedError


def _order(scores: torch.Tensor, seed: int) -> torch.Tensor:
    """Indices from the highest to the lowest score; ties broken by a seeded random order."""
    generator = torch.Generator().manual_seed(seed)
    shuffle = torch.randperm(scores.numel(), generator=generator)
    ranked = torch.argsort(scores.flatten()[shuffle].double(), descending=True, stable=True)
    return shuffle[ranked]


def _removal_masks(order: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    """One boolean row per count: True for the first ``count`` elements of ``order``."""
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel())
    return rank[None, :] < torch.as_tensor(counts)[:, None]


def tile_means(scores: torch.Tensor, tile: int) -> torch.Tensor:
    """Mean score of each tile (rows x columns of tiles); the image must be a whole number of tiles."""
    height, width = scores.shape
    if height % tile or width % tile:
        raise InvalidInputError(f"an image of {height}x{width} pixels is not a whole number of {tile}x{tile} tiles; crop or resize it")
    return F.avg_pool2d(scores[None, None].float(), tile)[0, 0]


def _probabilities(model: nn.Module, images: torch.Tensor, target: int, batch_size: int) -> np.ndarray:
    device = next(model.parameters()).device
    values = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            logits = model(images[start : start + batch_size].to(device))
            values.append(torch.softmax(logits.float(), dim=-1)[:, target].cpu())
    return torch.cat(values).numpy().astype(np.float64)


@dataclass
class TileDegradation(ImageMetric):
    """Degradation test with square tiles replaced by ``baseline`` (0: the mean after the usual normalisation)."""

    tile: int = 8
    steps: int = 20
    baseline: float = 0.0
    batch_size: int = 32
    seed: int = 0

    info: ClassVar[MetricInfo] = MetricInfo(
        name="tile_degradation",
        description="area between the normalised LeRF and MoRF curves of the target probability as tiles are replaced",
        values=(
            ValueInfo("morf_area", False, -np.inf, np.inf, "area under the normalised MoRF curve"),
            ValueInfo("lerf_area", True, -np.inf, np.inf, "area under the normalised LeRF curve"),
            ValueInfo("lerf_minus_morf", True, -np.inf, np.inf, "LeRF area minus MoRF area"),
        ),
        main="lerf_minus_morf",
        curves=("morf", "lerf"),
    )

    def compute(self, model: nn.Module, image: torch.Tensor, scores: torch.Tensor, target: int, boxes: Sequence[Box] = ()) -> dict[str, Any]:
        tiles = tile_means(scores, self.tile)
        rows, columns = tiles.shape
        order = _order(tiles, self.seed)
        counts = np.unique(np.linspace(0, order.numel(), self.steps + 1).round().astype(int))
        curves = {}
        baseline = torch.full_like(image, self.baseline)
        for name, ranking in (("morf", order), ("lerf", order.flip(0))):
            tiles_removed = _removal_masks(ranking, counts).view(len(counts), rows, columns)
            pixels = tiles_removed.repeat_interleave(self.tile, 1).repeat_interleave(self.tile, 2)
            variants = torch.where(pixels[:, None], baseline, image)
            curves[name] = _probabilities(model, variants, target, self.batch_size)
        start, end = curves["morf"][0], curves["morf"][-1]
        span = start - end if abs(start - end) > 1e-12 else 1.0
        fractions = counts / order.numel()
        result: dict[str, Any] = {"fractions": fractions.tolist()}
        for name, curve in curves.items():
            normalised = (curve - end) / span
            result[name] = normalised.tolist()
            result[f"{name}_area"] = area_under_curve(normalised, fractions)
        result["lerf_minus_morf"] = result["lerf_area"] - result["morf_area"]
        return result


def _box_mask(boxes: Sequence[Box], height: int, width: int) -> torch.Tensor:
    """Union of boxes given as (x_min, y_min, x_max, y_max) in pixels, max exclusive."""
    mask = torch.zeros(height, width, dtype=torch.bool)
    for x_min, y_min, x_max, y_max in boxes:
        mask[max(0, int(y_min)) : min(height, int(np.ceil(y_max))), max(0, int(x_min)) : min(width, int(np.ceil(x_max)))] = True
    if not mask.any():
        raise InvalidInputError("the bounding boxes cover no pixel of the image")
    return mask


def bounding_box_ratio(scores: torch.Tensor, boxes: Sequence[Box], seed: int = 0) -> float:
    """Fraction of the n highest-scored pixels inside the boxes, n = number of pixels in the boxes."""
    inside = _box_mask(boxes, *scores.shape).flatten()
    top = _order(scores, seed)[: int(inside.sum())]
    return float(inside[top].float().mean())


def effective_heat_ratio(scores: torch.Tensor, boxes: Sequence[Box], thresholds: int = 100) -> float:
    """Area, over quantile thresholds q in [0, 1), of sum(scores inside the boxes and above the
    q-quantile) / number of pixels above it. Scores are scaled to [0, 1] first."""
    values = scores.flatten().double()
    values = (values - values.min()) / (values.max() - values.min()).clamp_min(1e-12)
    inside = _box_mask(boxes, *scores.shape).flatten()
    quantiles = np.linspace(0.0, 1.0, thresholds, endpoint=False)
    levels = torch.quantile(values, torch.tensor(quantiles, dtype=torch.float64))
    ratios = []
    for level in levels:
        above = values >= level
        ratios.append(float((values * (above & inside)).sum() / above.sum().clamp_min(1)))
    return area_under_curve(np.asarray(ratios), quantiles) / (quantiles[-1] - quantiles[0])


def box_fraction(boxes: Sequence[Box], height: int, width: int) -> float:
    """The fraction of the image the union of the boxes covers (0 without boxes)."""
    return float(_box_mask(boxes, height, width).float().mean()) if boxes else 0.0


@dataclass
class BoundingBoxRatio(ImageMetric):
    """:func:`bounding_box_ratio` as a metric (None for an image without boxes)."""

    seed: int = 0

    info: ClassVar[MetricInfo] = MetricInfo(
        "bounding_box_ratio", "fraction of the n highest-scored pixels inside the boxes, n = box area",
        (ValueInfo("ratio", True, 0.0, 1.0, "fraction inside the boxes"),), "ratio",
    )

    def compute(self, model: nn.Module, image: torch.Tensor, scores: torch.Tensor, target: int, boxes: Sequence[Box] = ()) -> dict[str, Any]:
        return {"ratio": bounding_box_ratio(scores, boxes, self.seed) if boxes else None}


@dataclass
class EffectiveHeatRatio(ImageMetric):
    """:func:`effective_heat_ratio` as a metric, on images whose boxes cover less than
    ``max_box_fraction`` of the image (InputIBA's protocol: a third); None on the others."""

    thresholds: int = 100
    max_box_fraction: float = 1 / 3

    info: ClassVar[MetricInfo] = MetricInfo(
        "effective_heat_ratio", "area under the heat inside the boxes per pixel above each quantile threshold",
        (ValueInfo("auc", True, 0.0, 1.0, "area under the effective heat ratio over quantile thresholds"),), "auc",
    )

    def compute(self, model: nn.Module, image: torch.Tensor, scores: torch.Tensor, target: int, boxes: Sequence[Box] = ()) -> dict[str, Any]:
        applies = bool(boxes) and box_fraction(boxes, *scores.shape) < self.max_box_fraction
        return {"auc": effective_heat_ratio(scores, boxes, self.thresholds) if applies else None}


@dataclass
class ImageInsertionDeletion(ImageMetric):
    """Deletion into a black image and insertion into a blurred copy (Gaussian, ``blur_sigma``
    pixels), in ``steps`` equal portions of pixels. ``black`` is a black pixel's value in the
    model's input space, one for every channel or one per channel (``ImageModel.black``;
    EfficientNet-Lite0, normalised with mean = std = 0.5: -1)."""

    steps: int = 20
    blur_sigma: float = 15.0
    black: float | Sequence[float] = 0.0
    batch_size: int = 32
    seed: int = 0

    info: ClassVar[MetricInfo] = MetricInfo(
        name="image_insertion_deletion",
        description="area under the target probability as pixels are deleted to black or inserted into a blurred image",
        values=(
            ValueInfo("deletion_auc", False, 0.0, 1.0, "area under the deletion curve"),
            ValueInfo("insertion_auc", True, 0.0, 1.0, "area under the insertion curve"),
        ),
        main="deletion_auc",
        curves=("deletion", "insertion"),
    )

    def blurred(self, image: torch.Tensor) -> torch.Tensor:
        kernel = gaussian_kernel(self.blur_sigma, radius=max(1, math.ceil(3 * self.blur_sigma))).to(image)
        radius = kernel.shape[0] // 2
        channels = image.shape[0]
        padded = F.pad(image[None], (radius,) * 4, mode="reflect" if radius < min(image.shape[-2:]) else "replicate")
        return F.conv2d(padded, kernel.expand(channels, 1, *kernel.shape), groups=channels)[0]

    def compute(self, model: nn.Module, image: torch.Tensor, scores: torch.Tensor, target: int, boxes: Sequence[Box] = ()) -> dict[str, Any]:
        order = _order(scores, self.seed)
        counts = np.unique(np.linspace(0, order.numel(), self.steps + 1).round().astype(int))
        black = torch.as_tensor(self.black, dtype=image.dtype, device=image.device).reshape(-1, 1, 1).expand_as(image)
        blurred = self.blurred(image)
        curves = {}
        removed = _removal_masks(order, counts).view(len(counts), 1, *scores.shape)
        for name, start, finish in (("deletion", image, black), ("insertion", blurred, image)):
            curves[name] = _probabilities(model, torch.where(removed, finish, start), target, self.batch_size)
        fractions = counts / order.numel()
        return {
            "fractions": fractions.tolist(),
            "deletion": curves["deletion"].tolist(),
            "insertion": curves["insertion"].tolist(),
            "deletion_auc": area_under_curve(curves["deletion"], fractions),
            "insertion_auc": area_under_curve(curves["insertion"], fractions),
        }


IMAGE_METRICS = Registry("image metric")
for _metric in (TileDegradation, ImageInsertionDeletion, BoundingBoxRatio, EffectiveHeatRatio):
    IMAGE_METRICS.add(_metric.info.name, _metric)
IMAGE_METRICS.add_variant("tiles_8", "tile_degradation", tile=8)
IMAGE_METRICS.add_variant("tiles_14", "tile_degradation", tile=14)


def load_image_metric(name: str, **options: Any) -> ImageMetric:
    """The image metric ``name`` (or a variant such as ``tiles_14``) with ``options``; an
    unknown name or option is refused with the valid ones."""
    factory, options = IMAGE_METRICS.resolve(name, options)
    check_options(name, option_names(factory), options)
    return factory(**options)
