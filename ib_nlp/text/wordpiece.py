"""BERT-style WordPiece tokenizers built in memory: the shipped BERT-small's recipe trains one
(``ib_nlp.text.training``) and the tests' tiny models get one from a word list (``ib_nlp.testing``)."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors
from tokenizers.models import WordPiece
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def bert_wordpiece_backend(vocabulary: dict[str, int] | None = None) -> Tokenizer:
    """A WordPiece backend with BERT's lower-casing, accent-stripping normalizer, word splitting
    and decoder: empty to be trained, or over ``vocabulary``."""
    backend = Tokenizer(WordPiece(vocab=vocabulary, unk_token="[UNK]") if vocabulary is not None else WordPiece(unk_token="[UNK]"))
    backend.normalizer = normalizers.BertNormalizer(lowercase=True, strip_accents=True, clean_text=True)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    backend.decoder = decoders.WordPiece()
    return backend


def bert_tokenizer(backend: Tokenizer, max_length: int) -> PreTrainedTokenizerFast:
    """``backend`` (its vocabulary holding :data:`SPECIAL_TOKENS`) with BERT's framing,
    ``[CLS] A [SEP]`` and ``[CLS] A [SEP] B [SEP]``, as a transformers tokenizer."""
    cls_id, sep_id = backend.token_to_id("[CLS]"), backend.token_to_id("[SEP]")
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
        padding_side="right",
        truncation_side="right",
    )
