"""Tests for word segmentation and token-to-word aggregation."""

from __future__ import annotations

import math

import pytest

from ib_nlp.text.words import Word, aggregate_to_words, segment_words


def _by_text(words: list[Word]) -> dict[str, list[int]]:
    return {word.text: word.token_indices for word in words}


def test_wordpiece_pieces_join_into_one_word() -> None:
    text = "unbelievably good"
    # [CLS] un ##believ ##ably good [SEP]
    offsets = [None, (0, 2), (2, 8), (8, 12), (13, 17), None]
    words = segment_words(text, offsets)
    assert words == [
        Word("unbelievably", 0, 12, [1, 2, 3]),
        Word("good", 13, 17, [4]),
    ]
    for word in words:
        assert text[word.start : word.end] == word.text


def test_a_token_spanning_two_words_joins_them() -> None:
    text = "I don't"
    # spaCy: I | do | n't ; WordPiece: i | don | ' | t ("don" reaches into "n't").
    offsets = [(0, 1), (2, 5), (5, 6), (6, 7)]
    words = segment_words(text, offsets)
    assert words == [Word("I", 0, 1, [0]), Word("don't", 2, 7, [1, 2, 3])]


def test_punctuation_is_its_own_word() -> None:
    text = "x, y!"
    offsets = [(0, 1), (1, 2), (3, 4), (4, 5)]
    words = segment_words(text, offsets)
    assert _by_text(words) == {"x": [0], ",": [1], "y": [2], "!": [3]}


def test_whitespace_is_not_a_word_and_whitespace_tokens_are_unassigned() -> None:
    text = "hi   there\n\nok"
    # A RoBERTa-like token whose span includes the preceding spaces, and a
    # token that covers only whitespace.
    offsets = [(0, 2), (2, 10), (10, 12), (12, 14)]
    words = segment_words(text, offsets)
    assert [w.text for w in words] == ["hi", "there", "ok"]
    assert _by_text(words) == {"hi": [0], "there": [1], "ok": [3]}


def test_special_and_zero_length_tokens_belong_to_no_word() -> None:
    text = "hello"
    offsets = [None, (0, 0), (0, 5), (5, 5), None]
    assert segment_words(text, offsets) == [Word("hello", 0, 5, [2])]


def test_joins_chain_and_leave_the_other_words_alone() -> None:
    text = "cannot stop ab. ok"
    # spaCy: can | not | stop | ab | . | ok; tokens "cann" + "ot", "stop", "a" + "b." and "ok".
    words = segment_words(text, [(0, 4), (4, 6), (7, 11), (12, 13), (13, 15), (16, 18)])
    assert words == [Word("cannot", 0, 6, [0, 1]), Word("stop", 7, 11, [2]), Word("ab.", 12, 15, [3, 4]), Word("ok", 16, 18, [5])]


def test_unread_words_are_never_joined() -> None:
    text = "cannot cannot"
    # Truncation after the first "cannot", read as one token: the second keeps spaCy's split.
    words = segment_words(text, [None, (0, 6), None])
    assert words == [Word("cannot", 0, 6, [1]), Word("can", 7, 10, []), Word("not", 10, 13, [])]


def test_each_token_assigned_at_most_once() -> None:
    text = "Well,  it's unbelievably   fine."
    offsets = [None] + [(i, i + 1) for i in range(len(text))] + [None]
    words = segment_words(text, offsets)
    assigned = [index for word in words for index in word.token_indices]
    assert len(assigned) == len(set(assigned))
    non_space = [i + 1 for i, char in enumerate(text) if not char.isspace()]
    assert sorted(assigned) == non_space


def test_untokenised_words_are_kept_without_tokens() -> None:
    # Truncation: the model only saw the first word.
    words = segment_words("alpha beta", [None, (0, 5), None])
    assert words == [Word("alpha", 0, 5, [1]), Word("beta", 6, 10, [])]


def test_invalid_offsets_are_rejected() -> None:
    with pytest.raises(ValueError, match="token 0: offset"):
        segment_words("abc", [(0, 4)])
    with pytest.raises(ValueError, match="token 1: offset"):
        segment_words("abc", [(0, 1), (2, 1)])


def test_empty_text() -> None:
    assert segment_words("", [None, None]) == []


def test_aggregation_preserves_the_sum() -> None:
    text = "I don't find it unbelievably good."
    offsets = [
        None, (0, 1), (2, 5), (5, 6), (6, 7), (8, 12), (13, 15),
        (16, 18), (18, 24), (24, 28), (29, 33), (33, 34), None,
    ]
    special = [span is None for span in offsets]
    values = [0.5 * (i + 1) for i in range(len(offsets))]
    words = segment_words(text, offsets)
    word_values = aggregate_to_words(values, words)
    assert len(word_values) == len(words)
    non_special_total = math.fsum(v for v, s in zip(values, special) if not s)
    assert math.isclose(math.fsum(word_values), non_special_total)
    unbelievably = [w.text for w in words].index("unbelievably")
    assert word_values[unbelievably] == pytest.approx(values[7] + values[8] + values[9])


def test_aggregation_gives_zero_to_words_without_tokens() -> None:
    words = [Word("alpha", 0, 5, [0, 1]), Word("beta", 6, 10, [])]
    assert aggregate_to_words([1.25, 0.5], words) == [1.75, 0.0]


def test_aggregation_rejects_out_of_range_indices() -> None:
    with pytest.raises(ValueError, match="refers to token 3"):
        aggregate_to_words([1.0, 2.0], [Word("x", 0, 1, [3])])


def test_word_dict_round_trip_and_validation() -> None:
    word = Word("good", 13, 17, [4, 5])
    assert Word.from_dict(word.to_dict()) == word
    with pytest.raises(ValueError, match="missing keys"):
        Word.from_dict({"text": "a", "start": 0, "end": 1})
    with pytest.raises(ValueError, match="unknown keys"):
        Word.from_dict({**word.to_dict(), "extra": 1})


READ_AS_ONE = "I cannot say I don't like it; we're gonna see a well-known star at http://example.com/a-b?x=1 again."


def _byte_level_bpe():
    """A RoBERTa-style byte-level BPE tokenizer trained in memory on text where "cannot" is frequent."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    backend = ByteLevelBPETokenizer()
    backend.train_from_iterator([READ_AS_ONE, "we cannot go, they cannot stay, you cannot win"] * 50, vocab_size=400, min_frequency=2, show_progress=False)
    return PreTrainedTokenizerFast(tokenizer_object=backend._tokenizer)


def _tokenizers():
    from transformers import AutoTokenizer

    import ib_nlp.text.models  # noqa: F401  (the LSTM's tokenizer class)
    from ib_nlp.text.shipped import shipped_model_path
    from ib_nlp.testing import build_wordpiece_tokenizer

    return {
        "wordpiece": build_wordpiece_tokenizer(["i", "cannot", "say", "don", "'", "t", "like", "it", ";", "gonna", "well", "-", "known", "http", ":", "/"]),
        "bpe": _byte_level_bpe(),
        "lstm": AutoTokenizer.from_pretrained(str(shipped_model_path("imdb-lstm"))),
        "bert-small": AutoTokenizer.from_pretrained(str(shipped_model_path("imdb-bert-small"))),
    }


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "lstm", "bert-small"])
def test_every_word_the_model_reads_keeps_its_tokens(kind: str) -> None:
    tokenizer = _tokenizers()[kind]
    encoded = tokenizer(READ_AS_ONE, return_offsets_mapping=True, return_special_tokens_mask=True)
    offsets = [None if special or start == end else (start, end) for (start, end), special in zip(encoded["offset_mapping"], encoded["special_tokens_mask"], strict=True)]
    words = segment_words(READ_AS_ONE, offsets)
    assert all(word.token_indices for word in words), [word.text for word in words if not word.token_indices]
    for word in words:
        for index in word.token_indices:
            start, end = offsets[index]
            assert word.start <= max(start, word.start) and min(end, word.end) <= word.end
            assert READ_AS_ONE[start:end].strip() and not (end <= word.start or start >= word.end)
    one_token = [(start, end) for start, end in filter(None, offsets) if READ_AS_ONE[start:end].strip().lower() == "cannot"]
    texts = [word.text for word in words]
    assert ("cannot" in texts) == bool(one_token) and ("not" in texts) != bool(one_token)
