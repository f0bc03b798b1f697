"""Model classes shipped with ib_nlp; importing this package registers them with the Auto classes."""

from ib_nlp.text.models.lstm import (
    LSTMClassifierConfig,
    LSTMForSequenceClassification,
    build_word_tokenizer,
)

__all__ = ["LSTMClassifierConfig", "LSTMForSequenceClassification", "build_word_tokenizer"]
