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
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
import sys

from ib_nlp.cli import run_reporting_errors
from ib_nlp.options import parse_layer
from ib_nlp.errors import TruncationWarning
from ib_nlp import Classifier, PerSampleIBA, load_method
from ib_nlp.text.methods.base import explanation_from_scores
from ib_nlp.text.data import load_imdb
from ib_nlp.evaluation import sample_items
from ib_nlp.ui.markdown import markdown_table
from ib_nlp.text.metrics import Degradation, InsertionDeletion, SensitivityN
from ib_nlp.text.metrics.sanity import spearman
from ib_nlp.text.sites import first_tensor

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def initial_capacity(explainer: PerSampleIBA, text: str) -> list[float]:
    """Bits per token at alpha = init_alpha, before any optimisation step."""
    batch = explainer.classifier.encode([text])
    _, captured = explainer.first_pass(batch)
    activations = first_tensor(captured)
    alpha = torch.full(activations.shape, explainer.config.init_alpha, device=activations.device)
    return explainer.bits_per_token(alpha, activations, batch)[0].tolist()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-bert-small")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layer", default=None, help="default: the model's recommended layer")
    parser.add_argument("--beta", type=float, default=None, help="default: the model's recommended beta")
    parser.add_argument("--settings", nargs="+", default=["10x1", "30x1", "100x1", "10x0.1"], help="STEPSxLR")
    parser.add_argument("--subsets", type=int, default=30, help="Sensitivity-N subsets per size")
    parser.add_argument("--reference-n", type=int, default=0, help="estimate IBA's prior on N IMDB train reviews (default: the model's shipped statistics)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)

    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    train = load_imdb("train", args.data)
    prior = {"reference_corpus": [i["text"] for i in sample_items(train, min(args.reference_n, len(train)), args.seed)]} if args.reference_n else {}
    classifier = Classifier.load(args.model, device="cpu")
    layer = None if args.layer is None else parse_layer(args.layer)
    explainers = {}
    for setting in args.settings:
        steps, lr = setting.split("x")
        explainers[f"IBA {steps} steps, lr {lr}"] = PerSampleIBA(classifier, layer, beta=args.beta, steps=int(steps), lr=float(lr), **prior)
    first = next(iter(explainers.values()))
    metrics = {"degradation": Degradation(), "insertion_deletion": InsertionDeletion(), "sensitivity_n": SensitivityN(subsets=args.subsets)}
    gradients = load_method("integrated_gradients", classifier)
    names = ["capacity at initialisation", *explainers, "integrated_gradients", "|integrated_gradients|"]
    values: dict[str, dict[str, list[float]]] = {name: {"lerf_minus_morf": [], "deletion_auc": [], "mean_correlation": [], "spearman_to_initial": [], "bits": [], "special_share": []} for name in names}
    for item in items:
        explained = {name: explainer.explain(item["text"]) for name, explainer in explainers.items()}
        target = next(iter(explained.values())).target
        initial = explanation_from_scores(classifier, item["text"], initial_capacity(first, item["text"]), target, method="capacity at initialisation")
        signed = gradients.explain(item["text"], target)
        absolute = explanation_from_scores(classifier, item["text"], [abs(v) for v in signed.token_scores], target, method="|integrated_gradients|")
        row = [initial, *explained.values(), signed, absolute]
        ordinary = [i for i, special in enumerate(initial.special_tokens) if not special]
        for metric_name, metric in metrics.items():
            for name, result in zip(names, metric.compute(classifier, row, item["label"])):
                value = metric.info.main if metric_name != "insertion_deletion" else "deletion_auc"
                if result[value] is not None:
                    values[name][value].append(result[value])
        for name, explanation in zip(names, row):
            correlation = spearman(np.asarray([initial.token_scores[i] for i in ordinary]), np.asarray([explanation.token_scores[i] for i in ordinary]))
            if correlation is not None:
                values[name]["spearman_to_initial"].append(correlation)
            values[name]["bits"].append(sum(explanation.token_scores) if explanation.unit == "bits" or name.startswith("capacity") else float("nan"))
            special = sum(score for score, flag in zip(explanation.token_scores, explanation.special_tokens) if flag)
            values[name]["special_share"].append(special / sum(explanation.token_scores) if sum(explanation.token_scores) > 0 else float("nan"))

    def cell(samples: list[float]) -> str:
        return f"{np.mean(samples):.3f} ± {np.std(samples, ddof=1) / np.sqrt(len(samples)):.3f}" if len(samples) > 1 else "n/a"

    header = ["attribution", "degradation LeRF-MoRF (↑)", "deletion AUC (↓)", "Sensitivity-N (↑)", "Spearman to capacity at init", "bits per review", "share on special tokens"]
    body = [
        [
            name,
            *(cell(values[name][key]) for key in ("lerf_minus_morf", "deletion_auc", "mean_correlation", "spearman_to_initial")),
            *((f"{np.mean(values[name]['bits']):.0f}", f"{np.nanmean(values[name]['special_share']):.3f}") if name.startswith(("IBA", "capacity")) else ("-", "-")),
        ]
        for name in names
    ]
    print(f"{args.model}, layer {first.layer}, beta {first.config.beta:g}: {args.n} IMDB test reviews (seed {args.seed}), mean ± standard error\n")
    print(markdown_table(header, body))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
