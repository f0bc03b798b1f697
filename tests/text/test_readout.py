"""The readout bottleneck: network shape and bounds, training lowers the loss, explanations are
the capacity of the predicted alpha in bits, and a saved readout explains the same after loading."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ib_nlp import Classifier, InvalidInputError, load_method
from ib_nlp.core.bottleneck import capacity_in_bits
from ib_nlp.core.readout_head import ALPHA_BOUND
from ib_nlp.text.methods.readout import (
    Readout,
    ReadoutIBA,
    ReadoutNetwork,
    train_readout,
)
from ib_nlp.text.sites import first_tensor
from ib_nlp.testing import random_classifier

TEXTS = ["a wonderful film, i loved the music", "boring and far too long", "the acting was great but the plot was thin"]


@pytest.fixture(params=["bert", "lstm"])
def classifier(request) -> Classifier:
    return Classifier.load(random_classifier(request.param, layers=3))


def test_network_starts_at_alpha_five_and_is_clamped():
    network = ReadoutNetwork(12, 8, 4)
    with torch.no_grad():
        assert torch.equal(network(torch.randn(2, 5, 12)), torch.full((2, 5, 4), 5.0))
        torch.nn.init.constant_(network.layers[-1].bias, 100.0)
        assert float(network(torch.randn(1, 3, 12)).max()) == ALPHA_BOUND


def test_default_readout_reads_the_attach_layer_and_every_later_block(classifier, reference_texts):
    readout = Readout.create(classifier, 1, reference_corpus=reference_texts, hidden=16)
    assert readout.config.readout_layers == [1, 2]
    assert set(readout.statistics) == {"layer.1", "layer.2"}
    assert readout.network.layers[0].in_features == 2 * readout.statistics["layer.1"].num_features
    assert Readout.create(classifier, "embeddings", reference_corpus=reference_texts).config.readout_layers == ["embeddings", 0, 1, 2]


def test_training_lowers_the_loss_and_records_how_it_was_trained(classifier, reference_texts):
    readout = Readout.create(classifier, 0, reference_corpus=reference_texts, hidden=16, beta=1.0)
    losses = train_readout(classifier, readout, reference_texts, epochs=4, batch_size=8, lr=1e-2, progress=False)
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert readout.config.training["epochs"] == 4 and readout.config.training["loss"] == losses
    assert not any(parameter.requires_grad is False for parameter in readout.network.parameters())
    assert all(parameter.grad is None for parameter in classifier.model.parameters())


def test_explanation_is_the_capacity_of_the_predicted_alpha_in_bits(classifier, reference_texts):
    readout = Readout.create(classifier, 0, reference_corpus=reference_texts, hidden=16)
    torch.nn.init.normal_(readout.network.layers[-1].weight, std=0.5)
    explanation = ReadoutIBA(classifier, readout).explain(TEXTS[0])
    batch = classifier.encode([TEXTS[0]])
    attach, sites = readout.sites(classifier)
    _, captured = classifier.capture(batch, sites)
    with torch.no_grad():
        alpha = readout.network(readout.features(captured, sites))
    stats = readout.statistics[attach.key]
    expected = capacity_in_bits(alpha, first_tensor(captured[attach.key]), stats.mean, stats.clamped_std()).sum(-1)[0]
    assert explanation.method == "readout" and explanation.unit == "bits" and explanation.layer == 0
    torch.testing.assert_close(torch.tensor(explanation.token_scores), expected, rtol=1e-5, atol=1e-5)


def test_a_saved_readout_explains_the_same_after_loading(classifier, reference_texts, tmp_path):
    readout = Readout.create(classifier, 1, reference_corpus=reference_texts, hidden=16)
    train_readout(classifier, readout, reference_texts, epochs=1, batch_size=8, progress=False)
    path = readout.save(tmp_path / "readout.safetensors")
    loaded = Readout.load(path)
    assert loaded.config == readout.config and set(loaded.statistics) == set(readout.statistics)
    before = load_method("readout", classifier, readout=readout).explain_batch(TEXTS)
    after = load_method("readout", classifier, readout=path).explain_batch(TEXTS)
    for first, second in zip(before, after):
        np.testing.assert_allclose(first.token_scores, second.token_scores, rtol=1e-6)


def test_missing_or_wrong_readout_files_are_refused_clearly(classifier, tmp_path):
    with pytest.raises(InvalidInputError, match="no trained readout ships with"):
        ReadoutIBA(classifier)
    with pytest.raises(InvalidInputError, match="no readout file at"):
        ReadoutIBA(classifier, tmp_path / "missing.safetensors")
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(InvalidInputError, match="is not a readout file"):
        ReadoutIBA(classifier, tmp_path / "other.safetensors")


@pytest.mark.parametrize("name", ["imdb-bert-small", "imdb-lstm"])
def test_shipped_readouts_are_small_and_explain_through_the_one_call(name):
    from ib_nlp import explain_text
    from ib_nlp.text.shipped import shipped_model_path
    from ib_nlp.text.methods.readout import READOUT_FILE

    path = shipped_model_path(name) / READOUT_FILE
    assert path.stat().st_size < 2_000_000
    readout = Readout.load(path)
    assert readout.config.model == name and readout.config.training["texts"] >= 1000
    explanation = explain_text("A boring, predictable film. The director wasted a great cast.", model=name, method="readout")
    assert explanation.method == "readout" and explanation.unit == "bits" and max(explanation.word_scores) > 0
