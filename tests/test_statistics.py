"""The estimator against numpy on padded batches, and the statistics store."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from datasets import Dataset

from ib_nlp import (
    Classifier,
    FeatureStatistics,
    StatisticsError,
    StatisticsStore,
    load_statistics,
    save_statistics,
)
from ib_nlp.statistics import RunningMoments, fingerprint_corpus, tokens_to_rows


def test_running_moments_match_numpy_over_chunks():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 7)) * rng.uniform(0.1, 5, size=7)
    moments = RunningMoments()
    for chunk in np.array_split(data, [1, 17, 300, 301, 999]):
        moments.update(torch.tensor(chunk))
    result = moments.result()
    np.testing.assert_allclose(result.mean.numpy(), data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(result.std.numpy(), data.std(axis=0), rtol=1e-5)
    assert result.count == 1000


def test_padding_never_enters_the_statistics():
    activations = torch.randn(3, 5, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    activations[mask == 0] = 1e6
    rows = tokens_to_rows(activations, mask)
    assert rows.shape == (9, 4)
    assert rows.abs().max() < 1e5


def test_estimator_matches_numpy_on_real_padded_batches(tiny_bert, reference_texts):
    classifier = Classifier.load(tiny_bert)
    sites = classifier.layers.all_block_sites()
    estimated = classifier.estimate_statistics(reference_texts, sites, batch_size=5)
    hidden_rows: dict[str, list[np.ndarray]] = {site.key: [] for site in sites}
    for text in reference_texts:
        encoded = classifier.encode([text])
        with torch.no_grad():
            output = classifier.model(**encoded.model_inputs(), output_hidden_states=True)
        for index, site in enumerate(sites):
            hidden_rows[site.key].append(output.hidden_states[index][0].numpy())
    for site in sites:
        stacked = np.concatenate(hidden_rows[site.key])
        np.testing.assert_allclose(estimated[site.key].mean.numpy(), stacked.mean(axis=0), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(estimated[site.key].std.numpy(), stacked.std(axis=0), rtol=1e-4, atol=1e-5)
        assert estimated[site.key].count == stacked.shape[0]


def test_corpus_kinds_give_the_same_statistics(tiny_bert, reference_texts):
    classifier = Classifier.load(tiny_bert)
    site = classifier.layers.resolve(1)
    from_list = classifier.estimate_statistics(reference_texts, [site])[site.key]
    from_dataset = classifier.estimate_statistics(Dataset.from_dict({"text": reference_texts}), [site])[site.key]
    loader = [reference_texts[i : i + 4] for i in range(0, len(reference_texts), 4)]
    from_loader = classifier.estimate_statistics(iter(loader), [site])[site.key]
    tokenised = [
        {k: v for k, v in classifier.tokenizer(chunk, padding=True, return_tensors="pt").items()} for chunk in loader
    ]
    from_tokenised = classifier.estimate_statistics(iter(tokenised), [site])[site.key]
    for other in (from_dataset, from_loader, from_tokenised):
        assert torch.allclose(other.mean, from_list.mean, atol=1e-5)
        assert torch.allclose(other.std, from_list.std, atol=1e-5)
        assert other.count == from_list.count


def test_bad_corpora_are_rejected(tiny_bert):
    classifier = Classifier.load(tiny_bert)
    with pytest.raises(StatisticsError, match="single string"):
        classifier.estimate_statistics("just one text")
    with pytest.raises(StatisticsError, match="empty"):
        classifier.estimate_statistics([])
    with pytest.raises(StatisticsError, match="only strings"):
        classifier.estimate_statistics(["ok", 3])
    with pytest.raises(StatisticsError, match="'text' column"):
        classifier.estimate_statistics(Dataset.from_dict({"review": ["a b"]}))


def test_save_and_load_round_trip(tmp_path):
    stats = {"layer.0": FeatureStatistics(torch.randn(6), torch.rand(6) + 0.1, 42), "embeddings": FeatureStatistics(torch.zeros(3), torch.ones(3), 7)}
    path = tmp_path / "stats.safetensors"
    save_statistics(path, stats, {"note": "x"})
    loaded = load_statistics(path)
    assert set(loaded) == set(stats)
    for key in stats:
        assert torch.equal(loaded[key].mean, stats[key].mean) and torch.equal(loaded[key].std, stats[key].std)
        assert loaded[key].count == stats[key].count
    assert [p.name for p in tmp_path.iterdir()] == ["stats.safetensors"]


def test_min_std_clamp():
    stats = FeatureStatistics(torch.zeros(3), torch.tensor([0.0, 0.005, 2.0]), 10)
    assert torch.equal(stats.clamped_std(0.01), torch.tensor([0.01, 0.01, 2.0]))


def test_invalid_statistics_are_rejected():
    with pytest.raises(StatisticsError):
        FeatureStatistics(torch.zeros(3), torch.ones(4), 10)
    with pytest.raises(StatisticsError):
        FeatureStatistics(torch.tensor([float("nan")]), torch.ones(1), 10)


def test_statistics_are_estimated_once_and_cached_per_model_layer_and_corpus(tiny_bert, reference_texts, tmp_path, monkeypatch):
    classifier = Classifier.load(tiny_bert)
    store = StatisticsStore(tmp_path)
    calls = []
    original = classifier.estimate_statistics
    monkeypatch.setattr(classifier, "estimate_statistics", lambda *a, **k: calls.append(1) or original(*a, **k))
    site = classifier.layers.resolve(2)
    first = classifier.statistics_for(site, reference_texts, store)
    again = classifier.statistics_for(classifier.layers.resolve(0), reference_texts, store)
    assert len(calls) == 1, "all layers are estimated in one pass and reused"
    assert torch.equal(classifier.statistics_for(site, reference_texts, store).mean, first.mean)
    assert again.num_features == first.num_features
    classifier.statistics_for(site, reference_texts[:-1], store)
    assert len(calls) == 2, "another corpus is another cache entry"
    files = sorted(p.name for p in (tmp_path / classifier.model_key).iterdir())
    assert files == sorted([f"{fingerprint_corpus(reference_texts)}.safetensors", f"{fingerprint_corpus(reference_texts[:-1])}.safetensors"])


def test_missing_statistics_explain_what_to_pass(tiny_bert):
    classifier = Classifier.load(tiny_bert)
    with pytest.raises(StatisticsError, match="reference_corpus"):
        classifier.statistics_for(classifier.layers.resolve(0))
