"""Token degradation (Jiang et al., 2020) and insertion/deletion (Samek et al., 2017)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.core.metric_info import MetricInfo, ValueInfo, area_under_curve
from ib_nlp.text.metrics.base import FaithfulnessMetric, PerturbedText, ranked_positions


def _fractions(steps: int) -> list[float]:
    if steps < 1:
        raise InvalidInputError(f"steps must be >= 1, got {steps}")
    return [k / steps for k in range(steps + 1)]


class _RankedRemovalMetric(FaithfulnessMetric):
    """Options shared by the metrics that remove tokens in attribution order at fixed fractions."""

    def __init__(self, steps: int, removal: str, seed: int, batch_size: int):
        self.fractions = _fractions(steps)
        self.removal = removal
        self.seed = seed
        self.batch_size = batch_size


class Degradation(_RankedRemovalMetric):
    """Remove the top k% tokens by attribution (MoRF) or the bottom k% (LeRF), k = 0..100%.

    Records the target probability and the accuracy (prediction equals the label, or the
    explained target when no label is given) at each k. A faithful attribution makes the
    probability fall fast under MoRF and stay under LeRF: the LeRF - MoRF area is the score.
    """

    info = MetricInfo(
        name="degradation",
        description="token degradation: target probability after removing the most (MoRF) / least (LeRF) relevant k% of tokens",
        values=(
            ValueInfo("morf_area", False, 0.0, 1.0, "area under the MoRF probability curve"),
            ValueInfo("lerf_area", True, 0.0, 1.0, "area under the LeRF probability curve"),
            ValueInfo("lerf_minus_morf", True, -1.0, 1.0, "LeRF area minus MoRF area"),
            ValueInfo("morf_accuracy_area", False, 0.0, 1.0, "area under the MoRF accuracy curve"),
            ValueInfo("lerf_accuracy_area", True, 0.0, 1.0, "area under the LeRF accuracy curve"),
        ),
        main="lerf_minus_morf",
        curves=("morf", "lerf", "morf_accuracy", "lerf_accuracy"),
    )

    def __init__(self, steps: int = 10, removal: str = "delete", seed: int = 0, batch_size: int = 32):
        super().__init__(steps, removal, seed, batch_size)

    def compute(self, classifier: Classifier, explanations: Sequence[Explanation], label: int | None = None) -> list[dict[str, Any]]:
        self.check_same_text(explanations)
        text = PerturbedText(classifier, explanations[0], self.removal, self.batch_size)
        reference = explanations[0].target if label is None else label
        orders = (("morf", True), ("lerf", False))
        variants = {
            (position, order): [text.without(ranked[: round(fraction * len(ranked))]) for fraction in self.fractions]
            for position, explanation in enumerate(explanations)
            for order, descending in orders
            for ranked in [ranked_positions(explanation, text.ordinary, self.seed, descending)]
        }
        text.logits([variant for group in variants.values() for variant in group])  # one pass, full batches
        results = []
        for position, explanation in enumerate(explanations):
            result: dict[str, Any] = {"fractions": self.fractions}
            for order, _ in orders:
                logits = text.logits(variants[position, order])
                probabilities = logits.softmax(dim=-1)[:, explanation.target].double().numpy()
                accuracy = (logits.argmax(dim=-1).numpy() == reference).astype(np.float64)
                result[order] = probabilities.tolist()
                result[f"{order}_accuracy"] = accuracy.tolist()
                result[f"{order}_area"] = area_under_curve(probabilities, self.fractions)
                result[f"{order}_accuracy_area"] = area_under_curve(accuracy, self.fractions)
            result["lerf_minus_morf"] = result["lerf_area"] - result["morf_area"]
            results.append(result)
        return results


class InsertionDeletion(_RankedRemovalMetric):
    """Deletion: replace tokens by [MASK]/[UNK] in attribution order; insertion: start from an
    all-[MASK] text and put the tokens back in attribution order. Area under the target
    probability curve for each (deletion: lower is better; insertion: higher is better)."""

    info = MetricInfo(
        name="insertion_deletion",
        description="insertion/deletion AUC of the target probability with a [MASK]/[UNK] baseline",
        values=(
            ValueInfo("deletion_auc", False, 0.0, 1.0, "area under the deletion curve"),
            ValueInfo("insertion_auc", True, 0.0, 1.0, "area under the insertion curve"),
            ValueInfo("insertion_minus_deletion", True, -1.0, 1.0, "insertion AUC minus deletion AUC"),
        ),
        main="insertion_minus_deletion",
        curves=("deletion", "insertion"),
    )

    def __init__(self, steps: int = 20, removal: str = "auto", seed: int = 0, batch_size: int = 32):
        if removal == "delete":
            raise InvalidInputError("insertion/deletion replaces tokens by a baseline token: use removal='mask', 'unk', 'pad' or 'auto'")
        super().__init__(steps, removal, seed, batch_size)

    def compute(self, classifier: Classifier, explanations: Sequence[Explanation], label: int | None = None) -> list[dict[str, Any]]:
        self.check_same_text(explanations)
        text = PerturbedText(classifier, explanations[0], self.removal, self.batch_size)
        curves = []
        for explanation in explanations:
            ranked = ranked_positions(explanation, text.ordinary, self.seed, descending=True)
            counts = [round(fraction * len(ranked)) for fraction in self.fractions]
            curves.append(([text.without(ranked[:count]) for count in counts], [text.without(ranked[count:]) for count in counts]))
        text.logits([variant for pair in curves for group in pair for variant in group])  # one pass, full batches
        results = []
        for explanation, (deleted, inserted) in zip(explanations, curves):
            deletion = text.probabilities(deleted, explanation.target)
            insertion = text.probabilities(inserted, explanation.target)
            deletion_auc = area_under_curve(deletion, self.fractions)
            insertion_auc = area_under_curve(insertion, self.fractions)
            results.append(
                {
                    "fractions": self.fractions,
                    "deletion": deletion.tolist(),
                    "insertion": insertion.tolist(),
                    "deletion_auc": deletion_auc,
                    "insertion_auc": insertion_auc,
                    "insertion_minus_deletion": insertion_auc - deletion_auc,
                }
            )
        return results
