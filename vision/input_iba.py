"""InputIBA for CNNs (Zhang, Khakzar et al. 2021): bits per pixel from a bottleneck on the
input image whose prior is learnt from a deep feature map.

1. Per-sample IBA at the deep layer (``VisionIBA``, beta 10) gives the smoothed lam* and Z*.
2. The WGAN of ``ib_nlp.input_iba.fit_prior_mask`` (the same code as for text) learns lam_G
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
from dataclasses import asdict, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.runtime import attribution_mode
from ib_nlp.bottleneck import NATS_PER_BIT, apply_bottleneck, normalize, prior_capacity
from ib_nlp.errors import InvalidInputError, NonFiniteError
from ib_nlp.core.input_prior import (
    DeepLayerReached,
    InputIBAConfig,
    bottleneck_samples,
    fit_prior_mask,
)
from ib_nlp.statistics import RunningMoments

from .iba import ImageExplanation, VisionIBA, _feature_tensor

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


class VisionInputIBA:
    """InputIBA for an image classifier with the deep layer named ``layer``; options are the
    fields of :class:`~ib_nlp.core.input_prior.InputIBAConfig` (image defaults: ``IMAGE_DEFAULTS``)."""

    config_class = InputIBAConfig

    def __init__(self, model: nn.Module, layer: str, reference_images: Iterable[torch.Tensor], config: InputIBAConfig | None = None, **overrides: Any):
        base = config or InputIBAConfig(**IMAGE_DEFAULTS)
        unknown = set(overrides) - set(asdict(base))
        if unknown:
            raise InvalidInputError(f"unknown InputIBA option(s): {', '.join(sorted(unknown))}")
        self.config = replace(base, **overrides)
        batches = list(reference_images)
        config = self.config
        self.feature = VisionIBA(model, layer, reference_images=batches, beta=config.feature_beta, steps=config.feature_steps, lr=config.feature_lr, samples=config.samples, seed=config.seed)
        moments = RunningMoments()
        for batch in batches:
            moments.update(batch.flatten(1))
        self.input_statistics = moments.result({"layer": "input"})
        self.model = self.feature.model
        self.stage_seconds: dict[str, float] = {}
        self.last_prior_mask: torch.Tensor | None = None

    @property
    def device(self) -> torch.device:
        return self.feature.device

    def deep_features(self, images: torch.Tensor) -> torch.Tensor:
        """The deep layer's output for a batch of (generated) input images; later layers are not run."""
        recorded: dict[str, torch.Tensor] = {}

        def hook(_: nn.Module, __: Any, output: Any) -> None:
            recorded["features"] = _feature_tensor(output, self.feature.layer)
            raise DeepLayerReached

        handle = self.feature.module.register_forward_hook(hook)
        try:
            self.model(images)
        except DeepLayerReached:
            return recorded["features"]
        finally:
            handle.remove()
        raise InvalidInputError(f"the model never called {self.feature.layer!r}")

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        if image.dim() != 3:
            raise InvalidInputError(f"expected one image of shape (channels, height, width), got {tuple(image.shape)}")
        config = self.config
        started = time.perf_counter()
        image = image.to(self.device).float()
        shape = image.shape
        input_mean = self.input_statistics.mean.to(self.device).view(shape)
        input_std = self.input_statistics.clamped_std(self.feature.parameters["min_std"]).to(self.device).view(shape)
        with attribution_mode(self.model):
            with torch.no_grad():
                logits, deep = self.feature._run(image[None])
            assert deep is not None
            target = int(logits.argmax()) if target is None else int(target)
            if not 0 <= target < logits.shape[-1]:
                raise InvalidInputError(f"target {target} is not a class of this model (0..{logits.shape[-1] - 1})")
            deep_mean, deep_std, deep_active = self.feature._prior(deep)
            self.feature._check_influence(image[None], logits, deep_mean, deep_std)
            lam_star = self.feature._optimise(image[None], deep.float(), target, deep_mean, deep_std, deep_active)[0][0]
            feature_done = time.perf_counter()
            generator = torch.Generator(device=self.device).manual_seed(config.seed)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                critic = ImageCritic(deep.shape[1], config.critic_hidden).to(self.device)
            real = bottleneck_samples(deep[0].float(), lam_star, deep_mean, deep_std, config.gan_samples, generator)
            prior_alpha = fit_prior_mask(config, critic, real, image, input_mean, input_std, lambda z: (self.deep_features(z).float() - deep_mean) / deep_std, generator)
            gan_done = time.perf_counter()
            alpha = self._optimise_input(image, target, input_mean, input_std, prior_alpha, generator)
            with torch.no_grad():
                kl = prior_capacity(alpha, normalize(image, input_mean, input_std), prior_alpha)
                pixels = kl.sum(dim=0) / NATS_PER_BIT
        if not torch.isfinite(pixels).all():
            raise NonFiniteError("the attribution contains non-finite values; check the statistics and lr")
        done = time.perf_counter()
        self.stage_seconds = {"feature": feature_done - started, "gan": gan_done - feature_done, "input": done - gan_done}
        self.last_prior_mask = torch.sigmoid(prior_alpha).cpu()
        parameters = {**asdict(config), "deep_layer": self.feature.layer, "stage_seconds": dict(self.stage_seconds)}
        return ImageExplanation("input_iba", "bits", pixels.cpu(), target, torch.softmax(logits[0].float(), -1).tolist(), "input", None, parameters, done - started)

    def _optimise_input(self, image: torch.Tensor, target: int, mean: torch.Tensor, std: torch.Tensor, prior_alpha: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        config = self.config
        alpha = torch.full_like(image, self.feature.parameters["init_alpha"], requires_grad=True)
        optimizer = torch.optim.Adam([alpha], lr=config.lr)
        normalized = normalize(image, mean, std)
        targets = torch.full((config.samples,), target, device=image.device)
        for step in range(config.steps):
            noise = torch.randn(config.samples, *image.shape, generator=generator, device=image.device)
            logits = self.model(apply_bottleneck(image, alpha, mean, std, noise))
            loss = F.cross_entropy(logits.float(), targets) + config.beta * prior_capacity(alpha, normalized, prior_alpha).mean()
            if not torch.isfinite(loss):
                raise NonFiniteError(f"the input bottleneck's loss became {loss.item()} at step {step + 1}; try a smaller lr or beta")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return alpha.detach()
