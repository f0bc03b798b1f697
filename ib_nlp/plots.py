"""Figures of evaluation results (matplotlib, written as PNG). They only draw what they are given."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

MARKERS = "os^vD<>px*h"


def _figure(panels: int):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, panels, figsize=(5.2 * panels, 3.8), squeeze=False)
    return plt, figure, axes[0]


def curves_png(panels: Sequence[tuple[str, str, str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]]) -> bytes:
    """One panel per ``(title, x label, y label, {method: (x, y)})``, every method a line; PNG bytes."""
    plt, figure, axes = _figure(len(panels))
    for axis, (title, x_label, y_label, curves) in zip(axes, panels):
        for position, (method, (x, y)) in enumerate(curves.items()):
            axis.plot(list(x), list(y), marker=MARKERS[position % len(MARKERS)], markersize=3.5, linewidth=1.4, label=method)
        axis.set_title(title, fontsize=11)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3)
    axes[-1].legend(fontsize=8, loc="best")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
