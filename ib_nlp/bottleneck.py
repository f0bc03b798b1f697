"""The information bottleneck: the one implementation of its math, shared by text and vision.

At a layer with activations R, the bottleneck replaces R by

    Z = lam * R + (1 - lam) * eps,   lam = sigmoid(alpha),   eps ~ N(mu, sigma^2)

where mu and sigma are per-feature statistics of R over a reference corpus. The information
that passes (an upper bound of I[R, Z]) is the KL divergence between P(Z | R) and the prior
Q(Z) = N(mu, sigma^2), which in the normalised space r = (R - mu) / sigma is, per element,

    KL = -log(1 - lam) + ((1 - lam)^2 + (lam * r)^2) / 2 - 1/2   [nats].

See ``../shared/docs/ib-notes.md`` section 1 and Schulz et al. (ICLR 2020).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NATS_PER_BIT = math.log(2.0)


def gaussian_capacity(alpha: torch.Tensor, normalized_activations: torch.Tensor) -> torch.Tensor:
    """KL[P(Z|R) || N(mu, sigma^2)] per element in nats, from alpha and r = (R - mu) / sigma.

    ``-log(1 - lam)`` is computed as ``softplus(alpha)`` and ``1 - lam`` as ``sigmoid(-alpha)``,
    so the value stays finite for any finite alpha (lam -> 1 is the dangerous end).
    """
    lam = torch.sigmoid(alpha)
    one_minus_lam = torch.sigmoid(-alpha)
    return F.softplus(alpha) + 0.5 * (one_minus_lam**2 + (lam * normalized_activations) ** 2) - 0.5


def apply_bottleneck(
    activations: torch.Tensor,
    alpha: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    standard_noise: torch.Tensor,
) -> torch.Tensor:
    """Z = lam * R + (1 - lam) * eps with eps = mean + std * standard_noise.

    All arguments broadcast against each other; the noise usually carries the sample batch.
    """
    lam = torch.sigmoid(alpha)
    noise = mean + std * standard_noise
    return lam * activations + (1.0 - lam) * noise


def normalize(activations: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(R - mu) / sigma: the space in which the capacity is measured."""
    return (activations - mean) / std


def capacity_in_bits(
    alpha: torch.Tensor, activations: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """Capacity per element in bits."""
    return gaussian_capacity(alpha, normalize(activations, mean, std)) / NATS_PER_BIT
