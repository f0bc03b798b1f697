"""The method registry and each baseline against an independent computation."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from ib_nlp import Classifier, InvalidInputError
from ib_nlp.text.methods import (
    AttributionMethod,
    attribution_mode,
    display_name,
    get_method,
    load_method,
    method_names,
    method_options,
    register_method,
)
from ib_nlp.text.methods.attention import pooled_positions, rollout
from ib_nlp.testing import SENTIMENT_WEIGHTS, additive_classifier, random_classifier

TEXT = "a good movie , great acting but boring and bad ending"
BASELINES = ["integrated_gradients", "saliency", "gradient_x_input", "lime", "occlusion", "attention", "attention_rollout", "random"]


@pytest.fixture(scope="module")
def additive() -> Classifier:
    return Classifier.load(additive_classifier(SENTIMENT_WEIGHTS))


@pytest.fixture(scope="module")
def bert() -> Classifier:
    return Classifier.load(random_classifier("bert", layers=2))


def contributions(classifier: Classifier, text: str, target: int) -> list[float]:
    """Exact logit contribution of each token of the additive model."""
    batch = classifier.encode([text])
    table = classifier.model.token_logits().detach()
    return [float(table[token, target]) for token in batch.input_ids[0].tolist()]


def test_registry_lists_every_method_and_refuses_unknown_names():
    assert method_names()[:1] == ["iba"] and set(BASELINES) <= set(method_names())
    with pytest.raises(InvalidInputError, match="unknown attribution method 'shap'.*integrated_gradients"):
        get_method("shap")


def test_registry_accepts_a_user_method_with_the_same_call(additive, monkeypatch):
    import ib_nlp.text.methods

    monkeypatch.setattr(ib_nlp.text.methods.METHODS, "_entries", dict(ib_nlp.text.methods.METHODS._entries))  # keep the user's method out of other tests

    @register_method
    class Length(AttributionMethod):
        name = "token_position"
        unit = "position"
        signed = False

        def attribute(self, batch, logits, targets, recorded=None):
            return torch.arange(batch.input_ids.shape[1], dtype=torch.float32).expand(batch.input_ids.shape)

    explanation = load_method("token_position", additive).explain(TEXT)
    assert explanation.method == "token_position" and explanation.token_scores[3] == 3.0
    with pytest.raises(InvalidInputError, match="built-in"):
        register_method(type("Clash", (Length,), {"name": "lime"}))
    assert display_name("token_position") == "token_position"
    Length.display_name = "Token position"
    assert display_name("token_position") == "Token position"


def test_every_builtin_loads_under_its_name_with_a_display_name():
    for name in method_names():
        assert get_method(name).name == name
        assert display_name(name) and display_name(name) != "" and method_options(get_method(name)) is not None
    assert display_name("integrated_gradients") == "Integrated Gradients" and display_name("given") == "given"


def test_explanations_say_where_their_layer_sits(tiny_bert, reference_texts):
    blocks = len(Classifier.load(tiny_bert).layers)
    explanation = load_method("iba", tiny_bert, layer=-1, reference_corpus=reference_texts, steps=1, samples=1).explain(TEXT)
    assert explanation.metadata["layer_description"] == f"output of block {blocks} of {blocks}"
    assert load_method("saliency", tiny_bert).explain(TEXT).metadata["layer_description"] == f"input of block 1 of {blocks}"
    assert load_method("lime", tiny_bert, samples=4).explain(TEXT).metadata == {}


@pytest.mark.parametrize("architecture", ["bert", "lstm"])
def test_attribution_mode_freezes_parameters_and_turns_cudnn_off_only_for_recurrent_models(architecture):
    model = random_classifier(architecture)[0]
    next(model.parameters()).requires_grad_(False)
    before = [parameter.requires_grad for parameter in model.parameters()]
    with attribution_mode(model):
        assert not any(parameter.requires_grad for parameter in model.parameters())
        assert torch.backends.cudnn.enabled == (architecture != "lstm")
    assert [parameter.requires_grad for parameter in model.parameters()] == before and torch.backends.cudnn.enabled


def test_bad_options_name_the_method(additive):
    with pytest.raises(InvalidInputError, match="saliency has no option 'steps'; its options: tokenizer, device, progress"):
        load_method("saliency", additive, steps=3)
    with pytest.raises(InvalidInputError, match="group must be one of"):
        load_method("occlusion", additive, group="sentence")


@pytest.mark.parametrize("name", BASELINES)
def test_every_method_returns_a_consistent_explanation(bert, name):
    method = load_method(name, bert, **({"samples": 30} if name == "lime" else {}))
    first, second = method.explain_batch([TEXT, "bad boring film"])
    assert first.method == name and first.unit == method.unit
    for explanation in (first, second):
        ordinary = [s for s, special in zip(explanation.token_scores, explanation.special_tokens) if not special]
        assert math.isclose(sum(explanation.word_scores), sum(ordinary), rel_tol=1e-5, abs_tol=1e-6)
        assert all(np.isfinite(explanation.token_scores))
    assert method.explain(TEXT).token_scores == pytest.approx(first.token_scores, rel=1e-4, abs=1e-6)


def test_integrated_gradients_is_exact_for_an_additive_model(additive):
    explanation = load_method("integrated_gradients", additive).explain(TEXT, "positive")
    expected = contributions(additive, TEXT, 1)  # the [PAD] baseline contributes 0
    assert explanation.token_scores == pytest.approx(expected, abs=1e-5)


def test_gradient_times_input_equals_the_contributions_of_an_additive_model(additive):
    explanation = load_method("gradient_x_input", additive).explain(TEXT, "negative")
    assert explanation.token_scores == pytest.approx(contributions(additive, TEXT, 0), abs=1e-6)


def test_gradient_times_input_on_a_bert_is_minus_the_gradient_times_the_position_and_type_embeddings(bert):
    """The embeddings' LayerNorm is scale-invariant, so its input s = word + position + type has
    grad . s = 0 and gradient x input at the word embeddings is -grad . (position + type): what
    docs/evaluation.md reports of gradient x input on a BERT rests on this identity."""
    batch = bert.encode([TEXT])
    normalized_input: list[torch.Tensor] = []

    def keep(module: torch.nn.Module, arguments: tuple[torch.Tensor, ...]) -> None:
        arguments[0].retain_grad()
        normalized_input.append(arguments[0])

    embeddings = bert.model.base_model.embeddings
    handle = embeddings.LayerNorm.register_forward_pre_hook(keep)
    words = embeddings.word_embeddings(batch.input_ids).detach()
    logits = bert.model(inputs_embeds=words, attention_mask=batch.attention_mask).logits
    handle.remove()
    target = int(logits.argmax())
    logits[0, target].backward()
    (summed,) = normalized_input
    position_and_type = (summed - words).detach()
    explanation = load_method("gradient_x_input", bert).explain(TEXT, target)
    assert (summed.grad * summed).sum(-1).abs().max() < 1e-5 * (summed.grad * words).sum(-1).abs().max()
    assert explanation.token_scores == pytest.approx((-(summed.grad * position_and_type).sum(-1))[0].tolist(), rel=1e-3, abs=1e-6)


def test_saliency_is_the_norm_of_the_embedding_gradient(bert):
    batch = bert.encode([TEXT])
    embeddings = bert.model.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
    logits = bert.model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits
    target = int(logits.argmax())
    (gradient,) = torch.autograd.grad(logits[0, target], embeddings)
    explanation = load_method("saliency", bert).explain(TEXT, target)
    assert explanation.token_scores == pytest.approx(gradient[0].norm(dim=-1).tolist(), rel=1e-4, abs=1e-7)


def test_occlusion_is_the_probability_drop_of_each_replacement(bert):
    batch = bert.encode([TEXT])
    ids = batch.input_ids[0].tolist()
    mask_id = bert.tokenizer.mask_token_id

    def probability(token_ids):
        with torch.no_grad():
            return torch.softmax(bert.model(input_ids=torch.tensor([token_ids])).logits, -1)[0]

    original = probability(ids)
    target = int(original.argmax())
    expected = []
    for position, special in enumerate(batch.special[0]):
        replaced = ids[:position] + [mask_id] + ids[position + 1 :]
        expected.append(0.0 if special else float(original[target] - probability(replaced)[target]))
    explanation = load_method("occlusion", bert).explain(TEXT, target)
    assert explanation.token_scores == pytest.approx(expected, abs=1e-6)


def test_word_occlusion_gives_each_word_the_drop_of_removing_it_whole(additive):
    text = "goodgreat movie"  # one word of several word pieces: good ##g ##r ...
    batch = additive.encode([text])
    explanation = load_method("occlusion", additive, group="word").explain(text, "positive")
    ids = batch.input_ids[0].tolist()
    word = explanation.words[0]
    removed = [additive.tokenizer.mask_token_id if i in word.token_indices else t for i, t in enumerate(ids)]
    with torch.no_grad():
        before = torch.softmax(additive.model(input_ids=torch.tensor([ids])).logits, -1)[0, 1]
        after = torch.softmax(additive.model(input_ids=torch.tensor([removed])).logits, -1)[0, 1]
    assert len(word.token_indices) > 1
    assert explanation.word_scores[0] == pytest.approx(float(before - after), abs=1e-6)


def test_lime_ranks_the_tokens_of_an_additive_model(additive):
    explanation = load_method("lime", additive, samples=300).explain(TEXT, "positive")
    scores = dict(zip(explanation.tokens, explanation.token_scores))
    assert scores["good"] > scores["great"] > scores["movie"] > 0 > scores["boring"] > scores["bad"]
    again = load_method("lime", additive, samples=300).explain(TEXT, "positive")
    assert again.token_scores == explanation.token_scores


def test_attention_reads_the_last_layer_from_the_pooled_token(bert):
    batch = bert.encode([TEXT])
    bert.model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            attentions = bert.model(**batch.model_inputs(), output_attentions=True).attentions
    finally:
        bert.model.set_attn_implementation("sdpa")
    explanation = load_method("attention", bert).explain(TEXT)
    assert explanation.token_scores == pytest.approx(attentions[-1][0].mean(dim=0)[0].tolist(), abs=1e-6)
    assert explanation.layer == 1


def numpy_rollout(attentions: list[np.ndarray]) -> np.ndarray:
    """Abnar and Zuidema's rollout written out with numpy loops (one text, no padding)."""
    result = np.eye(attentions[0].shape[-1])
    for layer in attentions:
        mixed = 0.5 * layer.mean(axis=0) + 0.5 * np.eye(layer.shape[-1])
        mixed = mixed / mixed.sum(axis=-1, keepdims=True)
        result = mixed @ result
    return result


def test_rollout_matches_a_numpy_reference_and_ignores_padding():
    generator = np.random.default_rng(0)
    layers = [generator.dirichlet(np.ones(5), size=(2, 5)) for _ in range(3)]
    ours = rollout(tuple(torch.tensor(layer[None], dtype=torch.float32) for layer in layers), torch.ones(1, 5))
    assert ours[0].numpy() == pytest.approx(numpy_rollout(layers), abs=1e-5)
    padded = rollout(tuple(torch.tensor(np.pad(layer, ((0, 0), (0, 1), (0, 1)))[None], dtype=torch.float32) for layer in layers), torch.tensor([[1, 1, 1, 1, 1, 0]]))
    assert padded[0, :5, :5].numpy() == pytest.approx(numpy_rollout(layers), abs=1e-5)


def test_decoder_models_are_read_at_their_last_token():
    gpt2 = Classifier.load(random_classifier("gpt2", layers=2))
    batch = gpt2.encode(["good movie", "a bad boring movie"])
    assert pooled_positions(gpt2.model, batch) == [length - 1 for length in batch.lengths]
    assert load_method("attention_rollout", gpt2).explain("good movie").token_scores[-1] > 0


def test_attention_methods_refuse_models_without_attention():
    lstm = Classifier.load(random_classifier("lstm", layers=2))
    with pytest.raises(InvalidInputError, match="returns no attention weights"):
        load_method("attention", lstm).explain(TEXT)


def test_random_scores_depend_only_on_text_and_seed(additive):
    first = load_method("random", additive).explain(TEXT)
    assert load_method("random", additive).explain_batch(["other text", TEXT])[1].token_scores == first.token_scores
    assert load_method("random", additive, seed=1).explain(TEXT).token_scores != first.token_scores


def test_methods_leave_the_model_untouched(bert):
    before = {name: p.detach().clone() for name, p in bert.model.named_parameters()}
    flags = {name: p.requires_grad for name, p in bert.model.named_parameters()}
    for name in ("integrated_gradients", "saliency", "attention"):
        load_method(name, bert).explain(TEXT)
    assert bert.model.config._attn_implementation == "sdpa" and not bert.model.training
    for name, parameter in bert.model.named_parameters():
        assert torch.equal(parameter, before[name]) and parameter.requires_grad == flags[name]


def test_explain_text_runs_any_method_and_rejects_options_of_another(additive):
    from ib_nlp import explain_text

    explanation = explain_text(additive, TEXT, method="integrated_gradients", steps=10, target="positive")
    assert explanation.method == "integrated_gradients" and explanation.parameters["steps"] == 10
    with pytest.raises(InvalidInputError, match="beta: option"):
        explain_text(additive, TEXT, method="saliency", beta=1.0)
    with pytest.raises(InvalidInputError, match="saliency has no option 'steps'; its options: tokenizer, device, progress"):
        explain_text(additive, TEXT, method="saliency", steps=3)


def test_lime_on_a_model_without_special_tokens_raises_no_warning():
    lstm = Classifier.load("imdb-lstm")  # its tokenizer adds no special tokens
    assert bool(lstm.encode([TEXT]).ordinary_mask().all())  # every position is a feature: ids start at 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        explanation = load_method("lime", lstm, samples=20).explain(TEXT)
    assert len(explanation.token_scores) == len(explanation.tokens)


def test_threads_option_holds_for_the_explanation_and_is_restored(additive, monkeypatch):
    seen = []
    method = load_method("saliency", additive, threads=1)
    original = method.attribute
    monkeypatch.setattr(method, "attribute", lambda *args: seen.append(torch.get_num_threads()) or original(*args))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        method.explain(TEXT)
        assert seen == [1] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    with pytest.raises(InvalidInputError, match="threads"):
        load_method("saliency", additive, threads=0)
