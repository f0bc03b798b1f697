"""Contrastive IBA: signed bits from two bottlenecks, one keeping the target, one the contrast.

IBA's bits say how much of a token the prediction needs, not in which direction the token
pushes it: a token that argues against the target can keep bits too. Contrastive IBA fits the
bottleneck twice on the same text, once to keep the target class and once to keep a contrast
class (the other class of a binary classifier, else the runner-up or a named class), and
reports per token

    signed bits = bits(target) - bits(contrast)

Positive: the token is information the target needs more than the contrast does (support);
negative: information the contrast needs (opposition). The two fits share the first pass and
draw the same noise, and run as two rows of one batch: they give what two separate runs under
the same noise give (tested), and cost about two IBA runs on a CPU, where the second row finds
no idle lanes (measured in docs/evaluation.md).
"""

from __future__ import annotations

from typing import Any

import torch

from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.text.methods.base import Attribution
from ib_nlp.text.methods.iba import PerSampleIBA, kept_facts
from ib_nlp.text.sites import first_tensor, replace_first


class ContrastiveIBA(PerSampleIBA):
    """Per-sample IBA for the target minus per-sample IBA for a contrast class, in signed bits.

    ``contrast``: a class index or label name; by default the other class of a binary
    classifier, or the class with the highest logit after the target. Takes every option of
    :class:`~ib_nlp.text.methods.iba.PerSampleIBA`. Each explanation records the contrast class in
    ``metadata["contrast"]``.
    """

    name = "contrastive_iba"
    unit = "signed bits"
    signed = True
    description = "bits a token keeps for the target minus bits it keeps for the contrast class (signed bits per token)"

    def __init__(self, model: Any, layer: int | str | None = None, *, contrast: int | str | None = None, **options: Any):
        super().__init__(model, layer, **options)
        if len(self.classifier.label_names) < 2:
            raise InvalidInputError("contrastive IBA needs a classifier with at least two classes")
        self.contrast = None if contrast is None else self.classifier.class_index(contrast, role="contrast")

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "contrast": "runner-up" if self.contrast is None else self.classifier.label_names[self.contrast]}

    def contrast_class(self, scores: torch.Tensor, target: int) -> int:
        """The class to contrast ``target`` with, given the text's logits or probabilities."""
        if self.contrast is None:
            others = scores.detach().float().clone()
            others[target] = -torch.inf
            return int(others.argmax())
        if self.contrast == target:
            name = self.classifier.label_names[target]
            raise InvalidInputError(f"the target and the contrast are the same class ({name!r}); explain another target or choose another contrast")
        return self.contrast

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> Attribution:
        """Signed bits (texts x tokens): both fits of a text run as consecutive rows of one batch.
        The recorded kept probability is the target fit's."""
        captured = recorded if recorded is not None else self.first_pass(batch)[1]
        contrasts = [self.contrast_class(logits[row], target) for row, target in enumerate(targets)]
        pairs = batch.repeated(2)
        paired = replace_first(captured, first_tensor(captured).repeat_interleave(2, dim=0))
        objectives = [cls for pair in zip(targets, contrasts) for cls in pair]
        fit = self.fit(pairs, logits.repeat_interleave(2, dim=0), objectives, paired)
        supporting, opposing = fit.bits[0::2], fit.bits[1::2]
        self._check_not_closed(supporting, batch)
        return Attribution(supporting - opposing, kept_facts(fit.kept_probability[0::2]))

    def build_explanation(self, batch: EncodedBatch, row: int, scores: torch.Tensor, probabilities: torch.Tensor, target: int, seconds: float) -> Explanation:
        explanation = super().build_explanation(batch, row, scores, probabilities, target, seconds)
        explanation.metadata["contrast"] = self.classifier.label_names[self.contrast_class(probabilities, target)]
        return explanation
