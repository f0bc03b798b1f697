"""Why does IBA rank tokens the way it does? Optimisation length, distance from the prior, sign.

For a seeded sample of IMDB test reviews, explains each review with IBA at several
(steps, lr) settings and with the "capacity at initialisation" (the bits every token would
be given before any optimisation: KL at alpha = init_alpha, which only measures how far the
token's activations are from the prior mean), then scores all of them with the degradation
test, insertion/deletion and Sensitivity-N, and prints the rank correlation between each
setting's bits and the capacity at initialisation, and the share of the bits that the special
tokens ([CLS], [SEP]) take. Integrated Gradients and its absolute
value are scored alongside: IBA's bits have no sign, so the gap between IG and |IG| shows
how much of IG's lead comes from knowing which tokens speak against the target.

    python scripts/iba_diagnostics.py --model imdb-bert-small --n 20 --settings 10x1 30x1 100x1 10x0.1

The diagnosis itself is ib_nlp.text.diagnostics.diagnose_iba.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ib_nlp import Classifier
from ib_nlp.cli import run_reporting_errors
from ib_nlp.commands import add_review_sample_arguments
from ib_nlp.errors import TruncationWarning
from ib_nlp.evaluation import sample_items
from ib_nlp.options import parse_layer
from ib_nlp.text.data import load_imdb
from ib_nlp.text.diagnostics import HEADER, diagnose_iba
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def setting(value: str) -> tuple[int, float]:
    """``STEPSxLR`` (``10x1``) as (steps, lr)."""
    steps, _, lr = value.partition("x")
    try:
        return int(steps), float(lr)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected STEPSxLR such as 10x1, got {value!r}") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=20)
    parser.add_argument("--layer", type=parse_layer, default=None, help="default: the model's recommended layer")
    parser.add_argument("--beta", type=float, default=None, help="default: the model's recommended beta")
    parser.add_argument("--settings", nargs="+", type=setting, default=[(10, 1.0), (30, 1.0), (100, 1.0), (10, 0.1)], help="STEPSxLR")
    parser.add_argument("--subsets", type=int, default=30, help="Sensitivity-N subsets per size")
    parser.add_argument("--reference-n", type=int, default=0, help="estimate IBA's prior on N IMDB train reviews (default: the model's shipped statistics)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    train = load_imdb("train", args.data)
    prior = {"reference_corpus": [i["text"] for i in sample_items(train, min(args.reference_n, len(train)), args.seed)]} if args.reference_n else {}
    classifier = Classifier.load(args.model, device="cpu")
    title, body = diagnose_iba(classifier, items, args.settings, layer=args.layer, beta=args.beta, subsets=args.subsets, prior=prior)
    print(f"{args.model}, {title}: {args.n} IMDB test reviews (seed {args.seed}), mean ± standard error\n")
    print(markdown_table(HEADER, body))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
