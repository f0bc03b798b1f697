"""Tiny random classifiers and tokenizers, and a tiny folder in the ImageNet sample's layout, for
tests and benchmarks (no downloads).

``random_classifier("bert")`` builds a randomly initialised sequence classifier of any of the
supported architectures from a config, with an offline WordPiece tokenizer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers.modeling_outputs import SequenceClassifierOutput

from ib_nlp.text.models import LSTMClassifierConfig, LSTMForSequenceClassification
from ib_nlp.text.wordpiece import SPECIAL_TOKENS, bert_tokenizer, bert_wordpiece_backend

BASIC_WORDS = ["the", "a", "an", "and", "or", "but", "not", "no", "is", "was", "are", "were", "be", "been", "this", "that", "it", "its", "of", "in", "on", "at", "to", "for", "with", "as", "by", "from", "movie", "film", "story", "plot", "acting", "actor", "actors", "actress", "director", "scene", "scenes", "character", "characters", "music", "ending", "good", "great", "wonderful", "excellent", "brilliant", "loved", "love", "beautiful", "best", "amazing", "enjoyable", "fun", "funny", "bad", "terrible", "awful", "boring", "worst", "hate", "hated", "poor", "dull", "waste", "stupid", "weak", "i", "you", "he", "she", "we", "they", "my", "me", "very", "really", "so", "too", "just", "much", "more", "most", "well", "also", "even", "ever", "never", "time", "people", "way", "one", "two", "first", "last", "long", "short", "make", "made", "see", "seen", "watch", "watched", "think", "thought", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u", "v", "w", "x", "y", "z", "!", ".", ",", "'", "?", ";", ":", "-", "(", ")"]
ARCHITECTURES = ("bert", "roberta", "distilbert", "electra", "deberta-v2", "albert", "gpt2", "llama", "lstm")


def build_wordpiece_tokenizer(words: list[str] | None = None, model_max_length: int = 128) -> PreTrainedTokenizerFast:
    """A lower-casing WordPiece tokenizer with [CLS] text [SEP] framing, built in memory."""
    vocabulary: dict[str, int] = {}
    for token in SPECIAL_TOKENS + list(words or BASIC_WORDS):
        vocabulary.setdefault(token, len(vocabulary))
    for token in list(vocabulary):
        if token not in SPECIAL_TOKENS and len(token) == 1:
            vocabulary.setdefault(f"##{token}", len(vocabulary))
    return bert_tokenizer(bert_wordpiece_backend(vocabulary), model_max_length)


def _config(architecture: str, vocab_size: int, hidden: int, layers: int, heads: int, max_length: int) -> Any:
    common = {"vocab_size": vocab_size, "num_labels": 2, "pad_token_id": 0, "id2label": {0: "negative", 1: "positive"}, "label2id": {"negative": 0, "positive": 1}}
    encoder = {"hidden_size": hidden, "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": 2 * hidden, "max_position_embeddings": max_length + 2}
    if architecture == "lstm":
        return LSTMClassifierConfig(embedding_size=hidden, hidden_size=hidden, num_hidden_layers=layers, **common)
    if architecture == "distilbert":
        return AutoConfig.for_model("distilbert", dim=hidden, hidden_dim=2 * hidden, n_layers=layers, n_heads=heads, max_position_embeddings=max_length, **common)
    if architecture == "gpt2":
        return AutoConfig.for_model("gpt2", n_embd=hidden, n_layer=layers, n_head=heads, n_positions=max_length, bos_token_id=2, eos_token_id=3, **common)
    if architecture == "llama":
        return AutoConfig.for_model("llama", num_key_value_heads=heads, bos_token_id=2, eos_token_id=3, **{**encoder, **common})
    if architecture in ("electra", "albert"):
        return AutoConfig.for_model(architecture, embedding_size=hidden // 2, **{**encoder, **common})
    if architecture in ("bert", "roberta", "deberta-v2"):
        return AutoConfig.for_model(architecture, **{**encoder, **common})
    raise ValueError(f"unknown architecture {architecture!r}; choose from {ARCHITECTURES}")


def random_classifier(
    architecture: str = "bert",
    hidden: int = 32,
    layers: int = 3,
    heads: int = 2,
    max_length: int = 128,
    seed: int = 0,
    words: list[str] | None = None,
) -> tuple[PreTrainedModel, PreTrainedTokenizerFast]:
    """A randomly initialised (model, tokenizer) pair of the given architecture, in eval mode."""
    tokenizer = build_wordpiece_tokenizer(words, model_max_length=max_length)
    config = _config(architecture, len(tokenizer), hidden, layers, heads, max_length)
    torch.manual_seed(seed)
    if architecture == "lstm":
        model: PreTrainedModel = LSTMForSequenceClassification(config)
    else:
        model = AutoModelForSequenceClassification.from_config(config)
    return model.eval(), tokenizer


class AdditiveConfig(PretrainedConfig):
    """Configuration of :class:`AdditiveForSequenceClassification`."""

    model_type = "ib-nlp-additive"

    def __init__(self, vocab_size: int = 16, hidden_size: int = 4, num_hidden_layers: int = 1, num_labels: int = 2, **kwargs: Any):
        super().__init__(num_labels=num_labels, **kwargs)
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers


class AdditiveForSequenceClassification(PreTrainedModel):
    """A classifier whose logits are exactly the sum of one vector per token (embedding, one
    identity block, sum over the attended tokens, linear head without bias).

    Every token's contribution to each logit is known in closed form
    (:meth:`token_logits`), which makes it the independent reference for attribution
    methods and faithfulness metrics in the tests.
    """

    config_class = AdditiveConfig

    def __init__(self, config: AdditiveConfig):
        super().__init__(config)
        self.embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.layers = nn.ModuleList([nn.Linear(config.hidden_size, config.hidden_size, bias=False) for _ in range(config.num_hidden_layers)])
        self.classifier = nn.Linear(config.hidden_size, config.num_labels, bias=False)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, nn.Linear) and module in list(self.layers):
            nn.init.eye_(module.weight)

    def get_input_embeddings(self) -> nn.Embedding:
        return self.embeddings

    def token_logits(self) -> torch.Tensor:
        """Logit contribution of each vocabulary entry: (vocab, labels)."""
        weight = self.embeddings.weight
        for layer in self.layers:
            weight = layer(weight)
        return self.classifier(weight)

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None, inputs_embeds: torch.Tensor | None = None, **_: Any) -> SequenceClassifierOutput:
        hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        for layer in self.layers:
            hidden = layer(hidden)
        if attention_mask is not None:
            hidden = hidden * attention_mask.unsqueeze(-1).to(hidden.dtype)
        return SequenceClassifierOutput(logits=self.classifier(hidden.sum(dim=1)))


SENTIMENT_WEIGHTS = {"good": (0.0, 1.2), "great": (0.0, 0.8), "bad": (1.5, 0.0), "boring": (0.6, 0.0), "movie": (0.1, 0.2)}
"""Token logits (negative, positive) of the additive sentiment model the tests explain."""
SENTIMENT_REFERENCE = ["a good movie", "bad film", "boring and bad", "great acting", "the movie was fun", "it was awful", "i loved it", "worst plot"] * 3
"""A reference corpus for the prior of that model's bottleneck."""


def additive_classifier(token_weights: dict[str, tuple[float, ...]], words: list[str] | None = None) -> tuple[AdditiveForSequenceClassification, PreTrainedTokenizerFast]:
    """An additive (model, tokenizer) pair: each listed token adds its logits, one per class
    ((negative, positive) for two classes, else classes "class 0", "class 1", ...); every other
    token, special tokens included, adds nothing."""
    classes = {len(logits) for logits in token_weights.values()}
    if len(classes) != 1 or min(classes) < 2:
        raise ValueError(f"give every token the same number (at least 2) of class logits, got {sorted(classes)}")
    count = classes.pop()
    names = ["negative", "positive"] if count == 2 else [f"class {index}" for index in range(count)]
    tokenizer = build_wordpiece_tokenizer(words)
    config = AdditiveConfig(
        vocab_size=len(tokenizer), hidden_size=count, num_labels=count, id2label=dict(enumerate(names)), label2id={name: index for index, name in enumerate(names)}
    )
    model = AdditiveForSequenceClassification(config)
    with torch.no_grad():
        model.embeddings.weight.zero_()
        for token, logits in token_weights.items():
            model.embeddings.weight[tokenizer.convert_tokens_to_ids(token)] = torch.tensor(logits)
        model.classifier.weight.copy_(torch.eye(count))
    return model.eval(), tokenizer


def image_sample(folder: Path, count: int) -> Path:
    """A folder in the layout of the ImageNet sample with ``count`` random pictures."""
    import numpy as np
    from PIL import Image

    (folder / "images").mkdir(parents=True)
    rows = ["image_id,wnid,class_index,x0,y0,x1,y1,orig_width,orig_height,width,height"]
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 255, size=(256, 256, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / "images" / f"img{index}.jpg")
        rows.append(f"img{index},n1,{index},40,40,120,140,256,256,256,256")
    (folder / "boxes.csv").write_text("\n".join(rows) + "\n")
    return folder
