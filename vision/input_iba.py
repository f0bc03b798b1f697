"""InputIBA for CNNs (Zhang, Khakzar et al. 2021): bits per pixel from a bottleneck on the
input image whose prior is learnt from a deep feature map.

1. Per-sample IBA at the deep layer (``VisionIBA``, beta 10) gives the smoothed lam* and Z*.
2. The WGAN of ``ib_nlp.text.methods.input_iba.fit_prior_mask`` (the same code as for text) learns lam_G
   per pixel and colour channel; its critic is a small CNN (3 convolutions, 2 fully connected
   layers) over the deep layer's normalised feature maps.
3. An input bottleneck Z_I = Lam I + (1 - Lam) eps, eps ~ N(mu_I, sigma_I^2) per pixel and
   channel (statistics of the reference images), optimised for CE + beta_in * mean KL with the
   KL of Proposition 3 (beta_in 20, 60 steps); the attribution is that KL summed over the
   colour channels, in bits per pixel.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, fields, replace
from typing import Any

import torch
from torch import nn

from ib_nlp.core.runtime import attribution_mode
from ib_nlp.core.bottleneck import NATS_PER_BIT, apply_bottleneck, normalize, prior_capacity
from ib_nlp.core.optimise import IBAConfig, Optimised, optimise_alpha
from ib_nlp.core.registry import check_options
from ib_nlp.errors import InvalidInputError, NonFiniteError
from ib_nlp.core.input_prior import (
    DeepLayerReached,
    InputIBAConfig,
    bottleneck_samples,
    fit_prior_mask,
)
from ib_nlp.core.statistics import RunningMoments

from .base import ImageAttribution, ImageMethod, feature_map
from .iba import VisionIBA

# The paper's ImageNet settings (section 4): feature beta 10, input beta 20, 60 steps.
IMAGE_DEFAULTS = {"feature_beta": 10.0, "beta": 20.0, "steps": 60, "lr": 1.0}


class ImageCritic(nn.Module):
    """WGAN critic over a feature map: three convolutions and two fully connected layers."""

    def __init__(self, channels: int, width: int = 64):
        super().__init__()
        self.convolutions = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(4 * width, width), nn.LeakyReLU(0.2), nn.Linear(width, 1))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(self.convolutions(features)).squeeze(-1)


class VisionInputIBA(ImageMethod):
    """InputIBA for an image classifier with the deep layer named ``layer``; options are the
    fields of :class:`~ib_nlp.core.input_prior.InputIBAConfig` (image defaults: ``IMAGE_DEFAULTS``).
    The first stage is the per-sample IBA method at the deep layer (``self.feature``)."""

    name, unit = "input_iba", "bits"
    config_class = InputIBAConfig

    def __init__(self, model: nn.Module, layer: str, reference_images: Iterable[torch.Tensor], config: InputIBAConfig | None = None, **overrides: Any):
        base = config or InputIBAConfig(**IMAGE_DEFAULTS)
        check_options(self.name, [field.name for field in fields(base)], overrides)
        self.config = replace(base, **overrides)
        super().__init__(model)
        batches = list(reference_images)
        config = self.config
        self.feature = VisionIBA(model, layer, reference_images=batches, beta=config.feature_beta, steps=config.feature_steps, lr=config.feature_lr, samples=config.samples, seed=config.seed)
        moments = RunningMoments()
        for batch in batches:
            moments.update(batch.flatten(1))
        self.input_statistics = moments.result({"layer": "input"})
        self.stage_seconds: dict[str, float] = {}
        self.last_prior_mask: torch.Tensor | None = None

    @property
    def layer(self) -> str:
        return "input"

    def parameters(self) -> dict[str, Any]:
        return {**asdict(self.config), "deep_layer": self.feature.layer, "stage_seconds": dict(self.stage_seconds)}

    def deep_features(self, images: torch.Tensor) -> torch.Tensor:
        """The deep layer's output for a batch of (generated) input images; later layers are not run."""
        recorded: dict[str, torch.Tensor] = {}
        layer = self.feature.layer

        def hook(_: nn.Module, __: Any, output: Any) -> None:
            recorded["features"] = feature_map(output, layer)
            raise DeepLayerReached

        handle = self.feature.module.register_forward_hook(hook)
        try:
            self.model(images)
        except DeepLayerReached:
            return recorded["features"]
        finally:
            handle.remove()
        raise InvalidInputError(f"the model never called {layer!r}")

    def first_pass(self, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The logits and the deep layer's feature map."""
        return self.feature.run(batch)

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> ImageAttribution:
        """Bits per pixel of the input bottleneck, after the deep stage and the prior's WGAN, with
        the target's probability through it; ``recorded`` is the deep layer's feature map."""
        config = self.config
        started = time.perf_counter()
        image = batch.detach()[0].float()
        shape = image.shape
        input_mean = self.input_statistics.mean.to(self.device).view(shape)
        input_std = self.input_statistics.clamped_std(self.feature.config.min_std).to(self.device).view(shape)
        deep = recorded
        with attribution_mode(self.model):
            deep_mean, deep_std, deep_active = self.feature.prior(deep)
            self.feature.check_influence(image[None], logits, deep_mean, deep_std)
            lam_star = self.feature.optimise(image[None], deep.float(), target, deep_mean, deep_std, deep_active)[0][0]
            feature_done = time.perf_counter()
            generator = torch.Generator(device=self.device).manual_seed(config.seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                critic = ImageCritic(deep.shape[1], config.critic_hidden).to(self.device)
            real = bottleneck_samples(deep[0].float(), lam_star, deep_mean, deep_std, config.gan_samples, generator)
            prior_alpha = fit_prior_mask(config, critic, real, image, input_mean, input_std, lambda z: (self.deep_features(z).float() - deep_mean) / deep_std, generator)
            gan_done = time.perf_counter()
            optimised = self.optimise_input(image, target, input_mean, input_std, prior_alpha, generator)
            with torch.no_grad():
                kl = prior_capacity(optimised.alpha, normalize(image, input_mean, input_std), prior_alpha)
                pixels = kl.sum(dim=0) / NATS_PER_BIT
        if not torch.isfinite(pixels).all():
            raise NonFiniteError("the attribution contains non-finite values; check the statistics and lr")
        self.stage_seconds = {"feature": feature_done - started, "gan": gan_done - feature_done, "input": time.perf_counter() - gan_done}
        self.last_prior_mask = torch.sigmoid(prior_alpha).cpu()
        return ImageAttribution(pixels, None, float(optimised.kept_probability[0]))

    def optimise_input(self, image: torch.Tensor, target: int, mean: torch.Tensor, std: torch.Tensor, prior_alpha: torch.Tensor, generator: torch.Generator) -> Optimised:
        """The input bottleneck (alpha: channels x height x width) by the core loop, with the KL
        against the learnt prior (Proposition 3)."""
        config = self.config
        schedule = IBAConfig(beta=config.beta, steps=config.steps, lr=config.lr, samples=config.samples, init_alpha=self.feature.config.init_alpha, seed=config.seed)
        normalized = normalize(image, mean, std)

        def step(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            noise = torch.randn(config.samples, *image.shape, generator=generator, device=image.device)
            return self.model(apply_bottleneck(image, alpha, mean, std, noise)), prior_capacity(alpha, normalized, prior_alpha)

        return optimise_alpha(schedule, image, step, torch.tensor([target], device=image.device), item="image")
