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
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import sys

from ib_nlp.cli import run_reporting_errors
from ib_nlp.errors import TruncationWarning
from ib_nlp import Classifier, load_method
from ib_nlp.text.data import load_imdb
from ib_nlp.evaluation import sample_items
from ib_nlp.ui.markdown import markdown_table
from ib_nlp.text.methods.input_iba import InputIBA
from ib_nlp.text.metrics import Degradation, InsertionDeletion

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"
SETTINGS = {
    "paper": {},
    "no-gan": {"gan_epochs": 0},
    "clip-fast": {"gan_lr": 1e-2},
    "penalty-fast": {"critic": "gradient_penalty", "gan_lr": 1e-2},
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-lstm")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="InputIBA option for every setting (e.g. gan_epochs=5)")
    parser.add_argument("--reference-n", type=int, default=0, help="estimate the statistics from N IMDB train reviews (default: the model's shipped statistics)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)

    common = {}
    for pair in args.option:
        key, _, value = pair.partition("=")
        common[key] = value if key == "critic" else (float(value) if any(c in value for c in ".e") else int(value))
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    classifier = Classifier.load(args.model, device="cpu")
    reference = [item["text"] for item in sample_items(load_imdb("train", args.data), args.reference_n, args.seed)] if args.reference_n else None
    metrics = [Degradation(), InsertionDeletion()]
    methods = {"per-sample IBA (recommended layer)": load_method("iba", classifier, reference_corpus=reference)}
    for name in args.settings:
        methods[f"InputIBA {name}"] = InputIBA(classifier, reference_corpus=reference, **{**common, **SETTINGS[name]})
    rows = []
    for label, method in methods.items():
        scores: dict[str, list[float]] = {"lerf_minus_morf": [], "deletion_auc": [], "insertion_auc": [], "drift_mean": [], "drift_max": [], "feature": [], "gan": [], "input": [], "seconds": []}
        for item in items:
            explanation = method.explain(item["text"])
            for metric in metrics:
                (result,) = metric.compute(classifier, [explanation], item["label"])
                for key in ("lerf_minus_morf", "deletion_auc", "insertion_auc"):
                    if key in result:
                        scores[key].append(result[key])
            scores["seconds"].append(explanation.seconds)
            if isinstance(method, InputIBA):
                drift = (method.last_prior_masks[0] - 0.5).abs()
                scores["drift_mean"].append(float(drift.mean()))
                scores["drift_max"].append(float(drift.max()))
                for stage, seconds in method.stage_seconds.items():
                    scores[stage].append(seconds)
        rows.append([label] + [f"{np.mean(scores[key]):.3f}" if scores[key] else "n/a" for key in scores])
    header = ["method", "LeRF - MoRF (↑)", "deletion AUC (↓)", "insertion AUC (↑)", "mean |lam_G - 0.5|", "max |lam_G - 0.5|", "feature IBA s", "GAN s", "input bottleneck s", "total s"]
    print(f"{classifier.name}: {args.n} IMDB test reviews (seed {args.seed}); means over reviews; common options {common or 'none'}\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
