"""The random baseline: uniform scores, reproducible per text and seed."""

from __future__ import annotations

import hashlib
from typing import Any

import torch

from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.text.methods.base import AttributionMethod


class RandomAttribution(AttributionMethod):
    """Independent uniform [0, 1) scores per token; the same text and seed give the same scores."""

    name = "random"
    unit = "random score"
    signed = False
    description = "uniform random scores (seeded per text): the floor every method must beat"

    def __init__(self, model: Any, *, seed: int = 0, **common: Any):
        super().__init__(model, **common)
        self.seed = seed

    def parameters(self) -> dict[str, Any]:
        return {"seed": self.seed}

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        scores = torch.zeros(batch.input_ids.shape, dtype=torch.float32)
        for row, text in enumerate(batch.texts):
            digest = hashlib.sha256(f"{self.seed}\0{text}".encode()).digest()
            generator = torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))
            scores[row, : batch.lengths[row]] = torch.rand(batch.lengths[row], generator=generator)
        return scores
