"""Layer and beta sweeps of per-sample IBA (or one of its signed variants), with the faithfulness of each setting.

``sweep_layers`` explains texts at every layer (or the chosen ones). The activations of all
layers come from one forward pass per batch of texts; each layer then runs only its own
optimisation (the prefix engine skips the blocks before it). ``sweep_betas`` does the same
for several values of beta at one layer. Each setting's explanations are scored with a
faithfulness metric (default: the LeRF - MoRF area of the degradation test), and the best
setting is recommended. ``method`` picks the bottleneck method (``iba`` or a variant such as
``gradient_signed_iba``): the best layer of a signed variant need not be IBA's.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ib_nlp.text.methods.base import check_texts
from ib_nlp.core.optimise import KEEPING_SHARE, kept_reading
from ib_nlp.core.runtime import attribution_mode
from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.text.methods import display_name
from ib_nlp.text.methods.iba import PerSampleIBA, bottleneck_method
from ib_nlp.text.metrics import FaithfulnessMetric, load_metric


@dataclass
class Sweep:
    """Explanations of each text under each setting (a layer or a beta), and their faithfulness.

    ``explanations[t][s]`` is text ``t`` under setting ``s``. ``faithfulness[s]`` is the mean of
    the metric's main value over the texts (None when no metric was computed), and
    ``faithfulness_values[s]`` its value per text (None where the metric gave none). ``best``
    is the setting with the best mean in the metric's declared direction, unless its lead over
    another setting is not larger than the standard error of that lead (paired over texts):
    then those settings are tied (``tied``) and the first of them in ``settings`` order (the
    shallower layer, the smaller beta) is recommended.
    """

    parameter: str
    settings: list[Any]
    explanations: list[list[Explanation]]
    method: str = "iba"
    metric: str | None = None
    metric_value: str | None = None
    higher_is_better: bool = True
    faithfulness: list[float | None] = field(default_factory=list)
    faithfulness_sem: list[float | None] = field(default_factory=list)
    seconds: float = 0.0
    faithfulness_values: list[list[float | None]] = field(default_factory=list)

    @property
    def tied(self) -> list[Any]:
        """The settings whose mean is best or whose gap to the best is within its standard error, in settings order."""
        scored = [position for position, value in enumerate(self.faithfulness) if value is not None]
        if not scored:
            return []
        sign = 1.0 if self.higher_is_better else -1.0
        top = max(scored, key=lambda position: sign * self.faithfulness[position])
        return [self.settings[position] for position in scored if position == top or not self._leads(top, position, sign)]

    @property
    def best(self) -> Any:
        """The recommended setting: the first of the tied settings (None without faithfulness scores)."""
        tied = self.tied
        return tied[0] if tied else None

    def _leads(self, top: int, other: int, sign: float) -> bool:
        """Whether ``top``'s paired lead over ``other`` is larger than its standard error (by means
        alone when the per-text values are not known)."""
        if not self.faithfulness_values:
            return sign * (self.faithfulness[top] - self.faithfulness[other]) > 0
        pairs = [(a, b) for a, b in zip(self.faithfulness_values[top], self.faithfulness_values[other]) if a is not None and b is not None]
        if len(pairs) < 2:
            return sign * (self.faithfulness[top] - self.faithfulness[other]) > 0
        leads = np.array([sign * (a - b) for a, b in pairs])
        return bool(leads.mean() > leads.std(ddof=1) / np.sqrt(len(leads)))

    def word_matrix(self, text: int = 0) -> np.ndarray:
        """Settings x words matrix of word scores (the method's unit) for one text."""
        return np.asarray([explanation.word_scores for explanation in self.explanations[text]])

    def token_matrix(self, text: int = 0) -> np.ndarray:
        """Settings x tokens matrix of token scores (the method's unit) for one text."""
        return np.asarray([explanation.token_scores for explanation in self.explanations[text]])

    def to_html(self, text: int = 0, path: str | os.PathLike[str] | None = None) -> str:
        """The settings x words heatmap of one text (saved to ``path`` if given)."""
        from ib_nlp.ui.report import render_layer_sweep, save_html

        words = [word.text for word in self.explanations[text][0].words]
        labels = [f"{self.parameter} {setting}" if self.parameter == "beta" else str(setting) for setting in self.settings]
        unit = self.explanations[text][0].unit
        page = render_layer_sweep(words, labels, self.word_matrix(text), unit=unit, title=f"{display_name(self.method)}: {self.parameter} sweep")
        if path is not None:
            save_html(page, path)
        return page

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "settings": self.settings,
            "explanations": [[e.to_dict() for e in row] for row in self.explanations],
            "method": self.method,
            "metric": self.metric,
            "metric_value": self.metric_value,
            "higher_is_better": self.higher_is_better,
            "faithfulness": self.faithfulness,
            "faithfulness_sem": self.faithfulness_sem,
            "seconds": self.seconds,
            "faithfulness_values": self.faithfulness_values,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sweep:
        values = dict(data)
        values["explanations"] = [[Explanation.from_dict(e) for e in row] for row in data["explanations"]]
        return cls(**values)

    def save(self, path: str | os.PathLike[str]) -> Path:
        from ib_nlp.io import write_text_atomic

        return write_text_atomic(path, json.dumps(self.to_dict(), allow_nan=False))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Sweep:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


def _explain_settings(
    explainers: Sequence[PerSampleIBA],
    texts: list[str],
    targets: Sequence[int | str | None] | None,
    batch_size: int,
    progress: bool,
) -> list[list[Explanation]]:
    """Explain texts with several explainers of one classifier, sharing one recording pass per batch."""
    from tqdm.auto import tqdm

    classifier = explainers[0].classifier
    sites = list(dict.fromkeys(explainer.site for explainer in explainers))
    results: list[list[Explanation]] = []
    batches = range(0, len(texts), batch_size)
    bar = tqdm(total=len(batches) * len(explainers), desc=f"{explainers[0].name} sweep", unit="setting", disable=not progress)
    for start in batches:
        chunk = texts[start : start + batch_size]
        chunk_targets = None if targets is None else list(targets[start : start + batch_size])
        begun = time.perf_counter()
        batch = classifier.encode(chunk)
        with attribution_mode(classifier.model):
            logits, store = classifier.capture(batch, sites)
        resolved = [classifier.resolve_target(None if chunk_targets is None else chunk_targets[i], logits[i]) for i in range(len(chunk))]
        probabilities = logits.float().softmax(dim=-1).cpu()
        shared = (time.perf_counter() - begun) / len(explainers)
        rows: list[list[Explanation]] = [[] for _ in chunk]
        for explainer in explainers:
            begun = time.perf_counter()
            with attribution_mode(classifier.model):
                result = explainer.attribute(batch, logits, resolved, store[explainer.site.key])
            seconds = (time.perf_counter() - begun + shared) / len(chunk)
            for row, explanation in enumerate(explainer.explanations(batch, result, probabilities, resolved, seconds)):
                rows[row].append(explanation)
            bar.update(1)
        results.extend(rows)
    bar.close()
    return results


def _score(sweep: Sweep, classifier: Classifier, metric: FaithfulnessMetric | None, labels: Sequence[int] | None) -> Sweep:
    if metric is None:
        return sweep
    per_text: list[list[float | None]] = [[] for _ in sweep.settings]
    for text, row in enumerate(sweep.explanations):
        results = metric.compute(classifier, row, None if labels is None else labels[text])
        for position, result in enumerate(results):
            per_text[position].append(result[metric.info.main])
    per_setting = [[value for value in values if value is not None] for values in per_text]
    sweep.faithfulness_values = per_text
    sweep.metric = metric.info.name
    sweep.metric_value = metric.info.main
    sweep.higher_is_better = metric.info.value(metric.info.main).higher_is_better
    sweep.faithfulness = [float(np.mean(v)) if v else None for v in per_setting]
    sweep.faithfulness_sem = [float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None for v in per_setting]
    return sweep


def _metric(metric: str | FaithfulnessMetric | None, options: dict[str, Any] | None) -> FaithfulnessMetric | None:
    if metric is None or isinstance(metric, FaithfulnessMetric):
        return metric
    return load_metric(metric, **(options or {}))


def sweep_layers(
    model: Any,
    texts: Sequence[str] | str,
    layers: Sequence[int | str] | None = None,
    *,
    targets: Sequence[int | str | None] | None = None,
    labels: Sequence[int] | None = None,
    metric: str | FaithfulnessMetric | None = "degradation",
    metric_options: dict[str, Any] | None = None,
    batch_size: int = 8,
    progress: bool = False,
    method: str = "iba",
    **iba_options: Any,
) -> Sweep:
    """IBA, or the bottleneck method ``method``, at each layer (default: the embeddings and
    every block) for each text.

    ``iba_options`` go to the method (beta, steps, statistics, reference_corpus, ...).
    ``labels`` (optional) are the true classes, used by the metric's accuracy curves.
    """
    texts = check_texts(texts, targets)
    method_class = bottleneck_method(method)
    classifier = Classifier.load(model)
    layers = list(layers) if layers is not None else ["embeddings", *range(len(classifier.layers))]
    if not layers:
        raise InvalidInputError("no layers to sweep")
    started = time.perf_counter()
    explainers = [method_class(classifier, layer, progress=False, **iba_options) for layer in layers]
    explanations = _explain_settings(explainers, texts, targets, batch_size, progress)
    sweep = Sweep("layer", [explainer.layer for explainer in explainers], explanations, method=method, seconds=time.perf_counter() - started)
    return _score(sweep, classifier, _metric(metric, metric_options), labels)


def sweep_betas(
    model: Any,
    texts: Sequence[str] | str,
    betas: Sequence[float],
    layer: int | str | None = None,
    *,
    targets: Sequence[int | str | None] | None = None,
    labels: Sequence[int] | None = None,
    metric: str | FaithfulnessMetric | None = "degradation",
    metric_options: dict[str, Any] | None = None,
    batch_size: int = 8,
    progress: bool = False,
    method: str = "iba",
    **iba_options: Any,
) -> Sweep:
    """IBA, or the bottleneck method ``method``, at one layer with each beta, sharing the
    recording pass and the statistics."""
    texts = check_texts(texts, targets)
    if not betas:
        raise InvalidInputError("no betas to sweep")
    method_class = bottleneck_method(method)
    classifier = Classifier.load(model)
    started = time.perf_counter()
    base = method_class(classifier, layer, progress=False, **iba_options)
    explainers = [base.with_config(beta=float(beta)) for beta in betas]
    explanations = _explain_settings(explainers, texts, targets, batch_size, progress)
    sweep = Sweep("beta", [float(beta) for beta in betas], explanations, method=method, seconds=time.perf_counter() - started)
    return _score(sweep, classifier, _metric(metric, metric_options), labels)


@dataclass
class LayerBetaGrid:
    """One layer sweep per beta over the same texts, and the setting the grid recommends:
    every (layer, beta) compared as one sweep, shallower layers and smaller betas first, so a
    lead within its standard error is a tie and the first of the tied settings is kept."""

    betas: list[float]
    sweeps: list[Sweep]

    @property
    def layers(self) -> list[Any]:
        return self.sweeps[0].settings

    def combined(self) -> Sweep:
        """Every (layer, beta) as the settings of one sweep (without explanations)."""
        order = [(p, b) for p in range(len(self.layers)) for b in range(len(self.betas))]
        return Sweep(
            "layer, beta",
            [(self.layers[p], self.betas[b]) for p, b in order],
            [],
            higher_is_better=self.sweeps[0].higher_is_better,
            faithfulness=[self.sweeps[b].faithfulness[p] for p, b in order],
            faithfulness_values=[self.sweeps[b].faithfulness_values[p] for p, b in order],
        )

    @property
    def best(self) -> tuple[Any, float] | None:
        """The recommended (layer, beta); None when the metric scored no setting."""
        return self.combined().best

    def report(self, model: str, seed: int) -> str:
        """The layers x betas table (faithfulness mean ± standard error, the method's total per
        text) and the recommendation, in Markdown."""
        from ib_nlp.ui.markdown import markdown_table

        first = self.sweeps[0]
        texts = len(first.explanations)
        unit = first.explanations[0][0].unit if texts else "bits"
        header = ["layer"] + [f"beta {beta:g}" for beta in self.betas] + [f"{unit}/review (beta {beta:g})" for beta in self.betas]
        header += [f"kept p (beta {beta:g})" for beta in self.betas]
        body = []
        for position, layer in enumerate(self.layers):
            cells = [str(layer)]
            cells += [_mean_and_error(s.faithfulness[position], s.faithfulness_sem[position]) for s in self.sweeps]
            cells += [f"{sum(row[position].total_score for row in s.explanations) / texts:.1f}" for s in self.sweeps]
            cells += [_mean_and_error(self.kept((layer, beta)), None) for beta in self.betas]
            body.append(cells)
        direction = "higher" if first.higher_is_better else "lower"
        model_probability = np.mean([row[0].probabilities[row[0].target] for row in first.explanations]) if texts else float("nan")
        table = (
            f"{model}: {display_name(first.method)} scored by {first.metric} ({first.metric_value}, {direction} is better), "
            f"{texts} IMDB test reviews (seed {seed}), mean ± standard error; kept p: the target's probability through "
            f"the optimised bottleneck, mean over the reviews (the model's own: {model_probability:.3f})\n\n"
            + markdown_table(header, body)
        )
        combined = self.combined()
        if combined.best is None:
            return table + f"\nno recommendation: {first.metric} gave no value for any setting\n"
        best_layer, best_beta = combined.best
        best_value = combined.faithfulness[combined.settings.index((best_layer, best_beta))]
        tied = f"; tied within a standard error: {', '.join(f'layer {layer} beta {beta:g}' for layer, beta in combined.tied)}" if len(combined.tied) > 1 else ""
        return table + f"\nrecommended: layer {best_layer}, beta {best_beta:g} ({best_value:.3f}{tied})\n" + self._keeping_note(combined, model_probability)

    def kept(self, setting: tuple[Any, float]) -> float | None:
        """The mean kept probability of the (layer, beta) ``setting`` over the texts (None when not recorded)."""
        layer, beta = setting
        sweep = self.sweeps[self.betas.index(beta)]
        return _mean_kept(row[self.layers.index(layer)] for row in sweep.explanations)

    def _keeping_note(self, combined: Sweep, model_probability: float) -> str:
        """A line for a recommendation whose bottleneck keeps less than KEEPING_SHARE of the model's
        probability, naming the best setting that keeps it (the recommendation itself is by
        faithfulness alone)."""
        kept = self.kept(combined.best)
        reading = "" if kept is None else kept_reading(kept, model_probability)
        if not reading:
            return ""
        sign = 1.0 if combined.higher_is_better else -1.0
        keeping = [
            (sign * value, setting)
            for setting, value in zip(combined.settings, combined.faithfulness)
            if value is not None and (share := self.kept(setting)) is not None and not kept_reading(share, model_probability)
        ]
        note = f"the recommended setting keeps p = {kept:.3f} through the bottleneck, {reading}; "
        if not keeping:
            return note + f"no setting keeps {KEEPING_SHARE:.0%} of it\n"
        value, (layer, beta) = max(keeping, key=lambda item: item[0])
        return note + f"the best setting that keeps {KEEPING_SHARE:.0%} of it: layer {layer}, beta {beta:g} ({sign * value:.3f})\n"


def _mean_kept(explanations: Iterable[Explanation]) -> float | None:
    """The mean kept probability of the explanations (None where none records it)."""
    kept = [value for explanation in explanations if (value := explanation.kept_probability) is not None]
    return float(np.mean(kept)) if kept else None


def _mean_and_error(mean: float | None, error: float | None) -> str:
    """A table cell: mean ± standard error, the mean alone from one text, "-" without a value."""
    if mean is None:
        return "-"
    return f"{mean:.3f}" if error is None else f"{mean:.3f} ± {error:.3f}"


def sweep_layers_and_betas(model: Any, texts: Sequence[str], betas: Sequence[float], layers: Sequence[int | str] | None = None, *, on_sweep: Any = None, **sweep_options: Any) -> LayerBetaGrid:
    """:func:`sweep_layers` once per beta (``sweep_options`` go to it); ``on_sweep(beta, sweep)``
    is called after each, e.g. to save it."""
    if not betas:
        raise InvalidInputError("no betas to sweep")
    sweeps = []
    for beta in betas:
        sweep = sweep_layers(model, texts, layers, beta=beta, **sweep_options)
        if on_sweep is not None:
            on_sweep(beta, sweep)
        sweeps.append(sweep)
    return LayerBetaGrid(list(betas), sweeps)


def time_shared_sweep(model: Any, texts: Sequence[str], layers: Sequence[int | str], beta: float, batch_size: int, method: str = "iba", **iba_options: Any) -> tuple[float, float]:
    """Seconds of the shared-pass layer sweep and of explaining the layers one by one (each its
    own explainer of ``method``) on the same texts, measured in one run."""
    method_class = bottleneck_method(method)
    classifier = Classifier.load(model)
    started = time.perf_counter()
    sweep_layers(classifier, texts, layers, beta=beta, metric=None, batch_size=batch_size, method=method, **iba_options)
    shared = time.perf_counter() - started
    started = time.perf_counter()
    for layer in layers:
        explainer = method_class(classifier, layer, beta=beta, **iba_options)
        for start in range(0, len(texts), batch_size):
            explainer.explain_batch(list(texts[start : start + batch_size]))
    return shared, time.perf_counter() - started
