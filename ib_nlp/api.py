"""One-call entry point: ``explain_text(model, text)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .explanation import Explanation
from .iba import PerSampleIBA
from .statistics import FeatureStatistics

DEFAULT_MODEL = "imdb-bert-small"


def explain_text(
    model: Any = DEFAULT_MODEL,
    text: str | Sequence[str] = "",
    target: int | str | None = None,
    layer: int | str | None = None,
    *,
    beta: float | None = None,
    steps: int | None = None,
    lr: float | None = None,
    samples: int | None = None,
    seed: int | None = None,
    reference_corpus: Any = None,
    statistics: FeatureStatistics | None = None,
    batch_size: int = 8,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> Explanation | list[Explanation]:
    """Explain the prediction of a text classifier for one text (or a list of texts) in bits per token.

    ``model`` is a hub id or local path, a shipped model name (default ``imdb-bert-small``), a
    ``(model, tokenizer)`` pair, a text-classification pipeline, or a ``Classifier``.
    ``target`` is a class index or label name (default: the predicted class). Options left at
    None take the model's recommended value or the IBA defaults (``IBAConfig``). For many
    calls on one model, build a :class:`PerSampleIBA` once instead.
    """
    explainer = PerSampleIBA(
        model,
        layer,
        statistics=statistics,
        reference_corpus=reference_corpus,
        device=device,
        progress=progress,
        beta=beta,
        steps=steps,
        lr=lr,
        samples=samples,
        seed=seed,
    )
    if isinstance(text, str):
        return explainer.explain(text, target)
    texts = list(text)
    results: list[Explanation] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        results.extend(explainer.explain_batch(chunk, None if target is None else [target] * len(chunk)))
    return results
