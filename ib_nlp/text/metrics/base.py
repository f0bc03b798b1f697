"""What every text faithfulness metric shares: the base class (its values are declared with
:mod:`ib_nlp.core.metric_info`), token removal and a memoised scorer of perturbed inputs.

A metric scores explanations of one text by perturbing the text and re-running the model.
Several explanations of the same text (one per method) are scored together, so perturbed
inputs that coincide across methods (the full text, the empty text, the random subsets of
Sensitivity-N) run through the model once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from ib_nlp.text.classifier import Classifier
from ib_nlp.core.metric_info import MetricInfo
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation

REMOVALS = ("delete", "mask", "unk", "pad", "auto")


def text_seed(seed: int, text: str) -> int:
    """A seed for one text, the same for every method (so methods are scored on the same draws)."""
    return int.from_bytes(hashlib.sha256(f"{seed}\0{text}".encode()).digest()[:8], "little")


class PerturbedText:
    """One text as token ids, with the operations the metrics need: remove positions and score.

    ``removal`` is ``"delete"`` (take the tokens out of the sequence) or the token that stands in
    for removed ones: ``"mask"``, ``"unk"``, ``"pad"`` or ``"auto"`` (mask, else unk, else pad).
    Special tokens are never removed. Scores are memoised by input ids.
    """

    def __init__(self, classifier: Classifier, explanation: Explanation, removal: str, batch_size: int = 32):
        if removal not in REMOVALS:
            raise InvalidInputError(f"removal must be one of {REMOVALS}, not {removal!r}")
        batch = classifier.encode([explanation.text])
        if batch.tokens[0] != explanation.tokens:
            raise InvalidInputError(
                f"the explanation's tokens do not match {classifier.name}'s tokenisation of its text: "
                "it was computed with another tokenizer or maximum length"
            )
        self.classifier = classifier
        self.ids = batch.input_ids[0, : batch.lengths[0]].tolist()
        self.extra_names = list(batch.extra)
        self.ordinary = [i for i, special in enumerate(batch.special[0]) if not special]
        self._ordinary_set = frozenset(self.ordinary)
        self.removal = removal
        self.replacement = None if removal == "delete" else classifier.replacement_id(removal)
        self.batch_size = batch_size
        self._cache: dict[tuple[int, ...], torch.Tensor] = {}

    def without(self, positions: Sequence[int]) -> tuple[int, ...]:
        """Input ids with ``positions`` removed (special positions are ignored)."""
        removed = self._ordinary_set.intersection(positions)
        if self.replacement is None:
            return tuple(token for i, token in enumerate(self.ids) if i not in removed)
        return tuple(self.replacement if i in removed else token for i, token in enumerate(self.ids))

    def logits(self, variants: Sequence[tuple[int, ...]]) -> torch.Tensor:
        """Logits (float32, CPU) of each variant, running only those not seen before."""
        missing = sorted(dict.fromkeys(variant for variant in variants if variant not in self._cache), key=len)  # little padding per chunk
        device = self.classifier.device
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            width = max(len(variant) for variant in chunk)
            pad = self.classifier.tokenizer.pad_token_id
            ids = torch.tensor([list(v) + [pad] * (width - len(v)) for v in chunk], device=device)
            mask = torch.tensor([[1] * len(v) + [0] * (width - len(v)) for v in chunk], device=device)
            inputs = {"input_ids": ids, "attention_mask": mask, **{name: torch.zeros_like(ids) for name in self.extra_names}}
            with torch.no_grad():
                logits = self.classifier.run(inputs).float().cpu()
            for variant, row in zip(chunk, logits):
                self._cache[variant] = row
        return torch.stack([self._cache[variant] for variant in variants])

    def probabilities(self, variants: Sequence[tuple[int, ...]], target: int) -> np.ndarray:
        return torch.softmax(self.logits(variants), dim=-1)[:, target].numpy().astype(np.float64)


def ranked_positions(explanation: Explanation, ordinary: Sequence[int], seed: int, descending: bool) -> list[int]:
    """Ordinary token positions sorted by score; ties are broken by a seeded random order."""
    generator = np.random.default_rng(text_seed(seed, explanation.text))
    tie_break = generator.permutation(len(ordinary))
    scores = np.asarray([explanation.token_scores[i] for i in ordinary], dtype=np.float64)
    keys = -scores if descending else scores
    order = np.lexsort((tie_break, keys))
    return [ordinary[i] for i in order]


class FaithfulnessMetric:
    """Base class: ``compute(classifier, explanations, label)`` scores explanations of one text.

    Returns one result dict per explanation: the declared scalar values, plus curves.
    """

    info: ClassVar[MetricInfo]

    def compute(self, classifier: Classifier, explanations: Sequence[Explanation], label: int | None = None) -> list[dict[str, Any]]:
        raise NotImplementedError

    @staticmethod
    def check_same_text(explanations: Sequence[Explanation]) -> None:
        if not explanations:
            raise InvalidInputError("no explanations to score")
        texts = {e.text for e in explanations}
        targets = {e.target for e in explanations}
        if len(texts) != 1 or len(targets) != 1:
            raise InvalidInputError("explanations scored together must be of the same text and target")
