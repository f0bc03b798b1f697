"""Tests for word segmentation and token-to-word aggregation."""

from __future__ import annotations

import math

import pytest

from ib_nlp.words import Word, aggregate_to_words, segment_words


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


def test_contraction_tokens_follow_largest_overlap() -> None:
    text = "I don't"
    # spaCy: I | do | n't ; WordPiece: i | don | ' | t
    offsets = [(0, 1), (2, 5), (5, 6), (6, 7)]
    words = segment_words(text, offsets)
    assert [(w.text, w.start, w.end) for w in words] == [("I", 0, 1), ("do", 2, 4), ("n't", 4, 7)]
    # "don" overlaps "do" by 2 and "n't" by 1.
    assert _by_text(words) == {"I": [0], "do": [1], "n't": [2, 3]}


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


def test_token_spanning_two_words_goes_to_larger_overlap() -> None:
    text = "cannot stop"
    # spaCy splits "can" | "not"; a token "cann" overlaps "can" by 3, "not" by 1.
    words = segment_words(text, [(0, 4), (4, 6), (7, 11)])
    assert _by_text(words) == {"can": [0], "not": [1], "stop": [2]}


def test_overlap_tie_goes_to_earlier_word() -> None:
    text = "ab."
    # Token "b." overlaps "ab" and "." by one character each.
    words = segment_words(text, [(0, 1), (1, 3)])
    assert _by_text(words) == {"ab": [0, 1], ".": []}


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
