"""Text clean-up shared by training, explanation and evaluation.

A model only sees text after :func:`clean_text`; applying the same function everywhere
keeps token positions (and therefore attributions) consistent with what was trained on.
"""

from __future__ import annotations

import re

_BREAK_TAG = re.compile(r"<br\s*/?>", flags=re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """Replace HTML line breaks (IMDB's ``<br />``) by spaces, collapse whitespace and strip."""
    if not isinstance(text, str):
        raise TypeError(f"clean_text expects a str, got {type(text).__name__}.")
    return _WHITESPACE.sub(" ", _BREAK_TAG.sub(" ", text)).strip()
