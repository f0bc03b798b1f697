"""Sensitivity-N for text (Ancona et al., 2018): do attributions add up to the effect of removing words?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.core.metric_info import MetricInfo, ValueInfo
from ib_nlp.text.metrics.base import FaithfulnessMetric, PerturbedText, text_seed


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (the correlation is undefined)."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


class SensitivityN(FaithfulnessMetric):
    """For each fraction of the words (10%..90%), draw random subsets of words, remove them, and
    correlate the summed word attribution of each subset with the drop of the target logit.

    The subsets depend only on the text and the seed, so every method is scored on the same
    subsets and the model runs once per subset whatever the number of methods. Correlations
    that are undefined (constant attributions) count as NaN and are left out of the mean.
    """

    info = MetricInfo(
        name="sensitivity_n",
        description="Sensitivity-N: Pearson correlation between summed attribution and target logit drop over random word subsets",
        values=(ValueInfo("mean_correlation", True, -1.0, 1.0, "Pearson correlation averaged over the subset sizes"),),
        main="mean_correlation",
        curves=("correlations",),
    )

    def __init__(self, fractions: Sequence[float] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), subsets: int = 100, removal: str = "auto", seed: int = 0, batch_size: int = 32):
        if not fractions or any(not 0 < f < 1 for f in fractions):
            raise InvalidInputError(f"fractions must lie strictly between 0 and 1, got {list(fractions)}")
        if subsets < 2:
            raise InvalidInputError(f"Sensitivity-N needs at least 2 subsets per size, got {subsets}")
        self.fractions = [float(f) for f in fractions]
        self.subsets = subsets
        self.removal = removal
        self.seed = seed
        self.batch_size = batch_size

    def compute(self, classifier: Classifier, explanations: Sequence[Explanation], label: int | None = None) -> list[dict[str, Any]]:
        self.check_same_text(explanations)
        first = explanations[0]
        text = PerturbedText(classifier, first, self.removal, self.batch_size)
        ordinary = set(text.ordinary)
        words = [index for index, word in enumerate(first.words) if any(i in ordinary for i in word.token_indices)]
        if len(words) < 2:
            raise InvalidInputError("Sensitivity-N needs a text of at least two words")
        generator = np.random.default_rng(text_seed(self.seed, first.text))
        draws = []
        for fraction in self.fractions:
            size = min(max(1, round(fraction * len(words))), len(words) - 1)
            draws.append([generator.choice(len(words), size=size, replace=False) for _ in range(self.subsets)])
        variants = [
            text.without([i for w in subset for i in first.words[words[w]].token_indices])
            for subsets in draws
            for subset in subsets
        ]
        target = first.target
        logits = text.logits([tuple(text.ids), *variants])[:, target].double().numpy()
        drops = (logits[0] - logits[1:]).reshape(len(self.fractions), self.subsets)
        results = []
        for explanation in explanations:
            scores = np.asarray([explanation.word_scores[w] for w in words], dtype=np.float64)
            correlations = [pearson(np.asarray([scores[s].sum() for s in subsets]), drops[k]) for k, subsets in enumerate(draws)]
            defined = [c for c in correlations if not np.isnan(c)]
            results.append(
                {
                    "fractions": self.fractions,
                    "correlations": [None if np.isnan(c) else c for c in correlations],
                    "mean_correlation": float(np.mean(defined)) if defined else None,
                }
            )
        return results
