"""Bad input gets a clear, specific error and nothing half-done."""

from __future__ import annotations

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
    PerSampleIBA,
    explain_text,
)
from ib_nlp.testing import random_classifier

FAST = {"steps": 2, "samples": 2}


@pytest.fixture
def explainer(tiny_bert, reference_texts):
    return PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, **FAST)


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text(explainer, text):
    with pytest.raises(InvalidInputError, match="empty or only whitespace"):
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
    with pytest.warns(UserWarning, match="truncated"):
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
    with pytest.raises(InvalidInputError, match="unknown IBA option"):
        PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, betta=3)


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
