"""explain_text for any classifier: statistics found where the model lives, the default prior,
and the explainer cache."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

import ib_nlp.api
from ib_nlp import clear_cache, explain_text
from ib_nlp.text.shipped import shipped_model_path
from ib_nlp.testing import random_classifier

FAST = {"steps": 2, "samples": 2}
TEXT = "a good movie with a bad ending"


@pytest.fixture(autouse=True)
def empty_cache():
    clear_cache()
    yield
    clear_cache()


def _builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []
    original = ib_nlp.api.make_explainer

    def counting(model, method="iba", **options):
        built.append(method)
        return original(model, method, **options)

    monkeypatch.setattr(ib_nlp.api, "make_explainer", counting)
    return built


@pytest.mark.parametrize("form", ["pair", "pipeline"])
def test_a_model_loaded_from_its_folder_finds_the_statistics_there(form: str) -> None:
    folder = shipped_model_path("imdb-bert-small")
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    source = (model, tokenizer) if form == "pair" else pipeline("text-classification", model=model, tokenizer=tokenizer)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no general-prior warning
        explanation = explain_text(source, TEXT, **FAST)
    assert explanation.parameters["prior"] == "ib_statistics.safetensors in the model folder"


def test_a_model_without_statistics_gets_the_general_prior_and_one_warning(tmp_path) -> None:
    model, tokenizer = random_classifier("bert", seed=7)
    with pytest.warns(UserWarning, match="general-English corpus shipped with ib-nlp") as caught:
        first = explain_text((model, tokenizer), TEXT, layer=1, **FAST)
        explain_text((model, tokenizer), "another text", layer=0, **FAST)
    assert sum("general-English" in str(item.message) for item in caught) == 1, "said once"
    assert first.parameters["prior"].startswith("general-English default (")


def test_repeated_calls_reuse_the_explainer_until_something_changes(tiny_bert, reference_texts, monkeypatch) -> None:
    built = _builds(monkeypatch)
    options = {"layer": 1, "reference_corpus": reference_texts, **FAST}
    first = explain_text(tiny_bert, TEXT, **options)
    second = explain_text(tiny_bert, TEXT, **options)
    assert built == ["iba"] and first.token_scores == second.token_scores
    explain_text(tiny_bert, TEXT, **{**options, "beta": 3})
    explain_text(tiny_bert, TEXT, method="saliency")
    assert built == ["iba", "iba", "saliency"]
    saliency = ib_nlp.api._EXPLAINERS.entries[next(reversed(ib_nlp.api._EXPLAINERS.entries))][0]
    iba = ib_nlp.api._EXPLAINERS.entries[next(iter(ib_nlp.api._EXPLAINERS.entries))][0]
    assert saliency.classifier is iba.classifier, "one model, loaded once, shared"
    assert iba.classifier.model is tiny_bert[0], "never copied"
    explain_text(tiny_bert, TEXT, **{**options, "reference_corpus": list(reference_texts)})
    assert len(built) == 3, "an equal corpus is the same key"
    with torch.no_grad():
        tiny_bert[0].classifier.bias.add_(1.0)
    try:
        explain_text(tiny_bert, TEXT, **options)
        assert len(built) == 4, "changed weights build the explainer again"
    finally:
        with torch.no_grad():
            tiny_bert[0].classifier.bias.sub_(1.0)
    clear_cache()
    explain_text(tiny_bert, TEXT, **options)
    assert len(built) == 5 and len(ib_nlp.api._EXPLAINERS.entries) == 1


def test_the_cache_keeps_the_last_few_explainers(tiny_bert, reference_texts, monkeypatch) -> None:
    built = _builds(monkeypatch)
    for beta in range(ib_nlp.api.CACHE_SIZE + 2):
        explain_text(tiny_bert, TEXT, layer=1, beta=beta + 1, reference_corpus=reference_texts, **FAST)
    assert len(ib_nlp.api._EXPLAINERS.entries) == ib_nlp.api.CACHE_SIZE
    explain_text(tiny_bert, TEXT, layer=1, beta=ib_nlp.api.CACHE_SIZE + 2, reference_corpus=reference_texts, **FAST)
    explain_text(tiny_bert, TEXT, layer=1, beta=1, reference_corpus=reference_texts, **FAST)
    assert len(built) == ib_nlp.api.CACHE_SIZE + 3, "the newest is kept, the oldest was dropped"


def test_a_dataset_column_is_a_reference_corpus_and_a_bad_corpus_writes_no_cache(tiny_bert, reference_texts, tmp_path, monkeypatch) -> None:
    import datasets

    from ib_nlp import InvalidInputError, PerSampleIBA

    monkeypatch.setenv("IB_NLP_CACHE", str(tmp_path / "cache"))
    table = datasets.Dataset.from_dict({"review": reference_texts, "label": [0] * len(reference_texts)})
    explanation = PerSampleIBA(tiny_bert, 1, reference_corpus=table, text_column="review", **FAST).explain(TEXT)
    assert explanation.parameters["prior"] == f"reference corpus ({len(reference_texts)} texts)"
    written = sorted((tmp_path / "cache").rglob("*.safetensors"))
    assert len(written) == 1
    for bad, message in [(["", " "], "holds no texts"), (table, "has no column 'text'"), (tmp_path / "none.csv", "does not exist")]:
        with pytest.raises(InvalidInputError, match=message):
            explain_text(tiny_bert, TEXT, layer=1, reference_corpus=bad, **FAST)
    assert sorted((tmp_path / "cache").rglob("*.safetensors")) == written and not list((tmp_path / "cache").rglob("*.tmp"))
