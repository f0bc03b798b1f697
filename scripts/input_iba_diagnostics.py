"""Does InputIBA's GAN matter? Prior-mask drift, stage times and faithfulness per GAN setting.

For a seeded sample of IMDB test reviews, explains each review with InputIBA under several
settings of step 2 (the WGAN that learns the prior mask lam_G) and with per-sample IBA at the
model's recommended layer, then prints per setting: the degradation test (LeRF - MoRF),
deletion and insertion AUC, how far lam_G moved from its start at 0.5 (mean and largest
|lam_G - 0.5|), and the seconds of each stage.

    python scripts/input_iba_diagnostics.py --model imdb-lstm --n 5
    python scripts/input_iba_diagnostics.py --model imdb-bert-small --n 5 --settings paper no-gan

Settings: paper (weight clipping, RMSprop lr 5e-5, as in the paper), no-gan (gan_epochs 0:
lam_G stays 0.5), clip-fast (clipping, lr 1e-2), penalty-fast (gradient penalty, lr 1e-2).
The diagnosis itself is ib_nlp.text.diagnostics.diagnose_input_iba.
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
from ib_nlp.text.diagnostics import INPUT_IBA_HEADER, INPUT_IBA_SETTINGS, diagnose_input_iba
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=5, model="imdb-lstm")
    parser.add_argument("--settings", nargs="+", default=list(INPUT_IBA_SETTINGS), choices=list(INPUT_IBA_SETTINGS))
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="InputIBA option for every setting (e.g. gan_epochs=5; values are JSON, else strings)")
    parser.add_argument("--reference-n", type=int, default=0, help="estimate the statistics from N IMDB train reviews (default: the model's shipped statistics)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)
    common = parse_options([f"input_iba.{pair}" for pair in args.option]).get("input_iba", {})
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    classifier = Classifier.load(args.model, device="cpu")
    reference = [item["text"] for item in sample_items(load_imdb("train", args.data), args.reference_n, args.seed)] if args.reference_n else None
    rows = diagnose_input_iba(classifier, items, args.settings, common=common, reference=reference)
    print(f"{classifier.name}: {args.n} IMDB test reviews (seed {args.seed}); means over reviews; common options {common or 'none'}\n")
    print(markdown_table(INPUT_IBA_HEADER, rows))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
