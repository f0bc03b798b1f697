"""Word segmentation and token-to-word aggregation.

Model tokenizers split text into sub-word pieces ("un", "##believ", "##ably"),
which are hard to read. This module groups those pieces into human words
(as found by spaCy's rule-based English tokenizer) so attributions can be
reported per word. Every model token is assigned to at most one word, so
summing per-token information (bits) per word preserves the total.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Word", "aggregate_to_words", "segment_words"]


@dataclass
class Word:
    """A word of the input text and the model tokens that make it up.

    ``start``/``end`` are character offsets into the original text
    (``text == original[start:end]``); ``token_indices`` are positions in the
    model's token sequence, in increasing order.
    """

    text: str
    start: int
    end: int
    token_indices: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; inverse of :meth:`from_dict`."""
        return {
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "token_indices": list(self.token_indices),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Word:
        """Rebuild a word from :meth:`to_dict` output, rejecting missing or unknown keys."""
        if not isinstance(data, Mapping):
            raise ValueError(f"a word must be a dict, got {type(data).__name__}")
        expected = {"text", "start", "end", "token_indices"}
        missing = expected - data.keys()
        unknown = data.keys() - expected
        if missing:
            raise ValueError(f"word dict is missing keys: {sorted(missing)}")
        if unknown:
            raise ValueError(f"word dict has unknown keys: {sorted(unknown)}")
        return cls(
            text=data["text"],
            start=data["start"],
            end=data["end"],
            token_indices=list(data["token_indices"]),
        )


@functools.cache
def _blank_tokenizer() -> Callable[[str], Any]:
    """Load spaCy's blank English tokenizer once per process (import is slow)."""
    import spacy

    return spacy.blank("en").tokenizer


def _check_span(
    index: int, span: tuple[int, int] | Sequence[int], text_length: int
) -> tuple[int, int]:
    """Validate one token's character span and return it as ``(start, end)``."""
    if len(span) != 2:
        raise ValueError(f"token {index}: offset must be a (start, end) pair, got {span!r}")
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= text_length:
        raise ValueError(
            f"token {index}: offset ({start}, {end}) is not a valid span of a text "
            f"of length {text_length}"
        )
    return start, end


def segment_words(
    text: str, token_offsets: Sequence[tuple[int, int] | None]
) -> list[Word]:
    """Split ``text`` into words and assign each model token to one word.

    ``token_offsets`` holds each model token's character span in ``text``;
    ``None`` (or a zero-length span) marks special tokens such as [CLS],
    [SEP] or [PAD], which belong to no word. Words are spaCy's, except that
    the words one model token spans are joined into one: "cannot" is one
    word when the model reads it as one token (spaCy alone splits it into
    "can" + "not", and "not" would show as unread). Each token then lies in
    one word; a token overlapping no word (e.g. pure whitespace) belongs to
    none. Whitespace-only spaCy tokens are not words. Words are returned in
    text order, including words that received no token (e.g. text past a
    truncation point).
    """
    pieces = [(tok.idx, tok.idx + len(tok.text)) for tok in _blank_tokenizer()(text) if not tok.text.isspace()]
    spans: list[tuple[int, tuple[int, int]]] = []
    for index, span in enumerate(token_offsets):
        if span is None:
            continue
        start, end = _check_span(index, span, len(text))
        if start != end:
            spans.append((index, (start, end)))
    # Pieces never overlap, so their end offsets are sorted too.
    ends = [piece_end for _, piece_end in pieces]
    overlapped = {index: _overlapping(pieces, ends, span) for index, span in spans}
    # Each run of pieces joined by tokens becomes one word.
    reach = list(range(len(pieces)))
    for touched in overlapped.values():
        if touched:
            reach[touched[0]] = max(reach[touched[0]], touched[-1])
    words: list[Word] = []
    first_piece_of_word: list[int] = []
    position = 0
    while position < len(pieces):
        last = reach[position]
        cursor = position
        while cursor <= last:
            last = max(last, reach[cursor])
            cursor += 1
        start, end = pieces[position][0], pieces[last][1]
        words.append(Word(text=text[start:end], start=start, end=end))
        first_piece_of_word.append(position)
        position = last + 1
    for index, touched in overlapped.items():
        if touched:
            words[bisect.bisect_right(first_piece_of_word, touched[0]) - 1].token_indices.append(index)
    return words


def _overlapping(pieces: Sequence[tuple[int, int]], ends: Sequence[int], span: tuple[int, int]) -> list[int]:
    """Positions of the pieces that the character span overlaps, in order."""
    start, end = span
    position = bisect.bisect_right(ends, start)
    touched = []
    while position < len(pieces) and pieces[position][0] < end:
        touched.append(position)
        position += 1
    return touched


def aggregate_to_words(token_values: Sequence[float], words: Sequence[Word]) -> list[float]:
    """Sum per-token values into per-word values.

    Information in bits is additive, so a word's value is the sum over its
    tokens. A word with no tokens (e.g. text beyond the model's truncation
    point) gets 0.0, meaning "no information attributed", not "measured as 0".
    """
    values = [float(value) for value in token_values]
    result: list[float] = []
    for word in words:
        for index in word.token_indices:
            if not 0 <= index < len(values):
                raise ValueError(
                    f"word {word.text!r} refers to token {index}, but only "
                    f"{len(values)} token values were given"
                )
        result.append(math.fsum(values[index] for index in word.token_indices))
    return result
