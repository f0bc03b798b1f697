"""ERASER's comprehensiveness and sufficiency (DeYoung et al., 2020) as AOPC over bins, and
their normalized versions (after Edin et al., 2025).

For the top k% of tokens by attribution (k in ``bins``, at least one token each):

- comprehensiveness: p(target | text) - p(target | text without them), averaged over the bins
  (higher is better: removing what the attribution ranks first should hurt);
- sufficiency: p(target | text) - p(target | only them, special tokens kept), averaged over
  the bins (lower is better: what it ranks first should be enough).

Normalized values place a score within the range an ordering of this text's tokens can
attain, 1 being the best and 0 the worst. Edin et al. find the extremes by a search over
orderings; here they are approximated by the orderings of the leave-one-out drop (occlusion)
of each token, most-first and least-first, together with the explanation's own ordering, so
the normalized values lie in [0, 1] by construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.core.metric_info import MetricInfo, ValueInfo
from ib_nlp.text.metrics.base import FaithfulnessMetric, PerturbedText, ranked_positions

ERASER_BINS = (0.01, 0.05, 0.1, 0.2, 0.5)


class Eraser(FaithfulnessMetric):
    """Comprehensiveness and sufficiency (AOPC over ``bins``), raw and normalized per text."""

    info = MetricInfo(
        name="eraser",
        description="ERASER comprehensiveness / sufficiency: probability change when the top k% tokens are removed / kept alone",
        values=(
            ValueInfo("comprehensiveness", True, -1.0, 1.0, "mean over the bins of p(text) - p(text without the top k%)"),
            ValueInfo("sufficiency", False, -1.0, 1.0, "mean over the bins of p(text) - p(only the top k%)"),
            ValueInfo("normalized_comprehensiveness", True, 0.0, 1.0, "comprehensiveness within the attainable range of this text (1 = best)"),
            ValueInfo("normalized_sufficiency", True, 0.0, 1.0, "sufficiency within the attainable range of this text (1 = best, i.e. lowest)"),
        ),
        main="comprehensiveness",
        curves=("comprehensiveness_curve", "sufficiency_curve"),
    )

    def __init__(self, bins: Sequence[float] = ERASER_BINS, removal: str = "delete", seed: int = 0, batch_size: int = 32):
        bins = tuple(float(value) for value in bins)
        if not bins or any(not 0.0 < value <= 1.0 for value in bins):
            raise InvalidInputError(f"bins must be fractions in (0, 1], got {bins}")
        self.bins = bins
        self.removal = removal
        self.seed = seed
        self.batch_size = batch_size

    def counts(self, tokens: int) -> list[int]:
        """Tokens in the top k% for each bin: the fraction rounded up, at least one."""
        return [max(1, math.ceil(fraction * tokens - 1e-9)) for fraction in self.bins]

    def compute(self, classifier: Classifier, explanations: Sequence[Explanation], label: int | None = None) -> list[dict[str, Any]]:
        self.check_same_text(explanations)
        text = PerturbedText(classifier, explanations[0], self.removal, self.batch_size)
        target = explanations[0].target
        counts = self.counts(len(text.ordinary))
        full = text.probabilities([text.without([])], target)[0]
        drops = full - text.probabilities([text.without([position]) for position in text.ordinary], target)
        occlusion = sorted(range(len(text.ordinary)), key=lambda i: (-drops[i], i))
        bounds = ([text.ordinary[i] for i in occlusion], [text.ordinary[i] for i in reversed(occlusion)])
        rankings = [ranked_positions(explanation, text.ordinary, self.seed, descending=True) for explanation in explanations]
        variants = [variant for ranked in (*rankings, *bounds) for variant in self._variants(text, ranked, counts)]
        text.logits(variants)  # one pass, full batches
        extremes = [self._aopc(text, ranked, counts, target, full) for ranked in bounds]
        results = []
        for ranked in rankings:
            comprehensiveness_curve, sufficiency_curve = self._curves(text, ranked, counts, target, full)
            comprehensiveness, sufficiency = float(np.mean(comprehensiveness_curve)), float(np.mean(sufficiency_curve))
            comprehensiveness_range = [comprehensiveness, *(value[0] for value in extremes)]
            sufficiency_range = [sufficiency, *(value[1] for value in extremes)]
            results.append(
                {
                    "bins": list(self.bins),
                    "comprehensiveness_curve": comprehensiveness_curve,
                    "sufficiency_curve": sufficiency_curve,
                    "comprehensiveness": comprehensiveness,
                    "sufficiency": sufficiency,
                    "normalized_comprehensiveness": _within(comprehensiveness, comprehensiveness_range, higher_is_better=True),
                    "normalized_sufficiency": _within(sufficiency, sufficiency_range, higher_is_better=False),
                }
            )
        return results

    @staticmethod
    def _variants(text: PerturbedText, ranked: Sequence[int], counts: Sequence[int]) -> list[tuple[int, ...]]:
        """The texts without the top k tokens, then with only them, for every bin."""
        return [text.without(ranked[:count]) for count in counts] + [text.without(ranked[count:]) for count in counts]

    def _curves(self, text: PerturbedText, ranked: Sequence[int], counts: Sequence[int], target: int, full: float) -> tuple[list[float], list[float]]:
        probabilities = text.probabilities(self._variants(text, ranked, counts), target)
        removed, kept = probabilities[: len(counts)], probabilities[len(counts) :]
        return (full - removed).tolist(), (full - kept).tolist()

    def _aopc(self, text: PerturbedText, ranked: Sequence[int], counts: Sequence[int], target: int, full: float) -> tuple[float, float]:
        comprehensiveness, sufficiency = self._curves(text, ranked, counts, target, full)
        return float(np.mean(comprehensiveness)), float(np.mean(sufficiency))


def _within(value: float, attained: Sequence[float], higher_is_better: bool) -> float | None:
    """``value``'s place between the worst (0) and the best (1) of the values attained (None if all equal)."""
    low, high = min(attained), max(attained)
    if high - low <= 1e-12:
        return None
    position = (value - low) / (high - low)
    return position if higher_is_better else 1.0 - position
