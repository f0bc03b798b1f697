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


def test_a_new_model_family_needs_no_code_in_the_package(reference_texts):
    """A user's own classifier (a config, a *ForSequenceClassification model whose blocks sit in an nn.ModuleList), defined
    here and nowhere in ib_nlp, is explained at every block: tracing finds the blocks."""
    import torch
    from torch import nn
    from transformers import PretrainedConfig, PreTrainedModel
    from transformers.modeling_outputs import SequenceClassifierOutput

    from ib_nlp import PerSampleIBA
    from ib_nlp.testing import build_wordpiece_tokenizer

    class GatedConfig(PretrainedConfig):
        model_type = "test-gated-classifier"

        def __init__(self, vocab_size: int = 64, hidden_size: int = 8, num_hidden_layers: int = 2, **kwargs):
            super().__init__(num_labels=2, **kwargs)
            self.vocab_size, self.hidden_size, self.num_hidden_layers = vocab_size, hidden_size, num_hidden_layers

    class GatedBlock(nn.Module):
        def __init__(self, size: int):
            super().__init__()
            self.value, self.gate = nn.Linear(size, size), nn.Linear(size, size)

        def forward(self, hidden: torch.Tensor) -> torch.Tensor:
            return hidden + torch.tanh(self.value(hidden)) * torch.sigmoid(self.gate(hidden))

    class GatedForSequenceClassification(PreTrainedModel):
        config_class = GatedConfig

        def __init__(self, config: GatedConfig):
            super().__init__(config)
            self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
            self.blocks = nn.ModuleList(GatedBlock(config.hidden_size) for _ in range(config.num_hidden_layers))
            self.head = nn.Linear(config.hidden_size, 2)
            self.post_init()

        def get_input_embeddings(self) -> nn.Embedding:
            return self.embeddings

        def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **_):
            hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
            for block in self.blocks:
                hidden = block(hidden)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return SequenceClassifierOutput(logits=self.head((hidden * mask).sum(1) / mask.sum(1)))

    tokenizer = build_wordpiece_tokenizer()
    torch.manual_seed(0)
    model = GatedForSequenceClassification(GatedConfig(vocab_size=len(tokenizer))).eval()
    classifier = Classifier.load((model, tokenizer))
    assert len(classifier.layers) == 2
    for layer in (0, 1):
        explanation = PerSampleIBA(classifier, layer, reference_corpus=reference_texts, steps=3, samples=2).explain("a good film, i loved it")
        assert explanation.layer == layer and sum(explanation.token_scores) > 0
