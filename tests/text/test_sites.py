"""Layer discovery without per-model code, and resolution of the user's ``layer`` argument."""

from __future__ import annotations

import pytest

from ib_nlp import Classifier, LayerError
from ib_nlp.testing import ARCHITECTURES, random_classifier

CONTAINERS = {
    "bert": "bert.encoder.layer",
    "roberta": "roberta.encoder.layer",
    "distilbert": "distilbert.transformer.layer",
    "electra": "electra.encoder.layer",
    "deberta-v2": "deberta.encoder.layer",
    "albert": "albert.encoder.albert_layer_groups",
    "gpt2": "transformer.h",
    "llama": "model.layers",
    "lstm": "layers",
}


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_blocks_are_found_for_every_architecture(architecture):
    classifier = Classifier.load(random_classifier(architecture, layers=3))
    assert len(classifier.layers) == 3
    assert classifier.layers.container_name == CONTAINERS[architecture]


def test_albert_shared_layer_is_one_module_called_per_layer():
    classifier = Classifier.load(random_classifier("albert", layers=4))
    blocks = classifier.layers.blocks
    assert len({id(block.module) for block in blocks}) == 1
    assert [block.call_index for block in blocks] == [0, 1, 2, 3]


def test_resolve_forms(tiny_bert):
    layers = Classifier.load(tiny_bert).layers
    assert layers.resolve(1).key == "layer.1"
    assert layers.resolve(-1).key == "layer.2"
    assert layers.resolve("2").key == "layer.2"
    assert layers.resolve("embeddings").key == "embeddings"
    assert layers.resolve("bert.encoder.layer.1").key == "layer.1"
    assert layers.resolve("bert.encoder.layer.1.attention").key == "module.bert.encoder.layer.1.attention"


@pytest.mark.parametrize("layer", [3, -4, "no.such.module", True, 1.5])
def test_invalid_layers_list_the_valid_ones(tiny_bert, layer):
    layers = Classifier.load(tiny_bert).layers
    with pytest.raises(LayerError, match=r"0\.\.2"):
        layers.resolve(layer)
