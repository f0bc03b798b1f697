"""The estimator against numpy on padded batches, and the statistics store."""

from __future__ import annotations

import os
import stat

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
from ib_nlp.core.statistics import RunningMoments, fingerprint_corpus, tokens_to_rows
from ib_nlp.testing import random_classifier


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
    stats = FeatureStatistics(torch.zeros(3), torch.tensor([0.0, 0.005, 2.0]), 10, active=torch.tensor([False, True, True]))
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


def test_without_a_corpus_or_own_statistics_the_prior_is_the_general_corpus(tiny_bert, tmp_path):
    from ib_nlp.text.corpus import general_english_texts

    classifier = Classifier.load(tiny_bert)
    store = StatisticsStore(tmp_path)
    site = classifier.layers.resolve(0)
    with pytest.warns(UserWarning, match="general-English"):
        statistics = classifier.statistics_for(site, store=store)
    expected = classifier.statistics_for(site, general_english_texts(), store)
    assert torch.equal(statistics.mean, expected.mean) and torch.equal(statistics.std, expected.std)
    assert statistics.metadata["prior"] == f"general-English default ({len(general_english_texts())} texts)"
    assert expected.metadata["prior"] == f"reference corpus ({len(general_english_texts())} texts)"


def test_active_units_are_those_non_zero_in_more_than_one_percent_and_not_constant():
    rows = torch.randn(1000, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    rows[:, 0] = 0.0  # dead
    rows[:, 1] = 0.0
    rows[:5, 1] = 3.0  # non-zero in 0.5% of the samples
    rows[:, 2] = 0.7  # constant
    moments = RunningMoments()
    for block in rows.split(128):
        moments.update(block)
    stats = moments.result()
    expected = ((rows != 0).double().mean(dim=0) > 0.01) & ~(rows == rows[0]).all(dim=0)
    assert stats.active.tolist() == expected.tolist() == [False, False, False, True]
    unbiased = moments.result(unbiased=True)
    torch.testing.assert_close(unbiased.std.double(), rows.std(dim=0, unbiased=True), rtol=1e-5, atol=1e-7)


def test_non_positive_std_is_refused_like_non_finite_values():
    with pytest.raises(StatisticsError, match="non-positive std at 1 of 3 units"):
        FeatureStatistics(torch.zeros(3), torch.tensor([1.0, 0.0, 2.0]), 10)
    with pytest.raises(StatisticsError, match="non-positive std"):
        FeatureStatistics(torch.zeros(2), torch.tensor([-1.0, 1.0]), 10, active=torch.tensor([False, True]))
    dead_unit = FeatureStatistics(torch.zeros(2), torch.tensor([0.0, 1.0]), 10, active=torch.tensor([False, True]))
    assert dead_unit.active_mask().tolist() == [False, True]


def test_files_keep_the_active_units_and_the_model_probe(tiny_bert, reference_texts, tmp_path):
    from ib_nlp import Classifier
    from ib_nlp.core.statistics import model_probe

    classifier = Classifier.load(tiny_bert)
    estimated = classifier.estimate_statistics(reference_texts)
    save_statistics(tmp_path / "s.safetensors", estimated)
    loaded = load_statistics(tmp_path / "s.safetensors")
    for key, stats in estimated.items():
        assert torch.equal(loaded[key].active, stats.active) and loaded[key].metadata["layer"] == key
        torch.testing.assert_close(loaded[key].model_probe, model_probe(classifier.model))


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_statistics_files_get_the_permissions_of_other_outputs(tmp_path, umask):
    statistics = {"layer.0": FeatureStatistics(torch.zeros(3), torch.ones(3), count=10)}
    previous = os.umask(umask)
    try:
        save_statistics(tmp_path / "s.safetensors", statistics)
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "s.safetensors").stat().st_mode) == stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "header"])
def test_an_unreadable_statistics_file_names_the_file(tiny_bert, reference_texts, tmp_path, damage):
    from ib_nlp import Classifier

    path = tmp_path / "s.safetensors"
    save_statistics(path, Classifier.load(tiny_bert).estimate_statistics(reference_texts[:4]))
    data = path.read_bytes()
    damaged = {"truncated": data[: len(data) // 2], "garbage": b"\x13garbage" * 50, "empty": b"", "header": data[:8] + b"{not json" + data[17:]}[damage]
    path.write_bytes(damaged)
    with pytest.raises(StatisticsError, match=f"statistics file {path} is unreadable"):
        load_statistics(path)


def test_a_corrupt_cache_entry_is_estimated_again_and_a_read_only_cache_is_skipped(tiny_bert, reference_texts, tmp_path, monkeypatch):
    import ib_nlp.core.statistics as statistics_module
    from ib_nlp import Classifier, PerSampleIBA

    store = StatisticsStore(tmp_path / "cache")
    classifier = Classifier.load(tiny_bert)
    first = PerSampleIBA(classifier, 1, reference_corpus=reference_texts, statistics_store=store).statistics
    (cached,) = (tmp_path / "cache").rglob("*.safetensors")
    cached.write_bytes(b"\x00" * 12)
    with pytest.warns(UserWarning, match=f"{cached} is unreadable.*removed and the statistics are estimated again"):
        again = PerSampleIBA(classifier, 1, reference_corpus=reference_texts, statistics_store=store).statistics
    assert torch.equal(again.mean, first.mean) and load_statistics(cached)["layer.1"].count == first.count

    def read_only(*args, **kwargs):
        raise OSError(30, "Read-only file system")

    monkeypatch.setattr(statistics_module, "save_statistics", read_only)
    with pytest.warns(UserWarning, match="could not cache the statistics.*Read-only file system.*used without caching"):
        fresh = PerSampleIBA(classifier, 1, reference_corpus=reference_texts[:5], statistics_store=store).statistics
    assert fresh.count > 0


def test_statistics_of_another_model_or_layer_are_refused_unless_overridden(reference_texts):
    from ib_nlp import Classifier, PerSampleIBA

    lstm, bert = Classifier.load(random_classifier("lstm")), Classifier.load(random_classifier("bert"))
    lstm_statistics = lstm.estimate_statistics(reference_texts)
    assert lstm_statistics["layer.1"].num_features == bert.model.config.hidden_size  # the same width: only the origin tells them apart
    with pytest.raises(StatisticsError, match="estimated on another model"):
        PerSampleIBA(bert, 1, statistics=lstm_statistics)
    with pytest.raises(StatisticsError, match="estimated at layer.2, but the bottleneck sits at layer.1"):
        PerSampleIBA(lstm, 1, statistics=lstm_statistics["layer.2"])
    forced = PerSampleIBA(bert, 1, statistics=lstm_statistics, ignore_statistics_origin=True, steps=2, samples=2)
    assert forced.explain("a good movie").total_score > 0
