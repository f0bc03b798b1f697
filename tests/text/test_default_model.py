"""The shipped IMDB models as defaults: offline explanations, shipped statistics, names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ib_nlp import (
    DEFAULT_MODEL,
    Classifier,
    PerSampleIBA,
    clear_cache,
    explain_text,
    load_statistics,
    shipped_model_names,
)
from ib_nlp.text.shipped import ASSETS_DIR
from ib_nlp.core.statistics import STATISTICS_FILENAME

SHIPPED = ["imdb-bert-small", "imdb-lstm"]
SHARED_IMDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "imdb"
SENTIMENT_WORDS = {"wonderful", "loved", "brilliant", "beautiful", "great", "excellent", "best", "superb", "amazing", "fantastic", "masterpiece"}
POSITIVE_REVIEW = "A wonderful film. I loved the story, the acting is brilliant and the music is beautiful."


def test_the_shipped_models_are_listed_and_load_by_name():
    assert set(SHIPPED) <= set(shipped_model_names())
    for name in SHIPPED:
        classifier = Classifier.load(name)
        assert classifier.source_dir == ASSETS_DIR / name
        assert classifier.label_names == ["negative", "positive"]
        assert (ASSETS_DIR / name / STATISTICS_FILENAME).is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_statistics_cover_every_layer(name):
    classifier = Classifier.load(name)
    stored = load_statistics(ASSETS_DIR / name / STATISTICS_FILENAME)
    assert set(stored) == {site.key for site in classifier.layers.all_block_sites()}
    assert all(stats.count > 100_000 for stats in stored.values()), "at least 2,000 reviews of tokens"


def test_explain_text_works_offline_with_the_default_model():
    result = explain_text(POSITIVE_REVIEW)
    assert result.model_name == DEFAULT_MODEL
    assert result.predicted_label == "positive"
    top3 = {word.lower() for word, _ in result.top_words(3)}
    assert top3 & SENTIMENT_WORDS, f"top words {result.top_words(5)}"


def test_the_lstm_explains_a_positive_review_by_sentiment_words():
    result = PerSampleIBA("imdb-lstm").explain(POSITIVE_REVIEW)
    assert result.predicted_label == "positive"
    top3 = {word.lower() for word, _ in result.top_words(3)}
    assert top3 & SENTIMENT_WORDS, f"top words {result.top_words(5)}"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_IMDB / "train.parquet").is_file(), reason="needs ../shared/data/imdb (the held-out IMDB reviews)")
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_statistics_match_a_fresh_estimation(name):
    from ib_nlp.text.data import load_imdb

    indices = json.loads((ASSETS_DIR / name / "training.json").read_text())["holdout_indices"]
    texts = list(load_imdb("train", SHARED_IMDB).select(indices)["text"])
    classifier = Classifier.load(name)
    fresh = classifier.estimate_statistics(texts, batch_size=32)
    stored = load_statistics(ASSETS_DIR / name / STATISTICS_FILENAME)
    for key, stats in stored.items():
        assert stats.count == fresh[key].count
        assert torch.allclose(stats.mean, fresh[key].mean, atol=1e-4, rtol=1e-4)
        assert torch.allclose(stats.std, fresh[key].std, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("progress", [False, True])
def test_weight_loading_bar_only_with_progress(capfd, progress):
    clear_cache()  # a cached model is not loaded again
    explain_text("a fine film", steps=1, samples=1, progress=progress)
    assert ("Loading weights" in capfd.readouterr().err) is progress
