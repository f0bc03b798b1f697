"""Reference corpora: the texts IBA's noise prior is estimated on, from what users have at hand.

``reference_texts(source)`` turns a list of texts (or a pandas Series, a numpy array), a ``datasets.Dataset`` or
``IterableDataset``, a path to a text/CSV/JSON-lines/parquet file, or a dataset id that
``datasets.load_dataset`` can open into a list of at most ``max_texts`` non-empty texts
(2,000 by default: what the shipped models' priors were estimated on). Every way it can fail
is an ``InvalidInputError`` that names the problem. Data loaders (of texts or of tokenised
batches) are not read here; the statistics estimator takes them as they are.
"""

from __future__ import annotations

import functools
import gzip
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ib_nlp.errors import InvalidInputError, first_line

DEFAULT_MAX_TEXTS = 2_000
GENERAL_CORPUS_FILE = Path(__file__).resolve().parent.parent / "assets" / "priors" / "general-english.txt.gz"
GENERAL_PRIOR = "general-English default"
TEXT_FILE_SUFFIXES = (".txt",)
TABLE_BUILDERS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".json": "json"}
FORMATS = ".txt (one text per line), or .parquet, .csv, .jsonl or .json with a text column"


@functools.cache
def general_english_texts() -> list[str]:
    """The general-English reference corpus shipped with the package (source and licence in
    ``assets/priors/README.md``): the prior of a model that has none of its own."""
    with gzip.open(GENERAL_CORPUS_FILE, "rt", encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line.strip()]


def is_corpus_source(value: Any) -> bool:
    """True for what :func:`reference_texts` reads (everything but data loaders)."""
    if isinstance(value, (str, os.PathLike)):
        return True
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return True
    return _is_dataset(value) or _is_array(value)


def reference_texts(source: Any, text_column: str = "text", max_texts: int | None = DEFAULT_MAX_TEXTS) -> list[str]:
    """The first ``max_texts`` non-empty texts of ``source`` (None: all of them)."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        texts, origin = _read_file(Path(source), text_column, max_texts), f"reference corpus {str(source)!r}"
    elif isinstance(source, str):
        texts, origin = _read_dataset(_load_dataset_id(source), text_column, max_texts, f"dataset {source!r}"), f"dataset {source!r}"
    elif _is_dataset(source):
        texts, origin = _read_dataset(source, text_column, max_texts, "the reference dataset"), "the reference dataset"
    elif isinstance(source, Sequence) and not isinstance(source, (bytes, bytearray)) or _is_array(source):
        texts, origin = _non_empty(source.tolist() if _is_array(source) else source, "the reference corpus", max_texts), "the reference corpus"
    else:
        raise InvalidInputError(
            f"cannot read a reference corpus from a {type(source).__name__}; pass a list of texts, a datasets.Dataset, "
            f"a file ({FORMATS}) or a dataset id"
        )
    if not texts:
        raise InvalidInputError(f"{origin} holds no texts (or only empty ones)")
    return texts


def _looks_like_path(value: str) -> bool:
    """An existing file or folder, or a string written as a path (a dataset id is 'name' or 'owner/name')."""
    return Path(value).exists() or value.startswith((".", "/", "~")) or Path(value).suffix.lower() in (*TEXT_FILE_SUFFIXES, *TABLE_BUILDERS)


def _is_dataset(value: Any) -> bool:
    """A ``datasets.Dataset`` or ``IterableDataset`` (checked without importing ``datasets``)."""
    return type(value).__module__.startswith("datasets.") and hasattr(value, "column_names")


def _is_array(value: Any) -> bool:
    """A pandas Series or numpy array (of texts), read through ``tolist``."""
    return type(value).__module__.split(".")[0] in ("pandas", "numpy") and hasattr(value, "tolist")


def _non_empty(values: Iterable[Any], origin: str, max_texts: int | None) -> list[str]:
    """The non-empty strings of ``values``, in order, at most ``max_texts``; anything else is refused."""
    texts: list[str] = []
    for row, value in enumerate(values):
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInputError(f"row {row} of {origin} is a {type(value).__name__}, not a string")
        if value.strip():
            texts.append(value)
            if max_texts is not None and len(texts) >= max_texts:
                break
    return texts


def _read_file(file: Path, text_column: str, max_texts: int | None) -> list[str]:
    """Texts of a reference corpus file."""
    path = str(file.expanduser())
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"reference corpus {path!r} {'is a directory, not a file' if file.is_dir() else 'does not exist'}")
    suffix = file.suffix.lower()
    if suffix in TEXT_FILE_SUFFIXES:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"reference corpus {path!r} is not UTF-8 text: {error}") from error
        except OSError as error:
            raise InvalidInputError(f"cannot read reference corpus {path!r}: {error.strerror or error}") from error
        return _non_empty(lines, f"reference corpus {path!r}", max_texts)
    if suffix not in TABLE_BUILDERS:
        raise InvalidInputError(f"cannot read a reference corpus from a {suffix or 'suffix-less'} file {path!r}; use {FORMATS}")
    import datasets

    with _quiet_datasets(), tempfile.TemporaryDirectory(prefix="ib-nlp-datasets-") as cache:
        # A private cache: the texts are copied out, and nothing is left behind for a file that may change.
        try:
            table = datasets.load_dataset(TABLE_BUILDERS[suffix], data_files=path, split="train", cache_dir=cache)
        except Exception as error:  # datasets raises many types for malformed files
            raise InvalidInputError(f"could not read reference corpus {path!r}: {first_line(error)}") from error
        return _read_dataset(table, text_column, max_texts, f"reference corpus {path!r}")


def _load_dataset_id(name: str) -> Any:
    """The train split of a dataset id (``name`` or ``name:split``), streamed so nothing large is downloaded."""
    import datasets

    dataset_id, _, split = name.partition(":")
    try:
        with _quiet_datasets():
            return datasets.load_dataset(dataset_id, split=split or "train", streaming=True)
    except Exception as error:  # offline, unknown ids and missing splits all raise their own types
        raise InvalidInputError(
            f"could not open dataset {name!r}: {first_line(error)}. Offline, pass a list of texts or a file ({FORMATS})"
        ) from error


def _read_dataset(dataset: Any, text_column: str, max_texts: int | None, origin: str) -> list[str]:
    """The ``text_column`` of a dataset, read in batches only as far as needed (streamed ones too)."""
    columns = list(dataset.column_names or [])
    if columns and text_column not in columns:
        raise InvalidInputError(f"{origin} has no column {text_column!r}; its columns: {', '.join(columns)} (choose one with text_column=)")

    def values() -> Iterator[Any]:
        for batch in dataset.iter(batch_size=256):
            if text_column not in batch:
                raise InvalidInputError(f"{origin} has no column {text_column!r}; its columns: {', '.join(batch)} (choose one with text_column=)")
            yield from batch[text_column]

    return _non_empty(values(), origin, max_texts)


class _quiet_datasets:
    """Hide the ``datasets`` progress bars for the duration (the caller shows its own)."""

    def __enter__(self) -> None:
        import datasets

        self.were_disabled = datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()

    def __exit__(self, *exc: object) -> None:
        import datasets

        if not self.were_disabled:
            datasets.enable_progress_bars()
