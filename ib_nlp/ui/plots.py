"""Figures of evaluation results (matplotlib, written as PNG). They only draw what they are given."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence

MARKERS = "os^vD<>px*h"
COLUMNS = 3

Panel = tuple[str, str, str, Mapping[str, tuple[Sequence[float], Sequence[float]]]]


def curves_png(panels: Sequence[Panel]) -> bytes:
    """One panel per ``(title, x label, y label, {method: (x, y)})``, up to three per row, every
    method a line with the same colour and marker in every panel; one legend; PNG bytes. The x
    values may be strings (categories, such as randomisation steps)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    columns = min(COLUMNS, len(panels))
    rows = math.ceil(len(panels) / columns)
    width = 5.0 * columns + (2.6 if len(panels) == 1 else 0.0)
    figure, axes = plt.subplots(rows, columns, figsize=(width, 3.6 * rows + 0.6), squeeze=False)
    methods = list(dict.fromkeys(method for panel in panels for method in panel[3]))
    colours = plt.get_cmap("tab10")
    for axis, (title, x_label, y_label, curves) in zip(axes.flat, panels):
        for method, (x, y) in curves.items():
            position = methods.index(method)
            axis.plot(list(x), list(y), marker=MARKERS[position % len(MARKERS)], markersize=3.5, linewidth=1.4, color=colours(position % 10), label=method)
        axis.set_title(title, fontsize=11)
        axis.set_xlabel(x_label)
        axis.set_ylabel(y_label)
        axis.grid(alpha=0.3)
    spare = list(axes.flat)[len(panels) :]
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for axis in spare:
        axis.axis("off")
    if len(panels) == 1:
        axes.flat[0].legend(handles, labels, loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=9, frameon=False)
        figure.tight_layout()
    elif spare:
        spare[0].legend(handles, labels, loc="center", fontsize=10, frameon=False)
        figure.tight_layout()
    else:
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=9, frameon=False)
        figure.tight_layout(rect=(0, 0.9 / (3.6 * rows + 0.6) + 0.02, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()
