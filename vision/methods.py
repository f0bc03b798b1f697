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
import time
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.core.registry import Registry, check_options, option_names
from ib_nlp.errors import InvalidInputError

from .iba import ImageExplanation, VisionIBA, _module
from .input_iba import VisionInputIBA


def last_convolution(model: nn.Module) -> str:
    """Name of the model's last ``Conv2d`` module (Grad-CAM's usual layer)."""
    names = [name for name, module in model.named_modules() if isinstance(module, nn.Conv2d)]
    if not names:
        raise InvalidInputError("the model has no Conv2d module; pass layer= explicitly")
    return names[-1]


class ImageMethod:
    """A captum-backed attribution method for one image classifier.

    ``defaults`` names every option the method takes and its default; a method that hands its
    options to an implementation names it in ``wraps`` instead, and takes that one's options.
    An unknown option is refused either way (a misspelt option would otherwise be ignored
    without a word).
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    defaults: ClassVar[dict[str, Any]] = {}
    wraps: ClassVar[type | None] = None
    trained_on: Sequence[str] = ()
    """Ids of the images the method was trained on (a readout's), which an evaluation leaves out."""

    def __init__(self, model: nn.Module, **options: Any):
        check_options(self.name, option_names(self.wraps) if self.wraps is not None else list(self.defaults), options)
        options = {**self.defaults, **options}
        self.model = model.eval()
        self.options = options

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        if image.dim() != 3:
            raise InvalidInputError(f"expected one image of shape (channels, height, width), got {tuple(image.shape)}")
        started = time.perf_counter()
        batch = image.unsqueeze(0).to(self.device)
        with torch.no_grad():
            logits = self.model(batch)
        target = int(logits.argmax()) if target is None else int(target)
        if not 0 <= target < logits.shape[-1]:
            raise InvalidInputError(f"target {target} is not a class of this model (0..{logits.shape[-1] - 1})")
        try:
            scores, feature_scores = self.attribute(batch.detach().clone().requires_grad_(True), target)
        except RuntimeError as error:
            if "not have been used in the graph" not in str(error):
                raise
            raise InvalidInputError(f"layer {self.options.get('layer')!r} does not influence the target: the classifier does not read it") from error
        return ImageExplanation(
            self.name, self.unit, scores.detach().float().cpu(), target, torch.softmax(logits[0].float(), -1).tolist(),
            self.options.get("layer"), None if feature_scores is None else feature_scores.detach().float().cpu(), dict(self.options), time.perf_counter() - started,
        )

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Scores (height x width) and, where the method works on a coarser grid, that grid."""
        raise NotImplementedError


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

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
        from captum.attr import Saliency as CaptumSaliency

        return self.channel_sum(CaptumSaliency(self.model).attribute(batch, target=target, abs=False)[0]), None


class Saliency(ImageMethod):
    name, unit = "saliency", "gradient magnitude"

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
        from captum.attr import Saliency as CaptumSaliency

        return CaptumSaliency(self.model).attribute(batch, target=target, abs=True)[0].amax(dim=0), None


class IntegratedGradients(_SignedPixelMethod):
    name, unit = "integrated_gradients", "logit"
    defaults: ClassVar[dict[str, Any]] = {"steps": 50, "absolute": False}

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
        from captum.attr import IntegratedGradients as CaptumIG

        steps = int(self.options["steps"])
        return self.channel_sum(CaptumIG(self.model).attribute(batch, baselines=torch.zeros_like(batch), target=target, n_steps=steps)[0]), None


class SmoothGrad(ImageMethod):
    name, unit = "smoothgrad", "gradient magnitude"
    defaults: ClassVar[dict[str, Any]] = {"samples": 50, "noise": 0.15, "seed": 0}

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
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

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
        return self.channel_sum(guided_gradient(self.model, batch, target)[0]), None


class GradCAM(ImageMethod):
    """Grad-CAM at a convolutional layer (default: the last Conv2d)."""

    name, unit = "grad_cam", "Grad-CAM"
    defaults: ClassVar[dict[str, Any]] = {"layer": None}

    def __init__(self, model: nn.Module, layer: str | None = None, **options: Any):
        layer = layer or last_convolution(model)
        super().__init__(model, layer=layer, **options)
        self.layer_module = _module(model, layer)

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
        from captum.attr import LayerGradCam

        cam = LayerGradCam(self.model, self.layer_module).attribute(batch, target=target, relu_attributions=True)
        upsampled = F.interpolate(cam, size=batch.shape[-2:], mode="bilinear", align_corners=False)
        return upsampled[0, 0], cam[0, 0]


class GuidedGradCAM(GradCAM, _SignedPixelMethod):
    """Guided backpropagation times the upsampled Grad-CAM map (Selvaraju et al.)."""

    name, unit = "guided_grad_cam", "guided Grad-CAM"
    defaults: ClassVar[dict[str, Any]] = {"layer": None, "absolute": False}

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, torch.Tensor]:
        cam, grid = super().attribute(batch, target)
        return self.channel_sum(guided_gradient(self.model, batch, target)[0]) * cam, grid


class Occlusion(ImageMethod):
    """Drop of the target probability when a tile (default 8x8, stride = tile) is set to 0;
    ``batch_size`` occluded images go through the model per forward pass (default 32 on a GPU;
    1 on a CPU, where batching measured no faster)."""

    name, unit = "occlusion", "probability"
    defaults: ClassVar[dict[str, Any]] = {"tile": 8, "batch_size": None}

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
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

    def attribute(self, batch: torch.Tensor, target: int) -> tuple[torch.Tensor, None]:
        generator = torch.Generator().manual_seed(int(self.options["seed"]))
        return torch.rand(batch.shape[-2:], generator=generator), None


class _IBA(ImageMethod):
    """Per-sample IBA (``ib_nlp.vision.iba.VisionIBA``) under the registry's call."""

    name, unit = "iba", "bits"
    wraps = VisionIBA

    def __init__(self, model: nn.Module, layer: str, **options: Any):
        super().__init__(model, layer=layer, **{k: v for k, v in options.items() if k not in ("statistics", "reference_images")})
        self.iba = VisionIBA(model, layer, **options)

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        return self.iba.explain(image, target)


class _InputIBA(ImageMethod):
    """InputIBA (``ib_nlp.vision.input_iba.VisionInputIBA``) under the registry's call."""

    name, unit = "input_iba", "bits"
    wraps = VisionInputIBA

    def __init__(self, model: nn.Module, layer: str, reference_images: Any, **options: Any):
        super().__init__(model, layer=layer, **options)
        self.input_iba = VisionInputIBA(model, layer, reference_images, **options)

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        return self.input_iba.explain(image, target)


class _Readout(ImageMethod):
    """A trained readout (``ib_nlp.vision.readout.ImageReadout``, or the path of a saved one)."""

    name, unit = "readout", "bits"
    defaults: ClassVar[dict[str, Any]] = {"layer": None}

    def __init__(self, model: nn.Module, readout: Any):
        from .readout import ImageReadout

        self.readout = readout if isinstance(readout, ImageReadout) else ImageReadout.load(model, readout)
        super().__init__(model, layer=self.readout.layer)
        self.trained_on = self.readout.trained_on

    def explain(self, image: torch.Tensor, target: int | None = None) -> ImageExplanation:
        return self.readout.explain(image, target)


IMAGE_METHODS = Registry("image method")
for _method in (_IBA, _InputIBA, _Readout, Gradient, Saliency, IntegratedGradients, SmoothGrad, GuidedBackprop, GradCAM, GuidedGradCAM, Occlusion, RandomImage):
    IMAGE_METHODS.add(_method.name, _method)
IMAGE_METHODS.add_variant("occlusion_14", "occlusion", tile=14)
for _name in ("gradient", "integrated_gradients", "guided_backprop", "guided_grad_cam"):
    IMAGE_METHODS.add_variant(f"{_name}_abs", _name, absolute=True)


def image_method_names() -> list[str]:
    """Every name ``load_image_method`` accepts."""
    return IMAGE_METHODS.names()


def load_image_method(name: str, model: nn.Module, **options: Any) -> ImageMethod:
    """Build the image method ``name`` for ``model``: a method, or a variant with preset options
    (e.g. ``occlusion_14`` = occlusion with 14x14 tiles; options given here win)."""
    factory, options = IMAGE_METHODS.resolve(name, options)
    try:
        return factory(model, **options)
    except TypeError as error:
        raise InvalidInputError(f"bad options for {name}: {error}") from error
