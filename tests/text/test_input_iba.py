"""InputIBA: each stage's bottleneck acts on the model, the GAN moves the prior, and the
method returns bits per token through the registry for transformers and LSTMs."""

from __future__ import annotations

import pytest
import torch

from ib_nlp import InvalidInputError, load_method
from ib_nlp.core.bottleneck import NATS_PER_BIT, prior_capacity
from ib_nlp.text.methods.input_iba import InputIBA
from ib_nlp.text.sites import first_tensor
from ib_nlp.testing import random_classifier

TEXT = "a wonderful film, i loved the music"
FAST = {"feature_steps": 2, "steps": 3, "samples": 2, "gan_samples": 8, "gan_epochs": 2, "gan_batch": 4, "critic_steps": 2}


@pytest.fixture(params=["bert", "lstm"])
def method(request, reference_texts) -> InputIBA:
    return InputIBA(random_classifier(request.param, layers=2), reference_corpus=reference_texts, **FAST)


def test_default_deep_layer_is_the_last_block_and_the_input_is_the_embeddings(method):
    assert method.feature.layer == len(method.classifier.layers) - 1 and method.layer == "embeddings"


def test_every_stage_changes_the_model_when_its_mask_is_driven_to_zero(method):
    classifier = method.classifier
    batch = classifier.encode([TEXT])
    with torch.no_grad():
        logits, store = method.first_pass(batch)
        embeddings = store["embeddings"]
        deep = first_tensor(store[method.feature.site.key])
        for iba, activations, captured in ((method.feature, deep, store[method.feature.site.key]), (method.input, embeddings, embeddings)):
            engine = iba.engine_for(batch, captured)
            mean, std = iba._prior(activations)
            kept = engine.logits(lambda values: values, 1)
            noise = engine.logits(lambda values, mean=mean: mean.expand_as(values).to(values.dtype), 1)
            torch.testing.assert_close(kept, logits)
            assert not torch.allclose(noise, logits, atol=1e-4), iba.site.key
        through = method.deep_activations(batch, 0, embeddings)
        torch.testing.assert_close(through, deep, rtol=1e-4, atol=1e-5)
        mean, std = method.input._prior(embeddings)
        replaced = method.deep_activations(batch, 0, mean.expand_as(embeddings).clone())
        assert not torch.allclose(replaced, deep, atol=1e-3)


def test_the_gan_moves_the_prior_mask_and_is_seeded(reference_texts):
    method = InputIBA(random_classifier("bert", layers=2), reference_corpus=reference_texts, **{**FAST, "gan_lr": 0.05, "gan_epochs": 3})
    batch = method.classifier.encode([TEXT])
    _, store = method.first_pass(batch)
    deep = first_tensor(store[method.feature.site.key])
    length = batch.lengths[0]
    alpha = torch.full_like(deep[0, :length], 5.0)
    first = method.fit_input_prior(batch, 0, store["embeddings"][0, :length], deep[0, :length], alpha)
    again = method.fit_input_prior(batch, 0, store["embeddings"][0, :length], deep[0, :length], alpha)
    assert first.shape == store["embeddings"][0, :length].shape and first.abs().max() > 0.01
    torch.testing.assert_close(first, again)


def test_without_gan_epochs_the_prior_mask_stays_at_one_half(reference_texts):
    method = InputIBA(random_classifier("bert", layers=2), reference_corpus=reference_texts, **{**FAST, "gan_epochs": 0})
    explanation = method.explain(TEXT)
    (mask,) = method.last_prior_masks
    assert mask.shape == (len(explanation.tokens), method.input.statistics.num_features) and torch.all(mask == 0.5)


def test_the_gradient_penalty_critic_runs_and_moves_the_mask(reference_texts):
    method = InputIBA(random_classifier("lstm", layers=2), reference_corpus=reference_texts, **{**FAST, "critic": "gradient_penalty", "gan_lr": 0.05})
    explanation = method.explain(TEXT)
    assert explanation.parameters["critic"] == "gradient_penalty" and all(v >= 0 for v in explanation.token_scores)
    assert float((method.last_prior_masks[0] - 0.5).abs().max()) > 1e-3


def test_explanation_is_the_proposition_3_kl_in_bits_and_reports_each_stage(method):
    explanation = load_method("input_iba", method.classifier, reference_corpus=None, statistics={**_stats(method)}, **FAST).explain(TEXT)
    assert explanation.method == "input_iba" and explanation.unit == "bits" and explanation.layer == "embeddings"
    assert len(explanation.token_scores) == len(explanation.tokens) and min(explanation.token_scores) >= 0 and max(explanation.token_scores) > 0
    assert set(explanation.parameters["stage_seconds"]) == {"feature", "gan", "input"}
    assert all(value > 0 for value in explanation.parameters["stage_seconds"].values())
    assert explanation.word_scores and sum(explanation.word_scores) <= sum(explanation.token_scores) + 1e-6


def test_bits_are_the_capacity_summed_over_the_embedding_units(method):
    batch = method.classifier.encode([TEXT])
    _, store = method.first_pass(batch)
    embeddings = store["embeddings"]
    generator = torch.Generator().manual_seed(0)
    alpha, prior = torch.randn(embeddings.shape, generator=generator), torch.randn(embeddings.shape, generator=generator)
    mean, std = method.input._prior(embeddings)
    expected = prior_capacity(alpha, (embeddings - mean) / std, prior).sum(-1) / NATS_PER_BIT
    torch.testing.assert_close(method.input.bits_per_token(alpha, embeddings, batch, prior_alpha=prior), expected)


def test_a_model_can_recommend_its_own_settings(reference_texts):
    model, tokenizer = random_classifier("bert", layers=2)
    model.config.ib_nlp_input_iba_defaults = {"beta": 300.0, "steps": 7, "unrelated": 1}
    method = InputIBA((model, tokenizer), reference_corpus=reference_texts)
    assert method.config.beta == 300.0 and method.config.steps == 7 and method.input.config.beta == 300.0
    assert InputIBA((model, tokenizer), reference_corpus=reference_texts, beta=5.0).config.beta == 5.0


def test_bad_options_are_refused(reference_texts):
    model = random_classifier("bert", layers=2)
    with pytest.raises(InvalidInputError, match="input_iba has no option 'gan_steps'"):
        InputIBA(model, reference_corpus=reference_texts, gan_steps=3)
    with pytest.raises(InvalidInputError, match="critic must be one of"):
        InputIBA(model, reference_corpus=reference_texts, critic="spectral")
    with pytest.raises(InvalidInputError, match="integers >= 1: gan_batch=0"):
        InputIBA(model, reference_corpus=reference_texts, gan_batch=0)
    with pytest.raises(InvalidInputError, match="gan_epochs must be an integer >= 0"):
        InputIBA(model, reference_corpus=reference_texts, gan_epochs=-1)
    with pytest.raises(InvalidInputError, match="deep layer must be the output of a block"):
        InputIBA(model, "embeddings", reference_corpus=reference_texts)


def _stats(method: InputIBA) -> dict:
    return {method.feature.site.key: method.feature.statistics, "embeddings": method.input.statistics}
