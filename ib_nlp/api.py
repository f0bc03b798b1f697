"""One-call entry point: ``explain_text(model, text)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from .attr import AttributionMethod, load_method
from .attr.base import check_texts
from .errors import InvalidInputError
from .explanation import Explanation
from .iba import PerSampleIBA
from .options import whole_number
from .shipped import DEFAULT_MODEL
from .statistics import FeatureStatistics


def _model_and_text(args: tuple, model: Any, text: Any) -> tuple[Any, Any]:
    """Accept ``(model, text)``, ``(text,)``, ``(text, model=...)`` and keyword forms."""
    if len(args) > 2:
        raise InvalidInputError("explain_text takes at most two positional arguments: (model, text) or (text,)")
    if len(args) == 2:
        if model is not None or text is not None:
            raise InvalidInputError("model and text were given both positionally and by keyword")
        return args
    if len(args) == 1:
        if text is None:
            return (model if model is not None else DEFAULT_MODEL), args[0]
        if model is not None:
            raise InvalidInputError("model was given both positionally and by keyword")
        return args[0], text
    if text is None:
        raise InvalidInputError("no text to explain: call explain_text(text) or explain_text(model, text)")
    return (model if model is not None else DEFAULT_MODEL), text


def explain_text(
    *args: Any,
    model: Any = None,
    text: str | Sequence[str] | None = None,
    target: int | str | None = None,
    method: str = "iba",
    layer: int | str | None = None,
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
    **method_options: Any,
) -> Explanation | list[Explanation]:
    """Explain a text classifier's prediction for one text (or a list of texts) in bits per token.

    Call it as ``explain_text(model, text)``, ``explain_text(text)`` (the default model,
    ``imdb-bert-small``) or ``explain_text(text, model=...)``. ``model`` is a hub id or local
    path, a shipped model name, a ``(model, tokenizer)`` pair, a text-classification pipeline
    or a ``Classifier``. ``target`` is a class index or label name (default: the predicted
    class). Options left at None take the model's recommended value or the IBA defaults
    (``IBAConfig``). ``method`` picks another method of the registry (``ib_nlp.attr.method_names()``,
    e.g. ``"integrated_gradients"``); its options are keyword arguments (``method_options``), and
    the IBA options above do not apply to it. For many calls on one model, build the method once
    (:class:`PerSampleIBA` or ``ib_nlp.attr.load_method``) instead.
    """
    model, text = _model_and_text(args, model, text)
    texts = check_texts(text, None)
    batch_size = whole_number("batch_size", batch_size, minimum=1)
    explainer = make_explainer(
        model,
        method,
        layer=layer,
        beta=beta,
        steps=steps,
        lr=lr,
        samples=samples,
        seed=seed,
        reference_corpus=reference_corpus,
        statistics=statistics,
        device=device,
        progress=progress,
        **method_options,
    )
    if isinstance(text, str):
        return explainer.explain(text, target)
    results: list[Explanation] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        results.extend(explainer.explain_batch(chunk, None if target is None else [target] * len(chunk)))
    return results


def make_explainer(
    model: Any,
    method: str = "iba",
    *,
    layer: int | str | None = None,
    beta: float | None = None,
    steps: int | None = None,
    lr: float | None = None,
    samples: int | None = None,
    seed: int | None = None,
    reference_corpus: Any = None,
    statistics: Any = None,
    device: str | torch.device | None = None,
    progress: bool = False,
    **method_options: Any,
) -> AttributionMethod:
    """The explainer of ``method`` for ``model``. ``steps``, ``samples`` and ``seed`` go to any
    method that has them; ``layer``, ``beta``, ``lr``, ``reference_corpus`` and ``statistics``
    belong to IBA and are refused for other methods rather than silently ignored."""
    if method == "iba":
        return PerSampleIBA(
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
            **method_options,
        )
    iba_only = {"layer": layer, "beta": beta, "lr": lr, "reference_corpus": reference_corpus, "statistics": statistics}
    given = [name for name, value in iba_only.items() if value is not None]
    if given:
        raise InvalidInputError(f"{', '.join(given)}: option(s) of IBA, not of {method}")
    shared = {name: value for name, value in {"steps": steps, "samples": samples, "seed": seed}.items() if value is not None}
    return load_method(method, model, device=device, progress=progress, **shared, **method_options)
