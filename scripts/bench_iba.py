"""Benchmark per-sample IBA: the prefix engine against the straightforward full-model engine.

A BERT-base-sized classifier with random weights (12 layers, hidden 768, 12 heads,
intermediate 3072) explains one text of exactly N tokens with the bottleneck after layer 8.
Three configurations are timed (seconds per explanation, median of ``--repeats`` after one
warm-up):

- prefix: ``engine="prefix"``, parameters frozen (what ``PerSampleIBA`` does by default);
- full (frozen): ``engine="full"``, the whole model at the batch of noise samples every
  step, parameters frozen;
- full (naive): ``engine="full"`` with the parameters still requiring gradients, as a
  reference implementation does, so every backward pass also computes weight gradients.

Each configuration runs in a fresh Python process so that its peak memory can be measured:
the increase of ``ru_maxrss`` over its value after the model is loaded, and on CUDA
``torch.cuda.max_memory_allocated`` over the memory allocated after loading. Feature
statistics are estimated once on random texts (not timed) and shared through a file.

Example (about 10-20 minutes on 2 CPU cores):
  python scripts/bench_iba.py --lengths 128 256 --layer 8 --repeats 3
Smoke test (seconds):
  python scripts/bench_iba.py --quick
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import torch
from transformers import (
    AutoModelForSequenceClassification,
    BertConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)

from ib_nlp import Classifier, PerSampleIBA, load_statistics, save_statistics
from ib_nlp.text.methods import base as attr_base
from ib_nlp.testing import BASIC_WORDS, build_wordpiece_tokenizer

RESULT_PREFIX = "BENCH-RESULT "
REFERENCE_TEXTS = 32


@dataclass(frozen=True)
class ModelSize:
    """Shape of the random BERT classifier."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    max_positions: int


BERT_BASE = ModelSize(hidden=768, layers=12, heads=12, intermediate=3072, max_positions=512)
QUICK_SIZE = ModelSize(hidden=32, layers=3, heads=2, intermediate=64, max_positions=64)


@dataclass(frozen=True)
class Variant:
    """One benchmarked configuration: the engine and whether the parameters are frozen."""

    name: str
    title: str
    engine: str
    frozen: bool


VARIANTS = (
    Variant("prefix", "prefix", "prefix", frozen=True),
    Variant("frozen", "full (frozen)", "full", frozen=True),
    Variant("naive", "full (naive)", "full", frozen=False),
)


def build_model(size: ModelSize, seed: int) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A randomly initialised BERT classifier; the same seed gives the same weights in every process."""
    tokenizer = build_wordpiece_tokenizer(model_max_length=size.max_positions)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=size.max_positions,
        num_labels=2,
        pad_token_id=0,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    torch.manual_seed(seed)
    model = AutoModelForSequenceClassification.from_config(config)
    return model.eval(), tokenizer


def make_text(tokenizer: PreTrainedTokenizerFast, tokens: int, seed: int) -> str:
    """Random words that tokenise to exactly ``tokens`` tokens, [CLS] and [SEP] included."""
    vocabulary = tokenizer.get_vocab()
    words = [word for word in BASIC_WORDS if word.isalpha() and len(word) > 1 and word in vocabulary]
    generator = random.Random(seed)
    text = " ".join(generator.choice(words) for _ in range(tokens - 2))
    produced = len(tokenizer(text)["input_ids"])
    if produced != tokens:
        raise RuntimeError(f"the benchmark text has {produced} tokens instead of {tokens}")
    return text


@contextlib.contextmanager
def _parameters_left_trainable(model: torch.nn.Module) -> Iterator[None]:
    """Stand-in for ``ib_nlp.text.methods.base.attribution_mode`` that leaves ``requires_grad`` as it is."""
    yield


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Time one configuration at one length in this (fresh) process and measure its peak memory."""
    if job["threads"] is not None:
        torch.set_num_threads(job["threads"])
    variant = next(v for v in VARIANTS if v.name == job["variant"])
    model, tokenizer = build_model(ModelSize(**job["size"]), job["seed"])
    classifier = Classifier.load((model, tokenizer), device=job["device"])
    device = classifier.device
    site = classifier.layers.resolve(job["layer"])
    feature_statistics = load_statistics(job["statistics"])[site.key]
    text = make_text(tokenizer, job["length"], job["seed"] + job["length"])
    if not variant.frozen and not all(parameter.requires_grad for parameter in model.parameters()):
        raise RuntimeError("the naive configuration needs parameters that require gradients")
    explainer = PerSampleIBA(
        classifier, job["layer"], statistics=feature_statistics, engine=variant.engine, steps=job["steps"], samples=job["samples"]
    )
    rss_after_load = _peak_rss_mb()
    cuda_after_load = 0.0
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        cuda_after_load = torch.cuda.memory_allocated(device) / 2**20
    keep = contextlib.nullcontext() if variant.frozen else mock.patch.object(attr_base, "attribution_mode", _parameters_left_trainable)
    seconds = []
    with keep:
        bits = explainer.explain(text).token_scores
        if not variant.frozen and all(parameter.grad is None for parameter in model.parameters()):
            raise RuntimeError("the naive configuration computed no weight gradients: ib_nlp.text.methods.base.attribution_mode was not replaced")
        for _ in range(job["repeats"]):
            model.zero_grad(set_to_none=True)
            _synchronize(device)
            started = time.perf_counter()
            explainer.explain(text)
            _synchronize(device)
            seconds.append(time.perf_counter() - started)
    return {
        "seconds": seconds,
        "median": statistics.median(seconds),
        "rss_mb": _peak_rss_mb() - rss_after_load,
        "cuda_mb": torch.cuda.max_memory_allocated(device) / 2**20 - cuda_after_load if device.type == "cuda" else None,
        "bits": bits,
        "device": str(device),
        "threads": torch.get_num_threads(),
    }


def run_in_subprocess(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job in a fresh interpreter and return its result."""
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in completed.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if completed.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark worker {job['variant']} at {job['length']} tokens failed (exit {completed.returncode}):\n{completed.stderr}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def estimate_statistics(size: ModelSize, layer: int, lengths: list[int], seed: int, device: str, path: Path) -> tuple[str, int]:
    """Estimate the statistics at the bottleneck once on random texts; return the site and parameter count."""
    model, tokenizer = build_model(size, seed)
    classifier = Classifier.load((model, tokenizer), device=device)
    site = classifier.layers.resolve(layer)
    generator = random.Random(seed)
    texts = [make_text(tokenizer, generator.randint(8, max(lengths)), seed + index) for index in range(REFERENCE_TEXTS)]
    save_statistics(path, classifier.estimate_statistics(texts, [site], batch_size=8))
    return site.key, sum(parameter.numel() for parameter in model.parameters())


def _ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:.2f}x" if fast > 0 else "n/a"


def format_table(results: dict[int, dict[str, dict[str, Any]]], cuda: bool) -> str:
    """The Markdown table of seconds per explanation, speed-ups and peak memory."""
    titles = {variant.name: variant.title for variant in VARIANTS}
    header = ["seq len", "prefix s", "full (frozen) s", "full (naive) s", "speed-up vs frozen", "speed-up vs naive"]
    header += [f"peak RSS {titles[v.name]} MB" for v in VARIANTS]
    if cuda:
        header += [f"peak CUDA {titles[v.name]} MB" for v in VARIANTS]
    rows = []
    for length, by_variant in results.items():
        prefix, frozen, naive = (by_variant[v.name]["median"] for v in VARIANTS)
        row = [str(length), f"{prefix:.3f}", f"{frozen:.3f}", f"{naive:.3f}", _ratio(frozen, prefix), _ratio(naive, prefix)]
        row += [f"{by_variant[v.name]['rss_mb']:.0f}" for v in VARIANTS]
        if cuda:
            row += [f"{by_variant[v.name]['cuda_mb']:.0f}" for v in VARIANTS]
        rows.append(row)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def max_difference(first: list[float], second: list[float]) -> float:
    """Largest absolute difference between two attributions in bits."""
    return max(abs(a - b) for a, b in zip(first, second, strict=True))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line; ``--quick`` changes the defaults to tiny sizes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", help="torch device (default: cuda when available)")
    parser.add_argument("--lengths", type=int, nargs="+", help="sequence lengths in tokens (default: 128 256; quick: 16 32)")
    parser.add_argument("--layer", type=int, help="bottleneck after this block (default: 8; quick: 1)")
    parser.add_argument("--steps", type=int, help="optimisation steps (default: 10; quick: 2)")
    parser.add_argument("--samples", type=int, help="noise samples per step (default: 10; quick: 2)")
    parser.add_argument("--repeats", type=int, help="timed explanations after the warm-up (default: 3; quick: 1)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and texts")
    parser.add_argument("--quick", action="store_true", help="tiny model and lengths, for a smoke test")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    defaults = {"lengths": [16, 32], "layer": 1, "steps": 2, "samples": 2, "repeats": 1} if args.quick else {
        "lengths": [128, 256], "layer": 8, "steps": 10, "samples": 10, "repeats": 3
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    size = QUICK_SIZE if args.quick else BERT_BASE
    for name in ("steps", "samples", "repeats"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    if not 0 <= args.layer < size.layers:
        parser.error(f"--layer must be in 0..{size.layers - 1} for this model")
    too_long = [length for length in args.lengths if not 3 <= length <= size.max_positions]
    if too_long:
        parser.error(f"lengths must be in 3..{size.max_positions} tokens, got {too_long}")
    args.size = size
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        print(RESULT_PREFIX + json.dumps(run_worker(json.loads(args.worker))), flush=True)
        return 0
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-iba-") as folder:
        statistics_path = Path(folder) / "statistics.safetensors"
        site_key, parameters = estimate_statistics(args.size, args.layer, args.lengths, args.seed, args.device, statistics_path)
        results: dict[int, dict[str, dict[str, Any]]] = {}
        for length in args.lengths:
            results[length] = {}
            for variant in VARIANTS:
                print(f"running {variant.title} at {length} tokens ...", file=sys.stderr, flush=True)
                job = {
                    "size": asdict(args.size),
                    "length": length,
                    "layer": args.layer,
                    "variant": variant.name,
                    "steps": args.steps,
                    "samples": args.samples,
                    "repeats": args.repeats,
                    "device": args.device,
                    "threads": args.threads,
                    "seed": args.seed,
                    "statistics": str(statistics_path),
                }
                results[length][variant.name] = run_in_subprocess(job)
    first = results[args.lengths[0]]["prefix"]
    size = args.size
    print(
        f"BERT classifier with random weights: {size.layers} layers, hidden {size.hidden}, {size.heads} heads, "
        f"intermediate {size.intermediate}, {parameters:,} parameters; bottleneck at {site_key}; "
        f"steps {args.steps}, samples {args.samples}; median of {args.repeats} after 1 warm-up; "
        f"device {first['device']}, {first['threads']} threads, torch {torch.__version__}; "
        f"1-minute load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after"
    )
    print()
    print(format_table(results, cuda=first["cuda_mb"] is not None))
    print()
    for length, by_variant in results.items():
        bits = {name: result["bits"] for name, result in by_variant.items()}
        print(
            f"{length} tokens: max |bits(prefix) - bits(full, frozen)| = {max_difference(bits['prefix'], bits['frozen']):.3g}, "
            f"max |bits(prefix) - bits(full, naive)| = {max_difference(bits['prefix'], bits['naive']):.3g} "
            f"(largest token score {max(bits['prefix']):.3g} bits)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
