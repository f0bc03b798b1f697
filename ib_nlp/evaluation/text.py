"""Faithfulness evaluation of text methods over a dataset: every method, every metric, one JSON line per text.

``run_evaluation`` explains each selected text with every method, scores the explanations
with every metric, and appends one JSON line per text as soon as it is done, so an
interrupted run loses at most the text in progress and a re-run resumes where it stopped.
Texts are sharded across processes under ``accelerate launch`` (each process writes its own
file; the main process merges them). ``summarize`` turns the records into mean and standard
error per method and metric value.
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ib_nlp.core.statistics import fingerprint_texts
from ib_nlp.text.methods import AttributionMethod, load_method, method_names
from ib_nlp.text.classifier import Classifier
from ib_nlp.text.data import HUB_ID as IMDB_HUB_ID, IMDB_ENV_VAR, held_out_reviews, load_imdb
from ib_nlp.errors import InvalidInputError, TruncationWarning
from ib_nlp.text.methods.iba import is_bottleneck_method
from ib_nlp.io import write_text_atomic
from ib_nlp.text.metrics import DEFAULT_METRICS, METRICS, CascadingRandomization, FaithfulnessMetric, load_metric
from ib_nlp.text.shipped import model_folder
from ib_nlp.evaluation.runner import (
    RESULTS_PATTERN,
    SETTINGS_FILE,
    JsonLines,
    finished_prefix,
    finite,
    option_argument,
    option_setting,
    refuse_other_settings,
    share_cpu_threads,
    write_csv,
)
from ib_nlp.ui.markdown import markdown_table, mean_and_error

SANITY_PATTERN = "sanity.*.jsonl"


@dataclass
class EvaluationSettings:
    """What an evaluation run computes; stored beside the results so a resumed run matches."""

    model: str
    data: str | None
    split: str = "test"
    n: int = 100
    seed: int = 0
    methods: list[str] = field(default_factory=lambda: ["iba", "random"])
    metrics: list[str] = field(default_factory=lambda: list(DEFAULT_METRICS))
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    sanity_n: int = 0
    data_fingerprint: str | None = None

    def comparable(self) -> dict[str, Any]:
        """The settings that must not change when a run is resumed (``n`` may grow; the data is
        compared by ``same_data``)."""
        return {key: value for key, value in asdict(self).items() if key not in ("n", "sanity_n", "data", "data_fingerprint")}

    def same_data(self, stored: EvaluationSettings) -> bool:
        """Whether these settings read the reviews ``stored`` read: the same content when both
        know it (``data_fingerprint``), so a run resumes from another copy of its data (another
        checkout, another machine); the same ``data`` source for runs that do not."""
        if self.data_fingerprint and stored.data_fingerprint:
            return self.data_fingerprint == stored.data_fingerprint
        return self.data == stored.data

    def pinned_options(self, stored: EvaluationSettings) -> dict[str, set[str]] | None:
        """Per method, the ``layer``, ``beta`` or ``keep_special_tokens`` options that differ from
        ``stored``'s settings (e.g. a resumed run pins the setting it started with after the
        model's recommendation changed); None when anything else differs."""
        if _without_setting_options(self.comparable()) != _without_setting_options(stored.comparable()):
            return None
        pinned = {}
        for name in {*self.options, *stored.options}:
            mine, theirs = self.options.get(name, {}), stored.options.get(name, {})
            if keys := {key for key in {*mine, *theirs} if mine.get(key) != theirs.get(key)}:
                pinned[name] = keys
        return pinned


SETTING_OPTIONS = ("layer", "beta", "keep_special_tokens")


def _without_setting_options(comparable: Mapping[str, Any]) -> dict[str, Any]:
    """``comparable`` settings without the methods' ``SETTING_OPTIONS``, which every text
    records as the setting its methods resolved (``method_setting``)."""
    options = {name: {key: value for key, value in values.items() if key not in SETTING_OPTIONS} for name, values in comparable["options"].items()}
    return {**comparable, "options": {name: values for name, values in options.items() if values}}


def data_fingerprint(dataset: Any) -> str:
    """Content hash of a split's labels and texts in order: what identifies the reviews of a run
    (its sample is a prefix of a seeded permutation of this order), wherever they are read from."""
    return fingerprint_texts([f"{label}\0{text}" for text, label in zip(dataset["text"], dataset["label"])])


def sample_items(dataset: Any, n: int, seed: int) -> list[dict[str, Any]]:
    """The first ``n`` texts of a seeded permutation (a larger ``n`` extends a smaller run)."""
    if n < 1 or n > len(dataset):
        raise InvalidInputError(f"n must be between 1 and {len(dataset)}, got {n}")
    order = np.random.default_rng(seed).permutation(len(dataset))[:n]
    rows = dataset.select(order.tolist())
    return [{"index": int(index), "text": text, "label": int(label)} for index, text, label in zip(order, rows["text"], rows["label"])]


def applicable_methods(classifier: Classifier, names: Sequence[str], options: Mapping[str, Mapping[str, Any]]) -> tuple[dict[str, AttributionMethod], dict[str, str]]:
    """Build each method; those that cannot explain this model (no attention weights, ...) are
    returned separately with the reason."""
    methods, skipped = {}, {}
    for name in names:
        method = load_method(name, classifier, **options.get(name, {}))
        try:
            method.explain("a short probe text")
        except InvalidInputError as error:
            skipped[name] = str(error)
            continue
        methods[name] = method
    return methods, skipped


def method_setting(method: AttributionMethod) -> dict[str, Any]:
    """The layer, beta and keep_special_tokens a method resolved (from its options or the
    model's recommended settings), recorded with every text so that a resumed run cannot mix
    two settings; empty for methods without a layer."""
    if method.layer is None:
        return {}
    resolved = {"layer": method.layer, "beta": getattr(getattr(method, "config", None), "beta", None), "keep_special_tokens": getattr(method, "keep_special_tokens", None)}
    return {key: value for key, value in resolved.items() if value is not None}


def refuse_changed_settings(folder: Path, records: Sequence[Mapping[str, Any]], methods: Mapping[str, AttributionMethod]) -> None:
    """Refuse to resume when a method now resolves another setting than the texts already
    done (e.g. the model's recommended settings changed since), naming the options that pin the
    texts' setting. What a record does not hold is not checked (records written before settings,
    or keep_special_tokens, were recorded)."""
    for name, method in methods.items():
        now = method_setting(method)
        settings = (record["methods"].get(name, {}).get("setting") or {} for record in records)
        changed = next((setting for setting in settings if any(now.get(key) != value for key, value in setting.items())), None)
        if changed:
            pins = " ".join(option_argument(name, key, value) for key, value in sorted(changed.items()))
            raise InvalidInputError(
                f"{folder} holds texts explained by {name} with {json.dumps(changed, sort_keys=True)}, but {name} now resolves {json.dumps(now, sort_keys=True)} "
                f"(the model's recommended settings changed?); resume with {pins} to keep the run's setting, or evaluate in a new output folder"
            )


def evaluate_item(classifier: Classifier, methods: Mapping[str, AttributionMethod], metrics: Mapping[str, FaithfulnessMetric], item: Mapping[str, Any]) -> dict[str, Any]:
    """Explain one text with every method and score the explanations with every metric."""
    explanations, seconds = [], {}
    for name, method in methods.items():
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            explanation = method.explain(item["text"])
        seconds[name] = time.perf_counter() - started
        explanations.append(explanation)
    first = explanations[0]
    record: dict[str, Any] = {
        "index": item["index"],
        "label": item["label"],
        "predicted": first.predicted,
        "target": first.target,
        "probability": first.probabilities[first.target],
        "tokens": len(first.tokens),
        "truncated": first.truncated,
        "methods": {
            name: {
                "seconds": seconds[name],
                "metrics": {},
                **({"setting": setting} if (setting := method_setting(method)) else {}),
                **({"kept_probability": kept} if (kept := explanation.kept_probability) is not None else {}),
            }
            for (name, method), explanation in zip(methods.items(), explanations)
        },
    }
    for metric_name, metric in metrics.items():
        started = time.perf_counter()
        for name, result in zip(methods, metric.compute(classifier, explanations, item["label"])):
            record["methods"][name]["metrics"][metric_name] = result
        record.setdefault("metric_seconds", {})[metric_name] = time.perf_counter() - started
    return finite(record)


def load_settings(folder: str | os.PathLike[str]) -> EvaluationSettings:
    """The settings of the run in ``folder``."""
    path = Path(folder) / SETTINGS_FILE
    if not path.is_file():
        raise InvalidInputError(f"{folder} holds no evaluation run (no {SETTINGS_FILE})")
    return EvaluationSettings(**json.loads(path.read_text(encoding="utf-8")))


def _holds_records(folder: Path, patterns: Sequence[str] = (RESULTS_PATTERN, SANITY_PATTERN)) -> bool:
    """Whether any process of the run in ``folder`` has finished a text (by default results or sanity)."""
    return any(path.stat().st_size > 0 for pattern in patterns for path in folder.glob(pattern))


def _settings_guard(folder: Path, settings: EvaluationSettings, *, must_exist: bool = False) -> None:
    """Refuse to resume a run with other settings or other reviews. A run that never finished a
    text (it failed before, e.g. on a wrong option) does not lock its folder: its settings are
    replaced. Options that only pin a method's layer, beta or keep_special_tokens are let through
    when every text done records the setting that method resolved: ``refuse_changed_settings``
    then checks the texts against the pins."""
    if must_exist or (folder / SETTINGS_FILE).is_file():
        if must_exist or _holds_records(folder):
            stored = load_settings(folder)
            if not settings.same_data(stored):
                source = settings.data or "the default data"
                if settings.data == stored.data:
                    raise InvalidInputError(f"the reviews in {source} changed since the run in {folder} started; restore them, or choose another output folder")
                raise InvalidInputError(
                    f"{folder} holds a run on other reviews than {source} (it read {stored.data or 'the default data'}); "
                    "resume with the same data, or choose another output folder"
                )
            pinned = settings.pinned_options(stored)
            if pinned is None or not _records_hold_settings(folder, pinned):
                refuse_other_settings(folder, stored.comparable(), settings.comparable())


def _records_hold_settings(folder: Path, pinned: Mapping[str, set[str]]) -> bool:
    """Whether every text done records the resolved value of each ``pinned`` option of each
    method, and no sanity check (which records none) has run."""
    if _holds_records(folder, (SANITY_PATTERN,)):
        return False
    records = JsonLines(folder, RESULTS_PATTERN, 0).read()
    return all(keys <= set(record["methods"].get(name, {}).get("setting") or {}) for record in records for name, keys in pinned.items())


def run_evaluation(
    settings: EvaluationSettings,
    items: Sequence[Mapping[str, Any]],
    folder: str | os.PathLike[str],
    classifier: Classifier | None = None,
    reference_texts: Sequence[str] | None = None,
    progress: bool = True,
    shard: tuple[int, int] | None = None,
    device: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate ``items`` (dicts with index, text, label), resuming from ``folder``; returns all records.

    Under ``accelerate launch`` each process takes every k-th text; every process waits for
    the others and returns the merged records of all files.
    ``shard=(index, count)`` does the same for independent processes started by hand (several
    on one GPU, or a job array): shard ``index`` takes every ``count``-th text, skips those any
    file in ``folder`` already holds, and writes ``results.s<index>of<count>.jsonl``; a run
    without a shard then finds everything done and merges.
    """
    import torch
    from accelerate import PartialState
    from tqdm.auto import tqdm

    if shard is not None:
        if not 0 <= shard[0] < shard[1]:
            raise InvalidInputError(f"shard must be index/count with 0 <= index < count, got {shard[0]}/{shard[1]}")
        state = None
        rank, position, processes, is_main = f"s{shard[0]}of{shard[1]}", shard[0], shard[1], shard[0] == 0
        device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    else:
        state = PartialState(cpu=not torch.cuda.is_available())
        rank = position = state.process_index
        processes, is_main = state.num_processes, state.is_main_process
        device = device or state.device
    share_cpu_threads(device, processes)
    folder = Path(folder)
    if is_main or state is None:
        folder.mkdir(parents=True, exist_ok=True)
        _settings_guard(folder, settings)
    if state is not None:
        state.wait_for_everyone()
    classifier = classifier or Classifier.load(settings.model, device=device)
    methods, skipped = applicable_methods(classifier, settings.methods, settings.options)
    for name, reason in skipped.items():
        warnings.warn(f"skipping {name}: {reason}", stacklevel=2)
    if not methods:
        raise InvalidInputError("none of the methods applies to this model")
    metrics = {name: load_metric(name, **settings.options.get(name, {})) for name in settings.metrics}
    log = JsonLines(folder, RESULTS_PATTERN, rank)
    log.drop_torn_lines()
    existing = log.read()
    refuse_changed_settings(folder, existing, methods)
    if is_main or state is None:
        write_text_atomic(folder / SETTINGS_FILE, json.dumps(asdict(settings), indent=2) + "\n")
    done = {record["index"] for record in existing}
    todo = [item for item in items[position::processes] if item["index"] not in done] if metrics else []
    bar = tqdm(todo, desc=f"evaluating {classifier.name}", unit="text", disable=not (progress and is_main))
    for item in bar:
        log.append(evaluate_item(classifier, methods, metrics, item))
    if settings.sanity_n:
        sanity_log = JsonLines(folder, SANITY_PATTERN, rank)
        sanity_log.drop_torn_lines()
        sanity_done = {record["index"] for record in sanity_log.read()}
        sanity_items = [item for item in items[: settings.sanity_n][position::processes] if item["index"] not in sanity_done]
        check = CascadingRandomization(seed=settings.seed)
        for item in tqdm(sanity_items, desc="sanity check", unit="text", disable=not (progress and is_main)):
            sanity_log.append(sanity_record(check, classifier, settings, list(methods), item, reference_texts))
    if state is not None:
        state.wait_for_everyone()
    wanted = {item["index"] for item in items}
    return [record for record in log.read() if record["index"] in wanted]


def sanity_record(
    check: CascadingRandomization, classifier: Classifier, settings: EvaluationSettings, names: Sequence[str], item: Mapping[str, Any], reference_texts: Sequence[str] | None
) -> dict[str, Any]:
    """Cascading randomisation for one text and every method (``check`` keeps the randomised
    models between texts). The prior of IBA and its variants is re-estimated on ``reference_texts`` for each randomised
    model (the shipped statistics belong to the trained one)."""
    record: dict[str, Any] = {"index": item["index"], "methods": {}}
    for name in names:
        options = dict(settings.options.get(name, {}))
        if is_bottleneck_method(name):
            if not reference_texts:
                raise InvalidInputError(f"the sanity check of {name} needs reference texts to re-estimate the prior of each randomised model")
            options["reference_corpus"] = list(reference_texts)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            record["methods"][name] = check.compute(classifier, lambda model, name=name, options=options: load_method(name, model, **options), [item["text"]])[0]
    return finite(record)


def summarize(records: Sequence[Mapping[str, Any]], metric_names: Sequence[str]) -> list[dict[str, Any]]:
    """Mean and standard error of every declared value, per method; plus the median seconds per
    explanation (the median, because a busy machine makes a few explanations very slow) and, for
    a bottleneck method, its kept probability over the records that hold it (its "direction"
    names the model's own mean probability over the same records, the ceiling it is read
    against; records written before the kept probability existed hold none)."""
    if not records:
        return []
    rows = []
    for method in records[0]["methods"]:
        seconds = [record["methods"][method]["seconds"] for record in records]
        rows.append({"method": method, "metric": "time", "value": "median_seconds_per_text", "direction": "lower is better", "mean": float(np.median(seconds)), "sem": None, "n": len(seconds)})
        holding = [record for record in records if "kept_probability" in record["methods"][method]]
        if holding:
            own = f"model's own {np.mean([record['probability'] for record in holding]):.3f}" + (f" on the {len(holding)} reviews that record it" if len(holding) < len(records) else "")
            rows.append(_row(method, "bottleneck", "kept_probability", own, [record["methods"][method]["kept_probability"] for record in holding]))
        for metric_name in metric_names:
            for value in METRICS.get(metric_name).info.values:
                samples = [record["methods"][method]["metrics"][metric_name][value.name] for record in records]
                rows.append(_row(method, metric_name, value.name, value.direction, [s for s in samples if s is not None]))
    return rows


def summarize_sanity(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Mean Spearman correlation at each randomisation step, per method."""
    if not records:
        return []
    rows = []
    for method in records[0]["methods"]:
        steps = records[0]["methods"][method]["steps"]
        for position, step in enumerate(steps):
            samples = [r["methods"][method]["spearman"][position] for r in records]
            rows.append(_row(method, "sanity_check", f"spearman@{step}", "closer to 0 is better", [s for s in samples if s is not None]))
    return rows


def _row(method: str, metric: str, value: str, direction: str, samples: Sequence[float]) -> dict[str, Any]:
    array = np.asarray(samples, dtype=np.float64)
    mean = float(array.mean()) if len(array) else None
    sem = float(array.std(ddof=1) / math.sqrt(len(array))) if len(array) > 1 else None
    return {"method": method, "metric": metric, "value": value, "direction": direction, "mean": mean, "sem": sem, "n": len(array)}


def mean_curves(records: Sequence[Mapping[str, Any]], metric: str, curve: str) -> dict[str, tuple[list[float], list[float]]]:
    """Per method, the x values and the mean curve of ``metric``'s ``curve`` over the records."""
    result = {}
    for method in records[0]["methods"]:
        results = [record["methods"][method]["metrics"][metric] for record in records]
        x = results[0].get("fractions")
        values = np.asarray([[np.nan if v is None else v for v in r[curve]] for r in results], dtype=np.float64)
        result[method] = (list(x), np.nanmean(values, axis=0).tolist())
    return result


def _format(value: float | None, sem: float | None = None) -> str:
    if value is None:
        return "n/a"
    text = f"{value:.3f}" if abs(value) >= 0.001 or value == 0 else f"{value:.2e}"
    return text if sem is None else f"{text} ± {sem:.3f}"


def summary_table(rows: Sequence[Mapping[str, Any]], values: Sequence[tuple[str, str]]) -> tuple[list[str], list[list[str]]]:
    """Header and body of a methods x values table (mean ± standard error) for the chosen
    ``(metric, value)`` columns."""
    methods = list(dict.fromkeys(row["method"] for row in rows))
    lookup = {(row["method"], row["metric"], row["value"]): row for row in rows}
    header = ["method"] + [f"{metric}: {value} ({_direction_arrow(lookup, metric, value)})" for metric, value in values]
    body = []
    for method in methods:
        cells = [method]
        for metric, value in values:
            row = lookup.get((method, metric, value))
            cells.append("n/a" if row is None else _format(row["mean"], row["sem"]))
        body.append(cells)
    return header, body


def _direction_arrow(lookup: Mapping[tuple[str, str, str], Mapping[str, Any]], metric: str, value: str) -> str:
    direction = next((row["direction"] for key, row in lookup.items() if key[1:] == (metric, value)), "")
    return {"higher is better": "↑", "lower is better": "↓"}.get(direction, direction)


def finished_records(settings: EvaluationSettings, items: Sequence[Mapping[str, Any]], folder: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of a run in progress, computing nothing: the results of the longest prefix
    of ``items`` whose texts are all done, and the sanity records of the longest such prefix
    of the first ``settings.sanity_n``. Shards take every k-th text, so a prefix is the part of
    the sample that every shard has passed; a summary of it is what a finished run of that
    size would report."""
    folder = Path(folder)
    _settings_guard(folder, settings, must_exist=True)
    order = [item["index"] for item in items]
    results = finished_prefix(order, JsonLines(folder, RESULTS_PATTERN, 0).read()) if settings.metrics else []
    return results, finished_prefix(order[: settings.sanity_n], JsonLines(folder, SANITY_PATTERN, 0).read())


# The values the summary tables show, in this order, where the summary holds them (their metric was
# computed; the kept probability where a bottleneck method recorded it).
MAIN_VALUES = [
    ("degradation", "morf_area"),
    ("degradation", "lerf_area"),
    ("degradation", "lerf_minus_morf"),
    ("sensitivity_n", "mean_correlation"),
    ("insertion_deletion", "deletion_auc"),
    ("insertion_deletion", "insertion_auc"),
    ("eraser", "comprehensiveness"),
    ("eraser", "sufficiency"),
    ("eraser", "normalized_comprehensiveness"),
    ("eraser", "normalized_sufficiency"),
    ("bottleneck", "kept_probability"),
    ("time", "median_seconds_per_text"),
]


def sanity_reference_texts(model: str, data: str | os.PathLike[str] | None, count: int, seed: int) -> list[str]:
    """Reviews for re-estimating IBA's prior in the sanity check: the model's held-out training
    reviews when its folder lists them, else a seeded sample of the training split."""
    folder = model_folder(model) or Path(model)
    held_out = held_out_reviews(folder, data, count)
    if held_out is not None:
        return held_out
    train = load_imdb("train", data)
    return [item["text"] for item in sample_items(train, min(count, len(train)), seed)]


def _option_text(method: str, name: str, value: Any, limit: int = 60) -> str:
    """An option as ``--option`` takes it, shortened for the report: a long list (a reference
    corpus) as its length, any other long value cut at ``limit`` characters."""
    if isinstance(value, list) and len(json.dumps(value)) > limit:
        value = f"[{len(value)} items]"
    setting = option_setting(method, name, value)
    key, shown = setting.split("=", 1)
    return setting if len(shown) <= limit else f"{key}={shown[: limit - 1]}…"


def settings_facts(settings: EvaluationSettings) -> list[tuple[str, str]]:
    """The run's settings as the report shows them: labelled values a reader can repeat the run from."""
    options = [_option_text(method, name, value) for method, given in settings.options.items() for name, value in given.items()]
    return [
        ("Model", settings.model),
        ("Data", settings.data or f"${IMDB_ENV_VAR}, else the hub's {IMDB_HUB_ID}"),
        ("Split", settings.split),
        ("Reviews", f"{settings.n} (seed {settings.seed})"),
        ("Methods", ", ".join(settings.methods)),
        ("Metrics", ", ".join(settings.metrics) or "none"),
        ("Options", ", ".join(options) or "none (each method at the model's recommended settings)"),
        ("Sanity check", f"{settings.sanity_n} reviews" if settings.sanity_n else "not run"),
    ]


def write_outputs(folder: Path, settings: EvaluationSettings, records: list[dict[str, Any]], sanity: list[dict[str, Any]]) -> str:
    """Summary tables (Markdown, CSV), figures and the HTML report; returns the Markdown."""
    from ib_nlp.ui.plots import curves_png
    from ib_nlp.ui.report import render_evaluation, save_html

    rows = summarize(records, settings.metrics)
    sanity_rows = summarize_sanity(sanity)
    summarized = {(row["metric"], row["value"]) for row in rows}
    values = [pair for pair in MAIN_VALUES if pair in summarized]
    header, body = summary_table(rows, values)
    title = f"{settings.model}: {len(records) or len(sanity)} IMDB {settings.split} reviews (seed {settings.seed})"
    markdown = f"## {title}\n\n"
    tables = []
    if records:
        markdown += "mean ± standard error over reviews; ↑ higher is better, ↓ lower is better\n\n" + markdown_table(header, body)
        tables.append(("Faithfulness (mean ± standard error)", header, body))
    if sanity_rows:
        steps = [row["value"].split("@", 1)[1] for row in sanity_rows if row["method"] == sanity_rows[0]["method"]]
        sanity_header, sanity_body = summary_table(sanity_rows, [("sanity_check", f"spearman@{step}") for step in steps])
        sanity_header = ["method"] + ["original" if step == "original" else f"up to {step}" for step in steps]
        markdown += f"\n### Sanity check ({len(sanity)} reviews): Spearman correlation with the original attribution\n\n" + markdown_table(sanity_header, sanity_body)
        tables.append(("Sanity check: Spearman correlation with the original attribution (closer to 0 is better)", sanity_header, sanity_body))
    write_text_atomic(folder / "summary.md", markdown)
    write_csv(rows + sanity_rows, folder / "summary.csv")
    panels = []
    if "degradation" in settings.metrics:
        panels += [("MoRF (lower is better)", "fraction of tokens removed", "target probability", mean_curves(records, "degradation", "morf")),
                   ("LeRF (higher is better)", "fraction of tokens removed", "target probability", mean_curves(records, "degradation", "lerf"))]
    if "insertion_deletion" in settings.metrics:
        panels += [("Deletion (lower is better)", "fraction of tokens replaced", "target probability", mean_curves(records, "insertion_deletion", "deletion")),
                   ("Insertion (higher is better)", "fraction of tokens restored", "target probability", mean_curves(records, "insertion_deletion", "insertion"))]
    if "sensitivity_n" in settings.metrics:
        panels.append(("Sensitivity-N (higher is better)", "fraction of words removed", "Pearson correlation", mean_curves(records, "sensitivity_n", "correlations")))
    figures = []
    if panels and records:
        png = curves_png(panels)
        (folder / "curves.png").write_bytes(png)
        figures.append(("Mean curves per method", png))
    if sanity_rows:
        methods = list(dict.fromkeys(row["method"] for row in sanity_rows))
        curves = {m: (steps, [row["mean"] for row in sanity_rows if row["method"] == m]) for m in methods}
        png = curves_png([("Cascading randomisation, top layer first", "randomised up to", "Spearman correlation with the original", curves)])
        (folder / "sanity.png").write_bytes(png)
        figures.append(("Sanity check", png))
    save_html(render_evaluation(title, tables, figures, settings_facts(settings)), folder / "report.html")
    return markdown


def with_prior(options: Mapping[str, Mapping[str, Any]], methods: Sequence[str], *, reference: str | None = None, text_column: str = "text", statistics: str | None = None) -> dict[str, dict[str, Any]]:
    """``options`` with the prior of every bottleneck method among ``methods`` set: a reference
    corpus (a file or dataset id, with its text column) or a statistics file."""
    merged = {name: dict(values) for name, values in options.items()}
    for name in filter(is_bottleneck_method, methods):
        if reference is not None:
            merged.setdefault(name, {}).update(reference_corpus=reference, text_column=text_column)
        if statistics is not None:
            merged.setdefault(name, {})["statistics"] = statistics
    return merged


def evaluate_imdb(
    settings: EvaluationSettings,
    folder: str | os.PathLike[str],
    *,
    reference_n: int = 500,
    shard: tuple[int, int] | None = None,
    device: str | None = None,
    progress: bool = True,
) -> str | None:
    """Run (or resume) the IMDB evaluation of ``settings`` into ``folder`` and write its outputs;
    returns the summary (None for a shard or a non-main process, which write none). The sanity
    check's prior is re-estimated on the bottleneck methods' corpus, else on ``reference_n``
    held-out training reviews."""
    from accelerate import PartialState

    from ib_nlp.text.corpus import reference_texts as corpus_texts

    folder = Path(folder)
    unknown = sorted(set(settings.methods) - set(method_names()))
    if unknown:
        raise InvalidInputError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(method_names())}")
    dataset = load_imdb(settings.split, settings.data)
    settings = replace(settings, data_fingerprint=data_fingerprint(dataset))
    items = sample_items(dataset, settings.n, settings.seed)
    references = None
    bottlenecks = [name for name in settings.methods if is_bottleneck_method(name)]
    if settings.sanity_n and bottlenecks:
        given = settings.options.get(bottlenecks[0], {}).get("reference_corpus")
        text_column = settings.options.get(bottlenecks[0], {}).get("text_column", "text")
        references = corpus_texts(given, text_column) if given is not None else sanity_reference_texts(settings.model, settings.data, reference_n, settings.seed)
    records = run_evaluation(settings, items, folder, reference_texts=references, progress=progress, shard=shard, device=device)
    if shard or not PartialState().is_main_process:
        return None
    wanted = {item["index"] for item in items[: settings.sanity_n]}
    sanity = [record for record in JsonLines(folder, SANITY_PATTERN, 0).read() if record["index"] in wanted]
    return write_outputs(folder, settings, records, sanity)


def summarize_finished_run(folder: str | os.PathLike[str], data: str | os.PathLike[str] | None = None) -> tuple[str, str]:
    """Write the outputs of the longest finished prefix of the run in ``folder``, computing
    nothing; returns the summary and what it covers ("12 of 100 reviews ...").

    The reviews are read where the run read them when that source is here, else from ``data``
    (another copy, e.g. the run's folder was brought from another machine), which must hold
    the same reviews."""
    folder = Path(folder)
    settings = load_settings(folder)
    stored_here = settings.data is None or Path(settings.data).expanduser().exists()
    source = settings.data if stored_here or data is None else str(data)
    dataset = load_imdb(settings.split, source)
    settings = replace(settings, data=source, data_fingerprint=settings.data_fingerprint and data_fingerprint(dataset))
    items = sample_items(dataset, settings.n, settings.seed)
    records, sanity = finished_records(settings, items, folder)
    if not records and not sanity:
        raise InvalidInputError(f"no review of the run in {folder} is finished yet (the first review of the sample is not done)")
    markdown = write_outputs(folder, replace(settings, n=len(records), sanity_n=len(sanity)), records, sanity)
    done = [f"{len(records)} of {settings.n} reviews"] if settings.metrics else []
    done += [f"the sanity check on {len(sanity)} of {settings.sanity_n}"] if settings.sanity_n else []
    return markdown, " and ".join(done)


def paired_comparison(
    runs: Mapping[str, str | os.PathLike[str] | tuple[str | os.PathLike[str], str]],
    method: str = "iba",
    metric: str = "degradation",
    value: str = "lerf_minus_morf",
) -> tuple[int, list[list[str]]]:
    """Compare methods review by review: runs of one method (e.g. with and without an option), or
    several methods of one run. ``runs`` maps a name to a run folder (its ``method``) or to a
    (folder, method) pair. For each, the mean ± standard error of ``metric``'s ``value`` over the
    reviews every entry finished, and its paired difference from the first entry (mean ± standard
    error of the per-review differences). Returns the number of shared reviews and the rows."""
    scores: dict[str, dict[Any, float]] = {}
    for name, entry in runs.items():
        folder, entry_method = entry if isinstance(entry, tuple) else (entry, method)
        records = JsonLines(Path(folder), RESULTS_PATTERN, 0).read()
        if not records:
            raise InvalidInputError(f"{folder} holds no finished reviews")
        if entry_method not in records[0]["methods"]:
            raise InvalidInputError(f"{folder} has no method {entry_method!r}; it has {', '.join(records[0]['methods'])}")
        try:
            scores[name] = {record["index"]: record["methods"][entry_method]["metrics"][metric][value] for record in records}
        except KeyError as missing:
            raise InvalidInputError(f"{folder}: the records of {entry_method} have no {metric} {value} ({missing} is missing)") from None
    common = sorted(set.intersection(*(set(run) for run in scores.values())))
    if len(common) < 2:
        raise InvalidInputError(f"the runs share {len(common)} finished review(s); at least 2 are needed")

    reference_name, reference = next(iter(scores.items()))
    rows = []
    for name, run in scores.items():
        difference = "" if name == reference_name else mean_and_error([run[index] - reference[index] for index in common])
        rows.append([name, mean_and_error([run[index] for index in common]), difference])
    return len(common), rows
