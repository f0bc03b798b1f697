"""Gradient-based baselines on the input embeddings, computed with captum.

All three differentiate the target class's logit with respect to the output of the model's
input embedding layer (``model.get_input_embeddings()``) and reduce over the embedding
dimension to one score per token.
"""

from __future__ import annotations

from typing import Any

import torch

from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.methods.base import AttributionMethod


class _EmbeddingGradientMethod(AttributionMethod):
    """Shared plumbing: the embedding layer and the gradient of the target logit there."""

    @property
    def layer(self) -> str:
        return "embeddings"

    def _embedding_gradients(self, batch: EncodedBatch, targets: list[int], multiply_by_inputs: bool) -> torch.Tensor:
        """Gradient of the target logit at each token embedding (times the embedding if asked)."""
        from captum.attr import LayerGradientXActivation

        forward, arguments = self.forward_function(batch)
        method = LayerGradientXActivation(forward, self._embedding_layer(), multiply_by_inputs=multiply_by_inputs)
        return method.attribute(batch.input_ids, target=torch.tensor(targets, device=batch.input_ids.device), additional_forward_args=arguments)

    def _embedding_layer(self) -> torch.nn.Module:
        return self.classifier.model.get_input_embeddings()


class IntegratedGradients(_EmbeddingGradientMethod):
    """Integrated Gradients from a [PAD] baseline (special tokens kept), summed over the embedding."""

    name = "integrated_gradients"
    unit = "logit"
    signed = True
    description = "Integrated Gradients on the token embeddings from a [PAD] baseline (captum)"

    def __init__(self, model: Any, *, steps: int = 50, internal_batch_size: int = 50, **common: Any):
        super().__init__(model, **common)
        if steps < 1 or internal_batch_size < 1:
            raise InvalidInputError(f"steps and internal_batch_size must be >= 1, got {steps} and {internal_batch_size}")
        self.steps = steps
        self.internal_batch_size = internal_batch_size

    def parameters(self) -> dict[str, Any]:
        return {"steps": self.steps, "baseline": "pad"}

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        from captum.attr import LayerIntegratedGradients

        baseline = batch.replace_ordinary(self.classifier.replacement_id("pad"))
        forward, arguments = self.forward_function(batch)
        method = LayerIntegratedGradients(forward, self._embedding_layer())
        attributions = method.attribute(
            batch.input_ids,
            baselines=baseline,
            target=torch.tensor(targets, device=batch.input_ids.device),
            additional_forward_args=arguments,
            n_steps=self.steps,
            internal_batch_size=self.internal_batch_size,
        )
        return attributions.sum(dim=-1).detach().float().cpu()


class Saliency(_EmbeddingGradientMethod):
    """The L2 norm of the gradient of the target logit at each token's embedding."""

    name = "saliency"
    unit = "gradient norm"
    signed = False
    description = "norm of the gradient of the target logit at each token embedding (captum)"

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        return self._embedding_gradients(batch, targets, multiply_by_inputs=False).norm(dim=-1).detach().float().cpu()


class GradientTimesInput(_EmbeddingGradientMethod):
    """Gradient of the target logit times the token embedding, summed over the embedding."""

    name = "gradient_x_input"
    unit = "logit"
    signed = True
    description = "gradient of the target logit times the token embedding, summed (captum)"

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        return self._embedding_gradients(batch, targets, multiply_by_inputs=True).sum(dim=-1).detach().float().cpu()
