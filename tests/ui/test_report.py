"""Tests of the HTML reports (ib_nlp.ui.report): escaping, self-containment, structure, speed, size."""

from __future__ import annotations

import os
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ib_nlp.ui import report
from ib_nlp.text.explanation import Explanation
from ib_nlp.text.methods.iba import PerSampleIBA
from ib_nlp.testing import BASIC_WORDS, build_wordpiece_tokenizer
from ib_nlp.text.words import aggregate_to_words, segment_words

SCRIPT = "<script>document.title='pwned'</script>"
IMAGE = '"><img src=x onerror=alert(1)>'
REVIEW = f"One of the best films I have seen, unbelievably wonderful acting. But the ending was dull. {SCRIPT} {IMAGE}"
LEXICON = {"best": 2.4, "wonderful": 3.1, "loved": 2.8, "dull": 2.6, "boring": 2.2, "bad": 1.9, "un": 0.9, "##believ": 1.2, "##ably": 0.6}
NEGATIVE = {"dull", "boring", "bad"}
VOCABULARY = [*BASIC_WORDS, "films", "seen", "have", "un", "##believ", "##ably", "script", "document", "title", "pwned", "img", "src", "onerror", "alert"]


def make_explanation(text: str = REVIEW, signed: bool = False, **overrides: Any) -> Explanation:
    """An explanation of ``text`` with WordPiece tokens, [CLS]/[SEP] and made-up but varied scores."""
    tokenizer = build_wordpiece_tokenizer(VOCABULARY, model_max_length=1_000_000)
    encoded = tokenizer(text, return_offsets_mapping=True, return_special_tokens_mask=True)
    tokens = tokenizer.convert_ids_to_tokens(encoded["input_ids"])
    special = [bool(flag) for flag in encoded["special_tokens_mask"]]
    offsets = [None if flag else tuple(span) for span, flag in zip(encoded["offset_mapping"], special)]
    scores = []
    for index, (token, flag) in enumerate(zip(tokens, special)):
        value = 0.8 if flag else LEXICON.get(token, 0.05 * (index % 5))
        scores.append(-value if signed and token in NEGATIVE else value)
    words = segment_words(text, offsets)
    fields: dict[str, Any] = dict(
        text=text,
        tokens=tokens,
        token_offsets=offsets,
        special_tokens=special,
        token_scores=scores,
        words=words,
        word_scores=aggregate_to_words([0.0 if flag else score for score, flag in zip(scores, special)], words),
        label_names=["negative", "positive"],
        probabilities=[0.12, 0.88],
        predicted=1,
        target=1,
        method="saliency" if signed else "iba",
        unit="logit" if signed else "bits",
        layer=None if signed else 4,
        model_name="tiny-bert-sentiment",
        parameters={} if signed else {"beta": 10.0, "steps": 10, "lr": 1.0, "samples": 10, "seed": 0},
        seconds=1.25,
        truncated=False,
    )
    fields.update(overrides)
    return Explanation(**fields)


class Elements(HTMLParser):
    """Every start tag with its attributes, and all text, of an HTML document."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def with_class(self, name: str) -> list[dict[str, str]]:
        """Attributes of the elements having CSS class ``name``."""
        return [attrs for _, attrs in self.tags if name in attrs.get("class", "").split()]


def assert_safe(page: str) -> None:
    """No markup from the data got through: no script or image element, and the markup
    of the data shows as text."""
    lowered = page.lower()
    assert "<script" not in lowered
    assert "<img" not in lowered
    parsed = Elements(page)
    assert not {tag for tag, _ in parsed.tags} & {"script", "img", "iframe", "object", "embed", "link"}
    assert "<script>" in "".join(parsed.text)


def assert_self_contained(page: str) -> None:
    """Nothing is loaded from outside the file."""
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page.lower()
    assert "@import" not in page and "url(" not in page
    for tag, attrs in Elements(page).tags:
        assert "src" not in attrs, (tag, attrs)
        assert attrs.get("href", "#").startswith("#"), (tag, attrs)


def word_view(section: str) -> str:
    """The HTML of the first word view (the highlighted text) in ``section``."""
    return section.split('class="text wv">', 1)[1].split("</div>", 1)[0]


@pytest.fixture(scope="module")
def explanation() -> Explanation:
    return make_explanation()


def test_every_string_is_escaped() -> None:
    evil = make_explanation(
        label_names=[f"neg{SCRIPT}", f"pos{IMAGE}"],
        model_name=f"model{SCRIPT}",
        method=f"iba{IMAGE}",
        unit=f"bits{SCRIPT}",
        layer=f"layer{IMAGE}",
        parameters={f"beta{SCRIPT}": f"{IMAGE}", "beta": SCRIPT},
        metadata={"source": IMAGE},
        truncated=True,
    )
    evil.tokens[3] = f"tok{SCRIPT}"
    evil.tokens[0] = f"[CLS]{IMAGE}"
    pages = [
        report.render_explanation(evil, title=f"title{SCRIPT}"),
        report.render_comparison([evil, evil], titles=[SCRIPT, IMAGE], title=IMAGE),
        report.render_dataset([evil, make_explanation()], title=SCRIPT),
        report.render_layer_sweep([SCRIPT, IMAGE], [SCRIPT, IMAGE], [[1.0, 2.0], [3.0, 4.0]], unit=SCRIPT, title=IMAGE),
        report.render_inline(evil),
        evil._repr_html_(),
    ]
    for page in pages:
        assert_safe(page)
        assert "&quot;&gt;&lt;img" in page
    single = pages[0]
    assert "&lt;script&gt;document.title=&#x27;pwned&#x27;&lt;/script&gt;" in single
    assert "tok&lt;script&gt;" in single and "[CLS]&quot;&gt;&lt;img" in single
    parsed = Elements(single)
    assert SCRIPT in "".join(parsed.text), "the review's markup shows as text"


def test_pages_are_self_contained(explanation: Explanation) -> None:
    pages = [
        report.render_explanation(explanation),
        report.render_comparison([explanation, explanation]),
        report.render_dataset([explanation]),
        report.render_layer_sweep(["a", "b"], [0, 1], np.eye(2)),
    ]
    for page in pages:
        assert_self_contained(page)
        assert page.startswith("<!DOCTYPE html>") and '<meta charset="utf-8">' in page
        assert "Content-Security-Policy" in page and "default-src 'none'" in page
        assert "<style>" in page
    inline = explanation._repr_html_()
    assert_self_contained(inline)
    assert "<style" not in inline and "<script" not in inline


def test_words_are_highlighted_with_tooltips(explanation: Explanation) -> None:
    page = report.render_explanation(explanation)
    parsed = Elements(page)
    words = parsed.with_class("w")
    assert len(words) == len(explanation.words)
    index = next(i for i, word in enumerate(explanation.words) if word.text == "unbelievably")
    title = words[index]["title"]
    assert title == f"{explanation.word_scores[index]!r} bits; tokens: un ##believ ##ably"
    assert words[index]["style"].startswith("background-color:rgb(255,")
    best = next(i for i, score in enumerate(explanation.word_scores) if score == max(explanation.word_scores))
    assert "background-color:rgb(255,0,0)" in words[best]["style"], "the top word has the strongest colour"
    zero = next(i for i, score in enumerate(explanation.word_scores) if score == 0.0)
    assert "background-color:rgb(255,255,255)" in words[zero]["style"], "zero information is white"
    tokens = parsed.with_class("t")
    assert len(tokens) == sum(not flag for flag in explanation.special_tokens)


def test_legend_and_header(explanation: Explanation) -> None:
    page = report.render_explanation(explanation)
    parsed = Elements(page)
    legends = parsed.with_class("lg")
    assert len(legends) == 2, "one legend for words, one for the sub-token view"
    assert all("sequential" in legend["class"] for legend in legends)
    assert "bits per word" in page and "bits per token" in page
    assert ">0.00</span>" in page, "the scale starts at 0"
    clip = _clip(explanation.word_scores)
    assert clip < max(explanation.word_scores), "the review's scores are clipped"
    assert f">≥ {clip:.2f}</span>" in page, "the scale ends at the clip"
    assert f"saturated from the 95th percentile; largest {max(explanation.word_scores):.3f}" in page
    text = " ".join(parsed.text)
    for fact in ("tiny-bert-sentiment", "positive", "negative", "0.880", "0.120", "iba", "10.0", "1.25 s"):
        assert fact in text, fact
    assert "Truncated" not in text
    truncated = report.render_explanation(make_explanation(truncated=True))
    assert 'class="warn"' in truncated and "Truncated" in truncated
    assert "Truncated: the greyed words at the end were not read by the model." in report.render_inline(make_explanation(truncated=True))
    assert "Truncated" not in report.render_inline(make_explanation())
    assert "Beta" in text and "<b>beta</b> 10.0" in report.render_inline(explanation)
    baseline = make_explanation(signed=True)
    assert "Beta" not in " ".join(Elements(report.render_explanation(baseline)).text), "a method without beta shows none"
    assert "<b>beta</b>" not in report.render_inline(baseline)


def test_the_header_shows_what_the_bottleneck_kept_of_the_prediction() -> None:
    page = report.render_explanation(make_explanation(metadata={"kept_probability": 0.4321}))
    kept = " ".join(Elements(page).text)
    assert "Kept" in kept and "p = 0.432" in kept and "through the bottleneck" in kept
    assert '<p class="warn"><strong>Kept p = 0.432:</strong> under 90% of the model&#x27;s 0.880: the bits are what this much of the prediction needs' in page, "0.432 is under 90% of the target's 0.88"
    holding = report.render_explanation(make_explanation(metadata={"kept_probability": 0.8}))
    assert "p = 0.800" in holding and "under 90%" not in holding and 'class="warn"' not in holding
    inline = report.render_inline(make_explanation(metadata={"kept_probability": 0.4321}))
    assert "<b>kept</b> p=0.432 · " in inline and "Kept p = 0.432: under 90% of the model&#x27;s 0.880: the bits are what" in inline
    holding_inline = report.render_inline(make_explanation(metadata={"kept_probability": 0.8}))
    assert "<b>kept</b> p=0.800 · " in holding_inline and "under 90%" not in holding_inline
    assert "<b>kept</b>" not in report.render_inline(make_explanation())
    assert "Kept" not in " ".join(Elements(report.render_explanation(make_explanation())).text), "an explanation without it shows none"
    forged = make_explanation(metadata={"kept_probability": SCRIPT})
    assert forged.kept_probability is None and "Kept" not in " ".join(Elements(report.render_explanation(forged)).text)


def test_special_tokens_hidden_by_default(explanation: Explanation) -> None:
    page = report.render_explanation(explanation)
    parsed = Elements(page)
    specials = parsed.with_class("sp")
    assert len(specials) == 2 * sum(explanation.special_tokens), "in the word and in the sub-token view"
    assert re.search(r"\.sp\{display:none", page)
    assert re.search(r"\.tv\{display:none", page)
    toggles = [attrs for tag, attrs in parsed.tags if tag == "input"]
    assert [attrs["id"] for attrs in toggles] == ["show-special", "show-tokens"]
    assert all("checked" not in attrs for attrs in toggles), "toggles start off"
    assert "#show-special:checked~main .sp{display:inline-block}" in page
    assert "#show-tokens:checked~main .tv{display:block}" in page


def test_signed_scores_use_a_diverging_scale() -> None:
    signed = make_explanation(signed=True)
    assert min(signed.word_scores) < 0
    page = report.render_explanation(signed)
    parsed = Elements(page)
    assert all("diverging" in legend["class"] for legend in parsed.with_class("lg"))
    clip = _clip(signed.word_scores)
    assert f">≤ -{clip:.2f}</span>" in page and f">≥ {clip:.2f}</span>" in page, "symmetric around 0"
    words = parsed.with_class("w")
    dull = next(i for i, word in enumerate(signed.words) if word.text == "dull")
    assert re.match(r"background-color:rgb\((\d+),\1,255\)", words[dull]["style"]), "negative is blue"
    assert "logit per word" in page
    unsigned = report.render_explanation(make_explanation())
    assert "diverging" not in unsigned.split("</style>")[1]


def test_signed_bits_use_a_diverging_scale_even_when_all_scores_support_the_target() -> None:
    supporting = make_explanation(method="contrastive_iba", unit="signed bits")
    assert min(supporting.word_scores) >= 0
    page = report.render_explanation(supporting)
    assert all("diverging" in legend["class"] for legend in Elements(page).with_class("lg"))
    assert "signed bits per word" in page


def _clip(scores: list[float]) -> float:
    """The clip by its definition: the largest magnitude that at least 95% of the non-zero magnitudes do not exceed."""
    magnitudes = sorted(abs(score) for score in scores if score != 0)
    return next(value for value in magnitudes if sum(m <= value for m in magnitudes) >= 0.95 * len(magnitudes) - 1e-9) if len(magnitudes) >= 10 else magnitudes[-1]


def test_one_hot_word_no_longer_whitens_the_rest() -> None:
    text = " ".join(["boring"] + [f"word{index}" for index in range(39)])
    hot = make_explanation(text)
    scores = [0.0, 160.0, *[1.0 + index / 10 for index in range(39)], 0.0]  # [CLS] boring word0..word38 [SEP]
    hot = make_explanation(text, token_scores=scores, word_scores=scores[1:-1])
    page = report.render_explanation(hot)
    styles = [attrs["style"] for attrs in Elements(page).with_class("w")]
    reds = [int(re.search(r"rgb\(255,(\d+),", style).group(1)) for style in styles]
    assert reds[0] == 0, "the hot word is saturated"
    assert sum(red <= 230 for red in reds[1:]) == 39, "every other word is visibly coloured (over 10%)"
    clip = _clip(scores[1:-1])
    assert f">≥ {clip:.2f}</span>" in page and "largest 160.000" in page
    assert reds[1] == round(255 * (1 - 1.0 / clip)), "linear below the clip"
    assert sum(red == 0 for red in reds) <= 0.05 * len(reds) + 1, "at most the top 5% saturate"


def test_long_text_is_fast_and_proportional() -> None:
    sentence = "the movie was good and the acting was great but the ending was too long ."
    text = " ".join([sentence] * 334)
    long = make_explanation(text)
    assert len(long.words) >= 5000
    started = time.perf_counter()
    page = report.render_explanation(long)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"rendering {len(long.words)} words took {elapsed:.2f} s"
    base = len(report.render_explanation(make_explanation("good")).encode())
    per_word = (len(page.encode()) - base) / len(long.words)
    assert per_word < 1500, f"{per_word:.0f} bytes per word"
    assert len(Elements(page).with_class("w")) == len(long.words)


def test_comparison_shared_and_per_row_scales(explanation: Explanation) -> None:
    weaker = make_explanation(layer=2)
    weaker.word_scores = [score / 10 for score in weaker.word_scores]
    shared = report.render_comparison([explanation, weaker], titles=["layer 4", "layer 2"])
    parsed = Elements(shared)
    assert len(parsed.with_class("row")) == 2
    assert len(parsed.with_class("w")) == 2 * len(explanation.words)
    assert "One colour scale shared by all 2 rows" in shared
    assert len(parsed.with_class("lg")) == 2, "one shared pair of legends at the top"
    first, second = (word_view(row) for row in shared.split('class="card row"')[1:])
    assert "background-color:rgb(255,0,0)" in first and "background-color:rgb(255,0,0)" not in second

    per_row = report.render_comparison([explanation, weaker], shared_scale=False)
    assert "Each row has its own colour scale" in per_row
    assert len(Elements(per_row).with_class("lg")) == 4
    assert "background-color:rgb(255,0,0)" in word_view(per_row.split('class="card row"')[2])

    signed = make_explanation(signed=True)
    mixed = report.render_comparison([explanation, signed])
    assert "Each row has its own colour scale" in mixed
    with pytest.raises(ValueError, match="shared colour scale needs one unit"):
        report.render_comparison([explanation, signed], shared_scale=True)
    with pytest.raises(ValueError, match="different text"):
        report.render_comparison([explanation, make_explanation("another text")])
    with pytest.raises(ValueError, match="titles has 1 entries"):
        report.render_comparison([explanation, weaker], titles=["one"])
    with pytest.raises(ValueError, match="at least one explanation"):
        report.render_comparison([])
    with pytest.raises(TypeError, match=r"explanations\[0\] is a dict"):
        report.render_comparison([explanation.to_dict()])  # type: ignore[list-item]


def test_comparison_shows_shared_facts_once(explanation: Explanation) -> None:
    other_layer = make_explanation(layer=1)
    page = report.render_comparison([explanation, other_layer])
    head, rows = page.split('class="card row"', 1)
    assert "tiny-bert-sentiment" in head and "tiny-bert-sentiment" not in rows
    assert ">Layer<" not in head and rows.count(">Layer<") == 2
    assert "iba · layer 4" in rows and "iba · layer 1" in rows


def test_dataset_summary_table() -> None:
    texts = ["I loved this film, wonderful acting.", "A dull and boring story.", REVIEW]
    items = [make_explanation(text) for text in texts]
    items[1] = make_explanation(texts[1], target=0)
    page = report.render_dataset(items, top_k=2)
    parsed = Elements(page)
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("<tr>")[1:]
    assert len(rows) == 3
    links = [attrs["href"] for tag, attrs in parsed.tags if tag == "a" and attrs["href"].startswith("#entry-")]
    assert links == ["#entry-0", "#entry-1", "#entry-2"]
    ids = [attrs["id"] for tag, attrs in parsed.tags if tag == "section" and "id" in attrs]
    assert ids == ["summary", "entry-0", "entry-1", "entry-2"]
    assert "wonderful" in rows[0] and "loved" in rows[0]
    assert "0.880" in rows[0] and f"{items[0].total_score:.3f}" in rows[0]
    assert "negative" in rows[1] and "≠ predicted" in rows[1]
    assert len(parsed.with_class("w")) == sum(len(item.words) for item in items)
    assert "Each text has its own colour scale" in page
    shared = report.render_dataset(items, shared_scale=True)
    assert "One colour scale shared by all texts" in shared
    with pytest.raises(ValueError, match="top_k must be non-negative"):
        report.render_dataset(items, top_k=-1)


def test_dataset_summary_lists_the_words_against_the_target_of_a_signed_method() -> None:
    signed = make_explanation("A dull and boring story, wonderful acting.", signed=True)
    row = report.render_dataset([signed], top_k=2).split("<tbody>")[1].split("</tbody>")[0]
    supporting, opposing = row.split("<small>against:</small>")
    assert [word for word, _ in signed.opposing_words(2)] == ["dull", "boring"]
    assert "boring" in opposing and "dull" in opposing and "wonderful" not in opposing
    assert "wonderful" in supporting and "dull" not in supporting
    unsigned = report.render_dataset([make_explanation("A dull and boring story, wonderful acting.")], top_k=2)
    assert "against:" not in unsigned


def test_layer_sweep_renders_the_given_matrix() -> None:
    words = ["a", "wonderful", "film"]
    layers = ["embeddings", 0, 1]
    scores = [[0.0, 1.0, 0.5], [0.25, 4.0, 0.0], [0.125, 2.0, 1.0]]
    page = report.render_layer_sweep(words, layers, scores, title="Sweep of a review")
    parsed = Elements(page)
    cells = parsed.with_class("c")
    assert len(cells) == 9
    assert cells[4]["title"] == "layer 0 · wonderful: 4.0 bits"
    assert cells[4]["style"] == "background:rgb(255,0,0)"
    assert cells[0]["title"] == "layer embeddings · a: 0.0 bits"
    assert cells[0]["style"] == "background:rgb(255,255,255)"
    assert cells[8]["title"] == "layer 1 · film: 1.0 bits"
    assert [attrs["title"] for attrs in parsed.with_class("wl")] == words
    text = " ".join(parsed.text)
    assert "embeddings" in text and "Sweep of a review" in text and "4.25" in text
    assert len(parsed.with_class("lg")) == 1

    diverging = report.render_layer_sweep(["x", "y"], [3], np.array([[-2.0, 1.0]]), unit="logit")
    cells = Elements(diverging).with_class("c")
    assert cells[0]["style"] == "background:rgb(0,0,255)" and cells[1]["style"] == "background:rgb(255,128,128)"
    assert "diverging" in diverging.split("</style>")[1]

    with pytest.raises(ValueError, match=r"shape \(2, 2\) but there are 3 layers and 3 words"):
        report.render_layer_sweep(words, layers, np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"scores\[0\]\[1\] is nan"):
        report.render_layer_sweep(["a", "b"], [0], [[1.0, float("nan")]])
    with pytest.raises(ValueError, match="at least one layer and one word"):
        report.render_layer_sweep([], [], np.zeros((0, 0)))


def test_save_html_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, explanation: Explanation) -> None:
    target = tmp_path / "report.html"
    page = report.render_explanation(explanation)
    assert report.save_html(page, target) == target
    assert target.read_text(encoding="utf-8") == page

    def broken_replace(source: Any, destination: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        report.save_html("<p>new</p>", target)
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == page, "the old report is untouched"
    assert [path.name for path in tmp_path.iterdir()] == ["report.html"], "no temporary file is left"

    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.save_html(page, tmp_path / "missing" / "report.html")
    with pytest.raises(IsADirectoryError, match="is a directory"):
        report.save_html(page, tmp_path)
    with pytest.raises(TypeError, match="as a str"):
        report.save_html(b"bytes", target)  # type: ignore[arg-type]


def test_explanation_to_html(tmp_path: Path, explanation: Explanation) -> None:
    page = explanation.to_html()
    assert page == report.render_explanation(explanation)
    target = tmp_path / "single.html"
    assert explanation.to_html(target) == page
    assert target.read_text(encoding="utf-8") == page


def test_inline_view_for_notebooks(explanation: Explanation) -> None:
    inline = explanation._repr_html_()
    parsed = Elements(inline)
    assert len(parsed.with_class("w")) == len(explanation.words)
    assert len(parsed.with_class("sp")) == sum(explanation.special_tokens), "special tokens only in the collapsed view"
    assert inline.index("<details") < inline.index('class="sp"')
    assert "p=0.880" in inline and "bits per word" in inline


def test_words_not_read_by_the_model() -> None:
    text = "good film and more words"
    full = make_explanation(text)
    cut = full.tokens.index("film") + 1
    words = segment_words(text, full.token_offsets[:cut] + [None])
    truncated = make_explanation(
        text,
        tokens=full.tokens[:cut] + ["[SEP]"],
        token_offsets=full.token_offsets[:cut] + [None],
        special_tokens=full.special_tokens[:cut] + [True],
        token_scores=full.token_scores[:cut] + [0.5],
        words=words,
        word_scores=aggregate_to_words(full.token_scores[:cut] + [0.0], words),
        truncated=True,
    )
    page = report.render_explanation(truncated)
    unread = Elements(page).with_class("nt")
    assert [attrs["title"] for attrs in unread] == ["not read by the model (beyond the truncation point): no tokens, no score"] * 3
    assert "style" not in unread[0]


def test_real_iba_explanation_renders(tiny_bert: Any, reference_texts: list[str]) -> None:
    real = PerSampleIBA(tiny_bert, 1, reference_corpus=reference_texts, steps=2, samples=2).explain(REVIEW)
    page = report.render_explanation(real)
    assert_safe(page)
    assert_self_contained(page)
    parsed = Elements(page)
    assert len(parsed.with_class("w")) == len(real.words)
    assert len(parsed.with_class("t")) + len(parsed.with_class("pill")) == sum(not flag for flag in real.special_tokens)


def test_evaluation_report_escapes_every_string_and_embeds_figures():
    from ib_nlp.ui.report import render_evaluation

    evil = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
    page = render_evaluation(evil, [(evil, ["method", evil], [[evil, "0.5 ± 0.1"]])], [(evil, b"\x89PNG fake")], settings=[("Model", evil)])
    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("&lt;script&gt;") == 8  # title, heading, caption, header, cell, figure heading and alt, setting
    assert page.count('src="data:image/png;base64,') == 1 and "img-src data:" in page


def test_title_names_the_method_and_the_header_says_where_the_layer_is() -> None:
    page = report.render_explanation(make_explanation(metadata={"layer_description": "output of block 5 of 6"}))
    assert "<title>Information Bottleneck Attribution (IBA): positive</title>" in page
    assert "4 <small>(output of block 5 of 6)</small>" in page
    assert "Information Bottleneck Attribution (IBA) <small>(iba)</small>" in page
    other = report.render_explanation(make_explanation(method="my_method"))
    assert "<title>my_method: positive</title>" in other and "<small>(output" not in other
