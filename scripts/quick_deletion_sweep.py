"""Choose a shipped model's default IBA layer and beta with a quick token-deletion test.

For each (layer, beta) pair, explain IMDB test reviews, delete the top k% of non-special
tokens by attribution (most relevant first), and report the mean drop of the probability of
the predicted class (higher is better), next to deleting random tokens. This is the small,
honest check behind the recommended settings stored in the shipped models' configs; the
full evaluation (degradation curves, Sensitivity-N, baselines) is a separate script.

    python scripts/quick_deletion_sweep.py --model imdb-bert-small --n 40 --layers embeddings 0 1 --betas 10 1 0.1
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import torch

from ib_nlp import Classifier, PerSampleIBA
from ib_nlp.data import load_imdb

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def deletion_drop(classifier: Classifier, input_ids: list[int], special: list[bool], scores: list[float], fraction: float, target: int) -> float:
    """Probability drop of ``target`` after deleting the highest-scored ``fraction`` of ordinary tokens."""
    ordinary = [i for i, is_special in enumerate(special) if not is_special]
    count = round(fraction * len(ordinary))
    removed = set(sorted(ordinary, key=lambda i: -scores[i])[:count])
    kept = [token for i, token in enumerate(input_ids) if i not in removed]
    with torch.no_grad():
        before = torch.softmax(classifier.model(input_ids=torch.tensor([input_ids], device=classifier.device)).logits, -1)[0, target]
        after = torch.softmax(classifier.model(input_ids=torch.tensor([kept], device=classifier.device)).logits, -1)[0, target]
    return float(before - after)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-bert-small")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=40, help="number of IMDB test reviews (seeded sample)")
    parser.add_argument("--max-length", type=int, default=128, help="reviews are cut to this many tokens")
    parser.add_argument("--layers", nargs="+", default=["embeddings", "0", "1"])
    parser.add_argument("--betas", nargs="+", type=float, default=[10.0, 1.0, 0.1])
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.1, 0.2, 0.3])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    test = load_imdb("test", args.data)
    indices = random.Random(args.seed).sample(range(len(test)), args.n)
    classifier = Classifier.load(args.model, device="cpu")
    batch = classifier.encode(list(test.select(indices)["text"]), max_length=args.max_length)
    texts = [classifier.tokenizer.decode(batch.input_ids[row, : batch.lengths[row]], skip_special_tokens=True) for row in range(args.n)]
    encoded = classifier.encode(texts)
    rows = [(encoded.input_ids[r, : encoded.lengths[r]].tolist(), encoded.special[r]) for r in range(args.n)]
    with torch.no_grad():
        predicted = [int(classifier.model(input_ids=torch.tensor([ids])).logits.argmax()) for ids, _ in rows]

    header = "| layer | beta | " + " | ".join(f"drop@{int(f * 100)}%" for f in args.fractions) + " | mean | s/text |"
    print(f"{args.model}: {args.n} IMDB test reviews (seed {args.seed}), cut to {args.max_length} tokens; "
          "mean drop of the predicted class probability after deleting the top-k% tokens (higher is better)\n")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    generator = random.Random(args.seed)
    random_drops = [
        sum(deletion_drop(classifier, ids, special, [generator.random() for _ in ids], f, target) for (ids, special), target in zip(rows, predicted)) / args.n
        for f in args.fractions
    ]
    print("| random | - | " + " | ".join(f"{d:.3f}" for d in random_drops) + f" | {sum(random_drops) / len(random_drops):.3f} | - |")
    for layer in args.layers:
        for beta in args.betas:
            explainer = PerSampleIBA(classifier, int(layer) if layer.lstrip("-").isdigit() else layer, beta=beta)
            started = time.perf_counter()
            explanations = [explainer.explain(text) for text in texts]
            seconds = (time.perf_counter() - started) / args.n
            drops = [
                sum(deletion_drop(classifier, ids, special, e.token_scores, f, e.predicted) for (ids, special), e in zip(rows, explanations)) / args.n
                for f in args.fractions
            ]
            print(f"| {layer} | {beta:g} | " + " | ".join(f"{d:.3f}" for d in drops) + f" | {sum(drops) / len(drops):.3f} | {seconds:.2f} |", flush=True)


if __name__ == "__main__":
    main()
