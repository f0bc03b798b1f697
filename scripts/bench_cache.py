"""Benchmark: what a repeated ``explain_text`` call costs over a built explainer.

For each model, in one process: the first ``explain_text(model, text)`` call, split into
load (model and tokenizer), trace (finding the blocks), statistics (the prior) and
explanation; then calls 2 to 6 of ``explain_text`` alternated with ``explainer.explain`` on an
explainer built once, same text. Prints the median of each and their ratio (goal: at most
1.1). Models: the shipped default, and a BERT-base-sized classifier with random weights saved
to a folder with its statistics (12 layers, hidden 768; the shipped BERT's tokenizer).

    python scripts/bench_cache.py
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

TEXT = "I expected a lot from this director, but the film is boring and far too long, although the lead actress is great."


def first_call_split(model: str) -> dict[str, float]:
    """Seconds of the first explain_text call by stage (model load, layer tracing, statistics, explanation)."""
    from ib_nlp import clear_cache, explain_text
    from ib_nlp.text.classifier import Classifier
    from ib_nlp.text.methods.iba import PerSampleIBA
    from ib_nlp.text.sites import LayerMap

    clear_cache()
    spent = {"load": 0.0, "trace": 0.0, "statistics": 0.0}

    def timed(stage, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - started

        return wrapper

    load, discover, resolve = Classifier._from_name_or_path.__func__, LayerMap.discover.__func__, PerSampleIBA._resolve_statistics
    with (
        mock.patch.object(Classifier, "_from_name_or_path", classmethod(timed("load", load))),
        mock.patch.object(LayerMap, "discover", classmethod(timed("trace", discover))),
        mock.patch.object(PerSampleIBA, "_resolve_statistics", timed("statistics", resolve)),
    ):
        started = time.perf_counter()
        explain_text(model, TEXT)
        total = time.perf_counter() - started
    spent["load"] -= spent["trace"]  # tracing happens inside loading
    spent["explanation"] = total - sum(spent.values())
    return {**spent, "total": total}


def repeated_calls(model: str, calls: int) -> tuple[float, float]:
    """Medians of explain_text calls 2..calls and of explainer.explain, alternated."""
    from ib_nlp import PerSampleIBA, explain_text

    explainer = PerSampleIBA(model)
    explainer.explain(TEXT)
    one_call, built = [], []
    for _ in range(calls - 1):
        started = time.perf_counter()
        explain_text(model, TEXT)
        one_call.append(time.perf_counter() - started)
        started = time.perf_counter()
        explainer.explain(TEXT)
        built.append(time.perf_counter() - started)
    return statistics.median(one_call), statistics.median(built)


def save_bert_base(folder: Path) -> str:
    """A BERT-base-sized classifier with random weights and its statistics, saved to ``folder``."""
    import random

    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ib_nlp import Classifier, save_statistics
    from ib_nlp.text.shipped import shipped_model_path
    from ib_nlp.core.statistics import STATISTICS_FILENAME
    from ib_nlp.testing import BASIC_WORDS

    tokenizer = AutoTokenizer.from_pretrained(str(shipped_model_path("imdb-bert-small")))
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, num_labels=2)
    BertForSequenceClassification(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    generator = random.Random(1)
    texts = [" ".join(generator.choice(BASIC_WORDS) for _ in range(50)) for _ in range(16)]
    classifier = Classifier.load(str(folder))
    save_statistics(folder / STATISTICS_FILENAME, classifier.estimate_statistics(texts, [classifier.layers.resolve(0)]))
    return str(folder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6, help="explain_text calls per model (the first is timed by stage; default: 6)")
    parser.add_argument("--models", nargs="+", default=["imdb-bert-small", "bert-base-random"], help="shipped names, folders, or bert-base-random")
    args = parser.parse_args(argv)
    print("| model | first call s | load | trace | statistics | explanation | explain_text, calls 2-6 (median) s | built explainer (median) s | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            model = save_bert_base(Path(folder)) if name == "bert-base-random" else name
            split = first_call_split(model)
            one_call, built = repeated_calls(model, args.calls)
            stages = " | ".join(f"{split[stage]:.3f}" for stage in ("load", "trace", "statistics", "explanation"))
            print(f"| {name} | {split['total']:.3f} | {stages} | {one_call:.3f} | {built:.3f} | {one_call / built:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
