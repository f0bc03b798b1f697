"""Tests for the LSTM classifier and its word tokenizer (tiny random models, CPU, fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

from ib_nlp.text.models import (
    LSTMClassifierConfig,
    LSTMForSequenceClassification,
    build_word_tokenizer,
)

VOCAB = ["the", "film", "was", "great", "awful", "not", "!", ",", "."]


def tiny_model(num_layers: int = 3, seed: int = 0) -> LSTMForSequenceClassification:
    """A small random model in eval mode, with a large init scale so that logits are not tiny."""
    torch.manual_seed(seed)
    config = LSTMClassifierConfig(
        vocab_size=len(VOCAB) + 2,
        embedding_size=6,
        hidden_size=8,
        num_hidden_layers=num_layers,
        num_labels=2,
        initializer_range=0.5,
    )
    return LSTMForSequenceClassification(config).eval()


def test_config_defaults() -> None:
    config = LSTMClassifierConfig(vocab_size=100)
    assert config.model_type == "ib-lstm-classifier"
    assert (config.embedding_size, config.hidden_size, config.num_hidden_layers) == (50, 128, 4)
    assert config.pad_token_id == 0
    assert config.dropout == pytest.approx(0.2)


def test_forward_shapes_and_loss() -> None:
    model = tiny_model()
    ids = torch.randint(2, model.config.vocab_size, (3, 7))
    out = model(input_ids=ids, labels=torch.tensor([0, 1, 1]), output_hidden_states=True)
    assert out.logits.shape == (3, 2)
    assert out.loss is not None and out.loss.ndim == 0
    assert len(out.hidden_states) == model.config.num_hidden_layers + 1
    assert out.hidden_states[0].shape == (3, 7, 6)
    assert all(h.shape == (3, 7, 8) for h in out.hidden_states[1:])
    assert model(input_ids=ids).hidden_states is None


def test_inputs_embeds_match_input_ids() -> None:
    model = tiny_model()
    ids = torch.randint(2, model.config.vocab_size, (2, 5))
    by_ids = model(input_ids=ids).logits
    by_embeds = model(inputs_embeds=model.get_input_embeddings()(ids)).logits
    torch.testing.assert_close(by_ids, by_embeds)
    with pytest.raises(ValueError, match="exactly one"):
        model(input_ids=ids, inputs_embeds=model.get_input_embeddings()(ids))


def test_right_padding_does_not_change_logits() -> None:
    model = tiny_model()
    ids = torch.randint(2, model.config.vocab_size, (1, 6))
    padded = torch.cat([ids, torch.zeros(1, 5, dtype=torch.long)], dim=1)
    mask = torch.cat([torch.ones(1, 6), torch.zeros(1, 5)], dim=1)
    alone = model(input_ids=ids).logits
    with_padding = model(input_ids=padded, attention_mask=mask).logits
    torch.testing.assert_close(alone, with_padding, atol=1e-5, rtol=0)


def test_layers_are_called_once_each_with_the_sequence_first() -> None:
    model = tiny_model(num_layers=4)
    ids = torch.randint(2, model.config.vocab_size, (2, 5))
    inputs: list[torch.Tensor] = []
    handles = [
        layer.register_forward_pre_hook(lambda _m, args: inputs.append(args[0])) for layer in model.layers
    ]
    out = model(input_ids=ids, output_hidden_states=True)
    for handle in handles:
        handle.remove()
    assert isinstance(model.layers, nn.ModuleList)
    assert len(inputs) == model.config.num_hidden_layers
    for seen, expected in zip(inputs, out.hidden_states[:-1]):
        torch.testing.assert_close(seen, expected)


@pytest.mark.parametrize("layer_index", [0, 1, 2])
def test_every_layer_output_position_influences_logits(layer_index: int) -> None:
    model = tiny_model(num_layers=3).double()
    seq_len = 6
    ids = torch.randint(2, model.config.vocab_size, (1, seq_len))
    reference = model(input_ids=ids).logits
    for position in range(seq_len):

        def perturb(_m: nn.Module, _args: tuple, output: tuple, pos: int = position) -> tuple:
            sequence, state = output
            sequence = sequence.clone()
            sequence[:, pos] += 1.0
            return sequence, state

        handle = model.layers[layer_index].register_forward_hook(perturb)
        changed = model(input_ids=ids).logits
        handle.remove()
        assert not torch.allclose(changed, reference, atol=1e-9, rtol=0), (
            f"output of layer {layer_index} at position {position} does not reach the logits"
        )


def test_save_and_load_with_auto_classes(tmp_path: Path) -> None:
    model = tiny_model()
    tokenizer = build_word_tokenizer(VOCAB, model_max_length=32)
    model.save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert isinstance(AutoConfig.from_pretrained(tmp_path), LSTMClassifierConfig)
    loaded = AutoModelForSequenceClassification.from_pretrained(tmp_path).eval()
    loaded_tokenizer = AutoTokenizer.from_pretrained(tmp_path)
    assert isinstance(loaded, LSTMForSequenceClassification)
    text = "The film was great!"
    enc = tokenizer(text, return_tensors="pt")
    assert loaded_tokenizer(text)["input_ids"] == enc["input_ids"][0].tolist()
    torch.testing.assert_close(loaded(**enc).logits, model(**enc).logits)


def test_tokenizer_ids_and_offsets() -> None:
    tokenizer = build_word_tokenizer(VOCAB, model_max_length=8)
    assert tokenizer.pad_token_id == 0
    assert tokenizer.unk_token_id == 1
    text = "The FILM was, bizarrely, great!"
    enc = tokenizer(text, return_offsets_mapping=True)
    pieces = [text[start:end] for start, end in enc["offset_mapping"]]
    assert pieces == ["The", "FILM", "was", ",", "bizarrely", ",", "great", "!"]
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert tokens == ["the", "film", "was", ",", "[UNK]", ",", "great", "!"]
    assert "token_type_ids" not in enc


def test_tokenizer_pads_right_and_truncates() -> None:
    tokenizer = build_word_tokenizer(VOCAB, model_max_length=4)
    enc = tokenizer(["the film was great !", "awful"], padding=True, truncation=True)
    assert enc["input_ids"][0] == tokenizer.convert_tokens_to_ids(["the", "film", "was", "great"])
    assert enc["input_ids"][1][1:] == [0, 0, 0]
    assert enc["attention_mask"][1] == [1, 0, 0, 0]


def test_tokenizer_rejects_bad_length() -> None:
    with pytest.raises(ValueError, match="model_max_length"):
        build_word_tokenizer(VOCAB, model_max_length=0)


def test_initialisation_sets_forget_gate_bias_and_zero_padding_row() -> None:
    model = tiny_model()
    hidden = model.config.hidden_size
    for layer in model.layers:
        for bias in (layer.bias_ih_l0, layer.bias_hh_l0):
            torch.testing.assert_close(bias[hidden : 2 * hidden], torch.full((hidden,), 0.5))
            assert bias[:hidden].abs().sum() == 0 and bias[2 * hidden :].abs().sum() == 0
    assert model.get_input_embeddings().weight[model.config.pad_token_id].abs().sum() == 0
