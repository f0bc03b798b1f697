"""Faithfulness metrics against straightforward reference computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ib_nlp import Classifier, InvalidInputError
from ib_nlp.text.methods import load_method
from ib_nlp.text.metrics import (
    METRICS,
    CascadingRandomization,
    Degradation,
    Eraser,
    InsertionDeletion,
    SensitivityN,
    area_under_curve,
    load_metric,
    parameter_groups,
    randomized_models,
)
from ib_nlp.text.metrics.sanity import spearman
from ib_nlp.text.metrics.sensitivity import pearson
from ib_nlp.testing import additive_classifier, random_classifier

# Every token of TEXT has a distinct contribution to the positive logit, so rankings have no ties.
WEIGHTS = {
    "good": (0.0, 1.2), "great": (0.0, 0.8), "bad": (1.5, -0.4), "boring": (0.6, -0.2), "movie": (0.1, 0.2), "fun": (0.0, 0.5),
    "a": (0.0, 0.05), ",": (0.0, -0.05), "but": (0.0, 0.1), "and": (0.0, -0.1), "acting": (0.0, 0.3),
}
TEXT = "a good movie , great fun but boring and bad acting"


@pytest.fixture(scope="module")
def additive() -> Classifier:
    return Classifier.load(additive_classifier(WEIGHTS))


def probability(classifier: Classifier, ids: list[int], target: int) -> float:
    with torch.no_grad():
        return float(torch.softmax(classifier.model(input_ids=torch.tensor([ids])).logits, -1)[0, target])


def test_area_under_curve_is_the_trapezoid_rule():
    x = np.linspace(0, 1, 11)
    assert area_under_curve(x**2, x) == pytest.approx(np.trapezoid(x**2, x))
    assert area_under_curve([1, 1], [0, 1]) == 1.0


def test_every_metric_declares_the_values_it_returns(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT)
    for name in METRICS.names():
        cls = METRICS.get(name)
        metric = load_metric(name, **({"subsets": 10} if name == "sensitivity_n" else {}))
        (result,) = metric.compute(additive, [explanation], label=1)
        for value in cls.info.values:
            assert value.low <= result[value.name] <= value.high, (name, value.name)
        assert cls.info.main in {value.name for value in cls.info.values}
        assert all(curve in result for curve in cls.info.curves)


def reference_degradation(classifier, explanation, descending, fractions):
    """Deletion by hand: sort ordinary tokens by score, drop the first k, run the model."""
    ids = classifier.encode([explanation.text]).input_ids[0].tolist()
    ordinary = [i for i, s in enumerate(explanation.special_tokens) if not s]
    order = sorted(ordinary, key=lambda i: explanation.token_scores[i], reverse=descending)
    curve = []
    for fraction in fractions:
        removed = set(order[: round(fraction * len(order))])
        curve.append(probability(classifier, [t for i, t in enumerate(ids) if i not in removed], explanation.target))
    return curve


def test_degradation_matches_deleting_tokens_by_hand(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    (result,) = Degradation(steps=5).compute(additive, [explanation])
    fractions = [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert result["morf"] == pytest.approx(reference_degradation(additive, explanation, True, fractions), abs=1e-6)
    assert result["lerf"] == pytest.approx(reference_degradation(additive, explanation, False, fractions), abs=1e-6)
    assert result["lerf_minus_morf"] == pytest.approx(result["lerf_area"] - result["morf_area"])
    assert result["morf_area"] < result["lerf_area"]


def test_degradation_accuracy_uses_the_label_when_given(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    (with_label,) = Degradation(steps=2).compute(additive, [explanation], label=0)
    (without,) = Degradation(steps=2).compute(additive, [explanation])
    assert with_label["morf_accuracy"][0] == 1 - without["morf_accuracy"][0]


def test_exact_attributions_beat_random_ones(additive):
    exact = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    random = load_method("random", additive).explain(TEXT, "positive")
    exact_result, random_result = Degradation().compute(additive, [exact, random])
    assert exact_result["lerf_minus_morf"] > random_result["lerf_minus_morf"]
    exact_result, random_result = InsertionDeletion().compute(additive, [exact, random])
    assert exact_result["deletion_auc"] < random_result["deletion_auc"]
    assert exact_result["insertion_auc"] > random_result["insertion_auc"]


def test_insertion_and_deletion_start_and_end_where_they_should(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    (result,) = InsertionDeletion(steps=4).compute(additive, [explanation])
    ids = additive.encode([TEXT]).input_ids[0].tolist()
    masked = [t if s else additive.tokenizer.mask_token_id for t, s in zip(ids, explanation.special_tokens)]
    assert result["deletion"][0] == pytest.approx(probability(additive, ids, 1)) == pytest.approx(result["insertion"][-1])
    assert result["deletion"][-1] == pytest.approx(probability(additive, masked, 1)) == pytest.approx(result["insertion"][0])
    with pytest.raises(InvalidInputError, match="baseline token"):
        InsertionDeletion(removal="delete")


def test_sensitivity_n_is_one_for_exact_additive_attributions(additive):
    exact = load_method("integrated_gradients", additive).explain(TEXT, "negative")
    shuffled = load_method("random", additive).explain(TEXT, "negative")
    exact_result, random_result = SensitivityN(subsets=30).compute(additive, [exact, shuffled])
    assert exact_result["correlations"] == pytest.approx([1.0] * 9, abs=1e-6)
    assert random_result["mean_correlation"] < 0.9


def test_sensitivity_n_scores_methods_on_the_same_subsets_and_runs_the_model_once(additive, monkeypatch):
    explanations = [load_method(name, additive).explain(TEXT) for name in ("integrated_gradients", "random")]
    calls = []
    original = Classifier.run

    def counting(self, inputs, handlers=None):
        calls.append(inputs["input_ids"].shape[0])
        return original(self, inputs, handlers)

    monkeypatch.setattr(Classifier, "run", counting)
    together = SensitivityN(subsets=10, batch_size=1000).compute(additive, explanations)
    assert sum(calls) <= 1 + 9 * 10  # the original text and each distinct subset, once
    calls.clear()
    alone = SensitivityN(subsets=10).compute(additive, explanations[1:])
    assert alone[0] == together[1]


def test_pearson_and_spearman_match_numpy_and_handle_constant_input():
    generator = np.random.default_rng(1)
    x, y = generator.normal(size=20), generator.normal(size=20)
    xm, ym = x - x.mean(), y - y.mean()
    assert pearson(x, y) == pytest.approx(float((xm * ym).sum() / np.sqrt((xm**2).sum() * (ym**2).sum())))
    assert np.isnan(pearson(np.ones(5), y[:5]))
    ranks = lambda v: np.argsort(np.argsort(v)).astype(float)
    assert spearman(x, y) == pytest.approx(pearson(ranks(x), ranks(y)))
    assert spearman(np.ones(4), y[:4]) is None


def test_metrics_refuse_explanations_of_another_tokenizer(additive):
    other = Classifier.load(random_classifier("bert", layers=1, words=["good", "movie"]))
    explanation = load_method("random", other).explain(TEXT)
    with pytest.raises(InvalidInputError, match="do not match"):
        Degradation().compute(additive, [explanation])
    with pytest.raises(InvalidInputError, match="removal must be one of"):
        Degradation(removal="blank").compute(additive, [explanation])


def test_parameter_groups_cover_every_parameter_once_top_down():
    bert = Classifier.load(random_classifier("bert", layers=3))
    groups = parameter_groups(bert)
    assert [label for label, _ in groups] == ["head", "layer.2", "layer.1", "layer.0", "embeddings"]
    names = [name for _, members in groups for name in members]
    assert sorted(names) == sorted(name for name, _ in bert.model.named_parameters())
    assert any("classifier" in name for name in dict(groups)["head"])
    assert all("embeddings" in name for name in dict(groups)["embeddings"])


def test_randomisation_is_cumulative_and_leaves_the_original_alone():
    bert = Classifier.load(random_classifier("bert", layers=2))
    original = {name: p.detach().clone() for name, p in bert.model.named_parameters()}
    groups = dict(parameter_groups(bert))
    seen: list[str] = []
    for label, randomized in randomized_models(bert, seed=3):
        seen.append(label)
        changed = {name for name, p in randomized.model.named_parameters() if not torch.equal(p, original[name])}
        expected = {name for group in seen for name in groups[group] if original[name].numel() > 1 and float(original[name].std()) > 0}
        assert changed == expected
    assert all(torch.equal(p, original[name]) for name, p in bert.model.named_parameters())


def test_sanity_check_separates_model_dependent_methods_from_random(additive):
    bert = Classifier.load(random_classifier("bert", layers=2))
    check = CascadingRandomization(seed=0)
    (random_result,) = check.compute(bert, lambda model: load_method("random", model), [TEXT])
    assert random_result["steps"] == ["original", "head", "layer.1", "layer.0", "embeddings"]
    assert random_result["spearman"] == pytest.approx([1.0] * 5)
    (gradient_result,) = check.compute(bert, lambda model: load_method("gradient_x_input", model), [TEXT])
    assert gradient_result["spearman"][0] == 1.0 and gradient_result["final_abs_spearman"] < 0.9


def test_sanity_check_draws_the_randomised_models_once_per_classifier():
    bert = Classifier.load(random_classifier("bert", layers=2))
    check = CascadingRandomization(seed=0)
    first = check.randomized(bert)
    assert check.randomized(bert) is first and [label for label, _ in first] == ["head", "layer.1", "layer.0", "embeddings"]
    factory = lambda model: load_method("gradient_x_input", model)  # noqa: E731
    kept = [check.compute(bert, factory, [text])[0]["spearman"] for text in (TEXT, TEXT + " again")]
    fresh = [CascadingRandomization(seed=0).compute(bert, factory, [text])[0]["spearman"] for text in (TEXT, TEXT + " again")]
    assert [value for row in kept for value in row] == pytest.approx([value for row in fresh for value in row])
    other = Classifier.load(random_classifier("bert", layers=1))
    assert [label for label, _ in check.randomized(other)] == ["head", "layer.0", "embeddings"]


def reference_eraser(classifier, explanation, bins):
    """ERASER by hand (DeYoung et al., 2020): for each bin the ceil(k * n) top tokens by score are
    removed (comprehensiveness) or kept alone with the special tokens (sufficiency)."""
    ids = classifier.encode([explanation.text]).input_ids[0].tolist()
    ordinary = [i for i, s in enumerate(explanation.special_tokens) if not s]
    order = sorted(ordinary, key=lambda i: explanation.token_scores[i], reverse=True)
    full = probability(classifier, ids, explanation.target)
    comprehensiveness, sufficiency = [], []
    for fraction in bins:
        top = set(order[: max(1, int(np.ceil(fraction * len(order) - 1e-9)))])
        without = [t for i, t in enumerate(ids) if i not in top]
        only = [t for i, t in enumerate(ids) if i in top or explanation.special_tokens[i]]
        comprehensiveness.append(full - probability(classifier, without, explanation.target))
        sufficiency.append(full - probability(classifier, only, explanation.target))
    return np.mean(comprehensiveness), np.mean(sufficiency), comprehensiveness


def test_eraser_matches_the_definition_by_hand(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    for bins in [(0.01, 0.05, 0.1, 0.2, 0.5), (0.3, 1.0)]:
        (result,) = Eraser(bins=bins).compute(additive, [explanation])
        comprehensiveness, sufficiency, curve = reference_eraser(additive, explanation, bins)
        assert result["comprehensiveness"] == pytest.approx(comprehensiveness, abs=1e-6)
        assert result["sufficiency"] == pytest.approx(sufficiency, abs=1e-6)
        assert result["comprehensiveness_curve"] == pytest.approx(curve, abs=1e-6)
    assert Eraser().counts(11) == [1, 1, 2, 3, 6] and Eraser().counts(200) == [2, 10, 20, 40, 100]
    with pytest.raises(InvalidInputError, match="bins must be fractions"):
        Eraser(bins=(0.0, 0.5))


def test_normalized_eraser_is_one_for_the_exact_contributions_of_an_additive_model(additive):
    from ib_nlp.text.methods.base import explanation_from_scores

    ids = additive.encode([TEXT]).input_ids[0].tolist()
    table = additive.model.token_logits().detach()
    contributions = [float(table[token, 1] - table[token, 0]) for token in ids]  # what each token adds to positive over negative
    exact = explanation_from_scores(additive, TEXT, contributions, target="positive")
    reverse = explanation_from_scores(additive, TEXT, [-value for value in contributions], target="positive")
    exact_result, reverse_result = Eraser(bins=(0.1, 0.3, 0.5)).compute(additive, [exact, reverse])
    assert exact_result["normalized_comprehensiveness"] == pytest.approx(1.0) and exact_result["normalized_sufficiency"] == pytest.approx(1.0)
    assert reverse_result["normalized_comprehensiveness"] == pytest.approx(0.0, abs=1e-6) and reverse_result["normalized_sufficiency"] == pytest.approx(0.0, abs=1e-6)
    assert exact_result["comprehensiveness"] > reverse_result["comprehensiveness"] and exact_result["sufficiency"] < reverse_result["sufficiency"]
