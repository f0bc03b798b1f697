"""Reference corpora from what users have (ib_nlp.text.corpus), and the errors when they cannot be read."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest

from ib_nlp import InvalidInputError
from ib_nlp.text.corpus import DEFAULT_MAX_TEXTS, general_english_texts, reference_texts

TEXTS = ["a fine film", "a dull plot", "the acting is great", "too long"]


def test_a_list_keeps_non_empty_texts_in_order_up_to_the_cap() -> None:
    assert reference_texts(["", *TEXTS, "  ", None]) == TEXTS
    assert reference_texts(TEXTS, max_texts=2) == TEXTS[:2]
    assert len(reference_texts([f"text {index}" for index in range(DEFAULT_MAX_TEXTS + 5)])) == DEFAULT_MAX_TEXTS
    with pytest.raises(InvalidInputError, match="row 1 of the reference corpus is a int, not a string"):
        reference_texts(["fine", 3])


def test_pandas_and_numpy_columns() -> None:
    import numpy as np
    import pandas as pd

    assert reference_texts(pd.DataFrame({"review": TEXTS})["review"]) == TEXTS
    assert reference_texts(np.array(TEXTS)) == TEXTS


def test_datasets_by_column_streamed_or_not() -> None:
    table = datasets.Dataset.from_dict({"review": TEXTS, "label": [1, 0, 1, 0]})
    assert reference_texts(table, text_column="review") == TEXTS
    assert reference_texts(table.to_iterable_dataset(), text_column="review", max_texts=3) == TEXTS[:3]
    with pytest.raises(InvalidInputError, match=r"has no column 'text'; its columns: review, label \(choose one with text_column=\)"):
        reference_texts(table)


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".jsonl", ".json", ".parquet"])
def test_files_of_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"corpus{suffix}"
    if suffix == ".txt":
        path.write_text("\n".join(["", *TEXTS, ""]), encoding="utf-8")
        column = "text"
    else:
        column = "body"
        table = datasets.Dataset.from_dict({column: TEXTS, "label": [1, 0, 1, 0]})
        {".csv": table.to_csv, ".jsonl": table.to_json, ".json": table.to_json, ".parquet": table.to_parquet}[suffix](str(path))
    assert reference_texts(path, text_column=column) == TEXTS
    assert reference_texts(str(path), text_column=column, max_texts=1) == TEXTS[:1]


def test_dataset_ids_are_opened_with_datasets(monkeypatch: pytest.MonkeyPatch) -> None:
    opened = []

    def load_dataset(name, split, streaming):
        opened.append((name, split, streaming))
        return datasets.Dataset.from_dict({"text": TEXTS}).to_iterable_dataset()

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    assert reference_texts("someone/reviews") == TEXTS
    assert reference_texts("someone/reviews:validation", max_texts=2) == TEXTS[:2]
    assert opened == [("someone/reviews", "train", True), ("someone/reviews", "validation", True)]


def test_an_unreachable_dataset_id_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach 'someone/reviews' on the Hub (LocalEntryNotFoundError)\nmore detail")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    with pytest.raises(InvalidInputError, match=r"could not open dataset 'someone/reviews': Couldn't reach .*\)\. Offline, pass a list of texts or a file") as error:
        reference_texts("someone/reviews")
    assert "\n" not in str(error.value)


def test_every_way_a_corpus_can_fail_names_the_problem(tmp_path: Path) -> None:
    blank = tmp_path / "blank.txt"
    blank.write_text("\n   \n", encoding="utf-8")
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "fine"}\n{not json\n', encoding="utf-8")
    cases = [
        ([], "the reference corpus holds no texts"),
        (["", "  "], "the reference corpus holds no texts"),
        (blank, "blank.txt' holds no texts"),
        (binary, "binary.txt' is not UTF-8 text"),
        (broken, "could not read reference corpus .*broken.jsonl"),
        (tmp_path / "missing.csv", "missing.csv' does not exist"),
        (tmp_path, "is a directory, not a file"),
        (tmp_path / "corpus.xlsx", "cannot read a reference corpus from a .xlsx file"),
        (3.5, "cannot read a reference corpus from a float"),
    ]
    (tmp_path / "corpus.xlsx").write_bytes(b"x")
    for source, message in cases:
        with pytest.raises(InvalidInputError, match=message):
            reference_texts(source)
    table = tmp_path / "table.jsonl"
    table.write_text(json.dumps({"text": "fine"}) + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="has no column 'review'; its columns: text"):
        reference_texts(table, text_column="review")


def test_the_general_english_corpus_ships_with_the_package() -> None:
    texts = general_english_texts()
    assert len(texts) >= 1000 and all(text.strip() for text in texts)
    assert sum(len(text.split()) for text in texts) / len(texts) > 50
