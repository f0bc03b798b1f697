"""Text clean-up shared by training, explanation and evaluation.

A model only sees text after :func:`clean_text`; applying the same function everywhere
keeps token positions (and therefore attributions) consistent with what was trained on.
"""

from __future__ import annotations

import re
import unicodedata

from ib_nlp.errors import InvalidInputError

_BREAK_TAG = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")
# Unicode categories that carry no readable text: controls (NUL, escape codes), format marks,
# separators, and unassigned code points.
_UNREADABLE_CATEGORIES = {"Cc", "Cf", "Cn", "Zs", "Zl", "Zp"}


def clean_text(text: str) -> str:
    """Replace HTML line breaks (IMDB's ``<br />``) by spaces, collapse whitespace and strip."""
    if not isinstance(text, str):
        raise TypeError(f"clean_text expects a str, got {type(text).__name__}.")
    return _WHITESPACE.sub(" ", _BREAK_TAG.sub(" ", text)).strip()


def check_text(text: object, name: str = "the text") -> str:
    """``text`` if a model can read it; else an :class:`InvalidInputError` saying why.

    Refused: non-strings (bytes must be decoded first), unpaired surrogates (not valid Unicode:
    no tokenizer can encode them; they come from decoding bytes with ``surrogateescape``), and
    text with nothing readable after :func:`clean_text` (empty, whitespace, or only control and
    format characters such as NUL).
    """
    if isinstance(text, (bytes, bytearray)):
        raise InvalidInputError(f"{name} is bytes; decode it to a string first, e.g. text.decode('utf-8')")
    if not isinstance(text, str):
        raise InvalidInputError(f"{name} is a {type(text).__name__}, not a string")
    surrogate = _SURROGATE.search(text)
    if surrogate:
        raise InvalidInputError(
            f"{name} holds an unpaired surrogate (U+{ord(surrogate.group()):04X}) at character {surrogate.start()}: it is not "
            "valid Unicode (often bytes decoded with errors='surrogateescape'); decode the bytes as UTF-8 or remove it"
        )
    if all(unicodedata.category(character) in _UNREADABLE_CATEGORIES for character in clean_text(text)):
        raise InvalidInputError(f"{name} is empty or holds only whitespace or control characters: there is nothing to explain")
    return text
