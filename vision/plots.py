"""Side-by-side heatmaps of image explanations (matplotlib, PNG). They only draw what they are given."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import torch


def heatmaps_png(rows: Sequence[tuple[str, torch.Tensor, Mapping[str, torch.Tensor]]], boxes: Sequence[Sequence[Sequence[float]]] | None = None) -> bytes:
    """One row per ``(title, image, {method: scores})``: the image (channels x height x width,
    RGB in [0, 1]) and each method's map (height x width) scaled to its own range; boxes
    (x0, y0, x1, y1 per row) drawn on the image. PNG bytes."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    methods = list(dict.fromkeys(name for _, _, maps in rows for name in maps))
    figure, axes = plt.subplots(len(rows), len(methods) + 1, figsize=(2.2 * (len(methods) + 1), 2.3 * len(rows)), squeeze=False)
    for row, (title, image, maps) in enumerate(rows):
        axes[row, 0].imshow(image.permute(1, 2, 0).clamp(0, 1).numpy())
        axes[row, 0].set_title(title, fontsize=8)
        for x0, y0, x1, y1 in (boxes[row] if boxes else []):
            axes[row, 0].add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="lime", linewidth=1.2))
        for column, method in enumerate(methods, start=1):
            axis = axes[row, column]
            if method in maps:
                axis.imshow(maps[method].float().numpy(), cmap="inferno")
            if row == 0:
                axis.set_title(method, fontsize=8)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    plt.close(figure)
    return buffer.getvalue()
