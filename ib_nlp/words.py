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
    [SEP] or [PAD], which belong to no word. A token goes to the word its
    span overlaps most (ties go to the earlier word); a token overlapping no
    word (e.g. pure whitespace) belongs to none. Whitespace-only spaCy tokens
    are not words. Words are returned in text order, including words that
    received no token (e.g. text past a truncation point).
    """
    words = [
        Word(text=tok.text, start=tok.idx, end=tok.idx + len(tok.text))
        for tok in _blank_tokenizer()(text)
        if not tok.text.isspace()
    ]
    # Words never overlap, so their end offsets are sorted too.
    ends = [word.end for word in words]
    for index, span in enumerate(token_offsets):
        if span is None:
            continue
        start, end = _check_span(index, span, len(text))
        if start == end:
            continue
        best: Word | None = None
        best_overlap = 0
        position = bisect.bisect_right(ends, start)
        while position < len(words) and words[position].start < end:
            word = words[position]
            overlap = min(end, word.end) - max(start, word.start)
            if overlap > best_overlap:
                best, best_overlap = word, overlap
            position += 1
        if best is not None:
            best.token_indices.append(index)
    return words


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
