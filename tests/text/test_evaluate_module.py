"""The metrics as a Hugging Face ``evaluate`` module loaded from the package."""

from __future__ import annotations

import evaluate
import numpy as np
import pytest

from ib_nlp import Classifier, InvalidInputError
from ib_nlp.text.methods import load_method
from ib_nlp.text.methods.base import explanation_from_scores
from ib_nlp.text.metrics import Degradation, SensitivityN, evaluate_module_path
from ib_nlp.testing import additive_classifier

TEXTS = ["a good movie but a bad ending", "bad and boring , not good", "good fun"]


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load(additive_classifier({"good": (0.0, 1.0), "bad": (1.2, 0.0), "boring": (0.5, 0.0), "fun": (0.0, 0.4)}))


@pytest.fixture(scope="module")
def module():
    return evaluate.load(evaluate_module_path())


def test_the_module_gives_the_metric_means(classifier, module):
    explanations = [load_method("gradient_x_input", classifier).explain(text) for text in TEXTS]
    result = module.compute(predictions=[e.token_scores for e in explanations], references=TEXTS, model=classifier, metric="degradation", labels=[1, 0, 1])
    direct = [Degradation().compute(classifier, [e], label)[0] for e, label in zip(explanations, [1, 0, 1])]
    for value in ("morf_area", "lerf_area", "lerf_minus_morf", "lerf_accuracy_area"):
        samples = [r[value] for r in direct]
        assert result[value] == pytest.approx(np.mean(samples))
        assert result[f"{value}_sem"] == pytest.approx(np.std(samples, ddof=1) / np.sqrt(3))
    sensitivity = module.compute(predictions=[e.token_scores for e in explanations], references=TEXTS, model=classifier, metric="sensitivity_n", metric_options={"subsets": 8})
    expected = [SensitivityN(subsets=8).compute(classifier, [e])[0]["mean_correlation"] for e in explanations]
    assert sensitivity["mean_correlation"] == pytest.approx(np.mean(expected))


def test_scores_must_cover_every_token(classifier, module):
    with pytest.raises(InvalidInputError, match="give one score per token"):
        module.compute(predictions=[[0.1, 0.2]], references=[TEXTS[0]], model=classifier)
    with pytest.raises(InvalidInputError, match="pass model="):
        module.compute(predictions=[[0.1, 0.2]], references=[TEXTS[0]])


def test_scores_from_elsewhere_become_explanations(classifier):
    explanation = explanation_from_scores(classifier, "good fun", [0.0, 2.0, 1.0, 0.0], target="positive")
    assert explanation.word_scores == [2.0, 1.0] and explanation.target == 1 and explanation.method == "given"
