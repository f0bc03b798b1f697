"""One-call entry point: ``explain_text(model, text)``."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from typing import Any

import torch

from ib_nlp.text.methods import AttributionMethod, load_method
from ib_nlp.text.methods.base import check_texts
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.text.methods.iba import is_bottleneck_method
from ib_nlp.options import whole_number
from ib_nlp.text.shipped import DEFAULT_MODEL
from ib_nlp.core.statistics import FeatureStatistics, fingerprint_texts

# How many explainers explain_text keeps (each holds its model, shared with the others).
CACHE_SIZE = 4


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
    (``IBAConfig``). ``method`` picks another method of the registry (``ib_nlp.text.methods.method_names()``,
    e.g. ``"integrated_gradients"``); its options are keyword arguments (``method_options``), and
    the IBA options above do not apply to it. The explainers of the last few calls are kept, so
    a repeated call with the same model, method and options costs only the explanation
    (:func:`clear_cache` forgets them); a model object is never copied.
    """
    model, text = _model_and_text(args, model, text)
    texts = check_texts(text, None)
    batch_size = whole_number("batch_size", batch_size, minimum=1)
    options = {"layer": layer, "beta": beta, "steps": steps, "lr": lr, "samples": samples, "seed": seed, "reference_corpus": reference_corpus, "statistics": statistics}
    explainer = _EXPLAINERS.get(model, method, device, progress, {**options, **method_options})
    if isinstance(text, str):
        return explainer.explain(text, target)
    results: list[Explanation] = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        results.extend(explainer.explain_batch(chunk, None if target is None else [target] * len(chunk)))
    return results


def clear_cache() -> None:
    """Forget the explainers (and models) that :func:`explain_text` keeps for repeated calls."""
    _EXPLAINERS.clear()


def _cache_key(value: Any) -> Hashable:
    """A key for an option or model: plain values as they are, texts by content, objects by identity."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, os.PathLike):
        return ("path", os.fspath(value))
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return ("texts", len(value), fingerprint_texts(value))
    if isinstance(value, tuple):
        return ("tuple", *(_cache_key(item) for item in value))
    return ("object", id(value))


class _ExplainerCache:
    """The explainers of the last few :func:`explain_text` calls, by model, method and options.

    Objects passed in (a model, a corpus, statistics) are keyed by identity and held by the
    entry, so their identity cannot be reused while it lives; a model object is never copied,
    and an explainer is built again if the model's weights changed since (e.g. fine-tuning).
    Models are loaded once and shared by their explainers."""

    def __init__(self, size: int):
        self.size = size
        self.entries: OrderedDict[Hashable, tuple[AttributionMethod, tuple[Any, ...], tuple[tuple[int, int], ...] | None]] = OrderedDict()

    def clear(self) -> None:
        self.entries.clear()

    def get(self, model: Any, method: str, device: Any, progress: bool, options: dict[str, Any]) -> AttributionMethod:
        """The cached explainer for these arguments, or a new one (which then replaces the oldest)."""
        key = (_cache_key(model), method, str(device), progress, tuple(sorted((name, _cache_key(value)) for name, value in options.items())))
        weights = _weights_of(model)
        cached = self.entries.get(key)
        if cached is not None and weights == cached[2]:
            self.entries.move_to_end(key)
            return cached[0]
        loaded = self._loaded(model, str(device))
        explainer = make_explainer(loaded if loaded is not None else model, method, device=device, progress=progress, **options)
        self.entries[key] = (explainer, (model, str(device), *options.values()), weights)
        while len(self.entries) > self.size:
            self.entries.popitem(last=False)
        return explainer

    def _loaded(self, model: Any, device: str) -> Any:
        """The classifier an entry already loaded for ``model`` (the same name or object) on ``device``, if any."""
        for explainer, held, _ in self.entries.values():
            if (held[0] is model or (isinstance(model, str) and held[0] == model)) and held[1] == device:
                return explainer.classifier
        return None


def _weights_of(model: Any) -> tuple[tuple[int, int], ...] | None:
    """The state of a model object's weights: each parameter's identity and in-place version
    counter, which every optimiser step and ``load_state_dict`` advances (None for a name or path)."""
    module = model[0] if isinstance(model, tuple) and model else getattr(model, "model", model)
    if not isinstance(module, torch.nn.Module):
        return None
    return tuple((id(parameter), parameter._version) for parameter in module.parameters())


_EXPLAINERS = _ExplainerCache(size=CACHE_SIZE)


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
    belong to IBA and its signed variants and are refused for other methods rather than silently ignored."""
    if is_bottleneck_method(method):
        return load_method(
            method,
            model,
            layer=layer,
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
