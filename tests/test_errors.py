"""Bad input gets a clear, specific error and nothing half-done."""

from __future__ import annotations

import re
import time
import warnings

import pytest
import torch
from transformers import BertForMaskedLM, BertModel, pipeline

from ib_nlp import (
    Classifier,
    InvalidInputError,
    LayerError,
    ModelLoadError,
    NonFiniteError,
    OptimisationError,
    PerSampleIBA,
    TruncationWarning,
    explain_text,
)
from ib_nlp.testing import random_classifier

FAST = {"steps": 2, "samples": 2}


@pytest.fixture
def explainer(tiny_bert, reference_texts):
    return PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text(explainer, text):
    with pytest.raises(InvalidInputError, match="empty or holds only whitespace"):
        explainer.explain(text)


def test_non_string_text(explainer):
    with pytest.raises(InvalidInputError, match="not a string"):
        explainer.explain_batch(["fine", 42])


@pytest.mark.parametrize("target", [2, -1, "neutral", True])
def test_unknown_target_lists_the_classes(explainer, target):
    with pytest.raises(InvalidInputError, match="0 = 'negative', 1 = 'positive'|class index or label"):
        explainer.explain("a good movie", target)


def test_target_by_name_or_index(explainer):
    assert explainer.explain("a good movie", "NEGATIVE").target == 0
    assert explainer.explain("a good movie", 1).target == 1


def test_layer_out_of_range_lists_valid_layers(tiny_bert, reference_texts):
    with pytest.raises(LayerError, match=r"layer 7 is out of range.*0\.\.2.*embeddings"):
        PerSampleIBA(tiny_bert, 7, reference_corpus=reference_texts)


def test_long_text_is_truncated_with_a_warning(reference_texts):
    pair = random_classifier("bert", max_length=16)
    explainer = PerSampleIBA(pair, 0, reference_corpus=reference_texts, **FAST)
    with pytest.warns(TruncationWarning, match="truncated"):
        result = explainer.explain(" ".join(["good movie"] * 40))
    assert result.truncated and len(result.tokens) == 16
    assert result.words[-1].token_indices == [], "words past the cut get no tokens"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not explainer.explain("good movie").truncated


def test_not_a_sequence_classifier(tiny_bert):
    model, tokenizer = tiny_bert
    with pytest.raises(ModelLoadError, match="not a sequence classifier"):
        Classifier.load((BertModel(model.config), tokenizer))


def test_saved_checkpoint_of_another_head_is_refused(tiny_bert, tmp_path):
    model, tokenizer = tiny_bert
    BertForMaskedLM(model.config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(ModelLoadError, match="BertForMaskedLM, not a sequence classifier"):
        Classifier.load(str(tmp_path))


def test_unreachable_hub_id_says_how_to_work_offline():
    with pytest.raises(ModelLoadError, match="local model directory"):
        Classifier.load("no-such-org/no-such-model")


def test_missing_local_path():
    with pytest.raises(ModelLoadError, match="not a model directory"):
        Classifier.load("./does/not/exist")


def test_model_object_without_tokenizer(tiny_bert):
    with pytest.raises(ModelLoadError, match="tokenizer"):
        Classifier.load(tiny_bert[0])


def test_non_finite_loss_is_an_error_not_a_nan_map(tiny_bert, reference_texts):
    explainer = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, beta=1e38, **FAST)
    with pytest.raises(NonFiniteError, match="step 1"):
        explainer.explain("a good movie")


def test_unknown_option(tiny_bert, reference_texts):
    with pytest.raises(InvalidInputError, match=r"iba has no option 'betta' \(did you mean 'beta'\?\); its options: layer, .*\bsteps\b"):
        PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, betta=3)


@pytest.mark.parametrize(("method", "option", "hint"), [("iba", "stpes", "steps"), ("lime", "sample", "samples"), ("occlusion", "grup", "group")])
def test_misspelt_option_is_refused_before_the_model_loads(method, option, hint):
    with pytest.raises(InvalidInputError, match=rf"{method} has no option '{option}' \(did you mean '{hint}'\?\); its options: "):
        explain_text("no/such-model-anywhere", "a good movie", method=method, **{option: 3})


@pytest.mark.parametrize("options", [{"beta": -1}, {"steps": 0}, {"lr": 0}, {"samples": 0}])
def test_invalid_hyper_parameters(tiny_bert, reference_texts, options):
    with pytest.raises(InvalidInputError):
        PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **options)


def test_model_from_a_pipeline_or_a_saved_directory(tiny_bert, reference_texts, tmp_path):
    model, tokenizer = tiny_bert
    from_pair = explain_text(tiny_bert, "a good movie", layer=1, reference_corpus=reference_texts, **FAST)
    classifier_pipeline = pipeline("text-classification", model=model, tokenizer=tokenizer, device=torch.device("cpu"))
    from_pipeline = explain_text(classifier_pipeline, "a good movie", layer=1, reference_corpus=reference_texts, **FAST)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    from_path = explain_text(str(tmp_path), "a good movie", layer=1, reference_corpus=reference_texts, **FAST)
    assert from_pair.token_scores == pytest.approx(from_pipeline.token_scores)
    assert from_pair.token_scores == pytest.approx(from_path.token_scores, rel=1e-4, abs=1e-5)
    assert from_path.model_name == str(tmp_path)


def test_explain_text_accepts_a_list(tiny_bert, reference_texts):
    results = explain_text(tiny_bert, ["a good movie", "a bad one", "fine"], layer=0, reference_corpus=reference_texts, batch_size=2, **FAST)
    assert [r.text for r in results] == ["a good movie", "a bad one", "fine"]


def test_explain_text_call_forms(tiny_bert, reference_texts):
    options = {"layer": 0, "reference_corpus": reference_texts, **FAST}
    positional = explain_text(tiny_bert, "a good movie", **options)
    keyword = explain_text("a good movie", model=tiny_bert, **options)
    named = explain_text(model=tiny_bert, text="a good movie", **options)
    assert positional.token_scores == keyword.token_scores == named.token_scores
    with pytest.raises(InvalidInputError, match="no text"):
        explain_text(model=tiny_bert)
    with pytest.raises(InvalidInputError, match="both"):
        explain_text(tiny_bert, "a", text="b")


def test_statistics_from_a_file_or_mapping_pick_the_layer(tiny_bert, reference_texts, tmp_path):
    from ib_nlp import Classifier, StatisticsError, save_statistics

    classifier = Classifier.load(tiny_bert)
    estimated = classifier.estimate_statistics(reference_texts)
    save_statistics(tmp_path / "stats.safetensors", estimated)
    from_file = PerSampleIBA(classifier, 2, statistics=tmp_path / "stats.safetensors", **FAST)
    from_mapping = PerSampleIBA(classifier, 2, statistics=estimated, **FAST)
    assert torch.equal(from_file.statistics.mean, estimated["layer.2"].mean)
    assert torch.equal(from_mapping.statistics.std, estimated["layer.2"].std)
    with pytest.raises(StatisticsError, match="no entry for layer.1; it holds layer.2"):
        PerSampleIBA(classifier, 1, statistics={"layer.2": estimated["layer.2"]})
    with pytest.raises(InvalidInputError, match="not both"):
        PerSampleIBA(classifier, 1, statistics=estimated, reference_corpus=reference_texts)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (None, "expected a text (str) or a list of texts, got NoneType"),
        (b"a good movie", "the text is bytes; decode it"),
        (42, "expected a text (str) or a list of texts, got int"),
        ("a good \ud800 movie", "unpaired surrogate (U+D800) at character 7"),
        ("\x00\x01\x1b\x07\x00", "empty or holds only whitespace or control characters"),
        ("\u200b\u200e \x00", "empty or holds only whitespace or control characters"),
        (["a good movie", b"bytes"], "text 1 is bytes"),
    ],
)
def test_text_no_model_can_read_is_refused_before_any_work(tiny_bert, reference_texts, text, fragment):
    with pytest.raises(InvalidInputError, match=re.escape(fragment)):
        explain_text(tiny_bert, text, layer=0, reference_corpus=reference_texts, **FAST)


def test_wrong_option_types_are_refused_through_explain_text(tiny_bert, reference_texts):
    with pytest.raises(InvalidInputError, match="beta must be a finite number >= 0, got 'abc'"):
        explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, beta="abc", **FAST)
    with pytest.raises(InvalidInputError, match="batch_size must be a whole number >= 1"):
        explain_text(tiny_bert, ["a", "b"], layer=0, reference_corpus=reference_texts, batch_size=0, **FAST)
    numeric = explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, beta="10", steps="2", samples=2)
    assert numeric.parameters["beta"] == 10.0 and numeric.parameters["steps"] == 2


def test_an_empty_layer_name_is_not_the_root_module(tiny_bert, reference_texts):
    with pytest.raises(LayerError, match="layer is an empty string; valid layers: 0..2"):
        PerSampleIBA(tiny_bert, "", reference_corpus=reference_texts)


def test_an_extreme_beta_that_stops_adam_is_refused(tiny_bert, reference_texts):
    """At beta 1e25 Adam's second moment overflows and alpha never moves: the map would be the
    initial capacity presented as an explanation."""
    with pytest.raises(OptimisationError, match="did not move the bottleneck.*beta=1e\\+25"):
        explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, beta=1e25, **FAST)


def test_an_lr_that_closes_the_bottleneck_is_refused(tiny_bert, reference_texts):
    """One Adam step of size lr = 1e3 sends alpha to about -1e3: every token gets 0 bits for good."""
    with pytest.raises(OptimisationError, match="every token of text 0 got 0 bits.*lr=1000"):
        explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, lr=1e3, **FAST)
    assert explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, lr=1, **FAST).total_score > 0


def test_a_bare_encoder_saved_without_architectures_is_not_given_a_random_head(tmp_path):
    """The checkpoint has no classification head and no 'architectures' key: transformers would
    initialise the head at random and only log a note."""
    import json

    model, tokenizer = random_classifier("bert", layers=2)
    BertModel(model.config).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config.pop("architectures", None)
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"lacks weights of the classifier \(classifier.bias, classifier.weight\)"):
        Classifier.load(str(tmp_path))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "pickle"])
def test_corrupt_or_pickled_weights_name_the_file(tmp_path, damage):
    import collections

    from safetensors.torch import load_file

    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    weights = tmp_path / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage":
        weights.write_bytes(b"\x00not safetensors" * 64)
    else:
        state = collections.OrderedDict(load_file(str(weights)))
        weights.unlink()
        torch.save({"state": state, "code": print}, tmp_path / "pytorch_model.bin")
    expected = "are a pickle that torch's safe loader refuses" if damage == "pickle" else "are unreadable, perhaps truncated or corrupt"
    with pytest.raises(ModelLoadError, match=expected) as raised:
        Classifier.load(str(tmp_path))
    assert str(tmp_path) in str(raised.value) and "\n" not in str(raised.value)


def test_a_huge_text_keeps_only_a_bounded_unread_tail(tiny_bert, reference_texts):
    """A 2-million-character input: the model reads its first tokens; the explanation keeps what
    was read plus 20,000 characters, records the full length, and never segments the rest."""
    from ib_nlp.text.classifier import UNREAD_CHARACTERS_KEPT

    text = "a good movie " * 160_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        explanation = explain_text(tiny_bert, text, layer=0, reference_corpus=reference_texts, **FAST)
    last_read = max(span[1] for span in explanation.token_offsets if span is not None)
    assert explanation.truncated and explanation.text_length == len(text.strip())
    assert last_read + UNREAD_CHARACTERS_KEPT <= len(explanation.text) < last_read + UNREAD_CHARACTERS_KEPT + 100
    assert text.startswith(explanation.text) and len(explanation.to_dict()["text"]) < 30_000
    short = explain_text(tiny_bert, "a good movie", layer=0, reference_corpus=reference_texts, **FAST)
    assert short.text_length == len(short.text) and not short.truncated


def test_a_batch_matches_single_texts_within_the_documented_tolerance(tiny_bert, reference_texts):
    """Padding changes the shapes of the batched matrix products, so a batch agrees with single
    texts up to float32 rounding (the audit saw 3e-5 bits on the shipped BERT): 1e-4 relative."""
    explainer = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST)
    texts = ["a good movie", "the worst film i have ever seen, a waste of time", "fine"]
    batch = explainer.explain_batch(texts)
    for text, batched in zip(texts, batch):
        assert batched.token_scores == pytest.approx(explainer.explain(text).token_scores, rel=1e-4, abs=1e-4)


def test_unreachable_hub_fails_at_once_in_one_line(monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # the discard port: nothing listens
    for variable in ("https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    started = time.perf_counter()
    with pytest.raises(ModelLoadError, match=r"cannot download 'nobody/no-such-classifier': http://127.0.0.1:9 cannot be reached") as caught:
        Classifier.load("nobody/no-such-classifier")
    assert time.perf_counter() - started < 30 and "\n" not in str(caught.value)


def test_a_recipe_model_loads_from_the_cache_once_built_and_says_how_to_build_it_before(tmp_path, monkeypatch):
    from ib_nlp.text.shipped import recipe_model_path

    monkeypatch.setenv("IB_NLP_CACHE", str(tmp_path))
    folder = recipe_model_path("minilm-imdb")
    assert folder == tmp_path / "models" / "minilm-imdb"
    with pytest.raises(ModelLoadError, match=r"'minilm-imdb' is not built yet .* into .*minilm-imdb with `.*ib-nlp train --model minilm"):
        Classifier.load("minilm-imdb")
    model, tokenizer = random_classifier("bert", layers=1)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert Classifier.load("minilm-imdb").source_dir == folder
