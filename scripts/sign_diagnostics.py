"""Do the signs and sizes of each method's scores follow the tokens' leave-one-out effects?

For a seeded sample of IMDB test reviews, compares each method's token scores with occlusion's
(the target's drop when one token alone is replaced), on the tokens other than [CLS]/[SEP]:
the share of the tokens with a clear effect (the larger half of |effect|) whose score has the
effect's sign, the Pearson correlation of the scores with the effects, and that of their
magnitudes (Sensitivity-N rewards both); and where the method's deletion order puts the clear
effects against the target (0 first, 1 last: the deletion curve rewards a late place).

    python scripts/sign_diagnostics.py --model imdb-bert-small --n 20

The diagnosis itself is ib_nlp.text.diagnostics.diagnose_signs.
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
from ib_nlp.evaluation import parse_options, sample_items
from ib_nlp.text.data import load_imdb
from ib_nlp.text.diagnostics import SIGN_HEADER, diagnose_signs
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"
METHODS = ["gradient_signed_iba", "open_signed_iba", "closing_signed_iba", "contrastive_iba", "integrated_gradients", "gradient_x_input"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=20)
    parser.add_argument("--methods", nargs="+", default=METHODS)
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE", help="option of a method (values are JSON, else strings)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)
    texts = [item["text"] for item in sample_items(load_imdb("test", args.data), args.n, args.seed)]
    rows = diagnose_signs(Classifier.load(args.model, device="cpu"), texts, args.methods, parse_options(args.option))
    print(f"{args.model}: {args.n} IMDB test reviews (seed {args.seed}), against occlusion's leave-one-out effects; mean ± standard error\n")
    print(markdown_table(SIGN_HEADER, rows))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
