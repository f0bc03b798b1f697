"""Attention baselines: the last layer's attention and attention rollout (Abnar and Zuidema, 2020).

Both read the attention paid by the position the classification head reads: the first token
for encoders ([CLS]), the last real token for decoder-only models (GPT-2, Llama). They need
a model that returns attention weights; the attention implementation is switched to
``eager`` for the call and restored afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.methods.base import AttributionMethod


def pooled_positions(model: torch.nn.Module, batch: EncodedBatch) -> list[int]:
    """Index of the token the classification head reads, per row."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(model.config, "model_type", "")
    reads_last = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return [length - 1 if reads_last else 0 for length in batch.lengths]


@contextlib.contextmanager
def eager_attention(model: torch.nn.Module) -> Iterator[None]:
    """Compute attention explicitly (other implementations do not return the weights)."""
    previous = getattr(model.config, "_attn_implementation", None)
    if previous is None or not hasattr(model, "set_attn_implementation"):
        yield
        return
    model.set_attn_implementation("eager")
    try:
        yield
    finally:
        model.set_attn_implementation(previous)


def attention_maps(method: AttributionMethod, batch: EncodedBatch) -> tuple[torch.Tensor, ...]:
    """Attention weights of every layer, each (texts, heads, tokens, tokens)."""
    model = method.classifier.model
    with eager_attention(model), torch.no_grad():
        output = model(**batch.model_inputs(), output_attentions=True)
    attentions = getattr(output, "attentions", None)
    if not attentions:
        raise InvalidInputError(f"{method.classifier.name} ({type(model).__name__}) returns no attention weights, so {method.name} does not apply to it")
    return tuple(layer.float().cpu() for layer in attentions)


def rollout(attentions: tuple[torch.Tensor, ...], attention_mask: torch.Tensor) -> torch.Tensor:
    """Attention rollout: heads averaged, identity added for the residual, rows renormalised,
    layers multiplied from the first to the last. Returns (texts, tokens, tokens)."""
    mask = attention_mask.float().cpu()
    result = None
    for layer in attentions:
        mixed = 0.5 * layer.mean(dim=1) + 0.5 * torch.eye(layer.shape[-1])
        mixed = mixed * mask[:, None, :]
        mixed = mixed / mixed.sum(dim=-1, keepdim=True).clamp(min=1e-12)
        result = mixed if result is None else mixed @ result
    assert result is not None
    return result


class LastLayerAttention(AttributionMethod):
    """Attention of the last layer, averaged over heads, from the token the head reads."""

    name = "attention"
    unit = "attention weight"
    signed = False
    description = "last-layer attention from [CLS] (or the pooled token), averaged over heads"

    @property
    def layer(self) -> int:
        return len(self.classifier.layers) - 1

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        last = attention_maps(self, batch)[-1].mean(dim=1)
        rows = torch.arange(len(batch.texts))
        return last[rows, torch.tensor(pooled_positions(self.classifier.model, batch))]


class AttentionRollout(AttributionMethod):
    """Attention rollout over all layers, from the token the head reads."""

    name = "attention_rollout"
    unit = "attention weight"
    signed = False
    description = "attention rollout over all layers (Abnar and Zuidema, 2020)"

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        rolled = rollout(attention_maps(self, batch), batch.attention_mask)
        rows = torch.arange(len(batch.texts))
        return rolled[rows, torch.tensor(pooled_positions(self.classifier.model, batch))]
