"""The readout bottleneck for CNNs (Schulz et al. 2020; docs/vision.md).

Three 1x1 convolutions (in -> in/2 -> 2C -> C, ReLU between) read the normalised feature maps
(R - mu) / sigma of the attach layer and of later layers, each resized to the attach layer's
grid, and predict alpha at the attach layer (C channels); the last convolution starts at
alpha = 5 and alpha is clamped to [-5, 5]. Trained over images with the classifier frozen
for CE + beta * mean KL of the class it predicts; an explanation then needs one forward pass.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.runtime import attribution_mode
from ib_nlp.core.bottleneck import (
    NATS_PER_BIT,
    apply_bottleneck,
    gaussian_capacity,
    normalize,
)
from ib_nlp.core.readout_head import bound_alpha, load_readout, save_readout
from ib_nlp.errors import InvalidInputError
from ib_nlp.core.statistics import DEFAULT_MIN_STD, FeatureStatistics

from .base import ImageMethod, feature_map, module_named
from .iba import cells_to_pixels, estimate_feature_statistics
from .models import EFFICIENTNET_LITE0_LAYER, LabelledImage

def read_layers(layer: str, readout_layers: Sequence[str]) -> list[str]:
    """The layers a readout reads: its attach layer first, then the others once."""
    return [layer, *[name for name in readout_layers if name != layer]]


class ReadoutConvolutions(nn.Module):
    """in -> in/2 -> 2C -> C 1x1 convolutions; output alpha in [-5, 5], starting at ``init_alpha``."""

    def __init__(self, in_channels: int, out_channels: int, init_alpha: float = 5.0):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, max(1, in_channels // 2), 1), nn.ReLU(),
            nn.Conv2d(max(1, in_channels // 2), 2 * out_channels, 1), nn.ReLU(),
            nn.Conv2d(2 * out_channels, out_channels, 1),
        )
        nn.init.zeros_(self.layers[-1].weight)
        nn.init.constant_(self.layers[-1].bias, init_alpha)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return bound_alpha(self.layers(features))


class ImageReadout:
    """A readout for one image classifier: attach layer, readout layers, their statistics and the network."""

    def __init__(self, model: nn.Module, layer: str, readout_layers: Sequence[str], statistics: dict[str, FeatureStatistics], beta: float = 10.0, min_std: float = DEFAULT_MIN_STD):
        self.model = model.eval()
        self.layer = layer
        self.readout_layers = read_layers(layer, readout_layers)
        self.modules = {name: module_named(model, name) for name in self.readout_layers}
        missing = [name for name in self.readout_layers if name not in statistics]
        if missing:
            raise InvalidInputError(f"no statistics for {', '.join(missing)}")
        self.statistics = statistics
        self.beta = beta
        self.min_std = min_std
        shapes = {name: [int(v) for v in statistics[name].metadata["shape"].split("x")] for name in self.readout_layers}
        self.shapes = shapes
        self.network = ReadoutConvolutions(sum(shape[0] for shape in shapes.values()), shapes[layer][0]).to(next(model.parameters()).device)
        self.trained_on: list[str] = []
        """Ids of the images it was trained on (set by :func:`train_image_readout`), so that an
        evaluation can leave them out; empty when unknown."""
        self.epochs = 0
        """Epochs trained so far (saved with it, so that training can be continued)."""

    @classmethod
    def create(cls, model: nn.Module, layer: str, readout_layers: Sequence[str], reference_images: Iterable[torch.Tensor], beta: float = 10.0) -> ImageReadout:
        images = list(reference_images)
        statistics = {name: estimate_feature_statistics(model, name, images) for name in dict.fromkeys([layer, *readout_layers])}
        return cls(model, layer, readout_layers, statistics, beta)

    def _prior(self, name: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        stats, shape = self.statistics[name], self.shapes[name]
        return stats.mean.to(device).view(shape), stats.clamped_std(self.min_std).to(device).view(shape)

    def _capture(self, images: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        recorded: dict[str, torch.Tensor] = {}
        handles = [module.register_forward_hook(lambda _, __, output, name=name: recorded.__setitem__(name, feature_map(output, name).clone())) for name, module in self.modules.items()]
        try:
            with torch.no_grad():
                logits = self.model(images)
        finally:
            for handle in handles:
                handle.remove()
        return logits, recorded

    def alpha(self, recorded: dict[str, torch.Tensor]) -> torch.Tensor:
        """Predicted alpha at the attach layer from the normalised, resized readout features."""
        grid = recorded[self.layer].shape[-2:]
        parts = []
        for name in self.readout_layers:
            mean, std = self._prior(name, recorded[name].device)
            normalised = normalize(recorded[name].float(), mean, std)
            parts.append(normalised if normalised.shape[-2:] == grid else F.interpolate(normalised, size=grid, mode="bilinear", align_corners=False))
        return self.network(torch.cat(parts, dim=1))

    def train(self, batches: Iterable[torch.Tensor], epochs: int = 1, lr: float = 1e-3, seed: int = 0) -> list[float]:
        """Train on batches of images (the classifier frozen); the mean loss per epoch."""
        batches = list(batches)
        if not batches:
            raise InvalidInputError("no training images")
        module = self.modules[self.layer]
        optimizer = torch.optim.Adam(self.network.parameters(), lr=lr)
        generator = torch.Generator().manual_seed(seed)
        device = next(self.model.parameters()).device
        losses = []
        with attribution_mode(self.model):
            self.network.train()
            for _ in range(epochs):
                total, count = 0.0, 0
                for images in batches:
                    images = images.to(device)
                    logits, recorded = self._capture(images)
                    alpha = self.alpha(recorded)
                    mean, std = self._prior(self.layer, device)
                    noise = torch.randn(alpha.shape, generator=generator).to(device)
                    handle = module.register_forward_hook(lambda _, __, output, a=alpha, m=mean, s=std, n=noise: apply_bottleneck(output.float(), a, m, s, n).to(output.dtype))
                    try:
                        noisy = self.model(images)
                    finally:
                        handle.remove()
                    capacity = gaussian_capacity(alpha, normalize(recorded[self.layer].float(), mean, std)).mean()
                    loss = F.cross_entropy(noisy.float(), logits.argmax(dim=-1)) + self.beta * capacity
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    total, count = total + loss.item() * len(images), count + len(images)
                losses.append(total / count)
                self.epochs += 1
        self.network.eval()
        return losses

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Network, layers, beta, statistics and the training images' ids in one safetensors
        file (the readout format shared with text, written atomically)."""
        settings = {"layer": self.layer, "readout_layers": self.readout_layers, "beta": self.beta, "min_std": self.min_std, "trained_on": list(self.trained_on), "epochs": self.epochs}
        return save_readout(path, self.network, self.statistics, settings)

    @classmethod
    def load(cls, model: nn.Module, path: str | os.PathLike[str]) -> ImageReadout:
        """A readout saved by :meth:`save`, for ``model``."""
        settings, state, statistics = load_readout(path)
        readout = cls(model, settings["layer"], settings["readout_layers"], statistics, settings["beta"], settings["min_std"])
        readout.network.load_state_dict(state)
        readout.network.eval()
        readout.trained_on = list(settings.get("trained_on", []))
        readout.epochs = int(settings.get("epochs", 0))
        return readout


@dataclass(frozen=True)
class ImageReadoutTraining:
    """How :func:`train_image_readout` trains a readout: where it attaches (``layer``), which
    later layers it reads, its beta, and the optimisation (Adam, one seed per epoch)."""

    layer: str = EFFICIENTNET_LITE0_LAYER
    readout_layers: tuple[str, ...] = ("_blocks.10", "_blocks.15")
    beta: float = 10.0
    epochs: int = 2
    batch_size: int = 16
    lr: float = 1e-3


def train_image_readout(
    model: nn.Module,
    images: Sequence[LabelledImage],
    path: str | os.PathLike[str],
    training: ImageReadoutTraining = ImageReadoutTraining(),
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> ImageReadout:
    """Train a readout for ``model`` on ``images`` (their statistics give its prior, their ids
    are saved as ``trained_on``), saving it to ``path`` after every epoch and calling
    ``on_epoch_end(epochs done, mean loss)``. A readout already in ``path`` is continued until
    ``training.epochs`` are done (Adam starts afresh); one of other settings or images is refused."""
    if not images:
        raise InvalidInputError("no training images")
    path = Path(path)
    ids = [item.image_id for item in images]
    batches = [torch.stack([item.image for item in images[i : i + training.batch_size]]) for i in range(0, len(images), training.batch_size)]
    if path.is_file():
        readout = ImageReadout.load(model, path)
        wanted = {"layer": training.layer, "readout_layers": read_layers(training.layer, training.readout_layers), "beta": training.beta, "training images": ids}
        stored = {"layer": readout.layer, "readout_layers": readout.readout_layers, "beta": readout.beta, "training images": readout.trained_on}
        differing = [name for name in wanted if wanted[name] != stored[name]]
        if differing:
            raise InvalidInputError(f"{path} holds a readout with other {', '.join(differing)}; choose another file to train a new one")
    else:
        readout = ImageReadout.create(model, training.layer, training.readout_layers, batches, beta=training.beta)
        readout.trained_on = ids
    while readout.epochs < training.epochs:
        (loss,) = readout.train(batches, epochs=1, lr=training.lr, seed=readout.epochs)
        readout.save(path)
        if on_epoch_end is not None:
            on_epoch_end(readout.epochs, loss)
    return readout


class ReadoutMethod(ImageMethod):
    """The readout as an attribution method: bits per pixel from the alpha a trained
    :class:`ImageReadout` predicts (one forward pass). ``readout``: the readout or the path of
    a saved one. Its bits do not depend on the target: it was trained for the predicted class."""

    name, unit = "readout", "bits"

    def __init__(self, model: nn.Module, readout: ImageReadout | str | os.PathLike[str]):
        super().__init__(model)
        self.readout = readout if isinstance(readout, ImageReadout) else ImageReadout.load(model, readout)
        self.trained_on = list(self.readout.trained_on)

    @property
    def layer(self) -> str:
        return self.readout.layer

    def parameters(self) -> dict[str, Any]:
        return {"beta": self.readout.beta, "readout_layers": list(self.readout.readout_layers)}

    def first_pass(self, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The logits and the feature maps the readout reads."""
        return self.readout._capture(batch)

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Bits per pixel from the alpha the readout predicts from the ``recorded`` feature maps."""
        readout = self.readout
        with torch.no_grad():
            alpha = readout.alpha(recorded)
            mean, std = readout._prior(readout.layer, batch.device)
            cells = gaussian_capacity(alpha, normalize(recorded[readout.layer].float(), mean, std)).sum(dim=1)[0] / NATS_PER_BIT
        predicted = int(logits.argmax())
        if target != predicted:
            warnings.warn(f"the readout's bits do not depend on the target: it was trained for the predicted class ({predicted}), not {target}", stacklevel=3)
        return cells_to_pixels(cells, batch.shape[-2:]), cells
