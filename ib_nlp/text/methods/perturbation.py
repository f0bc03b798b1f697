"""Perturbation baselines computed with captum: LIME and occlusion.

Both remove tokens by replacing them with a stand-in token (``[MASK]`` when the tokenizer has
one, else ``[UNK]``, else padding; option ``replacement``) and read the probability of the
target class. Special tokens are never removed. With ``group="word"`` the tokens of a word are
removed together and the word's score is split evenly over its tokens, so word scores (sums
of token scores) are the scores of the words.
"""

from __future__ import annotations

from typing import Any

import torch

from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.words import segment_words
from ib_nlp.text.methods.base import AttributionMethod

GROUPS = ("token", "word")


class _RemovalMethod(AttributionMethod):
    """Shared plumbing: feature groups, the stand-in token and a probability forward function."""

    def __init__(self, model: Any, *, group: str = "token", replacement: str = "auto", batch_size: int = 32, **common: Any):
        super().__init__(model, **common)
        if group not in GROUPS:
            raise InvalidInputError(f"group must be one of {GROUPS}, not {group!r}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be >= 1, got {batch_size}")
        self.group = group
        self.replacement = replacement
        self.replacement_token = self.classifier.replacement_id(replacement)
        self.batch_size = batch_size

    def parameters(self) -> dict[str, Any]:
        return {"group": self.group, "replacement": self.replacement}

    def feature_groups(self, batch: EncodedBatch) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Feature ids per position (0 = never removed: special tokens and padding) and, per row,
        the number of tokens in each position's group (to split a group's score over its tokens)."""
        groups = torch.zeros_like(batch.input_ids)
        sizes = []
        ordinary = batch.ordinary_mask()
        for row in range(len(batch.texts)):
            positions = [i for i in range(batch.lengths[row]) if bool(ordinary[row, i])]
            if self.group == "token":
                for feature, position in enumerate(positions, start=1):
                    groups[row, position] = feature
            else:
                feature = 0
                for word in segment_words(batch.texts[row], batch.offsets[row]):
                    members = [i for i in word.token_indices if bool(ordinary[row, i])]
                    if members:
                        feature += 1
                        groups[row, members] = feature
            counts = torch.bincount(groups[row], minlength=int(groups[row].max()) + 1).clamp(min=1)
            sizes.append(counts[groups[row]].float().cpu())
        return groups, sizes


class Occlusion(_RemovalMethod):
    """Drop of the target probability when one token (or word) at a time is replaced."""

    name = "occlusion"
    unit = "probability"
    signed = True
    description = "drop of the target probability when each token is replaced by [MASK]/[UNK] (captum FeatureAblation)"

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        from captum.attr import FeatureAblation

        groups, sizes = self.feature_groups(batch)
        forward, arguments = self.forward_function(batch, probabilities=True)
        drops = FeatureAblation(forward).attribute(
            batch.input_ids,
            baselines=batch.replace_ordinary(self.replacement_token),
            target=torch.tensor(targets, device=batch.input_ids.device),
            feature_mask=groups,
            additional_forward_args=arguments,
            perturbations_per_eval=max(1, self.batch_size // len(batch.texts)),
        )
        return drops.detach().float().cpu() * (groups.cpu() > 0) / torch.stack(sizes)


class Lime(_RemovalMethod):
    """LIME on token presence: a ridge surrogate fitted on random removals, weighted by similarity."""

    name = "lime"
    unit = "probability"
    signed = True
    description = "LIME on token presence with a ridge surrogate (captum Lime)"

    def __init__(self, model: Any, *, samples: int = 500, kernel_width: float = 0.25, ridge: float = 1.0, seed: int = 0, **options: Any):
        super().__init__(model, **options)
        if samples < 2:
            raise InvalidInputError(f"LIME needs at least 2 samples, got {samples}")
        self.samples = samples
        self.kernel_width = kernel_width
        self.ridge = ridge
        self.seed = seed

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "samples": self.samples, "kernel_width": self.kernel_width, "ridge": self.ridge, "seed": self.seed}

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        from captum._utils.models.linear_model import SkLearnRidge
        from captum.attr import Lime as CaptumLime
        from captum.attr._core.lime import get_exp_kernel_similarity_function

        groups, sizes = self.feature_groups(batch)
        forward, arguments = self.forward_function(batch, probabilities=True)
        baselines = batch.replace_ordinary(self.replacement_token)
        scores = torch.zeros(batch.input_ids.shape, dtype=torch.float32)
        for row, target in enumerate(targets):
            mask = groups[row : row + 1]
            torch.manual_seed(self.seed)
            lime = CaptumLime(
                forward,
                interpretable_model=SkLearnRidge(alpha=self.ridge),
                similarity_func=get_exp_kernel_similarity_function("cosine", kernel_width=self.kernel_width),
            )
            weights = lime.attribute(
                batch.input_ids[row : row + 1],
                baselines=baselines[row : row + 1],
                target=target,
                feature_mask=mask - mask.min(),  # captum's ids start at 0 (it warns and shifts otherwise)
                additional_forward_args=tuple(value[row : row + 1] for value in arguments),
                n_samples=self.samples,
                perturbations_per_eval=self.batch_size,
            )
            scores[row] = weights[0].detach().float().cpu() * (groups[row].cpu() > 0) / sizes[row]
        return scores
