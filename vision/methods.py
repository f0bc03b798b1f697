"""Image attribution methods behind one registry and one call:

    method = load_image_method("grad_cam", model, layer="layer4")
    explanation = method.explain(image, target)      # ImageExplanation, scores per pixel

Baselines come from captum, except guided backpropagation (and so guided Grad-CAM): captum's
hooks only nn.ReLU, and EfficientNet-Lite uses ReLU6, so the rule is applied here to both.
Per-pixel maps sum over colour channels where the method gives one value per channel
(saliency takes the largest absolute gradient over channels, as in Simonyan et al.). The signed
methods (gradient, integrated gradients, guided backpropagation, guided Grad-CAM) take the
option ``absolute=True`` to sum absolute values instead, so that strongly negative pixels rank
as relevant too; the registry names ``*_abs`` select it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.registry import Registry, check_options, option_names
from ib_nlp.errors import InvalidInputError

from .base import ImageMethod, module_named
from .iba import VisionIBA
from .input_iba import VisionInputIBA
from .readout import ReadoutMethod


def last_convolution(model: nn.Module) -> str:
    """Name of the model's last ``Conv2d`` module (Grad-CAM's usual layer)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not names:
        raise InvalidInputError("the model has no Conv2d module; pass layer= explicitly")
    return names[-1]


class _SignedPixelMethod(ImageMethod):
    """Methods with one signed value per channel and pixel; ``absolute=True`` sums |values|."""

    defaults: ClassVar[dict[str, Any]] = {"absolute": False}

    def __init__(self, model: nn.Module, **options: Any):
        super().__init__(model, **options)
        if not isinstance(self.options["absolute"], bool):
            raise InvalidInputError(f"absolute must be true or false, got {self.options['absolute']!r}")

    def channel_sum(self, values: torch.Tensor) -> torch.Tensor:
        """Sum over the colour channels (dimension 0) of one image's values."""
        return (values.abs() if self.options["absolute"] else values).sum(dim=0)


class Gradient(_SignedPixelMethod):
    name, unit = "gradient", "logit gradient"

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        from captum.attr import Saliency as CaptumSaliency

        return self.channel_sum(CaptumSaliency(self.model).attribute(batch, target=target, abs=False)[0]), None


class Saliency(ImageMethod):
    name, unit = "saliency", "gradient magnitude"

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        from captum.attr import Saliency as CaptumSaliency

        return CaptumSaliency(self.model).attribute(batch, target=target, abs=True)[0].amax(dim=0), None


class IntegratedGradients(_SignedPixelMethod):
    name, unit = "integrated_gradients", "logit"
    defaults: ClassVar[dict[str, Any]] = {"steps": 50, "absolute": False}

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        from captum.attr import IntegratedGradients as CaptumIG

        steps = int(self.options["steps"])
        return self.channel_sum(CaptumIG(self.model).attribute(batch, baselines=torch.zeros_like(batch), target=target, n_steps=steps)[0]), None


class SmoothGrad(ImageMethod):
    name, unit = "smoothgrad", "gradient magnitude"
    defaults: ClassVar[dict[str, Any]] = {"samples": 50, "noise": 0.15, "seed": 0}

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        from captum.attr import NoiseTunnel
        from captum.attr import Saliency as CaptumSaliency

        samples = int(self.options["samples"])
        noise = float(self.options["noise"]) * float(batch.detach().max() - batch.detach().min())
        tunnel = NoiseTunnel(CaptumSaliency(self.model))
        with torch.random.fork_rng(devices=[batch.device] if batch.device.type == "cuda" else []):
            torch.manual_seed(int(self.options["seed"]))
            grads = tunnel.attribute(batch, nt_type="smoothgrad", nt_samples=samples, nt_samples_batch_size=min(samples, 16), stdevs=noise, target=target, abs=True)
        return grads[0].amax(dim=0), None


@contextlib.contextmanager
def guided_activations(model: nn.Module) -> Iterator[None]:
    """Guided backpropagation's rule for every ReLU and ReLU6 module: after the module's own
    backward pass, only positive gradients go on. (captum's GuidedBackprop hooks only nn.ReLU,
    so on a ReLU6 network such as EfficientNet-Lite it silently returns the plain gradient.)"""
    activations = [module for module in model.modules() if isinstance(module, (nn.ReLU, nn.ReLU6))]
    if not activations:
        raise InvalidInputError("guided backpropagation needs ReLU or ReLU6 modules (nn.ReLU / nn.ReLU6); this model has none")
    in_place = [(module, module.inplace) for module in activations]
    for module in activations:
        module.inplace = False  # backward hooks cannot follow an in-place activation
    handles = [module.register_full_backward_hook(lambda _, grad_input, __: tuple(None if g is None else g.clamp_min(0) for g in grad_input)) for module in activations]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in in_place:
            module.inplace = flag


def guided_gradient(model: nn.Module, batch: torch.Tensor, target: int) -> torch.Tensor:
    """The guided-backpropagation gradient of the target logit (batch x channels x height x width)."""
    inputs = batch.detach().clone().requires_grad_(True)
    with guided_activations(model):
        (gradient,) = torch.autograd.grad(model(inputs)[:, target].sum(), inputs)
    return gradient


class GuidedBackprop(_SignedPixelMethod):
    name, unit = "guided_backprop", "guided gradient"

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        return self.channel_sum(guided_gradient(self.model, batch, target)[0]), None


class GradCAM(ImageMethod):
    """Grad-CAM at a convolutional layer (default: the last Conv2d)."""

    name, unit = "grad_cam", "Grad-CAM"
    defaults: ClassVar[dict[str, Any]] = {"layer": None}

    def __init__(self, model: nn.Module, layer: str | None = None, **options: Any):
        layer = layer or last_convolution(model)
        super().__init__(model, layer=layer, **options)
        self.layer_module = module_named(model, layer)

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        from captum.attr import LayerGradCam

        cam = LayerGradCam(self.model, self.layer_module).attribute(batch, target=target, relu_attributions=True)
        upsampled = F.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)
        return upsampled[0, 0], cam[0, 0]


class GuidedGradCAM(GradCAM, _SignedPixelMethod):
    """Guided backpropagation times the upsampled Grad-CAM map (Selvaraju et al.)."""

    name, unit = "guided_grad_cam", "guided Grad-CAM"
    defaults: ClassVar[dict[str, Any]] = {"layer": None, "absolute": False}

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, torch.Tensor]:
        cam, grid = super().attribute(batch, logits, target)
        return self.channel_sum(guided_gradient(self.model, batch, target)[0]) * cam, grid


class Occlusion(ImageMethod):
    """Drop of the target probability when a tile (default 8x8, stride = tile) is set to 0;
    ``batch_size`` occluded images go through the model per forward pass (default 32 on a GPU;
    1 on a CPU, where batching measured no faster)."""

    name, unit = "occlusion", "probability"
    defaults: ClassVar[dict[str, Any]] = {"tile": 8, "batch_size": None}

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        from captum.attr import Occlusion as CaptumOcclusion

        tile = int(self.options["tile"])
        chosen = self.options["batch_size"]
        batch_size = int(chosen) if chosen is not None else (32 if batch.is_cuda else 1)
        if tile < 1 or batch_size < 1:
            raise InvalidInputError(f"occlusion needs tile >= 1 and batch_size >= 1, got {tile} and {batch_size}")
        channels = batch.shape[1]

        def probabilities(images: torch.Tensor) -> torch.Tensor:
            return torch.softmax(self.model(images), dim=-1)

        scores = CaptumOcclusion(probabilities).attribute(batch, sliding_window_shapes=(channels, tile, tile), strides=(channels, tile, tile), baselines=0.0, target=target, perturbations_per_eval=batch_size)
        return scores[0].mean(dim=0), None


class RandomImage(ImageMethod):
    name, unit = "random", "-"
    defaults: ClassVar[dict[str, Any]] = {"seed": 0}

    def attribute(self, batch: torch.Tensor, logits: torch.Tensor, target: int, recorded: Any = None) -> tuple[torch.Tensor, None]:
        generator = torch.Generator().manual_seed(int(self.options["seed"]))
        return torch.rand(batch.shape[-2:], generator=generator), None


IMAGE_METHODS = Registry("image method")
for _method in (VisionIBA, VisionInputIBA, ReadoutMethod, Gradient, Saliency, IntegratedGradients, SmoothGrad, GuidedBackprop, GradCAM, GuidedGradCAM, Occlusion, RandomImage):
    IMAGE_METHODS.add(_method.name, _method)
IMAGE_METHODS.add_variant("occlusion_14", "occlusion", tile=14)
for _name in ("gradient", "integrated_gradients", "guided_backprop", "guided_grad_cam"):
    IMAGE_METHODS.add_variant(f"{_name}_abs", _name, absolute=True)


def register_image_method(cls: type[ImageMethod]) -> type[ImageMethod]:
    """Class decorator: make a user's ``ImageMethod`` subclass available to ``load_image_method``
    and the image evaluation under its ``name`` (a built-in name is refused)."""
    IMAGE_METHODS.add(cls.name, cls, builtin=False)
    return cls


def image_method_names() -> list[str]:
    """Every name ``load_image_method`` accepts."""
    return IMAGE_METHODS.names()


def load_image_method(name: str, model: nn.Module, **options: Any) -> ImageMethod:
    """Build the image method ``name`` for ``model``: a method, or a variant with preset options
    (e.g. ``occlusion_14`` = occlusion with 14x14 tiles; options given here win)."""
    factory, options = IMAGE_METHODS.resolve(name, options)
    check_options(name, option_names(factory), options)
    try:
        return factory(model, **options)
    except TypeError as error:
        raise InvalidInputError(f"bad options for {name}: {error}") from error
