"""Per-sample IBA on a CNN feature map chosen by module name (Schulz et al. 2020).

The bottleneck Z = lam * R + (1 - lam) * eps replaces the output R (channels x height x width)
of one module; mu and sigma are per element of the feature map, estimated over reference
images. As in the reference implementation (BioroboticsLab/IBA), lam = sigmoid(alpha) is
smoothed spatially with a Gaussian of sigma 1 feature cell (a kernel of round(2 sigma) * 2 + 1
cells, reflected borders), alpha is optimised for CE + beta * mean KL, units that are inactive
over the reference images (dead after a ReLU) are held at their mean and not counted, and the
attribution is the KL summed over channels, in bits per feature cell.

Which alpha the bits describe (``bits_from``): ``"final"`` (default) is the capacity of alpha
after the last Adam update, the mask the optimisation ended with; ``"last_pass"`` is the
reference's convention, the capacity computed in the last forward pass, one update earlier.
The map at the input resolution is the cell map resized bilinearly and rescaled so that it
still sums to the total bits: bits per pixel (the reference rescales by the area ratio instead).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.runtime import attribution_mode
from ib_nlp.core.bottleneck import NATS_PER_BIT, apply_mask, hold_inactive, mask_capacity, normalize
from ib_nlp.core.optimise import IBAConfig, check_influence, optimise_alpha
from ib_nlp.errors import InvalidInputError, NonFiniteError, StatisticsError
from ib_nlp.options import real_number
from ib_nlp.core.statistics import DEFAULT_MIN_STD, FeatureStatistics, RunningMoments

from .base import ImageAttribution, ImageMethod, feature_map, module_named

# The layers of the papers, by torchvision module name: VGG-16 conv4_1 and ResNet-50 after
# layer3 (and layer2, the paper's other setting).
BITS_FROM = ("final", "last_pass")


def gaussian_kernel(sigma: float, radius: int | None = None) -> torch.Tensor:
    """Normalised 2-D Gaussian kernel, 2 * radius + 1 cells wide; by default the reference
    implementation's radius, round(2 sigma)."""
    radius = int(round(2 * sigma)) if radius is None else radius
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32)
    line = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = torch.outer(line, line)
    return kernel / kernel.sum()


def smooth(mask: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian smoothing of each channel of a (batch x channels x height x width) mask, with
    reflected borders as in the reference (replicated where the map is too small to reflect)."""
    if sigma <= 0:
        return mask
    kernel = gaussian_kernel(sigma).to(mask)
    radius = kernel.shape[0] // 2
    if radius == 0:
        return mask
    channels = mask.shape[1]
    mode = "reflect" if min(mask.shape[-2:]) > radius else "replicate"
    padded = F.pad(mask, (radius,) * 4, mode=mode)
    return F.conv2d(padded, kernel.expand(channels, 1, *kernel.shape), groups=channels)


def cells_to_pixels(cells: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """A (height x width) map of feature cells at the input resolution: bilinear resize,
    rescaled so that it keeps the cells' total (bits per cell become bits per pixel)."""
    pixels = F.interpolate(cells[None, None], size=tuple(size), mode="bilinear", align_corners=False)[0, 0].clamp_min(0)
    return pixels * (cells.sum() / pixels.sum().clamp_min(1e-12))


def estimate_feature_statistics(model: nn.Module, layer: str, images: Iterable[torch.Tensor], device: str | torch.device | None = None, unbiased: bool = False) -> FeatureStatistics:
    """Mean, standard deviation (``unbiased``: over n - 1, as the reference) and active units of
    every element of the layer's feature map over batches of reference images (batch x channels
    x height x width)."""
    module = module_named(model, layer)
    device = device or next(model.parameters()).device
    moments = RunningMoments()
    shape: list[tuple[int, ...]] = []

    def record(_: nn.Module, __: Any, output: Any) -> None:
        features = feature_map(output, layer)
        shape.append(tuple(features.shape[1:]))
        moments.update(features.flatten(1))

    handle = module.register_forward_hook(record)
    try:
        with torch.no_grad():
            for batch in images:
                model(batch.to(device))
    finally:
        handle.remove()
    if len(set(shape)) > 1:
        raise StatisticsError(f"the feature map of {layer!r} changed shape between batches ({sorted(set(shape))}); resize the reference images to one size")
    return moments.result({"layer": layer, "shape": "x".join(map(str, shape[0])) if shape else ""}, unbiased=unbiased)


class VisionIBA(ImageMethod):
    """Per-sample IBA for an image classifier at the module named ``layer``: bits per pixel."""

    name, unit = "iba", "bits"

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        *,
        statistics: FeatureStatistics | None = None,
        reference_images: Iterable[torch.Tensor] | None = None,
        beta: float = 10.0,
        steps: int = 10,
        lr: float = 1.0,
        samples: int = 10,
        init_alpha: float = 5.0,
        smooth_sigma: float = 1.0,
        min_std: float = DEFAULT_MIN_STD,
        seed: int = 0,
        bits_from: str = "final",
        device: str | torch.device | None = None,
    ):
        if (statistics is None) == (reference_images is None):
            raise InvalidInputError("pass exactly one of statistics= or reference_images= (batches of images of the task)")
        if bits_from not in BITS_FROM:
            raise InvalidInputError(f"bits_from must be one of {', '.join(map(repr, BITS_FROM))}, not {bits_from!r}")
        self.config = IBAConfig(beta=beta, steps=steps, lr=lr, samples=samples, init_alpha=init_alpha, min_std=min_std, seed=seed)
        super().__init__(model)
        if device is not None:
            self.model.to(device)
        self.options = {"layer": layer, **asdict(self.config), "smooth_sigma": real_number("smooth_sigma", smooth_sigma, minimum=0), "bits_from": bits_from}
        self.module = module_named(model, layer)
        self.statistics = statistics if statistics is not None else estimate_feature_statistics(model, layer, reference_images or [])

    def run(self, images: torch.Tensor, replace: Any = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits, and a copy of the layer's feature map; with ``replace``, the layer's output is
        replaced by ``replace(features)`` and no copy is kept."""
        recorded: dict[str, torch.Tensor] = {}
        layer = self.options["layer"]

        def hook(_: nn.Module, __: Any, output: Any) -> Any:
            features = feature_map(output, layer)
            if replace is not None:
                return replace(features)
            recorded["features"] = features.clone()  # a copy: an in-place ReLU after the layer would change it
            return None

        handle = self.module.register_forward_hook(hook)
        try:
            logits = self.model(images)
        finally:
            handle.remove()
        return logits, recorded.get("features")

    def prior(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Mean, clamped std and active units, each shaped like one feature map."""
        shape = features.shape[1:]
        if self.statistics.num_features != features[0].numel():
            raise StatisticsError(f"the statistics have {self.statistics.num_features} elements but {self.layer!r} outputs {tuple(shape)}: they belong to another layer, model or image size")
        mean = self.statistics.mean.to(features.device, torch.float32).view(shape)
        std = self.statistics.clamped_std(self.config.min_std).to(features.device, torch.float32).view(shape)
        active = self.statistics.active_mask().to(features.device).view(shape)
        return mean, std, active

    def first_pass(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits and a copy of the layer's feature map."""
        return self.run(batch)

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> ImageAttribution:
        """Bits per pixel and bits per feature cell, from the feature map ``recorded`` by the first
        pass, with the target's probability through the optimised bottleneck."""
        batch, features = batch.detach(), recorded
        with attribution_mode(self.model):
            mean, std, active = self.prior(features)
            self.check_influence(batch, logits, mean, std)
            lam, last_pass, kept = self.optimise(batch, features.float(), target, mean, std, active)
            final = mask_capacity(lam, normalize(features.float(), mean, std)) * active
            capacity = last_pass if self.options["bits_from"] == "last_pass" else final
            cell_bits = (capacity.sum(dim=1)[0] / NATS_PER_BIT).detach()
        if not torch.isfinite(cell_bits).all():
            raise NonFiniteError("the attribution contains non-finite values; check the statistics (min_std) and lr")
        return ImageAttribution(cells_to_pixels(cell_bits, batch.shape[-2:]), cell_bits, float(kept[0]))

    def check_influence(self, images: torch.Tensor, logits: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Replacing the layer's output by noise from the prior must change the logits (as for text)."""
        generator = torch.Generator(device=images.device).manual_seed(self.config.seed + 1)

        def noise(features: torch.Tensor) -> torch.Tensor:
            return (mean + std * torch.randn(features.shape, generator=generator, device=features.device)).to(features.dtype)

        with torch.no_grad():
            noisy, _ = self.run(images, noise)
        check_influence(noisy, logits, repr(self.layer))

    def optimise(self, image: torch.Tensor, features: torch.Tensor, target: int, mean: torch.Tensor, std: torch.Tensor, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The smoothed mask lam after the optimisation, the capacity per element in nats
        computed in its last forward pass (each 1 x channels x height x width), and the target's
        probability through the final bottleneck (one value)."""
        config, sigma = self.config, self.options["smooth_sigma"]
        generator = torch.Generator(device=features.device).manual_seed(config.seed)
        normalized = normalize(features, mean, std)
        images = image.expand(config.samples, *image.shape[1:])

        def step(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            lam = smooth(torch.sigmoid(alpha), sigma)
            noise = torch.randn(config.samples, *features.shape[1:], generator=generator, device=features.device)
            logits, _ = self.run(images, lambda values: hold_inactive(apply_mask(values.float(), lam, mean, std, noise), mean, active).to(values.dtype))
            return logits, mask_capacity(lam, normalized) * active

        optimised = optimise_alpha(config, features, step, torch.tensor([target], device=features.device), item="image")
        with torch.no_grad():
            return smooth(torch.sigmoid(optimised.alpha), sigma), optimised.capacity, optimised.kept_probability
