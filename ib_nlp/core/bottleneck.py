"""The information bottleneck: the one implementation of its math, shared by text and vision.

At a layer with activations R, the bottleneck replaces R by

    Z = lam * R + (1 - lam) * eps,   lam = sigmoid(alpha),   eps ~ N(mu, sigma^2)

where mu and sigma are per-feature statistics of R over a reference corpus. The information
that passes (an upper bound of I[R, Z]) is the KL divergence between P(Z | R) and the prior
Q(Z) = N(mu, sigma^2), which in the normalised space r = (R - mu) / sigma is, per element,

    KL = -log(1 - lam) + ((1 - lam)^2 + (lam * r)^2) / 2 - 1/2   [nats].

See docs/method.md and Schulz et al. (ICLR 2020).

InputIBA (Zhang, Khakzar et al. 2021) replaces the prior by one that
already keeps part of the input: with a prior mask lam_G, Q(Z) = N(lam_G lam I +
(1 - lam_G lam) mu, (1 - lam_G lam)^2 sigma^2), and the KL becomes Proposition 3
(``prior_capacity``), which is ``gaussian_capacity`` when lam_G = 0.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

NATS_PER_BIT = math.log(2.0)


def _capacity(lam: torch.Tensor, one_minus_lam: torch.Tensor, neg_log_one_minus_lam: torch.Tensor, normalized_activations: torch.Tensor) -> torch.Tensor:
    return neg_log_one_minus_lam + 0.5 * (one_minus_lam**2 + (lam * normalized_activations) ** 2) - 0.5


def gaussian_capacity(alpha: torch.Tensor, normalized_activations: torch.Tensor) -> torch.Tensor:
    """KL[P(Z|R) || N(mu, sigma^2)] per element in nats, from alpha and r = (R - mu) / sigma.

    ``-log(1 - lam)`` is computed as ``softplus(alpha)`` and ``1 - lam`` as ``sigmoid(-alpha)``,
    so the value stays finite for any finite alpha (lam -> 1 is the dangerous end).
    """
    return _capacity(torch.sigmoid(alpha), torch.sigmoid(-alpha), F.softplus(alpha), normalized_activations)


def mask_capacity(lam: torch.Tensor, normalized_activations: torch.Tensor, max_lam: float = 1 - 1e-6) -> torch.Tensor:
    """The same KL for a mask lam given directly (e.g. a spatially smoothed sigmoid(alpha), as
    for images), with lam capped at ``max_lam`` so that -log(1 - lam) stays finite."""
    lam = lam.clamp(0.0, max_lam)
    one_minus_lam = 1.0 - lam
    return _capacity(lam, one_minus_lam, -torch.log(one_minus_lam), normalized_activations)


def prior_capacity(alpha: torch.Tensor, normalized_activations: torch.Tensor, prior_alpha: torch.Tensor) -> torch.Tensor:
    """KL[P(Z|I) || Q(Z)] per element in nats under InputIBA's prior (Proposition 3).

    ``alpha`` gives the bottleneck's lam = sigmoid(alpha), ``prior_alpha`` the prior's mask
    lam_G = sigmoid(prior_alpha), ``normalized_activations`` is r = (I - mu) / sigma:

        log((1 - lam_G lam) / (1 - lam)) + (1 - lam)^2 / (2 (1 - lam_G lam)^2)
        + r^2 (lam - lam_G lam)^2 / (2 (1 - lam_G lam)^2) - 1/2

    This is IBA's capacity at the effective alpha t = alpha - softplus(prior_alpha): with
    lam_t = sigmoid(t), (1 - lam) / (1 - lam_G lam) = 1 - lam_t and (lam - lam_G lam) /
    (1 - lam_G lam) = lam_t. Computing it that way keeps it finite for any finite inputs.
    """
    return gaussian_capacity(alpha - F.softplus(prior_alpha), normalized_activations)


def apply_bottleneck(
    activations: torch.Tensor,
    alpha: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    standard_noise: torch.Tensor,
) -> torch.Tensor:
    """Z = lam * R + (1 - lam) * eps with lam = sigmoid(alpha) and eps = mean + std * standard_noise.

    All arguments broadcast against each other; the noise usually carries the sample batch.
    """
    return apply_mask(activations, torch.sigmoid(alpha), mean, std, standard_noise)


def apply_mask(
    activations: torch.Tensor,
    lam: torch.Tensor,
    mean: torch.Tensor,
    std: torch.Tensor,
    standard_noise: torch.Tensor,
) -> torch.Tensor:
    """Z = lam * R + (1 - lam) * eps for a mask lam given directly."""
    return lam * activations + (1.0 - lam) * (mean + std * standard_noise)


def hold_inactive(values: torch.Tensor, mean: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
    """``values`` at the active units and the prior mean elsewhere.

    The reference implementation's active-neuron mask: units that are zero in nearly every
    reference sample (dead after a ReLU) or constant carry no information, and their std sits at
    the floor, so one unusual value would dominate the bits. They are held at their mean (0 for a
    unit that is never non-zero, as in the reference) and their capacity is not counted.
    """
    return torch.where(active, values, mean)


def normalize(activations: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(R - mu) / sigma: the space in which the capacity is measured."""
    return (activations - mean) / std


def capacity_in_bits(
    alpha: torch.Tensor, activations: torch.Tensor, mean: torch.Tensor, std: torch.Tensor
) -> torch.Tensor:
    """Capacity per element in bits."""
    return gaussian_capacity(alpha, normalize(activations, mean, std)) / NATS_PER_BIT
