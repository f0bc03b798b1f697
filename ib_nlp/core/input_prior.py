"""InputIBA's prior, shared by text and images (Zhang, Khakzar et al. 2021; docs/input-iba-and-readout.md).

Step 2 of InputIBA: a WGAN whose generator has a mask lam_G, a mean and a std per input
element learns which part of the input explains the feature bottleneck's output Z* at a deep
layer; the mask becomes the prior of the input bottleneck (step 3). The settings, the real
samples of Z*, the adversarial fit and the gradient penalty live here; the text and image
methods supply the critic and the map from generated inputs to the deep layer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ib_nlp.core.bottleneck import apply_mask
from ib_nlp.errors import InvalidInputError

CRITIC_REGULARISERS = ("clip", "gradient_penalty")


@dataclass(frozen=True)
class InputIBAConfig:
    """Hyper-parameters of InputIBA; defaults from the paper's IMDB LSTM setting (Appendix D)."""

    feature_beta: float = 15.0
    feature_steps: int = 10
    feature_lr: float = 1.0
    beta: float = 30.0
    steps: int = 30
    lr: float = 0.5
    samples: int = 10
    gan_samples: int = 200
    gan_epochs: int = 20
    gan_batch: int = 10
    critic_steps: int = 5
    gan_lr: float = 5e-5
    critic: str = "clip"
    clip: float = 0.01
    penalty: float = 10.0
    critic_hidden: int = 64
    local_noise: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        positive = {name: getattr(self, name) for name in ("feature_steps", "steps", "samples", "gan_samples", "gan_batch", "critic_steps", "critic_hidden")}
        bad = [f"{name}={value}" for name, value in positive.items() if not (isinstance(value, int) and value >= 1)]
        if bad:
            raise InvalidInputError(f"these InputIBA options must be integers >= 1: {', '.join(bad)}")
        if not (isinstance(self.gan_epochs, int) and self.gan_epochs >= 0):
            raise InvalidInputError(f"gan_epochs must be an integer >= 0 (0: no GAN, lam_G stays 0.5), got {self.gan_epochs}")
        if self.critic not in CRITIC_REGULARISERS:
            raise InvalidInputError(f"critic must be one of {CRITIC_REGULARISERS}, got {self.critic!r}")
        if not (self.gan_lr > 0 and self.clip > 0 and self.penalty >= 0 and self.local_noise >= 0):
            raise InvalidInputError("gan_lr and clip must be > 0; penalty and local_noise must be >= 0")


class DeepLayerReached(Exception):
    """Raised to stop the forward pass once the deep layer's output is recorded (text and images)."""


def bottleneck_samples(activations: torch.Tensor, lam: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` draws of Z* = lam R + (1 - lam) eps, normalised by the layer's statistics: the
    WGAN's real samples (lam in [0, 1], never capacities: a trap of the public code)."""
    noise = torch.randn(count, *activations.shape, generator=generator, device=activations.device)
    return (apply_mask(activations, lam, mean, std, noise) - mean) / std


def fit_prior_mask(
    config: InputIBAConfig,
    critic: nn.Module,
    real: torch.Tensor,
    inputs: torch.Tensor,
    input_mean: torch.Tensor,
    input_std: torch.Tensor,
    to_deep: Callable[[torch.Tensor], torch.Tensor],
    generator: torch.Generator,
) -> torch.Tensor:
    """Step 2 of InputIBA for one input (a text's embeddings or an image): a WGAN whose
    generator has lam_G, mu_G and sigma_G per input element. ``to_deep`` maps a batch of
    generated inputs Z_G to the critic's view of the deep layer (normalised activations), which
    the critic compares with ``real`` draws of Z*. Returns the mask logits (sigmoid: lam_G)."""
    device = inputs.device
    mask_logits = torch.zeros(inputs.shape, device=device, requires_grad=True)
    noise_mean = input_mean.expand(inputs.shape).clone().requires_grad_(True)
    noise_log_std = input_std.log().expand(inputs.shape).clone().requires_grad_(True)
    generator_optimizer = torch.optim.RMSprop([mask_logits, noise_mean, noise_log_std], lr=config.gan_lr)
    critic_optimizer = torch.optim.RMSprop(critic.parameters(), lr=config.gan_lr)

    def fake(count: int) -> torch.Tensor:
        local = inputs + config.local_noise * input_std * torch.randn(count, *inputs.shape, generator=generator, device=device)
        standard = torch.randn(count, *inputs.shape, generator=generator, device=device)
        lam = torch.sigmoid(mask_logits)
        return to_deep(lam * local + (1 - lam) * (noise_mean + noise_log_std.exp() * standard))

    critic_updates = 0
    recurrent = any(isinstance(module, nn.RNNBase) for module in critic.modules())
    # cuDNN's RNN has no double backward, which the gradient penalty needs
    with torch.enable_grad(), torch.backends.cudnn.flags(enabled=False) if recurrent else contextlib.nullcontext():
        for _ in range(config.gan_epochs):
            order = torch.randperm(len(real), generator=generator, device=device)
            for start in range(0, len(real), config.gan_batch):
                real_batch = real[order[start : start + config.gan_batch]]
                with torch.no_grad():
                    fake_batch = fake(len(real_batch))
                critic_loss = critic(fake_batch).mean() - critic(real_batch).mean()
                if config.critic == "gradient_penalty":
                    critic_loss = critic_loss + config.penalty * gradient_penalty(critic, real_batch, fake_batch, generator)
                critic_optimizer.zero_grad(set_to_none=True)
                critic_loss.backward()
                critic_optimizer.step()
                if config.critic == "clip":
                    with torch.no_grad():
                        for parameter in critic.parameters():
                            parameter.clamp_(-config.clip, config.clip)
                critic_updates += 1
                if critic_updates % config.critic_steps == 0:
                    generator_loss = -critic(fake(config.gan_batch)).mean()
                    generator_optimizer.zero_grad(set_to_none=True)
                    critic_optimizer.zero_grad(set_to_none=True)
                    generator_loss.backward()
                    generator_optimizer.step()
    return mask_logits.detach()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """WGAN-GP: (||grad critic|| - 1)^2 at random interpolates of real and fake samples."""
    mix = torch.rand(len(real), *[1] * (real.dim() - 1), generator=generator, device=real.device)
    points = (mix * real + (1 - mix) * fake).requires_grad_(True)
    (gradient,) = torch.autograd.grad(critic(points).sum(), points, create_graph=True)
    return ((gradient.flatten(1).norm(dim=1) - 1) ** 2).mean()
