"""Estimate the feature statistics shipped with a trained model, on its held-out IMDB reviews.

The training script holds out IMDB train reviews (indices in ``training.json``) that the
model never saw; the statistics of the embeddings and every layer are estimated over them
and written next to the model as ``ib_statistics.safetensors``, so explaining with the
shipped model needs no estimation pass. The model's recommended IBA settings are stored in
its config under ``ib_nlp_defaults``.

    python scripts/ship_statistics.py ib_nlp/assets/imdb-bert-small --layer 0 --beta 10
"""

from __future__ import annotations

import argparse
import json
import time
import sys
from pathlib import Path

from ib_nlp.cli import run_reporting_errors
from ib_nlp.options import parse_layer
from ib_nlp import Classifier, save_statistics
from ib_nlp.text.data import held_out_reviews
from ib_nlp.core.statistics import STATISTICS_FILENAME, fingerprint_texts

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", type=Path, help="trained model directory with training.json")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IMDB folder with train.parquet (or aclImdb)")
    parser.add_argument("--layer", help="recommended layer stored in the config (int or 'embeddings')")
    parser.add_argument("--beta", type=float, help="recommended beta stored in the config")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--defaults-only", action="store_true", help="only store --layer/--beta, keep the statistics")
    args = parser.parse_args(argv)
    if not args.defaults_only:
        estimate(args)
    if args.layer is not None or args.beta is not None:
        write_defaults(args.model_dir, args.layer, args.beta)


def estimate(args: argparse.Namespace) -> None:
    """Estimate and save the statistics of every site over the held-out reviews."""
    texts = held_out_reviews(args.model_dir, args.data)
    if texts is None:
        raise SystemExit(f"{args.model_dir / 'training.json'} lists no holdout_indices")
    classifier = Classifier.load(str(args.model_dir), device="cpu")
    started = time.perf_counter()
    statistics = classifier.estimate_statistics(texts, batch_size=args.batch_size, progress=True)
    seconds = time.perf_counter() - started
    metadata = {
        "corpus": f"IMDB train, {len(texts)} reviews held out from training (training.json: holdout_indices)",
        "corpus_fingerprint": f"texts-{len(texts)}-{fingerprint_texts(texts)}",
        "seconds": f"{seconds:.1f}",
    }
    save_statistics(args.model_dir / STATISTICS_FILENAME, statistics, metadata)
    tokens = next(iter(statistics.values())).count
    print(f"statistics of {', '.join(statistics)} over {len(texts)} reviews ({tokens} tokens) in {seconds:.0f} s")


def write_defaults(model_dir: Path, layer: str | None, beta: float | None) -> None:
    """Store the recommended IBA layer and beta in the model's config (``ib_nlp_defaults``)."""
    config_path = model_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    defaults = dict(config.get("ib_nlp_defaults") or {})
    if layer is not None:
        defaults["layer"] = parse_layer(layer)
    if beta is not None:
        defaults["beta"] = beta
    config["ib_nlp_defaults"] = defaults
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    print(f"recommended IBA settings in {config_path}: {defaults}")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
