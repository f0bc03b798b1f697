"""The bottleneck's math against independent computations (numpy closed form, Monte Carlo)."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ib_nlp.core.bottleneck import (
    NATS_PER_BIT,
    apply_bottleneck,
    capacity_in_bits,
    gaussian_capacity,
    mask_capacity,
    prior_capacity,
)


def numpy_gaussian_kl(mean_p: np.ndarray, std_p: np.ndarray, mean_q: np.ndarray, std_q: np.ndarray) -> np.ndarray:
    """KL(N(mean_p, std_p^2) || N(mean_q, std_q^2)) in nats, textbook formula."""
    return np.log(std_q / std_p) + (std_p**2 + (mean_p - mean_q) ** 2) / (2 * std_q**2) - 0.5


def test_capacity_matches_gaussian_kl_of_the_bottleneck_distribution():
    rng = np.random.default_rng(0)
    activations = rng.normal(1.0, 3.0, size=200)
    mean, std = rng.normal(size=200), rng.uniform(0.1, 2.0, size=200)
    alpha = rng.uniform(-6, 6, size=200)
    lam = 1 / (1 + np.exp(-alpha))
    expected = numpy_gaussian_kl(lam * activations + (1 - lam) * mean, (1 - lam) * std, mean, std)
    result = gaussian_capacity(torch.tensor(alpha), torch.tensor((activations - mean) / std)).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-9, atol=1e-12)


def test_capacity_matches_monte_carlo_estimate():
    """E_z[log p(z|r) - log q(z)] by sampling z from the bottleneck, against the closed form."""
    generator = torch.Generator().manual_seed(0)
    r, alpha, mean, std = torch.tensor(1.7, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64), 0.3, 1.9
    lam = torch.sigmoid(alpha)
    activation = mean + std * r
    noise = torch.randn(400_000, generator=generator, dtype=torch.float64)
    z = apply_bottleneck(activation, alpha, torch.tensor(mean), torch.tensor(std), noise)
    posterior = torch.distributions.Normal(lam * activation + (1 - lam) * mean, (1 - lam) * std)
    prior = torch.distributions.Normal(torch.tensor(mean, dtype=torch.float64), torch.tensor(std, dtype=torch.float64))
    estimate = (posterior.log_prob(z) - prior.log_prob(z)).mean()
    assert abs(float(estimate) - float(gaussian_capacity(alpha, r))) < 0.01


def test_prior_capacity_matches_the_gaussian_kl_of_proposition_3():
    """Remarks 1 and 2 of InputIBA: P(Z|I) and the prior are Gaussians; their KL by the textbook formula."""
    rng = np.random.default_rng(2)
    activations = rng.normal(0.5, 2.0, size=300)
    mean, std = rng.normal(size=300), rng.uniform(0.1, 2.0, size=300)
    alpha, prior_alpha = rng.uniform(-6, 6, size=300), rng.uniform(-6, 6, size=300)
    lam, lam_g = 1 / (1 + np.exp(-alpha)), 1 / (1 + np.exp(-prior_alpha))
    posterior_mean, posterior_std = lam * activations + (1 - lam) * mean, (1 - lam) * std
    prior_mean, prior_std = lam_g * lam * activations + (1 - lam_g * lam) * mean, (1 - lam_g * lam) * std
    expected = numpy_gaussian_kl(posterior_mean, posterior_std, prior_mean, prior_std)
    result = prior_capacity(torch.tensor(alpha), torch.tensor((activations - mean) / std), torch.tensor(prior_alpha)).numpy()
    np.testing.assert_allclose(result, expected, rtol=1e-8, atol=1e-10)


def test_prior_capacity_matches_monte_carlo_estimate():
    generator = torch.Generator().manual_seed(3)
    alpha, prior_alpha = torch.tensor(1.2, dtype=torch.float64), torch.tensor(0.4, dtype=torch.float64)
    activation, mean, std = torch.tensor(2.5, dtype=torch.float64), torch.tensor(-0.2, dtype=torch.float64), torch.tensor(1.3, dtype=torch.float64)
    lam, lam_g = torch.sigmoid(alpha), torch.sigmoid(prior_alpha)
    z = apply_bottleneck(activation, alpha, mean, std, torch.randn(400_000, generator=generator, dtype=torch.float64))
    posterior = torch.distributions.Normal(lam * activation + (1 - lam) * mean, (1 - lam) * std)
    prior = torch.distributions.Normal(lam_g * lam * activation + (1 - lam_g * lam) * mean, (1 - lam_g * lam) * std)
    estimate = (posterior.log_prob(z) - prior.log_prob(z)).mean()
    assert abs(float(estimate) - float(prior_capacity(alpha, (activation - mean) / std, prior_alpha))) < 0.01


def test_prior_capacity_without_a_prior_mask_is_the_ibas_capacity_and_shrinks_as_the_prior_keeps_more():
    alpha, r = torch.linspace(-8, 12, 41, dtype=torch.float64), torch.linspace(-3, 3, 41, dtype=torch.float64)
    torch.testing.assert_close(prior_capacity(alpha, r, torch.full_like(alpha, -80.0)), gaussian_capacity(alpha, r), rtol=1e-9, atol=1e-12)
    values = [prior_capacity(alpha, r, torch.full_like(alpha, g)) for g in (-4.0, 0.0, 4.0)]
    assert all(bool((later <= earlier + 1e-12).all()) for earlier, later in zip(values, values[1:]))
    assert bool(torch.isfinite(prior_capacity(torch.tensor([40.0]), torch.tensor([3.0]), torch.tensor([40.0]))).all())


def test_mask_capacity_is_the_capacity_of_the_same_mask_and_stays_finite_at_one():
    alpha, r = torch.linspace(-10, 10, 81, dtype=torch.float64), torch.linspace(-4, 4, 81, dtype=torch.float64)
    torch.testing.assert_close(mask_capacity(torch.sigmoid(alpha), r), gaussian_capacity(alpha, r), rtol=1e-6, atol=1e-8)
    assert bool(torch.isfinite(mask_capacity(torch.ones(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64))).all())
    assert float(mask_capacity(torch.zeros(1), torch.tensor([2.0]))) == 0.0


def test_bottleneck_samples_have_the_expected_moments():
    generator = torch.Generator().manual_seed(1)
    noise = torch.randn(200_000, generator=generator, dtype=torch.float64)
    alpha = torch.tensor(0.0, dtype=torch.float64)
    z = apply_bottleneck(torch.tensor(4.0, dtype=torch.float64), alpha, torch.tensor(1.0), torch.tensor(2.0), noise)
    assert abs(float(z.mean()) - (0.5 * 4.0 + 0.5 * 1.0)) < 0.02
    assert abs(float(z.std()) - 0.5 * 2.0) < 0.02


def test_capacity_is_zero_when_everything_is_noise():
    alpha = torch.full((5,), -60.0, dtype=torch.float64)
    r = torch.linspace(-3, 3, 5, dtype=torch.float64)
    assert torch.allclose(gaussian_capacity(alpha, r), torch.zeros(5, dtype=torch.float64), atol=1e-12)


def test_capacity_is_finite_as_lam_goes_to_one():
    alpha = torch.tensor([10.0, 30.0, 80.0, 500.0])
    values = gaussian_capacity(alpha, torch.ones(4))
    assert torch.isfinite(values).all()
    assert torch.allclose(values[-1], torch.tensor(500.0), rtol=1e-4)


@settings(max_examples=60, deadline=None)
@given(st.floats(-3, 3), st.floats(-8, 7), st.floats(0.01, 1.0))
def test_capacity_grows_with_lam(r, alpha, step):
    low = gaussian_capacity(torch.tensor(alpha, dtype=torch.float64), torch.tensor(r, dtype=torch.float64))
    high = gaussian_capacity(torch.tensor(alpha + step, dtype=torch.float64), torch.tensor(r, dtype=torch.float64))
    assert float(low) >= 0.0
    assert float(high) > float(low)


def test_bits_are_nats_divided_by_log_two():
    alpha, activations = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 3.0])
    mean, std = torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0])
    nats = gaussian_capacity(alpha, (activations - mean) / std)
    assert torch.allclose(capacity_in_bits(alpha, activations, mean, std), nats / math.log(2))
    assert NATS_PER_BIT == math.log(2)
