"""The per-sample bottleneck optimisation's settings and checks, shared by text and images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ib_nlp.errors import LayerNotReadError, NonFiniteError, OptimisationError
from ib_nlp.core.interrupt import check_interrupt
from ib_nlp.options import real_number, seed_value, whole_number
from ib_nlp.core.statistics import DEFAULT_MIN_STD


@dataclass(frozen=True)
class IBAConfig:
    """Hyper-parameters of per-sample IBA (defaults of the reference implementation; docs/method.md)."""

    beta: float = 10.0
    steps: int = 10
    lr: float = 1.0
    samples: int = 10
    init_alpha: float = 5.0
    min_std: float = DEFAULT_MIN_STD
    seed: int = 0

    def __post_init__(self) -> None:
        """Check every option's type and range up front (numeric strings are accepted)."""
        checked = {
            "beta": real_number("beta", self.beta, minimum=0),
            "steps": whole_number("steps", self.steps, minimum=1),
            "lr": real_number("lr", self.lr, minimum=0, exclusive=True),
            "samples": whole_number("samples", self.samples, minimum=1),
            "init_alpha": real_number("init_alpha", self.init_alpha),
            "min_std": real_number("min_std", self.min_std, minimum=0, exclusive=True),
            "seed": seed_value("seed", self.seed),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)


StepFunction = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""One forward pass through the bottleneck: alpha to the logits of every noise sample (items *
samples rows, an item's samples adjacent) and the capacity per element in nats (shaped like
alpha; zero where an element does not count). It draws its own noise. Alpha has the items as
its first dimension, or, for a single item, may have that item's own shape (an image's
channels x height x width)."""


class Optimised(NamedTuple):
    """What the bottleneck optimisation returns, detached: the final ``alpha``, the ``capacity``
    per element of the last optimisation pass (one update earlier), and per item the target's
    probability through the final bottleneck, averaged over one more draw of noise samples
    (``kept_probability``: how much of the prediction the bottleneck held; far below the
    model's own probability, the price beta bought a bottleneck that lost the prediction)."""

    alpha: torch.Tensor
    capacity: torch.Tensor
    kept_probability: torch.Tensor


KEEPING_SHARE = 0.9
"""The share of the model's probability of the target a bottleneck should keep for its bits to
say what the prediction needs. A reading aid, not part of any recommendation (those are by
faithfulness)."""


def kept_reading(kept: float, model_probability: float) -> str:
    """What a kept probability means for the bits: "" when the bottleneck kept KEEPING_SHARE of
    the model's probability, else a clause saying that the bits are what only part of the
    prediction needs."""
    if kept >= KEEPING_SHARE * model_probability:
        return ""
    return (
        f"under {KEEPING_SHARE:.0%} of the model's {model_probability:.3f}: the bits are what this much of the prediction needs, "
        "not all of it (a lower beta keeps more)"
    )


def optimise_alpha(
    config: IBAConfig,
    like: torch.Tensor,
    step: StepFunction,
    targets: torch.Tensor,
    *,
    elements: torch.Tensor | None = None,
    padding: torch.Tensor | None = None,
    item: str = "item",
    progress: bool = False,
) -> Optimised:
    """The one bottleneck optimisation of the toolkit (IBA on text and images, InputIBA's input
    stage): Adam on alpha from ``config.init_alpha`` for ``config.steps`` steps, minimising per
    item CE(target) averaged over the noise samples + beta * capacity averaged over the item's
    ``elements`` (default: all of them), summed over items, so that each item gets the updates
    it would get alone (what it returns: :class:`Optimised`). Refuses a non-finite loss and an
    alpha that never moved.
    Alpha (float32) takes the shape, device and memory layout of ``like`` (the activations or the
    image it masks), so the kernels and their rounding are those of the tensor it meets."""
    from tqdm.auto import tqdm

    alpha = torch.full_like(like, config.init_alpha, dtype=torch.float32, requires_grad=True)
    optimizer = torch.optim.Adam([alpha], lr=config.lr)
    items = len(targets)
    target_rows = targets.repeat_interleave(config.samples)
    capacity = torch.zeros_like(alpha)
    for index in tqdm(range(config.steps), desc="IBA", unit="step", disable=not progress, leave=False):
        check_interrupt()
        logits, capacity = step(alpha)
        cross_entropy = F.cross_entropy(logits.float(), target_rows, reduction="none").view(items, config.samples).mean(dim=1)
        per_item = capacity.reshape(items, -1)
        mean_capacity = per_item.mean(dim=1) if elements is None else per_item.sum(dim=1) / elements
        loss = (cross_entropy + config.beta * mean_capacity).sum()
        if not torch.isfinite(loss):
            raise NonFiniteError(f"the bottleneck's loss became {loss.item()} at step {index + 1}; try a smaller lr (now {config.lr:g}) or beta (now {config.beta:g})")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    rows = alpha.detach() if alpha.shape[0] == items else alpha.detach()[None]
    check_alpha_moved(rows, optimizer, config, padding=padding, item=item)
    with torch.no_grad():
        logits, _ = step(alpha)
    kept = F.softmax(logits.float(), dim=-1).gather(1, target_rows[:, None]).view(items, config.samples).mean(dim=1)
    return Optimised(alpha.detach(), capacity.detach(), kept)


def check_alpha_moved(alpha: torch.Tensor, optimizer: torch.optim.Adam, config: IBAConfig, padding: torch.Tensor | None = None, item: str | None = None) -> None:
    """Refuse an optimisation that left alpha where it started (rows: the explained items; padding
    elements do not count): at an extreme beta Adam's second moment overflows and every update is
    zero, so the map would be the initial capacity, not an explanation. Used by text and images."""
    unchanged = alpha == config.init_alpha
    if padding is not None:
        unchanged = unchanged | padding
    unmoved = [row for row in range(alpha.shape[0]) if bool(unchanged[row].all())]
    overflowed = any(not bool(torch.isfinite(state["exp_avg_sq"]).all()) for state in optimizer.state.values())
    if unmoved or overflowed:
        which = f" of {item} {unmoved[0]}" if unmoved and item else ""
        raise OptimisationError(
            f"the optimisation did not move the bottleneck{which}: Adam's updates overflowed at beta={config.beta:g}, "
            "so the map would be the initial capacity, not an explanation. Use a smaller beta."
        )


# A site the model reads moves the logits far beyond these when it is replaced by noise; a site
# it never reads leaves them equal up to float rounding.
UNCHANGED_RTOL = 1e-5
UNCHANGED_ATOL = 1e-6


def unchanged_rows(replaced: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """Per item (row of logits), whether replacing the bottleneck's site by noise from the prior
    left the logits as they were: the model does not read that site, and a bottleneck there
    would give a silent zero map. Used by text and images."""
    return torch.isclose(replaced.float(), original.float(), rtol=UNCHANGED_RTOL, atol=UNCHANGED_ATOL).all(dim=-1)


def check_influence(replaced: torch.Tensor, original: torch.Tensor, site: str, hint: str = "") -> None:
    """The one influence check of text and images: replacing ``site`` by noise from the prior
    (logits ``replaced``) must change the logits of every item, else the model does not read it
    and the attribution would be a silent zero map."""
    if bool(unchanged_rows(replaced, original).any()):
        raise LayerNotReadError(
            f"replacing the output of {site} by noise from the prior does not change the prediction: the classifier never "
            f"reads it, so its attribution would be a silent zero map.{' ' + hint if hint else ''}"
        )
