"""The sign diagnosis and the sign-or-size diagnosis against plain recomputations from the
methods' own explanations; the evidence paths against the additive model's closed form and the
model's own forward passes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ib_nlp import Classifier, InvalidInputError
from ib_nlp.text.diagnostics import EVIDENCE_PATHS, diagnose_evidence_paths, diagnose_sign_and_size, diagnose_signs, log_odds_bits, path_evidence
from ib_nlp.text.methods import attribution_mode, load_method
from ib_nlp.text.methods.base import explanation_from_scores
from ib_nlp.text.methods.signed_iba import GradientSignedIBA
from ib_nlp.text.metrics import Degradation
from ib_nlp.testing import SENTIMENT_REFERENCE, SENTIMENT_WEIGHTS, additive_classifier

def cell(values):
    """A table cell computed by hand: mean ± standard error to three decimals."""
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) / np.sqrt(len(values)):.3f}"


def rescored(classifier, explanation, token_scores):
    """The explanation's text and target with other token scores, as the sign-and-size diagnosis builds them."""
    return explanation_from_scores(classifier, explanation.text, token_scores, explanation.target)


TEXTS = ["the movie was good and the acting was great", "a terrible boring film with bad acting", "i loved this story, the music was beautiful"]


def test_occlusion_agrees_with_itself_and_a_method_matches_a_plain_recomputation(tiny_bert):
    classifier = Classifier.load(tiny_bert)
    rows = diagnose_signs(classifier, TEXTS, ["occlusion", "gradient_x_input"])
    assert rows[0][:4] == ["occlusion", "1.000 ± 0.000", "1.000 ± 0.000", "1.000 ± 0.000"]

    def deletion_rank(scores, i):
        """Token i's place in the deletion order by counting: 0 first, 1 last, ties in the middle."""
        above, tied = np.sum(scores > scores[i]), np.sum(scores == scores[i]) - 1
        return (above + tied / 2) / (len(scores) - 1)

    occlusion, gradient = load_method("occlusion", classifier), load_method("gradient_x_input", classifier)
    signs, pearsons, magnitudes, opposing_ranks, occlusion_ranks = [], [], [], [], []
    for text in TEXTS:
        reference = occlusion.explain(text)
        keep = [i for i, special in enumerate(reference.special_tokens) if not special]
        effect = np.array(reference.token_scores)[keep]
        scores = np.array(gradient.explain(text, reference.target).token_scores)[keep]
        clear = np.abs(effect) > np.median(np.abs(effect))
        signs.append(np.mean(np.sign(scores[clear]) == np.sign(effect[clear])))
        pearsons.append(np.corrcoef(scores, effect)[0, 1])
        magnitudes.append(np.corrcoef(np.abs(scores[clear]), np.abs(effect[clear]))[0, 1])
        opposing = [i for i in range(len(effect)) if clear[i] and effect[i] < 0]
        if opposing:
            opposing_ranks.append(np.mean([deletion_rank(scores, i) for i in opposing]))
            occlusion_ranks.append(np.mean([deletion_rank(effect, i) for i in opposing]))
    assert len(opposing_ranks) >= 2, "the texts should hold tokens against the prediction"

    assert rows[0][4] == cell(occlusion_ranks)
    assert rows[1] == ["gradient_x_input", *(cell(v) for v in (signs, pearsons, magnitudes, opposing_ranks))]


def test_a_misspelt_method_is_refused_before_any_text_is_explained(tiny_bert):
    from ib_nlp import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown attribution method 'gradient_x_inptu'"):
        diagnose_signs(Classifier.load(tiny_bert), TEXTS, ["gradient_x_inptu"])


def _fit(explainer, text):
    batch = explainer.classifier.encode([text])
    with attribution_mode(explainer.classifier.model):
        logits, captured = explainer.first_pass(batch)
        targets = [int(logits[0].argmax())]
        return batch, targets, explainer.fit(batch, logits, targets, captured)


@pytest.mark.parametrize("waypoints", list(EVIDENCE_PATHS.values()))
def test_path_evidence_is_each_tokens_margin_on_the_additive_model(waypoints):
    """The additive model's log-odds are linear in the bottleneck's output, so every path gives
    each token (lam_end - lam_start) (R - mu) . (e_target - e_other) / ln 2, from the statistics,
    the fitted alpha and the model's token table alone."""
    classifier = Classifier.load(additive_classifier(SENTIMENT_WEIGHTS))
    explainer = GradientSignedIBA(classifier, 0, reference_corpus=SENTIMENT_REFERENCE, beta=1)
    text = "a good movie , great acting but a boring ending"
    batch, targets, fit = _fit(explainer, text)
    target = targets[0]
    table = classifier.model.token_logits().detach().numpy()
    states = table[batch.input_ids[0].numpy()]
    mean = explainer.statistics.mean.numpy()
    active = explainer.statistics.active_mask().numpy()
    lam = {"closed": 0.0, "optimised": torch.sigmoid(fit.alpha)[0].numpy(), "open": 1.0}
    direction = np.eye(2)[target] - np.eye(2)[1 - target]
    expected = (((lam[waypoints[-1]] - lam[waypoints[0]]) * (states - mean)) * active * direction).sum(axis=1) / math.log(2)
    shares, change = path_evidence(explainer, fit, batch, targets, waypoints, steps=4)
    np.testing.assert_allclose(shares[0].numpy(), expected, rtol=1e-4, atol=1e-5)
    assert float(change[0]) == pytest.approx(expected.sum(), rel=1e-4, abs=1e-5)
    assert abs(expected).max() > 0.1  # not trivially zero


def test_log_odds_in_bits_against_numpy():
    logits = np.array([[0.2, 1.5, -0.3], [2.0, 0.1, 0.4]])
    targets = [1, 0]
    expected = [(row[t] - np.log(np.exp(np.delete(row, t)).sum())) / np.log(2) for row, t in zip(logits, targets)]
    np.testing.assert_allclose(log_odds_bits(torch.tensor(logits), torch.tensor(targets)).numpy(), expected, rtol=1e-6)


def test_path_evidence_adds_up_to_the_change_of_the_log_odds_on_a_nonlinear_model(tiny_bert, reference_texts):
    classifier = Classifier.load(tiny_bert)
    explainer = GradientSignedIBA(classifier, 1, reference_corpus=reference_texts, steps=3, samples=2)
    text = "the movie was good and the acting was great"
    batch, targets, fit = _fit(explainer, text)
    for waypoints in EVIDENCE_PATHS.values():
        shares, change = path_evidence(explainer, fit, batch, targets, waypoints, steps=64)
        assert float(shares.sum()) == pytest.approx(float(change[0]), rel=0.02, abs=1e-3)
    with pytest.raises(InvalidInputError, match="at least two waypoints from closed, optimised, open"):
        path_evidence(explainer, fit, batch, targets, ("closed", "shut"))


def test_the_evidence_diagnosis_scores_every_attribution(tiny_bert, reference_texts):
    items = [{"text": text, "label": label} for text, label in zip(TEXTS, (1, 0, 1))]
    title, rows = diagnose_evidence_paths(Classifier.load(tiny_bert), items, layer=1, steps=4, subsets=10, options={"reference_corpus": reference_texts, "steps": 3, "samples": 2})
    assert title == "layer 1, beta 10, 4 steps per leg"
    assert [row[0] for row in rows] == ["gradient_signed_iba", *EVIDENCE_PATHS, "integrated_gradients"]
    for row in rows:
        assert all(" ± " in cell for cell in row[1:4]), row
    assert rows[0][4] == rows[-1][4] == "-" and all(" ± " in row[4] for row in rows[1:-1])


def test_scores_given_for_a_text_are_summed_per_word(tiny_bert):
    classifier = Classifier.load(tiny_bert)
    explanation = load_method("gradient_x_input", classifier).explain(TEXTS[2])
    assert rescored(classifier, explanation, explanation.token_scores).word_scores == pytest.approx(explanation.word_scores)
    doubled = rescored(classifier, explanation, [2 * score for score in explanation.token_scores])
    assert doubled.word_scores == pytest.approx([2 * score for score in explanation.word_scores])
    ones = rescored(classifier, explanation, [1.0] * len(explanation.tokens))
    assert ones.word_scores == [float(sum(not explanation.special_tokens[i] for i in word.token_indices)) for word in explanation.words]
    assert ones.text == explanation.text and ones.target == explanation.target


def test_the_sign_and_size_diagnosis_scores_each_combination_as_a_plain_recomputation(tiny_bert, reference_texts):
    classifier = Classifier.load(tiny_bert)
    options = {"layer": 1, "reference_corpus": reference_texts, "steps": 3, "samples": 2}
    items = [{"text": text, "label": label} for text, label in zip(TEXTS, (1, 0, 1))]
    title, rows = diagnose_sign_and_size(classifier, items, "gradient_signed_iba", (1, 30), options)
    low, high = load_method("gradient_signed_iba", classifier, beta=1, **options), load_method("gradient_signed_iba", classifier, beta=30, **options)
    expected: dict[str, list[float]] = {}
    agreement = []
    for item in items:
        first = low.explain(item["text"])
        second = high.explain(item["text"], first.target)
        sign_low, sign_high = np.sign(first.token_scores), np.sign(second.token_scores)
        size_low, size_high = np.abs(first.token_scores), np.abs(second.token_scores)
        ordinary = [i for i, special in enumerate(first.special_tokens) if not special]
        agreement.append(np.mean(sign_low[ordinary] == sign_high[ordinary]))
        variants = {
            "signed bits, beta 1": first,
            "sign alone, beta 1": rescored(classifier, first, sign_low),
            "signed bits, beta 30": second,
            "sign alone, beta 30": rescored(classifier, first, sign_high),
            "sign at beta 30, size at beta 1": rescored(classifier, first, sign_high * size_low),
            "sign at beta 1, size at beta 30": rescored(classifier, first, sign_low * size_high),
        }
        for name, explanation in variants.items():
            expected.setdefault(name, []).append(Degradation().compute(classifier, [explanation], item["label"])[0]["lerf_minus_morf"])
    assert [row[0] for row in rows] == list(expected)
    assert [row[1] for row in rows] == [cell(values) for values in expected.values()]
    assert all(" ± " in row[2] and " ± " in row[3] for row in rows)
    assert title == f"gradient_signed_iba at layer 1; the two betas give a token the same sign on {cell(agreement)} of the tokens"
    with pytest.raises(InvalidInputError, match="give two betas to compare, got \\[1, 10, 30\\]"):
        diagnose_sign_and_size(classifier, items, "gradient_signed_iba", (1, 10, 30), options)
