"""Which part of a signed bottleneck's scores ranks the tokens: the sign, or the size in bits?

For a seeded sample of IMDB test reviews, explains each review with a signed bottleneck method
at two betas (the model's recommended layer) and scores with the degradation test each beta's
signed bits, its sign alone, and each beta's sign with the other beta's size.
--method picks the signed variant (default gradient_signed_iba), --layer its layer. Answers whether
the nearly equal bits of a high beta still order the tokens, or the sign does all the work.

    python scripts/sign_and_size.py --model minilm-imdb --n 20 --betas 1 30
    python scripts/sign_and_size.py --model imdb-lstm --n 20 --betas 1 100

The diagnosis itself is ib_nlp.text.diagnostics.diagnose_sign_and_size.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ib_nlp import Classifier
from ib_nlp.cli import run_reporting_errors
from ib_nlp.commands import add_review_sample_arguments, parse_layer
from ib_nlp.errors import TruncationWarning
from ib_nlp.evaluation import sample_items
from ib_nlp.text.data import load_imdb
from ib_nlp.text.diagnostics import SIZE_HEADER, diagnose_sign_and_size
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=20)
    parser.add_argument("--method", default="gradient_signed_iba", help="a signed bottleneck method")
    parser.add_argument("--betas", type=float, nargs=2, required=True, metavar=("LOW", "HIGH"))
    parser.add_argument("--layer", type=parse_layer, default=None, help="the bottleneck's layer (default: the model's recommended one)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    options = {} if args.layer is None else {"layer": args.layer}
    title, rows = diagnose_sign_and_size(Classifier.load(args.model, device="cpu"), items, args.method, tuple(args.betas), options)
    print(f"{args.model}: {args.n} IMDB test reviews (seed {args.seed}), {title}; mean ± standard error\n")
    print(markdown_table(SIZE_HEADER, rows))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
