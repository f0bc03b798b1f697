"""Tests for IMDB loading and text clean-up, on tiny datasets written to tmp_path."""

from __future__ import annotations

from pathlib import Path

import datasets
import pandas as pd
import pytest

from ib_nlp.errors import DataError
from ib_nlp.text import data
from ib_nlp.text.data import load_imdb
from ib_nlp.text.cleaning import clean_text

REVIEWS = {
    ("train", "pos"): {"10_9.txt": "Loved it.<br /><br />Great cast.", "2_8.txt": "Fine film."},
    ("train", "neg"): {"3_1.txt": "Dull.", "1_2.txt": "Awful plot."},
    ("test", "pos"): {"0_10.txt": "A delight."},
    ("test", "neg"): {"0_1.txt": "A mess."},
}


def write_aclimdb(root: Path) -> Path:
    """Write a tiny folder in the original aclImdb layout and return it."""
    for (split, polarity), files in REVIEWS.items():
        folder = root / split / polarity
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
    return root


def test_clean_text_removes_breaks_and_collapses_whitespace() -> None:
    assert clean_text("Good.<br /><br />Really  good.<br>End<BR/>  ") == "Good. Really good. End"
    assert clean_text("  tabs\tand\nnewlines ") == "tabs and newlines"
    assert clean_text("") == ""


def test_clean_text_is_idempotent() -> None:
    text = "One<br />two <br/>  three"
    assert clean_text(clean_text(text)) == clean_text(text)


def test_clean_text_rejects_non_strings() -> None:
    with pytest.raises(TypeError, match="str"):
        clean_text(None)  # type: ignore[arg-type]


def test_load_aclimdb_layout(tmp_path: Path) -> None:
    root = write_aclimdb(tmp_path / "aclImdb")
    train = load_imdb("train", root)
    assert isinstance(train, datasets.Dataset)
    assert train.column_names == ["text", "label"]
    # negatives first, each sorted by numeric file id
    assert train["text"] == ["Awful plot.", "Dull.", "Fine film.", "Loved it.<br /><br />Great cast."]
    assert train["label"] == [0, 0, 1, 1]
    assert load_imdb("test", root)["label"] == [0, 1]


def test_load_aclimdb_from_parent_folder(tmp_path: Path) -> None:
    write_aclimdb(tmp_path / "aclImdb")
    assert load_imdb("test", tmp_path)["text"] == ["A mess.", "A delight."]


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_load_table_folder_and_file(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"text": ["bad", "good", "meh"], "label": [0, 1, 0], "rating": [1, 9, 3]})
    path = tmp_path / f"test.{suffix}"
    if suffix == "parquet":
        frame.to_parquet(path)
    else:
        frame.to_csv(path, index=False)
    from_folder = load_imdb("test", tmp_path)
    assert from_folder.column_names == ["text", "label"]
    assert from_folder["text"] == ["bad", "good", "meh"]
    assert from_folder["label"] == [0, 1, 0]
    assert load_imdb("test", path)["label"] == [0, 1, 0]


def test_environment_variable_is_the_default_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_aclimdb(tmp_path)
    monkeypatch.setenv(data.IMDB_ENV_VAR, str(tmp_path))
    assert load_imdb("train")["label"] == [0, 0, 1, 1]


def test_hub_failure_names_the_local_options(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.delenv(data.IMDB_ENV_VAR, raising=False)
    monkeypatch.setattr(data.datasets, "load_dataset", offline)
    with pytest.raises(DataError) as info:
        load_imdb("test")
    message = str(info.value)
    assert "stanfordnlp/imdb" in message
    assert "aclImdb" in message
    assert "parquet" in message and "CSV" in message
    assert data.IMDB_ENV_VAR in message


def test_missing_split_is_reported(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="test.parquet"):
        load_imdb("test", tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_imdb("test", tmp_path / "nowhere")


def test_bad_split_and_missing_columns(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_imdb("validation", tmp_path)
    pd.DataFrame({"review": ["x"], "label": [1]}).to_csv(tmp_path / "train.csv", index=False)
    with pytest.raises(ValueError, match="text"):
        load_imdb("train", tmp_path)


def test_held_out_reviews_are_the_ones_training_json_lists(tmp_path: Path) -> None:
    source = write_aclimdb(tmp_path / "aclImdb")
    train = load_imdb("train", source)
    model = tmp_path / "model"
    model.mkdir()
    assert data.held_out_reviews(model, source) is None, "no training.json: nothing is known to be held out"
    (model / "training.json").write_text('{"holdout_indices": [3, 0, 2]}', encoding="utf-8")
    assert data.held_out_reviews(model, source) == [train[3]["text"], train[0]["text"], train[2]["text"]]
    assert data.held_out_reviews(model, source, count=2) == [train[3]["text"], train[0]["text"]]


def test_the_evaluate_command_reports_unreachable_data_in_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from ib_nlp.cli import main

    def offline(*_args: object, **_kwargs: object) -> None:
        raise ConnectionError("no network")

    monkeypatch.delenv(data.IMDB_ENV_VAR, raising=False)
    monkeypatch.setattr(data.datasets, "load_dataset", offline)
    assert main(["evaluate", "--n", "1", "--methods", "random", "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("ib-nlp: error: Could not load 'stanfordnlp/imdb'") and "--data" in error[0]
    assert not (tmp_path / "run").exists()
