"""Loading the IMDB movie review dataset from a local copy or the Hugging Face hub."""

from __future__ import annotations

import os
from pathlib import Path

import datasets

from ib_nlp.errors import DataError, InvalidInputError

IMDB_ENV_VAR = "IB_NLP_IMDB"
HUB_ID = "stanfordnlp/imdb"
SPLITS = ("train", "test")
_LABELS = {"neg": 0, "pos": 1}


def load_imdb(split: str = "test", source: str | os.PathLike[str] | None = None) -> datasets.Dataset:
    """Return one IMDB split as a ``Dataset`` with columns ``text`` and ``label`` (0 neg, 1 pos).

    ``source`` may be an ``aclImdb`` folder (``{split}/pos/*.txt``, ``{split}/neg/*.txt``),
    a folder holding ``{split}.parquet`` or ``{split}.csv``, or one parquet/CSV file. When
    it is None, the ``IB_NLP_IMDB`` environment variable is used, and failing that the hub
    dataset ``stanfordnlp/imdb``. Texts are returned unchanged (markup included).
    """
    if split not in SPLITS:
        raise InvalidInputError(f"split must be one of {SPLITS}, got {split!r}.")
    if source is None:
        source = os.environ.get(IMDB_ENV_VAR) or None
    if source is None:
        return _load_from_hub(split)
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"IMDB source {str(path)!r} does not exist.")
    if path.is_file():
        return _load_table(path)
    if (path / split / "pos").is_dir() and (path / split / "neg").is_dir():
        return _load_aclimdb(path / split)
    if (path / "aclImdb" / split / "pos").is_dir():
        return _load_aclimdb(path / "aclImdb" / split)
    for suffix in (".parquet", ".csv"):
        candidate = path / f"{split}{suffix}"
        if candidate.is_file():
            return _load_table(candidate)
    raise FileNotFoundError(
        f"No IMDB {split!r} split found in {str(path)!r}: expected an aclImdb layout "
        f"({split}/pos/*.txt and {split}/neg/*.txt) or a file {split}.parquet / {split}.csv."
    )


def _load_from_hub(split: str) -> datasets.Dataset:
    """Load the split from the hub, explaining the local alternatives if that fails."""
    try:
        dataset = datasets.load_dataset(HUB_ID, split=split)
    except Exception as error:
        raise DataError(
            f"Could not load {HUB_ID!r} from the Hugging Face hub ({type(error).__name__}: {error}). "
            f"Pass source=<folder> (command line: --data; or set {IMDB_ENV_VAR}) pointing to either an extracted aclImdb "
            f"folder ({split}/pos/*.txt, {split}/neg/*.txt) or parquet/CSV data: a file, or a folder "
            f"with {split}.parquet or {split}.csv, that has 'text' and 'label' columns."
        ) from error
    return dataset.select_columns(["text", "label"])


def _load_aclimdb(split_dir: Path) -> datasets.Dataset:
    """Read the original one-review-per-file layout: negatives first, each sorted by file name."""
    texts: list[str] = []
    labels: list[int] = []
    for name, label in _LABELS.items():
        files = sorted((split_dir / name).glob("*.txt"), key=_review_sort_key)
        texts.extend(f.read_text(encoding="utf-8") for f in files)
        labels.extend([label] * len(files))
    if not texts:
        raise FileNotFoundError(f"No review files (*.txt) under {str(split_dir)!r}/pos or /neg.")
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["neg", "pos"])}
    )
    return datasets.Dataset.from_dict({"text": texts, "label": labels}, features=features)


def _review_sort_key(path: Path) -> tuple[int, int | str]:
    """Sort ``{id}_{rating}.txt`` files by numeric id, other names alphabetically after them."""
    head = path.stem.split("_")[0]
    return (0, int(head)) if head.isdigit() else (1, path.stem)


def _load_table(path: Path) -> datasets.Dataset:
    """Read a parquet or CSV file that has ``text`` and ``label`` columns."""
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InvalidInputError(f"Unsupported IMDB file type {suffix!r} for {str(path)!r}: use .parquet or .csv.")
    builder = "parquet" if suffix == ".parquet" else "csv"
    dataset = datasets.load_dataset(builder, data_files=str(path), split="train")
    missing = {"text", "label"} - set(dataset.column_names)
    if missing:
        raise InvalidInputError(f"{str(path)!r} lacks the column(s) {sorted(missing)}; it needs 'text' and 'label'.")
    return dataset.select_columns(["text", "label"])


def held_out_reviews(model_folder: str | os.PathLike[str], source: str | os.PathLike[str] | None = None, count: int | None = None) -> list[str] | None:
    """The IMDB train reviews a model never saw: those listed under ``holdout_indices`` in its
    folder's ``training.json`` (the first ``count``), or None when it lists none."""
    import json

    facts_file = Path(model_folder) / "training.json"
    indices = json.loads(facts_file.read_text(encoding="utf-8")).get("holdout_indices") if facts_file.is_file() else None
    if not indices:
        return None
    return list(load_imdb("train", source).select(indices[:count])["text"])
