"""The in-memory BERT WordPiece tokenizer against transformers' pure-Python BertTokenizer on the
same vocabulary (an independent implementation of the same normalisation, splitting and framing)."""

from __future__ import annotations

import pytest
from transformers import BertTokenizer

from ib_nlp.testing import build_wordpiece_tokenizer
from ib_nlp.text.training import train_wordpiece
from ib_nlp.text.wordpiece import SPECIAL_TOKENS

TEXTS = ["The Café was GREAT, wasn't it?", "a boring film... no, an awful one!", "unseenword and ünïcode"]


@pytest.mark.parametrize("build", ["from words", "trained"])
def test_single_texts_and_pairs_match_the_python_bert_tokenizer(build, tmp_path):
    if build == "trained":
        tokenizer = train_wordpiece(TEXTS * 20 + ["the movie was good and the acting was great"] * 20, vocab_size=120, max_length=64)
    else:
        tokenizer = build_wordpiece_tokenizer(model_max_length=64)
    vocabulary = sorted(tokenizer.get_vocab().items(), key=lambda item: item[1])
    assert [token for token, _ in vocabulary[:5]] == SPECIAL_TOKENS
    (tmp_path / "vocab.txt").write_text("".join(f"{token}\n" for token, _ in vocabulary), encoding="utf-8")
    reference = BertTokenizer(str(tmp_path / "vocab.txt"), do_lower_case=True)
    for text in TEXTS:
        assert tokenizer(text)["input_ids"] == reference(text)["input_ids"]
    ours, theirs = tokenizer(TEXTS[0], TEXTS[1], return_token_type_ids=True), reference(TEXTS[0], TEXTS[1])
    assert ours["input_ids"] == theirs["input_ids"] and ours["token_type_ids"] == theirs["token_type_ids"]
    assert tokenizer.decode(tokenizer("the acting")["input_ids"], skip_special_tokens=True) == "the acting"
