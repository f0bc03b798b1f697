"""Markdown tables, as the summaries of runs and sweeps print and save them."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table: the header row, the rule, one row per body entry."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def mean_and_error(values: Sequence[float]) -> str:
    """``mean ± standard error`` to three decimals (the tables' cell), or ``n/a`` under two values."""
    import numpy as np

    if len(values) < 2:
        return "n/a"
    array = np.asarray(values, dtype=np.float64)
    return f"{array.mean():.3f} ± {array.std(ddof=1) / np.sqrt(len(array)):.3f}"
