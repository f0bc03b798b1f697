"""The per-sample bottleneck optimisation's settings and checks, shared by text and images."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import OptimisationError
from ..options import real_number, seed_value, whole_number
from ..statistics import DEFAULT_MIN_STD


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
