"""Heatmaps of every image method on a few images of the ImageNet sample, side by side (PNG).

    python scripts/vision_heatmaps.py --n 4 --out docs/images/heatmaps-lite0.png

EfficientNet-Lite0, centre crop 224, the predicted class; IBA at the preset layer with its
prior from --reference-n images of the sample; Grad-CAM at the last block.
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import torch
import sys

from ib_nlp.vision.methods import load_image_method
from ib_nlp.vision.models import EFFICIENTNET_LITE0_LAYER, efficientnet_lite0, imagenet_sample
from ib_nlp.vision.plots import heatmaps_png

from ib_nlp.cli import run_reporting_errors

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=4, help="images (the first of the sample)")
    parser.add_argument("--methods", nargs="+", default=["iba", "grad_cam", "saliency", "integrated_gradients", "guided_backprop", "occlusion_14"])
    parser.add_argument("--reference-n", type=int, default=64)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")

    model = efficientnet_lite0()
    items = list(imagenet_sample(args.data, args.n + args.reference_n))
    shown, references = items[: args.n], items[args.n :]
    batches = [torch.stack([item.image for item in references[i : i + 16]]) for i in range(0, len(references), 16)]
    options = {"iba": {"layer": EFFICIENTNET_LITE0_LAYER, "reference_images": batches}, "grad_cam": {"layer": "_blocks.15"}, "guided_grad_cam": {"layer": "_blocks.15"}}
    methods = {name: load_image_method(name, model, **options.get(name, {})) for name in args.methods}
    rows, boxes = [], []
    for item in shown:
        explanations = {name: method.explain(item.image) for name, method in methods.items()}
        target = next(iter(explanations.values())).target
        rows.append((f"{item.image_id[-5:]}: class {target} (label {item.label})", item.image * 0.5 + 0.5, {name: e.scores for name, e in explanations.items()}))
        boxes.append(item.boxes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(heatmaps_png(rows, boxes))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
