"""Faithfulness and localisation of image attribution methods over an ImageNet sample: every
method explains each image for the predicted class, every image metric scores the map, one
JSON line per image (resumable, shardable by hand), and a table in the layout of the IBA
paper's Table 1. A readout is never scored on an image it was trained on. ``heatmap_figure``
draws the maps of the same methods side by side for a few images."""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ib_nlp.errors import InvalidInputError
from ib_nlp.io import write_text_atomic
from ib_nlp.vision.base import ImageMethod
from ib_nlp.vision.methods import IMAGE_METHODS, load_image_method
from ib_nlp.vision.metrics import ImageMetric, load_image_metric
from ib_nlp.vision.models import ImageModel, LabelledImage, image_model, imagenet_sample
from ib_nlp.vision.plots import heatmaps_png
from ib_nlp.evaluation.runner import RESULTS_PATTERN, SETTINGS_FILE, JsonLines, finished_prefix, refuse_other_settings
from ib_nlp.ui.markdown import markdown_table, mean_and_error

# captum warns on every attribution of an image that does not require gradients (ours never do).
CAPTUM_GRADIENT_WARNING = "Input Tensor 0 did not already require gradients"
DEFAULT_IMAGE_METHODS = ["iba", "gradient", "saliency", "integrated_gradients", "smoothgrad", "guided_backprop", "grad_cam", "guided_grad_cam", "occlusion", "occlusion_14", "random"]
# Each column of the table: the record key, its title, the metric (a name of IMAGE_METRICS) and its value.
COLUMNS = [
    ("degradation_8", "degradation 8x8 (↑)", "tiles_8", "lerf_minus_morf"),
    ("degradation_14", "degradation 14x14 (↑)", "tiles_14", "lerf_minus_morf"),
    ("bbox", "bbox (↑)", "bounding_box_ratio", "ratio"),
    ("ehr", "EHR (↑)", "effective_heat_ratio", "auc"),
    ("deletion_auc", "deletion AUC (↓)", "image_insertion_deletion", "deletion_auc"),
    ("insertion_auc", "insertion AUC (↑)", "image_insertion_deletion", "insertion_auc"),
    ("seconds", "s per image (↓)", None, None),
]


@dataclass
class ImageEvaluationSettings:
    """What an image evaluation computes; stored beside the results so a resumed run matches."""

    n: int = 1000
    methods: list[str] = field(default_factory=lambda: list(DEFAULT_IMAGE_METHODS))
    layer: str | None = None
    """IBA's layer (a module name; default: the model's)."""
    cam_layer: str | None = None
    """Grad-CAM's layer (default: the model's)."""
    reference_n: int = 200
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: int = 20
    model: str = "efficientnet-lite0"
    """A name of ``ib_nlp.vision.models.IMAGE_MODELS``."""

    def __post_init__(self) -> None:
        """Refuse an unknown model or method before anything loads (the registries' errors list
        the valid ones) and fill in the model's layers."""
        preset = image_model(self.model)
        for name in self.methods:
            if name not in IMAGE_METHODS:
                IMAGE_METHODS.get(name)
        self.layer = self.layer or preset.layer
        self.cam_layer = self.cam_layer or preset.cam_layer

    @property
    def image_model(self) -> ImageModel:
        """The registered :class:`ImageModel` named by ``model``."""
        return image_model(self.model)

    def check_stored(self, folder: Path) -> None:
        """Refuse a folder holding a run with other settings (``n`` may grow)."""
        stored = folder / SETTINGS_FILE
        if stored.is_file():
            refuse_other_settings(folder, {k: v for k, v in json.loads(stored.read_text()).items() if k != "n"}, {k: v for k, v in asdict(self).items() if k != "n"})


def image_metrics(steps: int, black: float | Sequence[float] = -1.0) -> dict[str, ImageMetric]:
    """The metrics of the table, by registry name (``black``: a black pixel in the model's input
    space, per channel or for all)."""
    return {
        "tiles_8": load_image_metric("tiles_8", steps=steps),
        "tiles_14": load_image_metric("tiles_14", steps=steps),
        "bounding_box_ratio": load_image_metric("bounding_box_ratio"),
        "effective_heat_ratio": load_image_metric("effective_heat_ratio"),
        "image_insertion_deletion": load_image_metric("image_insertion_deletion", steps=steps, black=black),
    }


def unseen(candidates: Sequence[ImageMethod], image_id: str) -> ImageMethod | None:
    """The first candidate method not trained on the image, or None when every candidate has seen it."""
    return next((method for method in candidates if image_id not in method.trained_on), None)


def score_image(model: Any, methods: Mapping[str, Sequence[ImageMethod]], item: LabelledImage, metrics: Mapping[str, ImageMetric]) -> dict[str, Any]:
    """Explain one image with every method and score every map (a readout trained on the image
    is not scored: its values are None)."""
    record: dict[str, Any] = {"index": item.image_id, "label": item.label, "box_fraction": item.box_fraction, "methods": {}}
    for name, candidates in methods.items():
        method = unseen(candidates, item.image_id)
        if method is None:
            record["methods"][name] = {key: None for key, *_ in COLUMNS} | {"skipped": "trained on this image"}
            continue
        started = time.perf_counter()
        explanation = method.explain(item.image)
        seconds = time.perf_counter() - started
        computed = {metric_name: metric.compute(model, item.image, explanation.scores, explanation.target, item.boxes) for metric_name, metric in metrics.items()}
        result: dict[str, Any] = {"seconds": seconds, "target": explanation.target}
        result |= {key: computed[metric][value] for key, _, metric, value in COLUMNS if metric is not None}
        if explanation.kept_probability is not None:
            result["kept_probability"] = explanation.kept_probability
        record["methods"][name] = result
        record["predicted"] = explanation.target
    return record


def summary(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Methods x columns: mean ± standard error (seconds: median)."""
    header = ["method"] + [title for _, title, *_ in COLUMNS]
    body = []
    for method in records[0]["methods"]:
        cells = [method]
        for key, *_ in COLUMNS:
            values = np.array([r["methods"][method][key] for r in records if r["methods"][method][key] is not None], dtype=np.float64)
            if key == "seconds":
                cells.append(f"{np.median(values):.3f}" if len(values) else "n/a")
            elif len(values) > 1:
                shown_n = key == "ehr" or len(values) < len(records)
                cells.append(mean_and_error(values) + (f" (n={len(values)})" if shown_n else ""))
            else:
                cells.append("n/a")
        body.append(cells)
    return header, body


def write_summary(folder: Path, records: Sequence[Mapping[str, Any]], model: str, layer: str) -> str:
    """The table of ``records`` as ``summary.md``; returns it."""
    header, body = summary(records)
    markdown = f"{model}, {len(records)} ImageNet validation images (centre crop 224); IBA at {layer}\n\n" + markdown_table(header, body)
    write_text_atomic(folder / "summary.md", markdown)
    return markdown


def summarize_finished(folder: str | os.PathLike[str], data: str | os.PathLike[str]) -> tuple[str, int, int]:
    """The table of the longest finished prefix of the run in ``folder``, computing nothing:
    (markdown, images finished, images of the run)."""
    folder = Path(folder)
    stored = folder / SETTINGS_FILE
    if not stored.is_file():
        raise InvalidInputError(f"{folder} holds no image evaluation run (no {SETTINGS_FILE})")
    settings = ImageEvaluationSettings(**json.loads(stored.read_text()))
    order = [item.image_id for item in imagenet_sample(data, settings.n, settings.image_model)]
    records = finished_prefix(order, JsonLines(folder, RESULTS_PATTERN, 0).read())
    if not records:
        raise InvalidInputError(f"no image of the run in {folder} is finished yet (the first image of the sample is not done)")
    return write_summary(folder, records, settings.model, settings.layer), len(records), settings.n


def build_methods(settings: ImageEvaluationSettings, model: Any, reference_data: str | os.PathLike[str]) -> dict[str, list[ImageMethod]]:
    """Every method of the run (a readout given as a list of files gives one method per file);
    IBA and InputIBA get their prior from the first ``reference_n`` images of ``reference_data``."""
    import torch

    bases = {name: IMAGE_METHODS.base(name) for name in settings.methods}
    reference_batches: list[Any] = []
    if {"iba", "input_iba"} & set(bases.values()):
        references = [item.image for item in imagenet_sample(reference_data, settings.reference_n, settings.image_model)]
        reference_batches = [torch.stack(references[i : i + 16]) for i in range(0, len(references), 16)]
    methods: dict[str, list[ImageMethod]] = {}
    for name, base in bases.items():
        extra = dict(settings.options.get(name, {}))
        if base in ("iba", "input_iba"):
            extra = {"layer": settings.layer, "reference_images": reference_batches, **extra}
        elif base in ("grad_cam", "guided_grad_cam"):
            extra = {"layer": settings.cam_layer, **extra}
        if base == "readout" and isinstance(extra.get("readout"), list):
            methods[name] = [load_image_method(name, model, **{**extra, "readout": path}) for path in extra["readout"]]
        else:
            methods[name] = [load_image_method(name, model, **extra)]
    return methods


def run_image_evaluation(
    settings: ImageEvaluationSettings,
    data: str | os.PathLike[str],
    folder: str | os.PathLike[str],
    *,
    reference_data: str | os.PathLike[str] | None = None,
    shard: tuple[int, int] | None = None,
    device: str = "cpu",
) -> str | None:
    """Run (or resume) the evaluation of ``settings`` on the sample in ``data``, writing to
    ``folder``; returns the summary table (None for a shard, which writes none)."""
    from tqdm.auto import tqdm

    folder = Path(folder)
    settings.check_stored(folder)
    preset = settings.image_model
    model = preset.load().to(device)
    methods = build_methods(settings, model, reference_data or data)
    items = list(imagenet_sample(data, settings.n, preset))
    folder.mkdir(parents=True, exist_ok=True)
    write_text_atomic(folder / SETTINGS_FILE, json.dumps(asdict(settings), indent=2) + "\n")
    metrics = image_metrics(settings.steps, preset.black)
    log = JsonLines(folder, RESULTS_PATTERN, f"s{shard[0]}of{shard[1]}" if shard else 0)
    done = {record["index"] for record in log.read()}
    share = items[shard[0] :: shard[1]] if shard else items
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=CAPTUM_GRADIENT_WARNING)
        for item in tqdm([item for item in share if item.image_id not in done], desc="images", unit="image"):
            log.append(score_image(model, methods, item, metrics))
    if shard:
        return None
    wanted = {item.image_id for item in items}
    return write_summary(folder, [record for record in log.read() if record["index"] in wanted], settings.model, settings.layer)


def heatmap_figure(settings: ImageEvaluationSettings, data: str | os.PathLike[str], device: str = "cpu") -> bytes:
    """A PNG of the first ``settings.n`` images of the sample in ``data``, one row each: the image
    with its boxes, then the map of every method for the predicted class (built as in the
    evaluation: IBA's prior from the first ``reference_n`` images; a readout only on images it
    was not trained on, its cell left empty otherwise)."""
    preset = settings.image_model
    model = preset.load().to(device)
    methods = build_methods(settings, model, data)
    rows, boxes = [], []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=CAPTUM_GRADIENT_WARNING)
        for item in imagenet_sample(data, settings.n, preset):
            chosen = {name: unseen(candidates, item.image_id) for name, candidates in methods.items()}
            explanations = {name: method.explain(item.image) for name, method in chosen.items() if method is not None}
            predicted = next((f"class {explanation.target}" for explanation in explanations.values()), "every method trained on it")
            rows.append((f"{item.image_id[-5:]}: {predicted} (label {item.label})", preset.pixels(item.image), {name: e.scores for name, e in explanations.items()}))
            boxes.append(item.boxes)
    return heatmaps_png(rows, boxes)
