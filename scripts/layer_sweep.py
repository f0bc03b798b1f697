"""Which layer (and beta) gives the most faithful IBA attributions on IMDB reviews?

Runs per-sample IBA at every layer of a model for each beta, on a seeded sample of IMDB
test reviews, scores each setting with the degradation test (LeRF - MoRF area, higher is
better), and prints a layers x betas table with mean ± standard error and the recommended
setting. Writes the sweeps (JSON) and the layer heatmap of the first review (HTML) to --out.

With --timing it also measures the shared-pass sweep against explaining the layers one by
one (each layer its own PerSampleIBA), on the same reviews, and prints the ratio.

    python scripts/layer_sweep.py --model imdb-bert-small --n 30 --betas 0.1 1 10 --out runs/sweep-bert --timing
"""

from __future__ import annotations

import argparse
import time
import warnings
import sys
from pathlib import Path
from typing import Any

from ib_nlp.cli import run_reporting_errors
from ib_nlp.options import parse_layer
from ib_nlp.errors import TruncationWarning
from ib_nlp import Classifier, PerSampleIBA
from ib_nlp.corpus import reference_texts
from ib_nlp.data import load_imdb
from ib_nlp.evaluation import markdown_table, sample_items
from ib_nlp.io import write_text_atomic
from ib_nlp.sweep import Sweep, sweep_layers

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-bert-small")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=30, help="IMDB test reviews (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", nargs="+", type=parse_layer, default=None, help="default: embeddings and every block")
    parser.add_argument("--betas", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timing", action="store_true", help="also time the shared-pass sweep against layers one by one")
    prior = parser.add_mutually_exclusive_group()
    prior.add_argument("--reference-n", type=int, default=0, help="estimate IBA's prior on N IMDB train reviews (default: the model's own statistics)")
    prior.add_argument("--reference", metavar="FILE_OR_DATASET", help="texts for IBA's prior of a model without statistics: a file or a dataset id (the first 2,000 texts)")
    prior.add_argument("--statistics", metavar="FILE", help="IBA's statistics file (written by ib-nlp estimate)")
    parser.add_argument("--text-column", default="text", help="column of the texts in a --reference table or dataset (default: text)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)

    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    train = load_imdb("train", args.data)
    prior: dict[str, Any] = {}
    if args.reference_n:
        prior = {"reference_corpus": [i["text"] for i in sample_items(train, min(args.reference_n, len(train)), args.seed)]}
    elif args.reference is not None:
        prior = {"reference_corpus": reference_texts(args.reference, args.text_column)}
    elif args.statistics is not None:
        prior = {"statistics": args.statistics}
    texts, labels = [item["text"] for item in items], [item["label"] for item in items]
    classifier = Classifier.load(args.model, device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)
    sweeps = []
    for beta in args.betas:
        sweep = sweep_layers(classifier, texts, args.layers, labels=labels, beta=beta, batch_size=args.batch_size, progress=True, **prior)
        sweep.save(args.out / f"sweep-beta{beta:g}.json")
        sweeps.append(sweep)
        ties = f" (tied within a standard error: {', '.join(map(str, sweep.tied))}; the first is kept)" if len(sweep.tied) > 1 else ""
        print(f"beta {beta:g}: {sweep.seconds:.0f} s, best layer {sweep.best}{ties}", flush=True)

    layers = sweeps[0].settings
    header = ["layer"] + [f"beta {beta:g}" for beta in args.betas] + [f"bits/review (beta {beta:g})" for beta in args.betas]
    body = []
    for position, layer in enumerate(layers):
        cells = [str(layer)]
        cells += [f"{s.faithfulness[position]:.3f} ± {s.faithfulness_sem[position]:.3f}" for s in sweeps]
        cells += [f"{sum(row[position].total_score for row in s.explanations) / len(texts):.1f}" for s in sweeps]
        body.append(cells)
    # Every (layer, beta) as one sweep, shallower layers and earlier betas first: a lead within
    # its standard error is a tie, and the first of the tied settings is recommended.
    order = [(p, b) for p in range(len(layers)) for b in range(len(args.betas))]
    combined = Sweep(
        "layer, beta",
        [(layers[p], args.betas[b]) for p, b in order],
        [],
        higher_is_better=sweeps[0].higher_is_better,
        faithfulness=[sweeps[b].faithfulness[p] for p, b in order],
        faithfulness_values=[sweeps[b].faithfulness_values[p] for p, b in order],
    )
    best_layer, best_beta = combined.best
    best_value = combined.faithfulness[combined.settings.index((best_layer, best_beta))]
    tied = f"; tied within a standard error: {', '.join(f'layer {layer} beta {beta:g}' for layer, beta in combined.tied)}" if len(combined.tied) > 1 else ""
    report = (
        f"{args.model}: IBA degradation test (LeRF - MoRF area of the target probability, tokens deleted, "
        f"higher is better), {args.n} IMDB test reviews (seed {args.seed}), mean ± standard error\n\n"
        + markdown_table(header, body)
        + f"\nrecommended: layer {best_layer}, beta {best_beta:g} ({best_value:.3f}{tied})\n"
    )
    best_sweep = sweeps[args.betas.index(best_beta)]
    best_sweep.to_html(0, args.out / "layers-review0.html")

    if args.timing:
        beta = best_beta
        started = time.perf_counter()
        shared = sweep_layers(classifier, texts, args.layers, beta=beta, metric=None, batch_size=args.batch_size, **prior)
        shared_seconds = time.perf_counter() - started
        started = time.perf_counter()
        for layer in layers:
            explainer = PerSampleIBA(classifier, layer, beta=beta, **prior)
            for start in range(0, len(texts), args.batch_size):
                explainer.explain_batch(texts[start : start + args.batch_size])
        separate_seconds = time.perf_counter() - started
        report += (
            f"\ntiming (beta {beta:g}, {len(layers)} layers, {args.n} reviews, batches of {args.batch_size}): "
            f"shared-pass sweep {shared_seconds:.1f} s, layers one by one {separate_seconds:.1f} s, "
            f"ratio {separate_seconds / shared_seconds:.2f}x; sweep seconds per review and layer {shared_seconds / len(texts) / len(layers):.3f}\n"
        )
        del shared
    write_text_atomic(args.out / "summary.md", report)
    print("\n" + report)


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main, on_interrupt="finished items are kept; run the same command again to resume"))
