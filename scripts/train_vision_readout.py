"""Train the image readout bottleneck for EfficientNet-Lite0 on images of the ImageNet sample.

    python scripts/train_vision_readout.py --skip 500 --n 500 --epochs 2 --out runs/readout-lite0.safetensors

The readout attaches at IBA's layer (default ``_blocks.5``) and reads it and the later block
outputs given by --readout-layers. Training images are the --n images after the first --skip
of the sample, so that the first --skip images stay unseen for evaluating the readout; their
ids are saved with the readout, and scripts/evaluate_vision.py never scores a readout on an image
it was trained on (give it two readouts trained on complementary halves to cover the sample).

    python scripts/train_vision_readout.py --skip 0 --n 500 --epochs 4 --out runs/readout-lite0-first500.safetensors
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import sys

from ib_nlp.vision.models import EFFICIENTNET_LITE0_LAYER, efficientnet_lite0, imagenet_sample
from ib_nlp.vision.readout import ImageReadout

from ib_nlp.cli import run_reporting_errors

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--skip", type=int, default=500, help="leave the first images of the sample out of training")
    parser.add_argument("--n", type=int, default=500, help="training images")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--layer", default=EFFICIENTNET_LITE0_LAYER)
    parser.add_argument("--readout-layers", nargs="+", default=["_blocks.10", "_blocks.15"])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    model = efficientnet_lite0().to(args.device)
    items = list(imagenet_sample(args.data, args.skip + args.n))[args.skip :]
    if not items:
        raise SystemExit(f"no training images: the sample has at most {args.skip} images")
    images = [item.image for item in items]
    batches = [torch.stack(images[i : i + args.batch_size]) for i in range(0, len(images), args.batch_size)]
    readout = ImageReadout.create(model, args.layer, args.readout_layers, batches, beta=args.beta)
    readout.trained_on = [item.image_id for item in items]
    for epoch in range(args.epochs):
        (loss,) = readout.train(batches, epochs=1, lr=args.lr, seed=epoch)
        readout.save(args.out)
        print(f"epoch {epoch + 1}/{args.epochs}: mean loss {loss:.4f}; saved {args.out}", flush=True)


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
