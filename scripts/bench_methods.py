"""Seconds per explanation of every attribution method on IMDB reviews (one review at a time).

    python scripts/bench_methods.py --model imdb-bert-small --n 10 --threads 2
    python scripts/bench_methods.py --model imdb-bert-small --n 10 --device cuda

Each method explains the same seeded sample of test reviews after one warm-up review; the
table gives the median and the mean seconds per review. Run it on an otherwise idle
machine: the evaluation's own timings are taken while other jobs may be running.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import torch
import sys

from ib_nlp.cli import run_reporting_errors
from ib_nlp.commands import add_review_sample_arguments
from ib_nlp import Classifier, load_method, method_names
from ib_nlp.text.data import load_imdb
from ib_nlp.errors import InvalidInputError, TruncationWarning
from ib_nlp.evaluation import parse_options, sample_items
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=10)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--lime-samples", type=int, default=200)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cuda (default: cpu)")
    parser.add_argument("--methods", nargs="+", default=method_names(), help=f"from: {', '.join(method_names())}")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE", help="option of a method (values are JSON), e.g. input_iba.gan_epochs=0")
    args = parser.parse_args(argv)
    try:
        options = parse_options(args.option)
    except InvalidInputError as error:
        parser.error(str(error))
    warnings.simplefilter("ignore", TruncationWarning)
    if args.threads:
        torch.set_num_threads(args.threads)

    items = sample_items(load_imdb("test", args.data), args.n + 1, args.seed)
    texts = [item["text"] for item in items]
    classifier = Classifier.load(args.model, device=args.device)
    tokens = [length for length in classifier.encode(texts[1:]).lengths]
    rows, notes, medians = [], [], {}
    for name in args.methods:
        try:
            method = load_method(name, classifier, **{**({"samples": args.lime_samples} if name == "lime" else {}), **options.get(name, {})})
            method.explain(texts[0])
        except InvalidInputError as error:
            rows.append([name, "n/a", "n/a"])
            notes.append(f"{name}: {error}")
            continue
        seconds = []
        for text in texts[1:]:
            started = time.perf_counter()
            method.explain(text)
            seconds.append(time.perf_counter() - started)
        medians[name] = statistics.median(seconds)
        rows.append([name, f"{medians[name]:.3f}", f"{statistics.mean(seconds):.3f}"])
    hardware = torch.cuda.get_device_name(classifier.device) if classifier.device.type == "cuda" else f"{torch.get_num_threads()} CPU threads"
    print(
        f"{args.model}: seconds per explanation, {args.n} IMDB test reviews (seed {args.seed}; "
        f"{statistics.mean(tokens):.0f} tokens on average), {hardware}, LIME {args.lime_samples} samples\n"
    )
    header = ["method", "median s", "mean s"]
    if "iba" in medians:
        header.append("per-sample IBA / method (median)")
        rows = [[*row, f"{medians['iba'] / medians[row[0]]:.1f}x" if row[0] in medians else "n/a"] for row in rows]
    print(markdown_table(header, rows) + "".join(f"\n{note}" for note in notes))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
