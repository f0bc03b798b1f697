"""Train a readout bottleneck for a classifier on IMDB training reviews.

    python scripts/train_readout.py --model imdb-bert-small --n 5000 --epochs 2 --out runs/readout-bert-small.safetensors
    python scripts/train_readout.py --model imdb-lstm --n 5000 --epochs 2 --out ib_nlp/assets/imdb-lstm/readout.safetensors

The readout attaches at the model's recommended IBA layer with its recommended beta (override
with --layer and --beta) and reads that layer and every later block. The file is written after
every epoch; running the same command again continues from it until --epochs are done (the
optimiser's state is not saved: a continued run starts Adam afresh).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ib_nlp.cli import run_reporting_errors
from ib_nlp.options import parse_layer
from ib_nlp.errors import TruncationWarning
from ib_nlp import Classifier
from ib_nlp.data import load_imdb
from ib_nlp.evaluation import sample_items
from ib_nlp.core.optimise import IBAConfig
from ib_nlp.readout import Readout, train_readout

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-bert-small", help="shipped model name, local path or hub id")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IMDB folder or file (see ib_nlp.data.load_imdb)")
    parser.add_argument("--n", type=int, default=5000, help="training reviews (a seeded sample of the train split)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256, help="width of the readout MLP")
    parser.add_argument("--layer", help="attach layer (default: the model's recommended IBA layer)")
    parser.add_argument("--beta", type=float, help="default: the model's recommended IBA beta")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-n", type=int, default=0, help="estimate the statistics from this many other training reviews (default: the model's shipped statistics)")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--out", type=Path, required=True, help="readout file (.safetensors); an existing one is continued")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", TruncationWarning)

    classifier = Classifier.load(args.model, device=args.device)
    recommended = getattr(classifier.model.config, "ib_nlp_defaults", None) or {}
    layer = parse_layer(args.layer) if args.layer else recommended.get("layer", 0)
    beta = args.beta if args.beta is not None else recommended.get("beta", IBAConfig().beta)
    train = load_imdb("train", args.data)
    if args.n + args.reference_n > len(train):
        raise SystemExit(f"--n plus --reference-n must not exceed the {len(train)} training reviews")
    sample = [item["text"] for item in sample_items(train, args.n + args.reference_n, args.seed)]
    texts, reference = sample[: args.n], (sample[args.n :] or None)
    if args.out.is_file():
        readout = Readout.load(args.out, classifier.device)
        if (readout.config.layer, readout.config.beta) != (layer, beta):
            raise SystemExit(f"{args.out} holds a readout at layer {readout.config.layer} with beta {readout.config.beta}; choose another --out")
    else:
        readout = Readout.create(classifier, layer, hidden=args.hidden, beta=beta, reference_corpus=reference)
    done = readout.config.training.get("epochs", 0)
    if done >= args.epochs:
        print(f"{args.out} already has {done} epochs", file=sys.stderr)
        return

    def save(epoch: int, loss: float) -> None:
        readout.save(args.out)
        print(f"epoch {done + epoch + 1}/{args.epochs}: mean loss {loss:.4f}; saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", flush=True)

    train_readout(classifier, readout, texts, epochs=args.epochs - done, batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=not args.no_progress, on_epoch_end=save)


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
