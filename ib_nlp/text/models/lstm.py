"""A stacked-LSTM text classifier packaged as a Hugging Face model, plus a word tokenizer.

The classifier pools the top LSTM layer's whole output sequence (masked mean and max), so
every token's output in every layer can influence the prediction. That is what makes
per-token attribution with a bottleneck inserted after any layer meaningful; a model that
classified from the final hidden state ``h_n`` alone would hide most positions.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerFast,
)
from transformers import initialization as init
from transformers.modeling_outputs import SequenceClassifierOutput

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


class LSTMClassifierConfig(PretrainedConfig):
    """Configuration of :class:`LSTMForSequenceClassification`.

    ``num_hidden_layers`` is the number of stacked single-layer LSTMs; code that inserts a
    bottleneck discovers the layer list through it.
    """

    model_type = "ib-lstm-classifier"

    vocab_size: int = 20000
    embedding_size: int = 50
    hidden_size: int = 128
    num_hidden_layers: int = 4
    pad_token_id: int = 0
    dropout: float = 0.2
    initializer_range: float = 0.02


class LSTMForSequenceClassification(PreTrainedModel):
    """Embeddings, a stack of unidirectional LSTMs and a linear head over mean+max pooling.

    Each layer is a separate ``nn.LSTM`` in ``self.layers`` so that a hook can read or
    replace the output sequence of any single layer. Only right padding is supported:
    with a unidirectional LSTM, padding on the right leaves valid positions unchanged, and
    the pooling ignores padded positions through ``attention_mask``.
    """

    config_class = LSTMClassifierConfig
    config: LSTMClassifierConfig
    base_model_prefix = "lstm"
    main_input_name = "input_ids"

    def __init__(self, config: LSTMClassifierConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.embeddings = nn.Embedding(
            config.vocab_size, config.embedding_size, padding_idx=config.pad_token_id
        )
        self.layers = nn.ModuleList(
            nn.LSTM(
                config.embedding_size if i == 0 else config.hidden_size,
                config.hidden_size,
                batch_first=True,
            )
            for i in range(config.num_hidden_layers)
        )
        self.dropout = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(2 * config.hidden_size, config.num_labels)
        self.post_init()

    def _init_weights(self, module: nn.Module) -> None:
        """Initialise weights: orthogonal recurrent matrices and forget-gate bias 1 for the LSTMs.

        The forget-gate bias of 1 (split over the two bias vectors) helps gradients reach
        early tokens of long reviews at the start of training.
        """
        if isinstance(module, nn.LSTM):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    init.orthogonal_(param)
                elif name.startswith("bias"):
                    bias = torch.zeros_like(param)
                    bias[hidden : 2 * hidden] = 0.5
                    init.copy_(param, bias)
        else:
            super()._init_weights(module)

    def get_input_embeddings(self) -> nn.Embedding:
        """Return the token embedding table."""
        return self.embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        """Replace the token embedding table (e.g. with pretrained word vectors)."""
        self.embeddings = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: object,
    ) -> SequenceClassifierOutput | tuple:
        """Classify right-padded token sequences.

        ``hidden_states`` (when requested) holds the embedding output followed by each
        layer's output sequence, all of shape ``(batch, seq_len, dim)``.
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        output_hidden_states = (
            output_hidden_states if output_hidden_states is not None else self.config.output_hidden_states
        )
        return_dict = return_dict if return_dict is not None else self.config.return_dict

        hidden = self.embeddings(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq_len = hidden.shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(batch, seq_len, device=hidden.device)
        all_hidden: tuple[torch.Tensor, ...] = (hidden,)
        for i, layer in enumerate(self.layers):
            if i > 0:
                hidden = self.dropout(hidden)
            hidden, _ = layer(hidden)
            all_hidden += (hidden,)

        mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        masked = hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min)
        maximum = masked.max(dim=1).values
        logits = self.classifier(self.dropout(torch.cat([mean, maximum], dim=-1)))

        loss = None
        if labels is not None:
            if self.num_labels == 1:
                loss = nn.functional.mse_loss(logits.squeeze(-1), labels.to(logits.dtype))
            else:
                loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))

        hidden_states = all_hidden if output_hidden_states else None
        if not return_dict:
            output = tuple(x for x in (logits, hidden_states) if x is not None)
            return (loss, *output) if loss is not None else output
        return SequenceClassifierOutput(loss=loss, logits=logits, hidden_states=hidden_states)


def build_word_tokenizer(vocab: list[str], model_max_length: int) -> PreTrainedTokenizerFast:
    """Build a lower-casing word-level tokenizer with ``[PAD]`` = 0 and ``[UNK]`` = 1.

    Words and punctuation are split apart, so offsets map every token back to a span of
    the original text. ``vocab`` lists the remaining words; duplicates of the special
    tokens are ignored.
    """
    if model_max_length < 1:
        raise ValueError(f"model_max_length must be positive, got {model_max_length}.")
    words = [PAD_TOKEN, UNK_TOKEN]
    seen = set(words)
    for word in vocab:
        if word not in seen:
            seen.add(word)
            words.append(word)
    backend = Tokenizer(WordLevel({w: i for i, w in enumerate(words)}, unk_token=UNK_TOKEN))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token=UNK_TOKEN,
        pad_token=PAD_TOKEN,
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
        model_input_names=["input_ids", "attention_mask"],
    )


AutoConfig.register(LSTMClassifierConfig.model_type, LSTMClassifierConfig)
AutoModelForSequenceClassification.register(LSTMClassifierConfig, LSTMForSequenceClassification)
