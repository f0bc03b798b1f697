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
import json
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import sys

from ib_nlp.cli import argument_type, run_reporting_errors
from ib_nlp.errors import InvalidInputError
from ib_nlp.evaluation import (
    JsonLines,
    finished_prefix,
    markdown_table,
    parse_options,
    parse_shard,
)
from ib_nlp.io import write_text_atomic
from ib_nlp.vision.methods import (
    IMAGE_METHODS,
    ImageMethod,
    image_method_names,
    load_image_method,
)
from ib_nlp.vision.metrics import (
    ImageInsertionDeletion,
    TileDegradation,
    bounding_box_ratio,
    effective_heat_ratio,
)
from ib_nlp.vision.models import EFFICIENTNET_LITE0_LAYER, efficientnet_lite0, imagenet_sample

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"
DEFAULT_METHODS = ["iba", "gradient", "saliency", "integrated_gradients", "smoothgrad", "guided_backprop", "grad_cam", "guided_grad_cam", "occlusion", "occlusion_14", "random"]
COLUMNS = [("degradation_8", "degradation 8x8 (↑)"), ("degradation_14", "degradation 14x14 (↑)"), ("bbox", "bbox (↑)"), ("ehr", "EHR (↑)"), ("deletion_auc", "deletion AUC (↓)"), ("insertion_auc", "insertion AUC (↑)"), ("seconds", "s per image (↓)")]


def unseen(candidates: list[ImageMethod], image_id: str) -> ImageMethod | None:
    """The first candidate method not trained on the image, or None when every candidate has seen it."""
    return next((method for method in candidates if image_id not in method.trained_on), None)


def score_image(model: torch.nn.Module, methods: dict[str, list[ImageMethod]], item: Any, metrics: dict[str, Any]) -> dict[str, Any]:
    """Explain one image with every method and score every map (a readout trained on the image
    is not scored: its values are None)."""
    record: dict[str, Any] = {"index": item.image_id, "label": item.label, "box_fraction": item.box_fraction, "methods": {}}
    for name, candidates in methods.items():
        method = unseen(candidates, item.image_id)
        if method is None:
            record["methods"][name] = {key: None for key, _ in COLUMNS} | {"skipped": "trained on this image"}
            continue
        started = time.perf_counter()
        explanation = method.explain(item.image)
        seconds = time.perf_counter() - started
        scores, target = explanation.scores, explanation.target
        result = {
            "seconds": seconds,
            "target": target,
            "degradation_8": metrics["tiles_8"].compute(model, item.image, scores, target)["lerf_minus_morf"],
            "degradation_14": metrics["tiles_14"].compute(model, item.image, scores, target)["lerf_minus_morf"],
            "bbox": bounding_box_ratio(scores, item.boxes) if item.boxes else None,
            "ehr": effective_heat_ratio(scores, item.boxes) if item.boxes and item.box_fraction < 1 / 3 else None,
        }
        insertion_deletion = metrics["insertion_deletion"].compute(model, item.image, scores, target)
        result.update(deletion_auc=insertion_deletion["deletion_auc"], insertion_auc=insertion_deletion["insertion_auc"])
        record["methods"][name] = result
        record["predicted"] = target
    return record


def summary(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Methods x columns: mean ± standard error (seconds: median)."""
    header = ["method"] + [title for _, title in COLUMNS]
    body = []
    for method in records[0]["methods"]:
        cells = [method]
        for key, _ in COLUMNS:
            values = np.array([r["methods"][method][key] for r in records if r["methods"][method][key] is not None], dtype=np.float64)
            if key == "seconds":
                cells.append(f"{np.median(values):.3f}" if len(values) else "n/a")
            elif len(values) > 1:
                shown_n = key == "ehr" or len(values) < len(records)
                cells.append(f"{values.mean():.3f} ± {values.std(ddof=1) / math.sqrt(len(values)):.3f}" + (f" (n={len(values)})" if shown_n else ""))
            else:
                cells.append("n/a")
        body.append(cells)
    return header, body


def write_summary(folder: Path, records: list[dict[str, Any]], layer: str) -> str:
    """The table of ``records`` as ``summary.md``; returns it."""
    header, body = summary(records)
    markdown = f"EfficientNet-Lite0, {len(records)} ImageNet validation images (centre crop 224); IBA at {layer}\n\n" + markdown_table(header, body)
    write_text_atomic(folder / "summary.md", markdown)
    return markdown


def summarize_finished(folder: Path, data: Path) -> None:
    """Write the table of the longest finished prefix of the run in ``folder``, computing nothing."""
    stored = folder / "settings.json"
    if not stored.is_file():
        raise SystemExit(f"{folder} holds no image evaluation run (no settings.json)")
    settings = json.loads(stored.read_text())
    order = [item.image_id for item in imagenet_sample(data, settings["n"])]
    records = finished_prefix(order, JsonLines(folder, "results.*.jsonl", 0).read())
    if not records:
        raise SystemExit(f"no image of the run in {folder} is finished yet (the first image of the sample is not done)")
    print(write_summary(folder, records, settings["layer"]))
    print(f"wrote {folder}/summary.md: finished so far {len(records)} of {settings['n']} images")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="ImageNet sample folder (images/, boxes.csv)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", default=DEFAULT_METHODS, choices=image_method_names())
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
    if args.summary_only:
        summarize_finished(args.out, args.data)
        return
    warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")

    try:
        options = parse_options(args.option)
    except InvalidInputError as error:
        parser.error(str(error))
    settings = {"n": args.n, "methods": args.methods, "layer": args.layer, "cam_layer": args.cam_layer, "reference_n": args.reference_n, "options": options, "steps": args.steps}
    stored = args.out / "settings.json"
    if stored.is_file() and {k: v for k, v in json.loads(stored.read_text()).items() if k != "n"} != {k: v for k, v in settings.items() if k != "n"}:
        raise SystemExit(f"{args.out} holds a run with other settings; resume with the same settings or choose another --out")

    model = efficientnet_lite0().to(args.device)
    items = list(imagenet_sample(args.data, args.n))
    bases = {name: IMAGE_METHODS.base(name) for name in args.methods}
    if {"iba", "input_iba"} & set(bases.values()):
        references = [item.image for item in imagenet_sample(args.reference_data or args.data, args.reference_n)]
        reference_batches = [torch.stack(references[i : i + 16]) for i in range(0, len(references), 16)]
    methods: dict[str, list[ImageMethod]] = {}
    for name, base in bases.items():
        extra = dict(options.get(name, {}))
        if base in ("iba", "input_iba"):
            extra = {"layer": args.layer, "reference_images": reference_batches, **extra}
        elif base in ("grad_cam", "guided_grad_cam"):
            extra = {"layer": args.cam_layer, **extra}
        try:
            if base == "readout" and isinstance(extra.get("readout"), list):
                methods[name] = [load_image_method(name, model, **{**extra, "readout": path}) for path in extra["readout"]]
            else:
                methods[name] = [load_image_method(name, model, **extra)]
        except InvalidInputError as error:
            parser.error(str(error))
    args.out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(stored, json.dumps(settings, indent=2) + "\n")
    metrics = {"tiles_8": TileDegradation(tile=8, steps=args.steps), "tiles_14": TileDegradation(tile=14, steps=args.steps), "insertion_deletion": ImageInsertionDeletion(steps=args.steps, black=-1.0)}
    rank = f"s{args.shard[0]}of{args.shard[1]}" if args.shard else 0
    log = JsonLines(args.out, "results.*.jsonl", rank)
    done = {record["index"] for record in log.read()}
    share = items[args.shard[0] :: args.shard[1]] if args.shard else items
    from tqdm.auto import tqdm

    for item in tqdm([item for item in share if item.image_id not in done], desc="images", unit="image"):
        log.append(score_image(model, methods, item, metrics))
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; run again without --shard to write the summary")
        return
    wanted = {item.image_id for item in items}
    records = [record for record in log.read() if record["index"] in wanted]
    print(write_summary(args.out, records, args.layer))


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main, on_interrupt="finished items are kept; run the same command again to resume"))
