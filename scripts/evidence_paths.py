"""Would the bottleneck reach Integrated Gradients' Sensitivity-N if its scores added up like IG's?

For a seeded sample of IMDB test reviews, fits gradient-signed IBA once per review and splits
the change in the target's log-odds (in bits) among the tokens by integrating its gradient
along three paths of the bottleneck's expected output: from closed (every token at the prior
mean) to the optimised bottleneck, from closed through the optimised one to open, and from
closed straight to open. Each attribution, gradient-signed IBA and Integrated Gradients are
scored with degradation, Sensitivity-N and deletion.

    python scripts/evidence_paths.py --model imdb-bert-small --n 20
    python scripts/evidence_paths.py --model imdb-bert-small --n 20 --layer embeddings

The diagnosis itself is ib_nlp.text.diagnostics.diagnose_evidence_paths.
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
from ib_nlp.text.diagnostics import EVIDENCE_HEADER, diagnose_evidence_paths
from ib_nlp.ui.markdown import markdown_table

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_review_sample_arguments(parser, DEFAULT_DATA, n=20)
    parser.add_argument("--layer", type=parse_layer, default=None, help="the bottleneck's layer (default: the model's recommended one)")
    parser.add_argument("--beta", type=float, default=None, help="default: the model's recommended beta")
    parser.add_argument("--steps", type=int, default=16, help="gradient evaluations per leg of each path")
    parser.add_argument("--subsets", type=int, default=100, help="Sensitivity-N's subsets per size")
    parser.add_argument("--keep-special-tokens", action="store_true", help="let [CLS]/[SEP] pass the bottleneck unchanged")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    options = {"beta": args.beta, "keep_special_tokens": args.keep_special_tokens}
    title, rows = diagnose_evidence_paths(Classifier.load(args.model, device="cpu"), items, layer=args.layer, steps=args.steps, subsets=args.subsets, options=options)
    print(f"{args.model}: {args.n} IMDB test reviews (seed {args.seed}), {title}; mean ± standard error\n")
    print(markdown_table(EVIDENCE_HEADER, rows))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
