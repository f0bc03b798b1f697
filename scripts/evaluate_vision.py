"""Faithfulness and localisation of image attribution methods on the ImageNet sample.

Explains each image (centre crop 224) with every method for the class the model predicts and
scores the map with the tile degradation test (8x8 and 14x14 tiles), the bounding-box ratio,
the effective heat ratio (images whose boxes cover less than a third of the crop) and
insertion/deletion. One JSON line per image as soon as it is done (re-running resumes;
``--shard INDEX/COUNT`` splits the images over independent processes); at the end a table in
the layout of the IBA paper's Table 1 (Markdown and CSV).

    python scripts/evaluate_vision.py --n 1000 --out runs/vision-lite0
    python scripts/evaluate_vision.py --n 50 --methods iba grad_cam random --out runs/vision-quick

The prior of IBA is estimated over --reference-n images of the sample (the first ones; each
image is a small part of it; ``--reference-data`` takes them from another folder, e.g. when a
part of the sample is evaluated on another machine). A readout is never scored on an image it was trained on (its file
lists them): ``--option 'readout.readout=["a.safetensors", "b.safetensors"]'`` gives each image the first readout
that has not seen it, so two readouts trained on complementary halves cover the whole sample.
While a run is going, ``--summary-only --out FOLDER`` writes the table of the images finished
so far (the longest finished prefix of the sample) without computing anything.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ib_nlp.cli import argument_type, run_reporting_errors
from ib_nlp.errors import InvalidInputError
from ib_nlp.evaluation.image import DEFAULT_IMAGE_METHODS, ImageEvaluationSettings, run_image_evaluation, summarize_finished
from ib_nlp.evaluation.runner import parse_options, parse_shard
from ib_nlp.vision.methods import image_method_names
from ib_nlp.vision.models import EFFICIENTNET_LITE0_LAYER

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"


def main(argv: list[str] | None = None) -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ImageNet sample folder (images/, boxes.csv)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_IMAGE_METHODS, choices=image_method_names())
    parser.add_argument("--layer", default=EFFICIENTNET_LITE0_LAYER, help="IBA's layer (module name)")
    parser.add_argument("--cam-layer", default="_blocks.15", help="Grad-CAM's layer (default: the output of the last block, 7x7)")
    parser.add_argument("--reference-n", type=int, default=200, help="images for IBA's prior")
    parser.add_argument("--reference-data", type=Path, help="sample folder whose first --reference-n images give IBA's prior (default: --data; lets a part of the sample be evaluated with the prior of the whole run)")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE", help="option of a method (values are JSON)")
    parser.add_argument("--steps", type=int, default=20, help="points of the degradation and insertion/deletion curves")
    parser.add_argument("--shard", type=argument_type(parse_shard), metavar="INDEX/COUNT", help="this process's share of the images; writes no summary")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary-only", action="store_true", help="compute nothing: the table of the images of the run in --out finished so far (with its stored settings)")
    args = parser.parse_args(argv)
    try:
        if args.summary_only:
            markdown, finished, total = summarize_finished(args.out, args.data)
            print(markdown)
            print(f"wrote {args.out}/summary.md: finished so far {finished} of {total} images")
            return
        settings = ImageEvaluationSettings(args.n, args.methods, args.layer, args.cam_layer, args.reference_n, parse_options(args.option), args.steps)
        markdown = run_image_evaluation(settings, args.data, args.out, reference_data=args.reference_data, shard=args.shard, device=args.device)
    except InvalidInputError as error:
        parser.error(str(error))
    if markdown is None:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; run again without --shard to write the summary")
    else:
        print(markdown)


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main, on_interrupt="finished items are kept; run the same command again to resume"))
