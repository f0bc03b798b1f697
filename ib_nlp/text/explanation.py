"""The result type shared by every attribution method of the toolkit.

An :class:`Explanation` holds the input, the model's prediction, per-token and
per-word scores and how they were computed. It round-trips through a plain,
JSON-safe dict and through a JSON file so results can be stored and compared.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ib_nlp.core.optimise import kept_reading
from ib_nlp.io import write_text_atomic
from ib_nlp.ui import report
from ib_nlp.text.words import Word

__all__ = ["FORMAT_VERSION", "Explanation"]

FORMAT_VERSION = 2
"""Version of the dict/JSON layout written by :meth:`Explanation.to_dict` (2 added
``text_length``; version 1 files are still read)."""


REPR_TOP_WORDS = 3


def _finite_floats(name: str, values: Any) -> list[float]:
    """Convert ``values`` to plain floats, rejecting NaN and infinities."""
    result = [float(value) for value in values]
    for index, value in enumerate(result):
        if not math.isfinite(value):
            raise ValueError(f"{name}[{index}] is {value}; values must be finite")
    return result


def _json_normalised(name: str, value: dict[str, Any]) -> dict[str, Any]:
    """Return a JSON-normalised copy so that save/load round-trips exactly."""
    if not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict, got {type(value).__name__}")
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{name} must hold only JSON values (str keys, finite numbers, str, bool, "
            f"None, lists, dicts); convert e.g. numpy scalars with float(): {error}"
        ) from error


def _offset(index: int, span: Any, text_length: int) -> tuple[int, int] | None:
    """Validate one token offset and return it as a tuple (or None)."""
    if span is None:
        return None
    if len(span) != 2:
        raise ValueError(f"token_offsets[{index}] must be a (start, end) pair or None, got {span!r}")
    start, end = int(span[0]), int(span[1])
    if not 0 <= start <= end <= text_length:
        raise ValueError(
            f"token_offsets[{index}] = ({start}, {end}) is not a valid span of a text "
            f"of length {text_length}"
        )
    return start, end


@dataclass
class Explanation:
    """One attribution of one model prediction on one text.

    ``token_scores`` are per model token (bits for IBA; other methods use
    their own ``unit``); ``word_scores`` sum them per word, special tokens
    excluded. ``probabilities`` are the softmax of the unperturbed model.
    ``parameters`` and ``metadata`` must hold JSON values; they are stored as
    a JSON-normalised copy (tuples become lists). ``text`` is the text as the
    model read it (cleaned); of a truncated text it keeps at most 20,000
    characters past the last token read, and ``text_length`` is the length
    before that cut.
    """

    text: str
    tokens: list[str]
    token_offsets: list[tuple[int, int] | None]
    special_tokens: list[bool]
    token_scores: list[float]
    words: list[Word]
    word_scores: list[float]
    label_names: list[str]
    probabilities: list[float]
    predicted: int
    target: int
    method: str
    unit: str
    layer: str | int | None
    model_name: str
    parameters: dict[str, Any]
    seconds: float
    truncated: bool
    metadata: dict[str, Any] = field(default_factory=dict)
    text_length: int | None = None

    def __post_init__(self) -> None:
        """Validate consistency and normalise to plain Python types."""
        if not isinstance(self.text, str):
            raise ValueError(f"text must be a str, got {type(self.text).__name__}")
        self.tokens = list(self.tokens)
        for index, token in enumerate(self.tokens):
            if not isinstance(token, str):
                raise ValueError(f"tokens[{index}] must be a str, got {type(token).__name__}")
        n_tokens = len(self.tokens)
        for name in ("token_offsets", "special_tokens", "token_scores"):
            length = len(getattr(self, name))
            if length != n_tokens:
                raise ValueError(f"{name} has {length} entries but there are {n_tokens} tokens")
        self.token_offsets = [
            _offset(index, span, len(self.text)) for index, span in enumerate(self.token_offsets)
        ]
        self.special_tokens = [bool(flag) for flag in self.special_tokens]
        self.token_scores = _finite_floats("token_scores", self.token_scores)

        self.words = list(self.words)
        if len(self.word_scores) != len(self.words):
            raise ValueError(
                f"word_scores has {len(self.word_scores)} entries but there are "
                f"{len(self.words)} words"
            )
        self.word_scores = _finite_floats("word_scores", self.word_scores)
        self._check_words()

        self.label_names = list(self.label_names)
        if len(self.probabilities) != len(self.label_names):
            raise ValueError(
                f"probabilities has {len(self.probabilities)} entries but there are "
                f"{len(self.label_names)} label names"
            )
        self.probabilities = _finite_floats("probabilities", self.probabilities)
        n_labels = len(self.label_names)
        self.predicted = int(self.predicted)
        self.target = int(self.target)
        if not 0 <= self.target < n_labels:
            raise ValueError(f"target {self.target} is not a label index in [0, {n_labels})")
        if not 0 <= self.predicted < n_labels:
            raise ValueError(f"predicted {self.predicted} is not a label index in [0, {n_labels})")

        self.seconds = float(self.seconds)
        if not math.isfinite(self.seconds) or self.seconds < 0:
            raise ValueError(f"seconds must be finite and non-negative, got {self.seconds}")
        self.truncated = bool(self.truncated)
        self.text_length = len(self.text) if self.text_length is None else int(self.text_length)
        if self.text_length < len(self.text):
            raise ValueError(f"text_length {self.text_length} is shorter than the text ({len(self.text)} characters)")
        if self.layer is not None and not isinstance(self.layer, (str, int)):
            raise ValueError(f"layer must be a str, int or None, got {type(self.layer).__name__}")
        self.parameters = _json_normalised("parameters", self.parameters)
        self.metadata = _json_normalised("metadata", self.metadata)

    def _check_words(self) -> None:
        """Check words are in text order, match the text and refer to real tokens."""
        previous_end = 0
        for position, word in enumerate(self.words):
            if not isinstance(word, Word):
                raise ValueError(f"words[{position}] must be a Word, got {type(word).__name__}")
            if not previous_end <= word.start <= word.end <= len(self.text):
                raise ValueError(
                    f"words[{position}] span ({word.start}, {word.end}) is out of the text "
                    f"or overlaps/precedes the previous word"
                )
            if self.text[word.start : word.end] != word.text:
                raise ValueError(
                    f"words[{position}].text {word.text!r} does not match the text at "
                    f"({word.start}, {word.end}): {self.text[word.start : word.end]!r}"
                )
            for index in word.token_indices:
                if not 0 <= index < len(self.tokens):
                    raise ValueError(
                        f"words[{position}] refers to token {index}, but there are "
                        f"{len(self.tokens)} tokens"
                    )
            previous_end = word.end

    @property
    def predicted_label(self) -> str:
        """Name of the label the unperturbed model predicts."""
        return self.label_names[self.predicted]

    @property
    def target_label(self) -> str:
        """Name of the label that was explained."""
        return self.label_names[self.target]

    @property
    def kept_probability(self) -> float | None:
        """For a bottleneck method, the target's probability through the optimised bottleneck
        (mean over noise samples): how much of the prediction the kept information holds. Far
        below ``probabilities[target]``, beta priced the information above the prediction and
        the bits describe a bottleneck that lost it. None for other methods."""
        value = self.metadata.get("kept_probability")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def kept_reading(self) -> str:
        """What the kept probability means for the bits (:func:`ib_nlp.core.optimise.kept_reading`):
        "" when the bottleneck kept the prediction or the method has no bottleneck."""
        kept = self.kept_probability
        return "" if kept is None else kept_reading(kept, self.probabilities[self.target])

    @property
    def total_score(self) -> float:
        """Sum of the word scores (total bits for IBA)."""
        return math.fsum(self.word_scores)

    def top_words(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` highest-scoring words as ``(text, score)``; ties keep text order.

        For a signed method these are the words that support the target most.
        """
        if k < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        order = sorted(range(len(self.words)), key=lambda i: -self.word_scores[i])
        return [(self.words[i].text, self.word_scores[i]) for i in order[:k]]

    def opposing_words(self, k: int) -> list[tuple[str, float]]:
        """The ``k`` most negative words as ``(text, score)``, most negative first; ties keep
        text order.

        For a signed method (signed bits, Integrated Gradients, occlusion, ...) these are the
        words that argue against the target most. Only words scoring below 0 count, so an
        unsigned method (bits) gives an empty list.
        """
        if k < 0:
            raise ValueError(f"k must be non-negative, got {k}")
        order = sorted((i for i in range(len(self.words)) if self.word_scores[i] < 0), key=lambda i: self.word_scores[i])
        return [(self.words[i].text, self.word_scores[i]) for i in order[:k]]

    def words_for_and_against(self, k: int) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
        """The ``k`` words that support the target most and the ``k`` that oppose it most (what
        summaries list). When no word scores below 0 (an unsigned method) the first list is
        :meth:`top_words` and the second is empty; otherwise the first keeps the scores of 0 or more.
        """
        opposing = self.opposing_words(k)
        top = self.top_words(k)
        return ([(word, score) for word, score in top if score >= 0] if opposing else top), opposing

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-safe dict; :meth:`from_dict` is its exact inverse."""
        data: dict[str, Any] = {"format_version": FORMAT_VERSION}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "token_offsets":
                value = [None if span is None else list(span) for span in value]
            elif item.name == "words":
                value = [word.to_dict() for word in value]
            elif isinstance(value, (list, dict)):
                value = copy.deepcopy(value)
            data[item.name] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """Rebuild an explanation from :meth:`to_dict` output.

        Raises ValueError for missing or unknown keys and for an unsupported
        ``format_version``.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"an explanation must be a dict, got {type(data).__name__}")
        version = data.get("format_version")
        expected = {item.name for item in fields(cls)} | {"format_version"}
        if version == 1:
            expected -= {"text_length"}
        missing = expected - data.keys()
        if missing:
            raise ValueError(f"explanation dict is missing keys: {sorted(missing)}")
        unknown = data.keys() - expected
        if unknown:
            raise ValueError(f"explanation dict has unknown keys: {sorted(unknown)}")
        if version not in (1, FORMAT_VERSION):
            raise ValueError(
                f"unsupported explanation format_version {version!r}; this version of "
                f"ib_nlp reads format_version 1 and {FORMAT_VERSION}"
            )
        kwargs = {name: data[name] for name in expected - {"format_version"}}
        kwargs["token_offsets"] = [
            None if span is None else tuple(span) for span in data["token_offsets"]
        ]
        kwargs["words"] = [Word.from_dict(word) for word in data["words"]]
        return cls(**kwargs)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the explanation as UTF-8 JSON, atomically.

        The JSON goes to a temporary file in the same directory, which then
        replaces ``path`` in one step, so a crash never leaves a half-written
        file. Returns the path written.
        """
        payload = json.dumps(self.to_dict(), ensure_ascii=False, allow_nan=False, indent=2)
        return write_text_atomic(path, payload)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Explanation:
        """Read an explanation written by :meth:`save`."""
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        return cls.from_dict(data)

    def to_html(self, path: str | os.PathLike[str] | None = None) -> str:
        """The explanation as a self-contained HTML page (see :mod:`ib_nlp.ui.report`).

        When ``path`` is given the page is also written there, atomically.
        """
        page = report.render_explanation(self)
        if path is not None:
            report.save_html(page, path)
        return page

    def __repr__(self) -> str:
        """One short line: model, method, prediction and the top words (the full data is in the fields)."""
        top = ", ".join(f"{word!r} {score:.3g}" for word, score in self.top_words(REPR_TOP_WORDS))
        target = "" if self.target == self.predicted else f", target {self.target_label!r}"
        return (
            f"<Explanation {self.method} of {self.model_name!r} at layer {self.layer!r}: {self.predicted_label!r} "
            f"(p = {self.probabilities[self.predicted]:.3f}){target}; top {self.unit}: {top}; {len(self.words)} words>"
        )

    def _repr_html_(self) -> str:
        """Notebook view: the text coloured by score, escaped, with inline styles and no script."""
        return report.render_inline(self)
