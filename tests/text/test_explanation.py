"""Tests for the Explanation result type."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from ib_nlp.text.explanation import FORMAT_VERSION, Explanation
from ib_nlp.text.words import aggregate_to_words, segment_words


def _make(text: str = "unbelievably good film", **overrides: Any) -> Explanation:
    """Build a consistent explanation with one token per character run of a word."""
    words_only = segment_words(text, [])
    tokens = ["[CLS]"]
    offsets: list[tuple[int, int] | None] = [None]
    for word in words_only:
        tokens.append(word.text)
        offsets.append((word.start, word.end))
    tokens.append("[SEP]")
    offsets.append(None)
    special = [span is None for span in offsets]
    scores = [0.0 if flag else 0.25 * (i % 4) for i, flag in enumerate(special)]
    words = segment_words(text, offsets)
    fields: dict[str, Any] = dict(
        text=text,
        tokens=tokens,
        token_offsets=offsets,
        special_tokens=special,
        token_scores=scores,
        words=words,
        word_scores=aggregate_to_words(scores, words),
        label_names=["negative", "positive"],
        probabilities=[0.125, 0.875],
        predicted=1,
        target=1,
        method="iba",
        unit="bits",
        layer=6,
        model_name="distilbert-sst2",
        parameters={"beta": 10.0, "steps": 10, "lr": 1.0, "samples": 10, "seed": 0},
        seconds=1.5,
        truncated=False,
    )
    fields.update(overrides)
    return Explanation(**fields)


def test_labels_and_total_score() -> None:
    explanation = _make()
    assert explanation.predicted_label == "positive"
    assert explanation.target_label == "positive"
    assert math.isclose(explanation.total_score, sum(explanation.word_scores))


def test_dict_round_trip_is_exact() -> None:
    explanation = _make(metadata={"note": "ünïcödé", "nested": {"a": [1, 2]}})
    data = explanation.to_dict()
    assert data["format_version"] == FORMAT_VERSION
    assert json.loads(json.dumps(data)) == data
    assert data["token_offsets"][1] == [0, 12]
    assert data["words"][0] == {"text": "unbelievably", "start": 0, "end": 12, "token_indices": [1]}
    assert Explanation.from_dict(data) == explanation


def test_to_dict_does_not_share_state() -> None:
    explanation = _make()
    data = explanation.to_dict()
    data["parameters"]["beta"] = 99.0
    data["tokens"].append("x")
    assert explanation.parameters["beta"] == 10.0
    assert len(explanation.tokens) == 5


def test_save_load_round_trip(tmp_path: Path) -> None:
    explanation = _make(text="ça «marche» — très bien", layer="encoder.layer.3")
    path = tmp_path / "explanation.json"
    assert explanation.save(path) == path
    assert Explanation.load(path) == explanation
    assert "«marche»" in path.read_text(encoding="utf-8")
    assert [p.name for p in tmp_path.iterdir()] == ["explanation.json"]


def test_save_overwrites_atomically_and_cleans_up_on_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "explanation.json"
    first = _make()
    first.save(path)

    def failing_replace(src: str, dst: str) -> None:
        raise OSError("simulated crash")

    monkeypatch.setattr("ib_nlp.text.explanation.os.replace", failing_replace)
    with pytest.raises(OSError, match="simulated crash"):
        _make(truncated=True).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["explanation.json"]
    assert Explanation.load(path) == first


def test_tuples_in_parameters_are_normalised_for_exact_round_trip(tmp_path: Path) -> None:
    explanation = _make(parameters={"shape": (1, 2)})
    assert explanation.parameters == {"shape": [1, 2]}
    explanation.save(tmp_path / "e.json")
    assert Explanation.load(tmp_path / "e.json") == explanation


def test_from_dict_rejects_missing_unknown_and_versions() -> None:
    data = _make().to_dict()
    with pytest.raises(ValueError, match=r"missing keys: \['seconds'\]"):
        Explanation.from_dict({k: v for k, v in data.items() if k != "seconds"})
    with pytest.raises(ValueError, match=r"missing keys: \['format_version'\]"):
        Explanation.from_dict({k: v for k, v in data.items() if k != "format_version"})
    with pytest.raises(ValueError, match="unknown keys"):
        Explanation.from_dict({**data, "colour": "red"})
    with pytest.raises(ValueError, match="unsupported explanation format_version 3"):
        Explanation.from_dict({**data, "format_version": 3})
    version_1 = {key: value for key, value in data.items() if key != "text_length"}
    assert Explanation.from_dict({**version_1, "format_version": 1}).text_length == len(data["text"])
    with pytest.raises(ValueError, match="must be a dict"):
        Explanation.from_dict([1, 2])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"token_offsets": [None, (0, 12), None]}, "token_offsets has 3 entries but there are 5 tokens"),
        ({"special_tokens": [True]}, "special_tokens has 1 entries"),
        ({"token_scores": [0.0] * 4}, "token_scores has 4 entries"),
        ({"word_scores": [1.0]}, "word_scores has 1 entries but there are 3 words"),
        ({"probabilities": [1.0]}, "probabilities has 1 entries but there are 2 label names"),
        ({"target": 2}, r"target 2 is not a label index in \[0, 2\)"),
        ({"target": -1}, "target -1"),
        ({"predicted": 5}, "predicted 5"),
        ({"token_scores": [0.0, math.nan, 0.0, 0.0, 0.0]}, r"token_scores\[1\] is nan"),
        ({"word_scores": [0.0, math.inf, 0.0]}, r"word_scores\[1\] is inf"),
        ({"seconds": -1.0}, "seconds must be finite and non-negative"),
        ({"token_offsets": [None, (0, 99), (13, 17), (18, 22), None]}, r"token_offsets\[1\]"),
        ({"parameters": {"beta": object()}}, "parameters must hold only JSON values"),
        ({"metadata": {"x": math.nan}}, "metadata must hold only JSON values"),
    ],
)
def test_validation_errors(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _make(**overrides)


def test_words_must_match_text() -> None:
    explanation = _make()
    words = [*explanation.words]
    words[0] = type(words[0])("wrong", 0, 5, [1])
    with pytest.raises(ValueError, match=r"words\[0\].text 'wrong' does not match"):
        _make(words=words)
    words[0] = type(words[0])("unbelievably", 0, 12, [9])
    with pytest.raises(ValueError, match="refers to token 9"):
        _make(words=words)


def test_top_words_highest_first_and_stable() -> None:
    explanation = _make(text="a b c d")
    explanation.word_scores = [1.0, 3.0, 1.0, 3.0]
    assert explanation.top_words(3) == [("b", 3.0), ("d", 3.0), ("a", 1.0)]
    assert explanation.top_words(10) == [("b", 3.0), ("d", 3.0), ("a", 1.0), ("c", 1.0)]
    assert explanation.top_words(0) == []
    with pytest.raises(ValueError, match="k must be non-negative"):
        explanation.top_words(-1)


def test_opposing_words_most_negative_first_and_only_below_zero() -> None:
    explanation = _make(text="a b c d e")
    explanation.word_scores = [-1.0, 2.0, -3.0, 0.0, -1.0]
    assert explanation.opposing_words(2) == [("c", -3.0), ("a", -1.0)]
    assert explanation.opposing_words(10) == [("c", -3.0), ("a", -1.0), ("e", -1.0)]
    explanation.word_scores = [1.0, 2.0, 0.0, 0.5, 3.0]
    assert explanation.opposing_words(3) == []
    with pytest.raises(ValueError, match="k must be non-negative"):
        explanation.opposing_words(-1)


def test_words_for_and_against_split_a_signed_ranking_and_keep_an_unsigned_one() -> None:
    explanation = _make(text="a b c d e")
    explanation.word_scores = [-1.0, 2.0, -3.0, 0.0, -2.0]
    assert explanation.words_for_and_against(3) == ([("b", 2.0), ("d", 0.0)], [("c", -3.0), ("e", -2.0), ("a", -1.0)])
    explanation.word_scores = [1.0, 2.0, 0.0, 0.5, 3.0]
    assert explanation.words_for_and_against(2) == (explanation.top_words(2), [])


def test_html_escapes_all_user_strings() -> None:
    text = 'Great <script>alert(1)</script> "><img src=x onerror=alert(1)>  end'
    explanation = _make(
        text=text,
        label_names=["<script>neg", '"><img src=x>'],
        model_name="<script>model</script>",
        method="<img src=m>",
        unit="<script>u",
        layer="<img src=l>",
    )
    explanation.tokens[1] = "<script>tok"
    rendered = explanation._repr_html_()
    assert "<script" not in rendered
    assert "<img" not in rendered
    assert "&lt;script&gt;" in rendered
    assert "&quot;&gt;&lt;img" in rendered
    assert "&lt;script&gt;tok" in rendered
    # Text between words (the double space) is kept.
    assert "</span>  <span" in rendered


def test_html_colours_and_tooltips() -> None:
    explanation = _make(text="zero some")
    explanation.word_scores = [0.0, 2.0]
    rendered = explanation._repr_html_()
    assert 'background-color:rgb(255,255,255);color:black" title="0.0 bits; tokens: zero"' in rendered
    assert 'background-color:rgb(255,0,0);color:black" title="2.0 bits; tokens: some"' in rendered
    assert "p=0.875" in rendered
    assert "http" not in rendered


def test_html_uses_diverging_scale_for_signed_scores() -> None:
    explanation = _make(text="bad good", unit="logit")
    explanation.word_scores = [-1.0, 0.5]
    rendered = explanation._repr_html_()
    assert "background-color:rgb(0,0,255)" in rendered
    assert "background-color:rgb(255,128,128)" in rendered


def test_repr_is_one_short_line_with_the_prediction_and_top_words() -> None:
    long_text = " ".join(f"word{index}" for index in range(3000))
    explanation = _make(long_text)
    line = repr(explanation)
    top = explanation.top_words(3)
    assert "\n" not in line and len(line) < 250
    assert line.startswith("<Explanation iba of 'distilbert-sst2' at layer 6: 'positive' (p = 0.875); top bits: ")
    assert f"{top[0][0]!r} {top[0][1]:.3g}, {top[1][0]!r} {top[1][1]:.3g}, {top[2][0]!r}" in line and line.endswith("; 3000 words>")
    assert "target 'negative'" in repr(_make(target=0)) and "target" not in repr(_make())
