"""The one bottleneck optimisation loop (ib_nlp.core.optimise), against a loop written out by hand."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ib_nlp.core.bottleneck import apply_bottleneck, gaussian_capacity
from ib_nlp.core.optimise import KEEPING_SHARE, IBAConfig, check_influence, kept_reading, optimise_alpha
from ib_nlp.errors import LayerNotReadError, NonFiniteError, OptimisationError

WEIGHTS = torch.tensor([[1.5, -2.0, 0.0, 0.7], [-1.0, 1.0, 0.3, 0.0]])


def bottleneck_problem(items: int, samples: int, seed: int):
    """Features of ``items`` items (4 units each), a linear head, and a step function that
    draws its noise from one seeded generator."""
    features = torch.randn(items, 4, generator=torch.Generator().manual_seed(9))
    generator = torch.Generator().manual_seed(seed)
    mean, std = torch.zeros(4), torch.ones(4)

    def step(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = torch.randn(items * samples, 4, generator=generator)
        z = apply_bottleneck(features.repeat_interleave(samples, dim=0), alpha.repeat_interleave(samples, dim=0), mean, std, noise)
        return z @ WEIGHTS.T, gaussian_capacity(alpha, features)

    return features, step


def test_the_loop_is_adam_on_mean_cross_entropy_plus_beta_times_mean_capacity():
    config = IBAConfig(beta=0.5, steps=6, lr=0.3, samples=3, seed=0)
    targets = torch.tensor([0, 1])
    _, step = bottleneck_problem(2, config.samples, seed=4)
    alpha, last, kept = optimise_alpha(config, torch.zeros(2, 4), step, targets)

    features, by_hand_step = bottleneck_problem(2, config.samples, seed=4)
    expected = torch.full((2, 4), config.init_alpha, requires_grad=True)
    optimizer = torch.optim.Adam([expected], lr=config.lr)
    for _ in range(config.steps):
        logits, capacity = by_hand_step(expected)
        loss = sum(
            F.cross_entropy(logits[i * 3 : (i + 1) * 3], targets[i].repeat(3)) + config.beta * capacity[i].mean()
            for i in range(2)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        last_pass = capacity.detach()
    with torch.no_grad():
        probabilities = F.softmax(by_hand_step(expected)[0], dim=-1)  # one more draw at the final alpha
    torch.testing.assert_close(kept, torch.stack([probabilities[i * 3 : (i + 1) * 3, targets[i]].mean() for i in range(2)]))
    torch.testing.assert_close(alpha, expected.detach())
    torch.testing.assert_close(last, last_pass)  # the capacity of the last forward pass, one update before the final alpha
    assert not torch.allclose(last, gaussian_capacity(alpha, features))
    assert not alpha.requires_grad and not torch.equal(alpha, torch.full_like(alpha, config.init_alpha))


def test_elements_restrict_the_mean_capacity_to_what_counts():
    config = IBAConfig(beta=2.0, steps=3, samples=2)
    targets = torch.tensor([0])
    _, step = bottleneck_problem(1, 2, seed=1)
    counted = optimise_alpha(config, torch.zeros(1, 4), step, targets, elements=torch.tensor([2.0])).alpha
    _, step = bottleneck_problem(1, 2, seed=1)
    every = optimise_alpha(config, torch.zeros(1, 4), step, targets).alpha
    assert not torch.allclose(counted, every)  # the capacity weighs twice as much over 2 of 4 elements


def test_the_kept_probability_falls_to_the_closed_bottlenecks_when_every_bit_is_too_dear():
    targets = torch.tensor([1])  # the class the open head predicts (p = 0.995)
    features, step = bottleneck_problem(1, 400, seed=2)
    free = optimise_alpha(IBAConfig(beta=0.0, steps=3, samples=400), torch.zeros(1, 4), step, targets)
    open_probability = F.softmax(features @ WEIGHTS.T, dim=-1)[0, 1]
    assert abs(float(free.kept_probability[0]) - float(open_probability)) < 0.02  # nearly open: the model's own probability
    _, step = bottleneck_problem(1, 400, seed=2)
    dear = optimise_alpha(IBAConfig(beta=1e4, steps=10, samples=400), torch.zeros(1, 4), step, targets)
    noise = torch.randn(100_000, 4, generator=torch.Generator().manual_seed(3))
    closed_probability = F.softmax(noise @ WEIGHTS.T, dim=-1)[:, 1].mean()  # Monte Carlo: pure noise from the prior
    assert abs(float(dear.kept_probability[0]) - float(closed_probability)) < 0.05


def test_the_kept_reading_speaks_only_under_the_keeping_share():
    assert KEEPING_SHARE == 0.9
    assert kept_reading(0.45, 0.5) == kept_reading(0.5, 0.5) == kept_reading(0.95, 0.5) == "", "90% of 0.5 and above keep the prediction"
    assert kept_reading(0.449, 0.5).startswith("under 90% of the model's 0.500: the bits are what this much of the prediction needs, not all of it")


def test_a_non_finite_loss_and_an_unmoved_alpha_are_refused():
    config = IBAConfig(steps=2, samples=1)

    def infinite(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.full((1, 2), float("inf")) * alpha.sum(), torch.zeros_like(alpha)

    with pytest.raises(NonFiniteError, match="step 1"):
        optimise_alpha(config, torch.zeros(1, 3), infinite, torch.tensor([0]))

    def constant(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.zeros(1, 2) + 0 * alpha.sum(), torch.zeros_like(alpha)

    with pytest.raises(OptimisationError, match="did not move the bottleneck of image 0"):
        optimise_alpha(config, torch.zeros(1, 3), constant, torch.tensor([0]), item="image")


def test_the_influence_check_refuses_logits_that_noise_left_unchanged():
    logits = torch.tensor([[0.2, 0.8], [1.0, -1.0]])
    check_influence(logits + 0.5, logits, "layer 1")
    with pytest.raises(LayerNotReadError, match="layer 1 .*never reads it.* Choose another"):
        check_influence(torch.stack([logits[0] + 0.5, logits[1]]), logits, "layer 1", "Choose another layer.")
