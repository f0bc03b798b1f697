"""What every image attribution method shares: the result type (``ImageExplanation``), the
base class (``ImageMethod``: one image in, one validated explanation out) and the lookup of a
module and its feature map by name."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from ib_nlp.core.registry import check_options
from ib_nlp.errors import InvalidInputError


@dataclass
class ImageExplanation:
    """Scores of one image at the input resolution (height x width), from one method.

    ``feature_scores`` is the map at the resolution the method works at (IBA: bits per feature
    cell, Grad-CAM: the layer's grid), when it differs from the input's. ``kept_probability``
    (bottleneck methods): the target's probability through the optimised bottleneck, as for
    text. Checked on creation: 2-D maps, a target among the probabilities, probabilities that
    sum to 1, a kept probability in [0, 1].
    """

    method: str
    unit: str
    scores: torch.Tensor
    target: int
    probabilities: list[float]
    layer: str | None = None
    feature_scores: torch.Tensor | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    kept_probability: float | None = None

    def __post_init__(self) -> None:
        if not self.method or not self.unit:
            raise InvalidInputError("an image explanation needs the method's name and unit")
        for name, scores in (("scores", self.scores), ("feature_scores", self.feature_scores)):
            if scores is not None and (not torch.is_tensor(scores) or scores.dim() != 2):
                raise InvalidInputError(f"{name} must be a (height x width) tensor, got {getattr(scores, 'shape', type(scores).__name__)}")
        if not 0 <= self.target < len(self.probabilities):
            raise InvalidInputError(f"target {self.target} is not a class of the probabilities (0..{len(self.probabilities) - 1})")
        if not math.isclose(sum(self.probabilities), 1.0, abs_tol=1e-3):
            raise InvalidInputError(f"the probabilities must sum to 1, they sum to {sum(self.probabilities):.4f}")
        if self.kept_probability is not None and not 0.0 <= self.kept_probability <= 1.0:
            raise InvalidInputError(f"kept_probability must lie in [0, 1], got {self.kept_probability}")

    @property
    def total(self) -> float:
        return float(self.scores.sum())


def module_named(model: nn.Module, layer: str) -> nn.Module:
    """The model's module called ``layer`` (an error listing some names when there is none)."""
    modules = dict(model.named_modules())
    if layer not in modules or layer == "":
        names = [name for name in modules if name]
        raise InvalidInputError(f"the model has no module named {layer!r}; some of its modules: {', '.join(names[:12])}{' ...' if len(names) > 12 else ''}")
    return modules[layer]


def feature_map(output: Any, layer: str) -> torch.Tensor:
    """A module's output, which must be a feature map (batch x channels x height x width)."""
    if not torch.is_tensor(output) or output.dim() != 4:
        raise InvalidInputError(f"module {layer!r} must output a feature map (batch x channels x height x width), got {getattr(output, 'shape', type(output).__name__)}")
    return output


class ImageAttribution(NamedTuple):
    """What :meth:`ImageMethod.attribute` may return instead of a (scores, feature_scores) pair:
    those and the bottleneck's kept probability."""

    scores: torch.Tensor
    feature_scores: torch.Tensor | None
    kept_probability: float | None


class ImageMethod:
    """An attribution method for one image classifier: ``explain(image, target)`` checks the
    image and the target, calls ``attribute`` and returns an :class:`ImageExplanation`.

    Options are either keyword parameters of the subclass's ``__init__`` or, for methods that
    take ``**options``, the keys of ``defaults``; an unknown one is refused with the list.
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    trained_on: list[str]
    """Ids of the images the method was trained on (a readout's), which an evaluation leaves out."""

    def __init__(self, model: nn.Module, **options: Any):
        check_options(self.name, list(self.defaults), options)
        self.model = model.eval()
        self.options = {**self.defaults, **options}
        self.trained_on = []

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def layer(self) -> str | None:
        """The layer the explanation describes (None for methods that work on the pixels)."""
        return self.options.get("layer")

    def parameters(self) -> dict[str, Any]:
        """The settings recorded with each explanation."""
        return dict(self.options)

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        """Explain one image (channels x height x width, already normalised for the model) for
        ``target`` (default: the predicted class)."""
        if image.dim() != 3:
            raise InvalidInputError(f"expected one image of shape (channels, height, width), got {tuple(image.shape)}")
        started = time.perf_counter()
        batch = image.unsqueeze(0).to(self.device)
        with torch.no_grad():
            logits, recorded = self.first_pass(batch)
        target = int(logits.argmax()) if target is None else int(target)
        if not 0 <= target < logits.shape[-1]:
            raise InvalidInputError(f"target {target} is not a class of this model (0..{logits.shape[-1] - 1})")
        try:
            result = self.attribute(batch.detach().clone().requires_grad_(True), logits, target, recorded)
        except RuntimeError as error:
            if "not have been used in the graph" not in str(error):
                raise
            raise InvalidInputError(f"layer {self.layer!r} does not influence the target: the classifier does not read it") from error
        scores, feature_scores, kept = result if isinstance(result, ImageAttribution) else (*result, None)
        return ImageExplanation(
            self.name, self.unit, scores.detach().float().cpu(), target, torch.softmax(logits[0].float(), -1).tolist(),
            self.layer, None if feature_scores is None else feature_scores.detach().float().cpu(), self.parameters(), time.perf_counter() - started, kept,
        )

    def first_pass(self, batch: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """The logits of ``batch`` and what a method records on the way (a feature map), in the one
        forward pass every explanation starts with (run without gradients)."""
        return self.model(batch), None

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, torch.Tensor | None] | ImageAttribution:
        """Scores (height x width) of the one image in ``batch`` and, where the method works on
        a coarser grid, that grid (or an :class:`ImageAttribution` with the kept probability too);
        ``logits`` and ``recorded`` come from :meth:`first_pass`."""
        raise NotImplementedError
