"""Self-contained HTML reports of explanations (render only: nothing is computed here).

Every page is one HTML file with inline CSS and no external resources, so it opens offline
and from an e-mail attachment. A Content-Security-Policy in the page forbids scripts and
remote loads, and every string taken from a result (text, tokens, labels, model name,
parameters, titles) is HTML-escaped. The toggles (special tokens, sub-token view) are CSS
checkboxes: they work without JavaScript, and their default state is the readable one.

Colours: zero is white. Unsigned scores (bits) use one sequential scale, white to red;
scores in signed units ("signed bits") and of methods that give negative values use a diverging
scale, blue (opposing the target) to white to red (supporting it), centred at 0. Each legend
lists the values of its scale and the unit.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any

import numpy as np

from ib_nlp.text.methods import display_name
from ib_nlp.io import write_text_atomic

if TYPE_CHECKING:
    from ib_nlp.text.explanation import Explanation

__all__ = [
    "render_comparison",
    "render_dataset",
    "render_explanation",
    "render_inline",
    "render_layer_sweep",
    "save_html",
]

# Single quotes only: these also go into style="..." attributes.
_FONT = "system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,'Noto Sans','Liberation Sans',sans-serif"
_MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,'Liberation Mono',monospace"
_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_TICKS = 5
# Colour scales saturate at this percentile of the non-zero magnitudes (see _Scale).
CLIP_PERCENTILE = 95
MIN_VALUES_TO_CLIP = 10

_CSS = Template(resources.files(__package__).joinpath("report.css").read_text(encoding="utf-8")).substitute(font=_FONT, mono=_MONO)


def _escape(value: object) -> str:
    """HTML-escape any value, quotes included, so it is safe in text and in attributes."""
    return html.escape(str(value), quote=True)


def _number(value: float, decimals: int = 3) -> str:
    """A score for display: fixed decimals, thousands separated when large."""
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{decimals}f}"


def _duration(seconds: float) -> str:
    """Time taken, in the unit that reads best."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def _luminance(rgb: tuple[int, int, int]) -> float:
    """Relative luminance (WCAG) of an sRGB colour."""
    channels = []
    for value in rgb:
        c = value / 255
        channels.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * channels[0] + 0.7152 * channels[1] + 0.0722 * channels[2]


@dataclass(frozen=True)
class _Scale:
    """A colour scale: white at 0, saturated from ``maximum`` on (and from ``-maximum`` if signed).

    ``maximum`` is the clip, the nearest-rank 95th percentile of the non-zero magnitudes
    (at most 5% lie above it; no clip under 10 values): on IMDB reviews one word often holds several times the bits of the next, and a
    scale saturated only at the highest value leaves most words white. ``highest`` is the
    largest magnitude; the legend says when the scale is clipped below it.
    """

    maximum: float
    signed: bool
    unit: str
    highest: float = 0.0

    @classmethod
    def of(cls, values: Iterable[float], unit: str, signed: bool | None = None) -> _Scale:
        """The scale of ``values``: diverging as soon as one value is negative (or as ``signed`` says)."""
        items = np.array([float(value) for value in values], dtype=float)
        magnitudes = np.abs(items[items != 0.0])
        if magnitudes.size == 0:
            return cls(0.0, bool(signed), unit)
        highest = float(magnitudes.max())
        clip = float(np.percentile(magnitudes, CLIP_PERCENTILE, method="inverted_cdf")) if magnitudes.size >= MIN_VALUES_TO_CLIP else highest
        return cls(clip, bool((items < 0).any()) if signed is None else signed, unit, highest)

    @property
    def clipped(self) -> bool:
        """True when some values lie beyond the clip (shown saturated)."""
        return self.highest > self.maximum

    def rgb(self, score: float) -> tuple[int, int, int]:
        """Colour of one score: white to red for positive, white to blue for negative."""
        if self.maximum <= 0.0 or score == 0.0:
            return (255, 255, 255)
        fade = round(255 * (1.0 - min(abs(score) / self.maximum, 1.0)))
        return (fade, fade, 255) if self.signed and score < 0 else (255, fade, fade)

    def style(self, score: float) -> str:
        """Inline background and the text colour (black or white) with the better contrast."""
        rgb = self.rgb(score)
        light = _luminance(rgb)
        text = "black" if (light + 0.05) / 0.05 >= 1.05 / (light + 0.05) else "white"
        return f"background-color:rgb({rgb[0]},{rgb[1]},{rgb[2]});color:{text}"

    def gradient(self) -> str:
        """CSS gradient of the scale from its lowest to its highest value."""
        low = -self.maximum if self.signed else 0.0
        stops = [low + (self.maximum - low) * i / (_TICKS - 1) for i in range(_TICKS)]
        colours = ",".join("rgb({},{},{})".format(*self.rgb(stop)) for stop in stops)
        return f"linear-gradient(to right,{colours})"

    def ticks(self) -> list[str]:
        """Labels of the legend's ticks, evenly spaced (the legend's name gives the unit); the
        ends of a clipped scale read "≥ clip" (and "≤ -clip")."""
        low = -self.maximum if self.signed else 0.0
        magnitude = math.floor(math.log10(self.maximum)) if self.maximum > 0 else 0
        decimals = min(max(0, 2 - magnitude), 4)
        labels = [_number(low + (self.maximum - low) * i / (_TICKS - 1), decimals) for i in range(_TICKS)]
        if self.clipped:
            labels[-1] = f"≥ {labels[-1]}"
            if self.signed:
                labels[0] = f"≤ {labels[0]}"
        return labels

    def describe(self) -> str:
        """One line saying which kind of scale this is, and where it is clipped."""
        if self.maximum <= 0:
            return f"all scores are 0 {self.unit}"
        clip = f" (clipped at the {CLIP_PERCENTILE}th percentile; the largest is {_number(self.highest)} {self.unit})" if self.clipped else ""
        if self.signed:
            return f"diverging scale centred at 0: blue negative, red positive, saturated at ±{_number(self.maximum)} {self.unit}{clip}"
        return f"sequential scale: white is 0, red is {_number(self.maximum)} {self.unit} or more{clip}"


def _legend(scale: _Scale, name: str, view: str = "") -> str:
    """A legend: the gradient bar with the scale's values underneath."""
    ticks = "".join(
        f'<span style="left:{100 * i / (_TICKS - 1):g}%">{_escape(label)}</span>' for i, label in enumerate(scale.ticks())
    )
    kind = "diverging" if scale.signed else "sequential"
    classes = f"lg {kind} {view}".strip()
    note = (
        f'<span class="lg-note">saturated from the {CLIP_PERCENTILE}th percentile; largest {_escape(_number(scale.highest))}</span>'
        if scale.clipped
        else ""
    )
    return (
        f'<div class="{classes}" title="{_escape(scale.describe())}"><span class="lg-name">{_escape(name)}</span>'
        f'<div class="lg-scale"><div class="lg-bar" style="background:{scale.gradient()}"></div>'
        f'<div class="lg-ticks">{ticks}</div></div>{note}</div>'
    )


@dataclass(frozen=True)
class _Scales:
    """The word-view and token-view scales of one explanation (or of a group sharing them)."""

    words: _Scale
    tokens: _Scale

    @classmethod
    def of(cls, explanations: Sequence[Explanation]) -> _Scales:
        """Scales spanning all scores of ``explanations`` (special tokens excluded from the maximum)."""
        word_values = [score for item in explanations for score in item.word_scores]
        token_values = [
            score
            for item in explanations
            for score, special in zip(item.token_scores, item.special_tokens)
            if not special
        ]
        unit = explanations[0].unit
        signed = unit.startswith("signed ") or any(value < 0 for value in word_values + token_values)
        return cls(_Scale.of(word_values, unit, signed), _Scale.of(token_values, unit, signed))

    def legends(self) -> str:
        """Both legends; the token one shows only in the sub-token view."""
        unit = self.words.unit
        return _legend(self.words, f"{unit} per word", "wv") + _legend(self.tokens, f"{unit} per token", "tv")


def _weave(text: str, spans: list[tuple[int, int, str]], inserts: list[tuple[int, str]]) -> str:
    """The escaped text with ``spans`` (start, end, html) replacing their characters and
    ``inserts`` (position, html) placed at their positions; spans are in text order and do
    not overlap. An insert that falls inside a span goes right after it."""
    inserts = sorted(inserts, key=lambda item: item[0])
    parts: list[str] = []
    cursor = 0
    pending = 0
    for start, end, fragment in spans:
        while pending < len(inserts) and inserts[pending][0] <= start:
            position = max(cursor, inserts[pending][0])
            parts.append(_escape(text[cursor:position]))
            parts.append(inserts[pending][1])
            cursor = position
            pending += 1
        parts.append(_escape(text[cursor:start]))
        parts.append(fragment)
        cursor = end
    for position, fragment in inserts[pending:]:
        position = max(cursor, position)
        parts.append(_escape(text[cursor:position]))
        parts.append(fragment)
        cursor = position
    parts.append(_escape(text[cursor:]))
    return "".join(parts)


def _token_positions(explanation: Explanation) -> list[int]:
    """Where each token sits in the text: its start, or for tokens without a span the end
    of the previous token with one (so [CLS] goes first and [SEP] after the last word)."""
    positions: list[int] = []
    last_end = 0
    for span in explanation.token_offsets:
        if span is not None and span[1] > span[0]:
            positions.append(span[0])
            last_end = span[1]
        else:
            positions.append(last_end)
    return positions


def _word_title(explanation: Explanation, index: int) -> str:
    """Tooltip of a word: its exact score and its model tokens."""
    word = explanation.words[index]
    if not word.token_indices:
        reason = " (beyond the truncation point)" if explanation.truncated else ""
        return f"not read by the model{reason}: no tokens, no score"
    pieces = " ".join(explanation.tokens[i] for i in word.token_indices)
    return f"{explanation.word_scores[index]!r} {explanation.unit}; tokens: {pieces}"


def _token_title(explanation: Explanation, index: int) -> str:
    """Tooltip of a model token: its exact score and the token string."""
    kind = "special token" if explanation.special_tokens[index] else f"token {index}"
    return f"{explanation.token_scores[index]!r} {explanation.unit}; {kind}: {explanation.tokens[index]}"


def _special_inserts(explanation: Explanation, scale: _Scale) -> list[tuple[int, str]]:
    """Markers for special tokens (class ``sp``: hidden unless shown by the toggle)."""
    positions = _token_positions(explanation)
    return [
        (
            positions[i],
            (
                f'<span class="sp" style="{scale.style(explanation.token_scores[i])}" '
                f'title="{_escape(_token_title(explanation, i))}">{_escape(explanation.tokens[i])}</span>'
            ),
        )
        for i, special in enumerate(explanation.special_tokens)
        if special
    ]


def _words_html(
    explanation: Explanation, scale: _Scale, style_prefix: str = "", specials: bool = True, unread_style: str = ""
) -> str:
    """The text with each word highlighted by its score (class ``w``); words the model did
    not read (class ``nt``) are not highlighted."""
    spans: list[tuple[int, int, str]] = []
    for index, word in enumerate(explanation.words):
        title = _escape(_word_title(explanation, index))
        if word.token_indices:
            style = scale.style(explanation.word_scores[index])
            fragment = f'<span class="w" style="{style_prefix}{style}" title="{title}">{_escape(word.text)}</span>'
        else:
            style = f' style="{unread_style}"' if unread_style else ""
            fragment = f'<span class="w nt"{style} title="{title}">{_escape(word.text)}</span>'
        spans.append((word.start, word.end, fragment))
    inserts = _special_inserts(explanation, scale) if specials else []
    return _weave(explanation.text, spans, inserts)


def _tokens_html(explanation: Explanation, scale: _Scale, style_prefix: str = "", pill_style: str = "") -> str:
    """The text with each model token highlighted by its own score (class ``t``).

    Tokens with no characters of their own (special tokens, or pieces overlapping an
    earlier token) are shown as small labels with the token string.
    """
    spans: list[tuple[int, int, str]] = []
    inserts: list[tuple[int, str]] = []
    cursor = 0
    positions = _token_positions(explanation)
    for index, span in enumerate(explanation.token_offsets):
        score = explanation.token_scores[index]
        title = _escape(_token_title(explanation, index))
        style = scale.style(score)
        if explanation.special_tokens[index]:
            inserts.append(
                (positions[index], f'<span class="sp" style="{pill_style}{style}" title="{title}">{_escape(explanation.tokens[index])}</span>')
            )
            continue
        start = max(span[0], cursor) if span is not None else cursor
        end = span[1] if span is not None else cursor
        if end <= start:
            inserts.append(
                (cursor, f'<span class="t pill" style="{pill_style}{style}" title="{title}">{_escape(explanation.tokens[index])}</span>')
            )
            continue
        fragment = f'<span class="t" style="{style_prefix}{style}" title="{title}">{_escape(explanation.text[start:end])}</span>'
        spans.append((start, end, fragment))
        cursor = end
    return _weave(explanation.text, spans, inserts)


def _text_views(explanation: Explanation, scales: _Scales) -> str:
    """The word view (shown by default) and the sub-token view (shown by its toggle)."""
    return (
        f'<div class="text wv">{_words_html(explanation, scales.words)}</div>'
        f'<div class="text tv">{_tokens_html(explanation, scales.tokens)}</div>'
    )


def _meta(items: Sequence[tuple[str, str]]) -> str:
    """A grid of labelled values (escaped HTML from the caller); the model name gets two columns."""
    cells = "".join(
        f'<div class="{"wide" if key == "Model" else "fact"}"><span class="k">{_escape(key)}</span>'
        f'<span class="v">{value}</span></div>'
        for key, value in items
    )
    return f'<div class="meta">{cells}</div>'


def _layer_text(layer: str | int | None) -> str:
    """Display name of a layer."""
    return "—" if layer is None else str(layer)


def _method_cell(method: str) -> str:
    """The method's display name, with the registry name it is called by when they differ, escaped."""
    shown = display_name(method)
    return _escape(shown) + (f" <small>({_escape(method)})</small>" if shown != method else "")


def _layer_cell(explanation: Explanation) -> str:
    """The layer and, where recorded, where it sits ("output of block 1 of 4"), escaped."""
    where = explanation.metadata.get("layer_description")
    return _escape(_layer_text(explanation.layer)) + (f" <small>({_escape(where)})</small>" if where else "")


def _beta_items(explanation: Explanation) -> list[tuple[str, str]]:
    """("Beta", its value) for a method that has a beta (the bottleneck methods), else nothing."""
    beta = explanation.parameters.get("beta")
    if beta is None:
        return []
    return [("Beta", _escape(beta if isinstance(beta, str) else json.dumps(beta)))]


def _predicted_text(explanation: Explanation) -> str:
    """Predicted label and its probability, escaped."""
    probability = explanation.probabilities[explanation.predicted]
    return f"{_escape(explanation.predicted_label)} <small>(p = {probability:.3f})</small>"


def _header_items(explanation: Explanation) -> list[tuple[str, str]]:
    """The labelled facts of one explanation, as (label, escaped html)."""
    return [
        ("Model", _escape(explanation.model_name)),
        ("Predicted", _predicted_text(explanation)),
        ("Target", _escape(explanation.target_label)),
        ("Method", _method_cell(explanation.method)),
        ("Layer", _layer_cell(explanation)),
        *_beta_items(explanation),
        *([("Kept", f"p = {kept:.3f} <small>through the bottleneck</small>")] if (kept := explanation.kept_probability) is not None else []),
        ("Time", _escape(_duration(explanation.seconds))),
        ("Total", _escape(f"{_number(explanation.total_score)} {explanation.unit}")),
    ]


def _probabilities(explanation: Explanation) -> str:
    """All classes with their probability as a bar; predicted and target are tagged."""
    rows = []
    for index, (label, probability) in enumerate(zip(explanation.label_names, explanation.probabilities)):
        tags = []
        if index == explanation.predicted:
            tags.append('<span class="tag">predicted</span>')
        if index == explanation.target:
            tags.append('<span class="tag">target</span>')
        width = min(max(probability, 0.0), 1.0) * 100
        row_class = ' class="pred"' if index == explanation.predicted else ""
        rows.append(
            f'<tr{row_class}><th>{_escape(label)}</th><td class="bar"><span style="width:{width:.1f}%"></span></td>'
            f'<td>{probability:.3f}</td><td>{"".join(tags)}</td></tr>'
        )
    return f'<table class="probs" aria-label="class probabilities">{"".join(rows)}</table>'


def _parameters(explanation: Explanation) -> str:
    """All parameters (and metadata) in a collapsed native ``details`` element."""
    rows = []
    for group, values in (("", explanation.parameters), ("metadata: ", explanation.metadata)):
        for key, value in values.items():
            shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            rows.append(f"<tr><th>{_escape(group + key)}</th><td>{_escape(shown)}</td></tr>")
    if not rows:
        return ""
    return f'<details><summary>All parameters</summary><table class="params">{"".join(rows)}</table></details>'


def _truncation_note(explanation: Explanation) -> str:
    """A visible warning when the model read only the start of the text."""
    if not explanation.truncated:
        return ""
    return (
        '<p class="warn"><strong>Truncated:</strong> the text is longer than the model reads; '
        "the greyed words at the end were not read and have no score.</p>"
    )


def _kept_note(explanation: Explanation) -> str:
    """A visible note when the bottleneck kept under KEEPING_SHARE of the model's probability."""
    if not (reading := explanation.kept_reading):
        return ""
    return f'<p class="warn"><strong>Kept p = {explanation.kept_probability:.3f}:</strong> {_escape(reading)}.</p>'


def _explanation_body(explanation: Explanation, scales: _Scales, legends: bool = True) -> str:
    """Header, probabilities, truncation note, legends and text of one explanation."""
    return (
        _meta(_header_items(explanation))
        + _probabilities(explanation)
        + _truncation_note(explanation)
        + _kept_note(explanation)
        + (scales.legends() if legends else "")
        + _text_views(explanation, scales)
        + _parameters(explanation)
    )


def _page(title: str, body: str, toggles: bool = True, hint: str = "Hover a word for its exact score and its model tokens.") -> str:
    """A complete, self-contained HTML document."""
    switches = ""
    inputs = ""
    if toggles:
        inputs = (
            '<input type="checkbox" id="show-special" class="toggle">'
            '<input type="checkbox" id="show-tokens" class="toggle">'
        )
        switches = (
            '<label class="switch" for="show-special">Show special tokens</label>'
            '<label class="switch" for="show-tokens">Sub-token view</label>'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{_POLICY}">'
        '<meta name="referrer" content="no-referrer">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="generator" content="ib-nlp">'
        f"<title>{_escape(title)}</title><style>{_CSS}</style></head>\n<body>{inputs}"
        f'<header class="top"><div class="top-in"><h1>{_escape(title)}</h1>{switches}</div></header>\n'
        f"<main>{body}</main>\n"
        f"<footer>Made with ib-nlp. {_escape(hint)} This file is self-contained and works offline.</footer>\n"
        "</body></html>\n"
    )


def _check_explanations(explanations: Sequence[Explanation], function: str) -> list[Explanation]:
    """A non-empty list of explanations, or a clear error."""
    items = list(explanations)
    if not items:
        raise ValueError(f"{function} needs at least one explanation, got none")
    for index, item in enumerate(items):
        if not all(hasattr(item, name) for name in ("tokens", "token_scores", "words", "to_dict")):
            raise TypeError(
                f"{function}: explanations[{index}] is a {type(item).__name__}, not an Explanation "
                "(use Explanation.from_dict or Explanation.load for stored results)"
            )
    return items


def render_explanation(explanation: Explanation, title: str | None = None) -> str:
    """One explanation as a complete HTML page: header, legend and the highlighted text."""
    (explanation,) = _check_explanations([explanation], "render_explanation")
    scales = _Scales.of([explanation])
    heading = title if title is not None else f"{display_name(explanation.method)}: {explanation.predicted_label}"
    body = f'<section class="card explanation">{_explanation_body(explanation, scales)}</section>'
    return _page(heading, body)


def render_comparison(
    explanations: Sequence[Explanation],
    titles: Sequence[str] | None = None,
    title: str | None = None,
    shared_scale: bool | None = None,
) -> str:
    """The same text explained several ways (methods, layers, models), one row each.

    ``shared_scale``: one colour scale for all rows (the default when all rows have the
    same unit) or one per row (the default otherwise; ``True`` with mixed units is an
    error). The page says which. Facts equal in all rows are shown once at the top.
    """
    items = _check_explanations(explanations, "render_comparison")
    for index, item in enumerate(items[1:], start=1):
        if item.text != items[0].text:
            raise ValueError(
                f"render_comparison compares explanations of one text, but explanations[{index}] "
                "explains a different text than explanations[0]; use render_dataset for many texts"
            )
    if titles is not None:
        titles = [str(name) for name in titles]
        if len(titles) != len(items):
            raise ValueError(f"titles has {len(titles)} entries but there are {len(items)} explanations")
    units = sorted({item.unit for item in items})
    if shared_scale is None:
        shared_scale = len(units) == 1
    elif shared_scale and len(units) > 1:
        raise ValueError(f"a shared colour scale needs one unit, but the explanations use {units}")

    rows_facts = [_header_items(item) for item in items]
    shared_facts = [fact for fact in rows_facts[0] if all(fact in row for row in rows_facts)]
    shared_keys = {key for key, _ in shared_facts}
    if shared_scale:
        scales = _Scales.of(items)
        scale_note = f"One colour scale shared by all {len(items)} rows ({scales.words.describe()})."
        top_legend = scales.legends()
    else:
        scale_note = "Each row has its own colour scale (shown in the row)."
        top_legend = ""
    truncated = next((item for item in items if item.truncated), None)
    header = (
        f'<section class="card">{_meta(shared_facts)}'
        f'<p class="note">{_escape(scale_note)}</p>'
        f"{_truncation_note(truncated) if truncated is not None else ''}{top_legend}</section>"
    )
    rows = []
    for index, item in enumerate(items):
        row_scales = scales if shared_scale else _Scales.of([item])
        name = titles[index] if titles is not None else f"{item.method} · layer {_layer_text(item.layer)}"
        facts = [fact for fact in rows_facts[index] if fact[0] not in shared_keys]
        rows.append(
            f'<section class="card row"><div class="row-head"><h2>{_escape(name)}</h2></div>'
            f"{_meta(facts) if facts else ''}{'' if shared_scale else row_scales.legends()}"
            f"{_text_views(item, row_scales)}{_parameters(item)}</section>"
        )
    heading = title if title is not None else f"Comparison of {len(items)} explanations of one text"
    return _page(heading, header + "".join(rows))


def _top_words_cell(explanation: Explanation, top_k: int) -> str:
    """The top words with their scores, escaped, for the summary table; when some words score
    below 0 (a signed method), the top words for the target and, below them, against it."""
    supporting, opposing = explanation.words_for_and_against(top_k)
    return _word_list(supporting) + (f"<br><small>against:</small> {_word_list(opposing)}" if opposing else "")


def _word_list(words: list[tuple[str, float]]) -> str:
    """Words with their scores, escaped, separated by middle dots."""
    return " · ".join(f"<span>{_escape(word)} <small>{_number(score, 2)}</small></span>" for word, score in words)


def render_dataset(
    explanations: Sequence[Explanation],
    title: str | None = None,
    top_k: int = 3,
    shared_scale: bool = False,
) -> str:
    """Many texts (a dataset run): a summary table linking to each explanation below it.

    Each text has its own colour scale unless ``shared_scale`` (which needs one unit);
    the page says which. Entries are numbered by their position in ``explanations``.
    """
    items = _check_explanations(explanations, "render_dataset")
    if top_k < 0:
        raise ValueError(f"top_k must be non-negative, got {top_k}")
    units = sorted({item.unit for item in items})
    if shared_scale and len(units) > 1:
        raise ValueError(f"a shared colour scale needs one unit, but the explanations use {units}")
    shared = _Scales.of(items) if shared_scale else None
    unit = units[0] if len(units) == 1 else "score"
    rows = []
    entries = []
    for index, item in enumerate(items):
        anchor = f"entry-{index}"
        probability = item.probabilities[item.predicted]
        marker = "" if item.predicted == item.target else ' <span class="tag">≠ predicted</span>'
        rows.append(
            f'<tr><td class="num"><a href="#{anchor}">{index}</a></td><td>{_escape(item.predicted_label)}</td>'
            f'<td class="num">{probability:.3f}</td><td>{_escape(item.target_label)}{marker}</td>'
            f'<td class="words">{_top_words_cell(item, top_k)}</td>'
            f'<td class="num">{_escape(_number(item.total_score))}</td></tr>'
        )
        scales = shared if shared is not None else _Scales.of([item])
        entries.append(
            f'<section class="card entry" id="{anchor}"><div class="row-head"><h2>Text {index}</h2>'
            f'<a class="back" href="#summary">back to the summary</a></div>'
            f"{_explanation_body(item, scales, legends=shared is None)}</section>"
        )
    scale_note = (
        f"One colour scale shared by all texts ({shared.words.describe()})."
        if shared is not None
        else "Each text has its own colour scale (shown with the text)."
    )
    summary = (
        f'<section class="card" id="summary"><h2>Summary of {len(items)} texts</h2>'
        f'<p class="note">{_escape(scale_note)} Click a number to jump to its text.</p>'
        f"{shared.legends() if shared is not None else ''}"
        '<div class="scroll"><table class="summary"><thead><tr><th class="num">#</th><th>Predicted</th>'
        f'<th class="num">Probability</th><th>Target</th><th>Top words</th><th class="num">Total {_escape(unit)}</th>'
        f'</tr></thead><tbody>{"".join(rows)}</tbody></table></div></section>'
    )
    heading = title if title is not None else f"Explanations of {len(items)} texts"
    return _page(heading, summary + "".join(entries))


def render_layer_sweep(
    words: Sequence[str],
    layers: Sequence[str | int],
    scores: Any,
    unit: str = "bits",
    title: str = "Layer sweep",
) -> str:
    """A layers x words heatmap (one row per layer) with the words underneath.

    ``scores`` is any 2-D array-like of finite numbers with one row per layer and one
    column per word; it is shown as given (one colour scale for the whole matrix,
    diverging if any value is negative). Each row also shows its total.
    """
    words = [str(word) for word in words]
    layer_names = [str(layer) for layer in layers]
    try:
        matrix = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"scores must be a 2-D array of numbers: {error}") from error
    if not words or not layer_names:
        raise ValueError(f"a layer sweep needs at least one layer and one word, got {len(layer_names)} layers and {len(words)} words")
    if matrix.shape != (len(layer_names), len(words)):
        raise ValueError(
            f"scores has shape {matrix.shape} but there are {len(layer_names)} layers and {len(words)} words "
            "(rows are layers, columns are words)"
        )
    if not np.isfinite(matrix).all():
        row, column = np.argwhere(~np.isfinite(matrix))[0]
        raise ValueError(f"scores[{row}][{column}] is {matrix[row, column]}; values must be finite")
    values = matrix.tolist()
    scale = _Scale.of((value for row in values for value in row), unit)
    escaped_words = [_escape(word) for word in words]
    escaped_unit = _escape(unit)
    body_rows = []
    for layer, row in zip(layer_names, values):
        layer_html = _escape(layer)
        cells = "".join(
            f'<td class="c" style="background:rgb({r},{g},{b})" title="layer {layer_html} · {word}: {value!r} {escaped_unit}"></td>'
            for word, value, (r, g, b) in zip(escaped_words, row, (scale.rgb(value) for value in row))
        )
        total = math.fsum(row)
        body_rows.append(
            f'<tr><th class="layer" scope="row">{layer_html}</th>{cells}'
            f'<td class="tot" title="total of layer {layer_html}: {total!r} {escaped_unit}">{_escape(_number(total, 2))}</td></tr>'
        )
    labels = "".join(f'<th class="wl" title="{word}"><span>{word}</span></th>' for word in escaped_words)
    table = (
        '<div class="scroll"><table class="sweep"><thead><tr><th class="corner">layer</th>'
        f'<th colspan="{len(words)}"></th><th class="totl">total</th></tr></thead>'
        f'<tbody>{"".join(body_rows)}</tbody>'
        f'<tfoot><tr><th class="corner"></th>{labels}<th class="totl">{escaped_unit}</th></tr></tfoot></table></div>'
    )
    body = (
        f'<section class="card sweep-card"><p class="note">{len(layer_names)} layers × {len(words)} words; '
        f"{_escape(scale.describe())}.</p>"
        f"{_legend(scale, f'{unit} per word')}{table}</section>"
    )
    return _page(title, body, toggles=False, hint="Hover a cell for its exact value.")


def render_evaluation(
    title: str,
    tables: Sequence[tuple[str, Sequence[str], Sequence[Sequence[str]]]],
    figures: Sequence[tuple[str, bytes]] = (),
    settings: Sequence[tuple[str, str]] = (),
) -> str:
    """An evaluation report: the run's settings as labelled values ``(label, text)``, result
    tables ``(caption, header, rows)`` and PNG figures ``(caption, bytes)`` embedded in the page
    (no outside files)."""
    parts = [f'<section class="card"><h2>Settings</h2>{_meta([(key, _escape(value)) for key, value in settings])}</section>'] if settings else []
    for caption, header, rows in tables:
        head = "".join(f"<th>{_escape(cell)}</th>" for cell in header)
        body = "".join("<tr>" + "".join(f"<td>{_escape(cell)}</td>" for cell in row) + "</tr>" for row in rows)
        parts.append(
            f'<section class="card"><h2>{_escape(caption)}</h2><div class="scroll"><table class="summary">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div></section>"
        )
    for caption, png in figures:
        encoded = base64.b64encode(png).decode("ascii")
        parts.append(
            f'<section class="card"><h2>{_escape(caption)}</h2>'
            f'<img alt="{_escape(caption)}" style="max-width:100%" src="data:image/png;base64,{encoded}"></section>'
        )
    return _page(title, "".join(parts), toggles=False, hint="Arrows give the better direction of each value.")


_INLINE_BOX = (
    f"font-family:{_FONT};font-size:14px;line-height:1.55;color:#1f2328;background:#fff;"
    "border:1px solid #d0d7de;border-radius:6px;padding:10px 12px"
)
_INLINE_WARNING = "background:#fff8c5;border:1px solid #d4a72c;border-radius:4px;padding:2px 8px;margin:4px 0"
_INLINE_TEXT = "white-space:pre-wrap;overflow-wrap:anywhere;line-height:2;font-size:15px;color:#000;margin-top:6px"
_INLINE_WORD = "padding:.15em .05em;border-radius:3px;"
_INLINE_TOKEN = _INLINE_WORD + "box-shadow:inset -1px 0 0 rgba(31,35,40,.45);"
_INLINE_PILL = f"font:600 11px/1.4 {_MONO};border:1px dashed #8c959f;border-radius:3px;padding:1px 4px;margin:0 2px;"


def _inline_legend(scale: _Scale, name: str) -> str:
    """A compact legend with inline styles only (for notebooks)."""
    ticks = scale.ticks()
    return (
        '<div style="display:flex;align-items:center;gap:8px;font-size:12px;color:#59636e;margin:4px 0">'
        f"<span>{_escape(name)}</span><span>{_escape(ticks[0])}</span>"
        f'<span style="display:inline-block;width:160px;height:10px;border:1px solid #d0d7de;border-radius:2px;'
        f'background:{scale.gradient()}"></span><span>{_escape(ticks[-1])}</span></div>'
    )


def render_inline(explanation: Explanation) -> str:
    """A compact fragment for notebooks: inline styles only, no script, no ``<style>``.

    The word view is shown; the sub-token view with special tokens sits in a native
    collapsed ``details`` element, which needs no script.
    """
    (explanation,) = _check_explanations([explanation], "render_inline")
    scales = _Scales.of([explanation])
    probability = explanation.probabilities[explanation.predicted]
    probabilities = " · ".join(
        f"{_escape(label)} {value:.3f}" for label, value in zip(explanation.label_names, explanation.probabilities)
    )
    header = (
        f"<b>model</b> {_escape(explanation.model_name)} · "
        f"<b>predicted</b> {_escape(explanation.predicted_label)} (p={probability:.3f}) · "
        f"<b>target</b> {_escape(explanation.target_label)} · "
        f"<b>method</b> {_escape(explanation.method)} · "
        f"<b>layer</b> {_escape(_layer_text(explanation.layer))} · "
        + "".join(f"<b>{label.lower()}</b> {value} · " for label, value in _beta_items(explanation))
        + (f"<b>kept</b> p={kept:.3f} · " if (kept := explanation.kept_probability) is not None else "")
        + f"<b>time</b> {_escape(_duration(explanation.seconds))} · "
        f"<b>unit</b> {_escape(explanation.unit)}"
    )
    notes = [
        *(["Truncated: the greyed words at the end were not read by the model."] if explanation.truncated else []),
        *([f"Kept p = {kept:.3f}: {_escape(reading)}."] if (reading := explanation.kept_reading) else []),
    ]
    warning = "".join(f'<div style="{_INLINE_WARNING}">{note}</div>' for note in notes)
    words = _words_html(explanation, scales.words, _INLINE_WORD, specials=False, unread_style="color:#8c959f")
    tokens = _tokens_html(explanation, scales.tokens, _INLINE_TOKEN, _INLINE_PILL)
    return (
        f'<div class="ib-nlp-explanation" style="{_INLINE_BOX}">'
        f'<div style="margin-bottom:2px">{header}</div>'
        f'<div style="font-size:12px;color:#59636e">probabilities: {probabilities}</div>{warning}'
        f"{_inline_legend(scales.words, f'{explanation.unit} per word')}"
        f'<div style="{_INLINE_TEXT}">{words}</div>'
        '<details style="margin-top:6px;font-size:13px"><summary style="cursor:pointer;color:#59636e">'
        "Sub-tokens and special tokens</summary>"
        f"{_inline_legend(scales.tokens, f'{explanation.unit} per token')}"
        f'<div style="{_INLINE_TEXT}">{tokens}</div></details></div>'
    )


def save_html(html_text: str, path: str | os.PathLike[str]) -> Path:
    """Write an HTML page as UTF-8, atomically: a temporary file in the same folder
    replaces ``path`` in one step, so a crash never leaves a half-written report."""
    if not isinstance(html_text, str):
        raise TypeError(f"save_html expects the page as a str, got {type(html_text).__name__}")
    return write_text_atomic(path, html_text)
