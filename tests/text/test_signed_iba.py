"""The signed bottleneck methods (contrastive, gradient-, open- and closing-signed IBA) against known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ib_nlp import Classifier, InvalidInputError, explain_text
from ib_nlp.text.methods import attribution_mode, load_method
from ib_nlp.text.methods.contrastive_iba import ContrastiveIBA
from ib_nlp.text.methods.signed_iba import ClosingSignedIBA, GradientSignedIBA, OpenSignedIBA
from ib_nlp.text.methods.iba import PerSampleIBA, is_bottleneck_method
from ib_nlp.testing import SENTIMENT_REFERENCE, SENTIMENT_WEIGHTS, AdditiveConfig, AdditiveForSequenceClassification, additive_classifier

TEXTS = ["a good movie , great acting but a boring ending", "a bad and boring movie but great music"]
SIGNED = ["contrastive_iba", "gradient_signed_iba", "open_signed_iba", "closing_signed_iba"]
# A token's contribution is clear when its logit margin towards one class is at least this.
CLEAR_MARGIN = 0.5


@pytest.fixture(scope="module")
def additive() -> Classifier:
    return Classifier.load(additive_classifier(SENTIMENT_WEIGHTS))


def fitted(method: PerSampleIBA, texts: list[str], targets: list[int] | None = None):
    """The encoded texts, their logits, the targets (default: the predicted classes) and the
    method's optimised bottleneck for them."""
    batch = method.classifier.encode(texts)
    with attribution_mode(method.classifier.model):
        logits, captured = method.first_pass(batch)
        targets = logits.argmax(dim=-1).tolist() if targets is None else targets
        return batch, logits, targets, method.fit(batch, logits, targets, captured)


def margins(classifier: Classifier, text: str, target: int) -> list[float]:
    """Exact logit margin (target minus the other class) each token of the additive model adds."""
    table = classifier.model.token_logits().detach()
    return [float(table[token, target] - table[token, 1 - target]) for token in classifier.encode([text]).input_ids[0].tolist()]


@pytest.mark.parametrize("name", SIGNED)
def test_every_clear_contribution_gets_the_right_sign(additive, name):
    method = load_method(name, additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1)
    for text in TEXTS:
        explanation = method.explain(text)
        assert explanation.unit == "signed bits"
        checked = [(token, score, margin) for token, score, margin in zip(explanation.tokens, explanation.token_scores, margins(additive, text, explanation.target)) if abs(margin) >= CLEAR_MARGIN]
        assert {token for token, _, _ in checked} >= {"great", "boring"}
        for token, score, margin in checked:
            assert np.sign(score) == np.sign(margin), f"{name}: {token!r} has margin {margin:+.1f} but score {score:+.3g} in {text!r}"


@pytest.mark.parametrize("method", [GradientSignedIBA, OpenSignedIBA, ClosingSignedIBA])
def test_effect_signed_variants_keep_the_magnitude_of_iba(additive, method):
    options = dict(layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1)
    bits = PerSampleIBA(additive, **options).explain(TEXTS[0]).token_scores
    signed = method(additive, **options).explain(TEXTS[0]).token_scores
    np.testing.assert_allclose(np.abs(signed), bits, rtol=1e-6, atol=1e-9)


def test_first_order_effect_equals_its_closed_form_on_the_additive_model(additive):
    """On the additive model Z sums into the logits, so grad_R log p(t) = lam (e_t - softmax(sum Z))
    per noise sample: an independent computation from the same noise, alpha and prior."""
    method = GradientSignedIBA(additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1, samples=4)
    batch, _, (target,), fit = fitted(method, [TEXTS[0]])
    with attribution_mode(additive.model):
        effect = method.token_effect(fit, batch, [target])[0].numpy()
    mean = method.statistics.mean.double().numpy()
    std = method.statistics.clamped_std(method.config.min_std).double().numpy()
    values = fit.activations[0].double().numpy()
    lam = torch.sigmoid(fit.alpha[0].double()).numpy()
    generator = torch.Generator().manual_seed(method.config.seed)
    noise = torch.randn(4, values.shape[0], values.shape[1], generator=generator).double().numpy()
    expected = np.zeros(values.shape[0])
    for sample in noise:
        z = lam * values + (1 - lam) * (mean + std * sample)
        logit = z.sum(axis=0)
        probabilities = np.exp(logit - logit.max()) / np.exp(logit - logit.max()).sum()
        direction = -probabilities
        direction[target] += 1
        expected += ((lam * direction) * (values - mean)).sum(axis=1) / len(noise)
    assert bool(method.statistics.active_mask().all())
    np.testing.assert_allclose(effect, expected, rtol=1e-4, atol=1e-6)


def test_open_effect_equals_its_closed_form_on_the_additive_model(additive):
    """With the bottleneck open the additive model's logits are sum R, so grad_R log p(t) = e_t -
    softmax(sum R) for every token: no alpha and no noise enter (numpy, from the activations)."""
    method = OpenSignedIBA(additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1)
    batch, _, (target,), fit = fitted(method, [TEXTS[1]])
    with attribution_mode(additive.model):
        effect = method.token_effect(fit, batch, [target])[0].numpy()
    values = fit.activations[0].double().numpy()
    logit = values.sum(axis=0)
    direction = -np.exp(logit - logit.max()) / np.exp(logit - logit.max()).sum()
    direction[target] += 1
    expected = ((values - method.statistics.mean.double().numpy()) * direction).sum(axis=1)
    np.testing.assert_allclose(effect, expected, rtol=1e-4, atol=1e-6)
    under_bottleneck = GradientSignedIBA(additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1).token_effect(fit, batch, [target])[0].numpy()
    assert not np.allclose(effect, under_bottleneck, rtol=1e-2)


def test_closing_effect_equals_its_closed_form_on_the_additive_model(additive):
    """On the additive model the logits are the sum of the expected bottleneck's outputs, so closing
    token i replaces its term lam R_i + (1 - lam) mu by mu: computed here in numpy, token by token."""
    method = ClosingSignedIBA(additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1, chunk=3)
    batch, _, targets, fit = fitted(method, TEXTS)
    with attribution_mode(additive.model):
        effect = method.token_effect(fit, batch, targets).numpy()
    mean = method.statistics.mean.double().numpy()

    def log_probability(z: np.ndarray, target: int) -> float:
        logit = z.sum(axis=0)
        return float(logit[target] - np.log(np.exp(logit).sum()))

    for row, (length, target) in enumerate(zip(batch.lengths, targets)):
        values = fit.activations[row, :length].double().numpy()
        lam = torch.sigmoid(fit.alpha[row, :length].double()).numpy()
        expected = lam * values + (1 - lam) * mean
        for token in range(length):
            closed = expected.copy()
            closed[token] = mean
            assert effect[row, token] == pytest.approx(log_probability(expected, target) - log_probability(closed, target), abs=1e-5)
        assert (effect[row, length:] == 0).all()


def test_contrastive_equals_two_separate_runs_under_the_same_noise(tiny_bert, reference_texts):
    """Batched as two rows per text, the fits are those of IBA for the target and for the contrast."""
    texts = ["a good movie with great acting", "bad , boring and too long"]
    options = dict(layer=1, reference_corpus=reference_texts, steps=3, samples=3)
    contrastive = ContrastiveIBA(tiny_bert, **options).explain_batch(texts, [1, 0])
    plain = PerSampleIBA(tiny_bert, **options)
    for explanation, target in zip(contrastive, [1, 0]):
        supporting = plain.explain(explanation.text, target).token_scores
        opposing = plain.explain(explanation.text, 1 - target).token_scores
        np.testing.assert_allclose(explanation.token_scores, np.subtract(supporting, opposing), rtol=1e-4, atol=1e-5)
        assert explanation.metadata["contrast"] == ["negative", "positive"][1 - target]


def test_contrasting_two_identical_classes_gives_zero():
    """Classes 1 and 2 read the same hidden unit with the same weight, so their logits are equal
    under any noise: keeping one is keeping the other. Zero up to float rounding: the two fits are
    two rows of one batch, which some CPUs round differently (1.7e-7 bits on an AVX2 CPU)."""
    model, tokenizer = additive_classifier({"good": (0.0, 1.2), "bad": (1.5, 0.0), "movie": (0.3, 0.1)})
    three = AdditiveForSequenceClassification(AdditiveConfig(vocab_size=model.config.vocab_size, hidden_size=2, num_labels=3))
    with torch.no_grad():
        three.embeddings.weight.copy_(model.embeddings.weight)
        three.classifier.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    classifier = Classifier.load((three.eval(), tokenizer))
    explanation = ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1, contrast=2).explain("a good movie but bad", target=1)
    assert explanation.token_scores == pytest.approx([0.0] * len(explanation.tokens), abs=1e-5)


def test_the_contrast_is_the_runner_up_or_the_named_class():
    classifier = Classifier.load(additive_classifier({"good": (0.0, 2.0, 0.5), "bad": (1.0, 0.0, 0.0)}))
    text = "good but bad"
    runner_up = ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1).explain(text)
    assert (runner_up.target, runner_up.metadata["contrast"], runner_up.parameters["contrast"]) == (1, "class 0", "runner-up")
    named = ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1, contrast=2).explain(text)
    assert named.metadata["contrast"] == "class 2" and named.parameters["contrast"] == "class 2"
    with pytest.raises(InvalidInputError, match="same class"):
        ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, contrast="class 1").explain(text)
    with pytest.raises(InvalidInputError, match="contrast 'neutral' does not exist; classes are 0 = 'class 0'"):
        ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, contrast="neutral")
    with pytest.raises(InvalidInputError, match="contrast 3 does not exist"):
        ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, contrast=3)
    with pytest.raises(InvalidInputError, match="contrast must be a class index or label name, not True"):
        ContrastiveIBA(classifier, layer=0, reference_corpus=SENTIMENT_REFERENCE, contrast=True)
    with pytest.raises(InvalidInputError, match=r"no option 'contrasts' \(did you mean 'contrast'\?\)"):
        load_method("contrastive_iba", classifier, contrasts=1)


@pytest.mark.parametrize("name", SIGNED)
def test_signed_methods_take_the_bottleneck_options_everywhere(name, tiny_bert, reference_texts):
    assert is_bottleneck_method(name) and is_bottleneck_method("iba") and not is_bottleneck_method("integrated_gradients")
    explanation = explain_text(tiny_bert, "a good movie", method=name, layer=1, beta=3, steps=2, reference_corpus=reference_texts)
    assert explanation.method == name and explanation.layer == 1 and explanation.parameters["beta"] == 3
    assert explanation.unit == "signed bits"


def test_the_kept_probability_is_the_targets_probability_through_the_optimised_bottleneck(additive):
    """On the additive model the logits are the sum of Z = lam R + (1 - lam)(mu + sigma eps) over
    the tokens: a Monte Carlo estimate in numpy from the fit's alpha (1e5 draws) against the
    method's (2,000 noise samples)."""
    method = PerSampleIBA(additive, layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1, samples=2000)
    _, logits, (target,), fit = fitted(method, [TEXTS[0]])
    mean = method.statistics.mean.double().numpy()
    std = method.statistics.clamped_std(method.config.min_std).double().numpy()
    values = fit.activations[0].double().numpy()
    lam = torch.sigmoid(fit.alpha[0].double()).numpy()
    noise = np.random.default_rng(0).standard_normal((100_000, *values.shape))
    logit = (lam * values + (1 - lam) * (mean + std * noise)).sum(axis=1)
    expected = (1 / (1 + np.exp(logit[:, 1 - target] - logit[:, target]))).mean()
    assert abs(float(fit.kept_probability[0]) - expected) < 0.01
    assert float(torch.softmax(logits[0].float(), dim=-1)[target]) - expected > 0.05  # it is not the model's own probability


@pytest.mark.parametrize("name", ["iba", *SIGNED])
def test_every_bottleneck_explanation_records_its_kept_probability(additive, name):
    options = dict(layer=0, reference_corpus=SENTIMENT_REFERENCE, beta=1)
    explanation = load_method(name, additive, **options).explain(TEXTS[1])
    *_, fit = fitted(PerSampleIBA(additive, **options), [TEXTS[1]], [explanation.target])
    assert explanation.metadata["kept_probability"] == pytest.approx(float(fit.kept_probability[0]), rel=1e-5)  # the target's fit
