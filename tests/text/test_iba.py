"""Per-sample IBA: engine equivalence, batching, determinism, the influence check, and the result."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn
from transformers import BertForSequenceClassification

from ib_nlp import IBAConfig, InvalidInputError, LayerNotReadError, PerSampleIBA
from ib_nlp.testing import ARCHITECTURES, random_classifier

FAST = {"steps": 3, "samples": 3}
TEXT = "this film was wonderful, i loved it!"


@pytest.mark.parametrize("architecture", ARCHITECTURES)
@pytest.mark.parametrize("layer", [1, "embeddings"])
def test_prefix_engine_equals_the_straightforward_implementation(architecture, layer, reference_texts):
    pair = random_classifier(architecture, layers=3)
    fast = PerSampleIBA(pair, layer, reference_corpus=reference_texts, **FAST)
    full = PerSampleIBA(pair, layer, reference_corpus=reference_texts, engine="full", **FAST)
    assert fast.engine == "prefix" and full.engine == "full"
    a, b = fast.explain(TEXT), full.explain(TEXT)
    np.testing.assert_allclose(a.token_scores, b.token_scores, rtol=1e-4, atol=1e-5)
    assert a.tokens == b.tokens


def test_prefix_engine_skips_the_blocks_before_the_bottleneck(tiny_bert, reference_texts):
    explainer = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST)
    calls = {index: 0 for index in range(3)}
    hooks = [
        block.module.attention.register_forward_hook(lambda *_, index=index: calls.__setitem__(index, calls[index] + 1))
        for index, block in enumerate(explainer.classifier.layers.blocks)
    ]
    try:
        explainer.explain(TEXT)
    finally:
        for hook in hooks:
            hook.remove()
    assert calls[0] == 1 and calls[1] == 1, "the prefix is computed once (the capture pass)"
    assert calls[2] == 1 + 1 + FAST["steps"] + 1, "the suffix runs for the capture, the influence check, every step and the kept probability"


def test_dotted_module_name_uses_the_full_engine(tiny_bert, reference_texts):
    explainer = PerSampleIBA(tiny_bert, "bert.encoder.layer.1.attention", reference_corpus=reference_texts, **FAST)
    assert explainer.engine == "full"
    result = explainer.explain(TEXT)
    assert result.layer == "bert.encoder.layer.1.attention"
    assert all(score > 0 for score in result.token_scores)


@pytest.mark.parametrize("architecture", ["bert", "lstm", "gpt2"])
def test_batched_explanation_equals_one_by_one(architecture, reference_texts):
    pair = random_classifier(architecture, layers=2)
    explainer = PerSampleIBA(pair, 0, reference_corpus=reference_texts, **FAST)
    texts = ["a short one", TEXT, "the worst movie, boring and stupid. i hated the ending and the music too"]
    batched = explainer.explain_batch(texts, [None, 1, "negative"])
    for text, target, result in zip(texts, [None, 1, 0], batched):
        alone = explainer.explain(text, target)
        assert result.tokens == alone.tokens and result.target == alone.target
        np.testing.assert_allclose(result.token_scores, alone.token_scores, rtol=1e-4, atol=1e-5)


def test_deterministic_under_a_seed(tiny_bert, reference_texts):
    first = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, seed=3, **FAST).explain(TEXT)
    second = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, seed=3, **FAST).explain(TEXT)
    other = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, seed=4, **FAST).explain(TEXT)
    assert first.token_scores == second.token_scores
    assert first.token_scores != other.token_scores


def test_model_parameters_get_no_gradients_and_are_restored(tiny_bert, reference_texts):
    model, _ = tiny_bert
    flags = [p.requires_grad for p in model.parameters()]
    PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST).explain(TEXT)
    assert all(p.grad is None for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == flags
    assert not model.training


def test_explanation_contents(tiny_bert, reference_texts):
    result = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST).explain(TEXT, target="positive")
    assert result.method == "iba" and result.unit == "bits" and result.layer == 1
    assert result.target == 1 and result.target_label == "positive"
    assert result.tokens[0] == "[CLS]" and result.special_tokens[0] and result.special_tokens[-1]
    assert abs(sum(result.probabilities) - 1) < 1e-6
    assert result.parameters["beta"] == 10.0 and result.parameters["steps"] == 3
    assert [word.text for word in result.words] == ["this", "film", "was", "wonderful", ",", "i", "loved", "it", "!"]
    non_special = sum(s for s, special in zip(result.token_scores, result.special_tokens) if not special)
    assert sum(result.word_scores) == pytest.approx(non_special)
    assert all(score >= 0 for score in result.token_scores)
    assert result.seconds > 0 and not result.truncated


def test_capacity_shrinks_as_beta_grows(tiny_bert, reference_texts):
    totals = [
        sum(PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, beta=beta, steps=5, samples=3).explain(TEXT).token_scores)
        for beta in (0.01, 1.0, 100.0)
    ]
    assert totals[0] > totals[1] > totals[2]


def test_config_defaults_follow_the_reference_implementation():
    config = IBAConfig()
    assert (config.beta, config.steps, config.lr, config.samples, config.init_alpha, config.min_std) == (10.0, 10, 1.0, 10, 5.0, 0.01)


class ProbedBert(BertForSequenceClassification):
    """A BERT that computes a probe on its embeddings and never uses the result."""

    def __init__(self, config):
        super().__init__(config)
        self.unused_probe = nn.Linear(config.hidden_size, config.hidden_size)
        self.bert.embeddings.register_forward_hook(self._probe)

    def _probe(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        self.unused_probe(output)


def test_a_layer_the_classifier_never_reads_is_an_error(reference_texts):
    model, tokenizer = random_classifier("bert", layers=2)
    probed = ProbedBert(model.config).eval()
    with pytest.raises(LayerNotReadError, match="never reads"):
        PerSampleIBA((probed, tokenizer), "unused_probe", reference_corpus=reference_texts, **FAST).explain(TEXT)


def _train_keyword_classifier() -> tuple[nn.Module, object, list[str]]:
    """A tiny BERT trained so that only 'good' / 'bad' decide the label, whatever the filler."""
    model, tokenizer = random_classifier("bert", layers=2, seed=1)
    rng = random.Random(0)
    filler = ["the", "a", "movie", "film", "story", "plot", "acting", "music", "scene", "time", "people", "one", "first", "last", "long", "short"]

    def sample() -> tuple[str, int]:
        words = rng.choices(filler, k=rng.randint(6, 12))
        label = rng.randint(0, 1)
        words.insert(rng.randint(0, len(words)), "good" if label else "bad")
        return " ".join(words), label

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(120):
        texts, labels = zip(*(sample() for _ in range(16)))
        batch = tokenizer(list(texts), padding=True, return_tensors="pt")
        loss = model(**batch, labels=torch.tensor(labels)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return model, tokenizer, [sample()[0] for _ in range(64)]


def test_iba_finds_the_only_word_the_model_uses():
    model, tokenizer, corpus = _train_keyword_classifier()
    explainer = PerSampleIBA((model, tokenizer), 0, reference_corpus=corpus)
    result = explainer.explain("the movie had a long plot and good music in one scene")
    assert result.predicted_label == "positive" and max(result.probabilities) > 0.9, "the toy model must have learnt the task"
    (top_word, top_bits), (_, runner_up_bits) = result.top_words(2)
    assert top_word == "good"
    assert top_bits > 5 * runner_up_bits


def test_recommended_settings_in_the_config_take_over_the_defaults(reference_texts):
    pair = random_classifier("bert", layers=3)
    pair[0].config.ib_nlp_defaults = {"layer": 2, "beta": 3.0}
    recommended = PerSampleIBA(pair, reference_corpus=reference_texts)
    assert recommended.layer == 2 and recommended.config.beta == 3.0 and recommended.config.steps == 10
    explicit = PerSampleIBA(pair, 0, reference_corpus=reference_texts, beta=1.0)
    assert explicit.layer == 0 and explicit.config.beta == 1.0


def test_half_precision_models_keep_the_bottleneck_in_float32(reference_texts):
    model, tokenizer = random_classifier("bert", layers=2)
    reference = PerSampleIBA((model, tokenizer), 0, reference_corpus=reference_texts, **FAST).explain(TEXT)
    halved = PerSampleIBA((model.to(torch.bfloat16), tokenizer), 0, reference_corpus=reference_texts, **FAST).explain(TEXT)
    assert all(np.isfinite(halved.token_scores))
    np.testing.assert_allclose(halved.token_scores, reference.token_scores, rtol=0.2, atol=0.02)


def test_with_config_changes_hyper_parameters_and_shares_the_rest(tiny_bert, reference_texts):
    explainer = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, steps=2, samples=2)
    changed = explainer.with_config(beta=0.5)
    assert (changed.config.beta, changed.config.steps, explainer.config.beta) == (0.5, 2, 10.0)
    assert changed.classifier is explainer.classifier and changed.statistics is explainer.statistics and changed.site == explainer.site
    assert changed.explain("a good movie").parameters["beta"] == 0.5
    with pytest.raises(InvalidInputError, match="layer: not a hyper-parameter of iba; choose from beta, steps"):
        explainer.with_config(layer=0)


def test_kept_special_tokens_pass_the_bottleneck_unchanged_and_get_no_bits(tiny_bert, reference_texts, monkeypatch):
    explainer = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, keep_special_tokens=True, **FAST)
    passes = []
    make_engine = explainer.engine_for

    def recording_engine(batch, captured):
        engine = make_engine(batch, captured)
        run = engine.logits

        def logits(bottleneck, repeats):
            def recorded(values):
                passes.append((values.detach().clone(), bottleneck(values)))
                return passes[-1][1]

            return run(recorded, repeats)

        engine.logits = logits
        return engine

    monkeypatch.setattr(explainer, "engine_for", recording_engine)
    kept = explainer.explain(TEXT)
    special = [index for index, token in enumerate(kept.tokens) if token in ("[CLS]", "[SEP]")]
    ordinary = [index for index in range(len(kept.tokens)) if index not in special]
    assert special == [0, len(kept.tokens) - 1] and kept.parameters["keep_special_tokens"] is True
    assert all(kept.token_scores[index] == 0 for index in special) and min(kept.token_scores[index] for index in ordinary) > 0
    assert len(passes) == 1 + FAST["steps"] + 1  # the influence check, every step, the kept probability
    for values, bottlenecked in passes[1:]:
        torch.testing.assert_close(bottlenecked[:, special], values[:, special], rtol=0, atol=0)
        assert not torch.allclose(bottlenecked[:, ordinary], values[:, ordinary])
    default = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST).explain(TEXT)
    assert min(default.token_scores[index] for index in special) > 0 and "keep_special_tokens" not in default.parameters
    with pytest.raises(InvalidInputError, match="keep_special_tokens must be true or false"):
        PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, keep_special_tokens="yes")
