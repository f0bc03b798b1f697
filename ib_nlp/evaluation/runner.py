"""What every dataset evaluation shares, text or images: one JSON line per item appended as
soon as it is done (so a re-run resumes), shards split by hand (``INDEX/COUNT``), the longest
finished prefix of a run in progress, ``NAME.KEY=VALUE`` options, and the tables written."""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ib_nlp.errors import InvalidInputError
from ib_nlp.io import write_text_atomic

RESULTS_PATTERN = "results.*.jsonl"
SETTINGS_FILE = "settings.json"


def parse_shard(value: str) -> tuple[int, int]:
    """``INDEX/COUNT`` (``0 <= INDEX < COUNT``) into a pair."""
    index, _, count = value.partition("/")
    try:
        shard = int(index), int(count)
    except ValueError:
        raise InvalidInputError(f"expected INDEX/COUNT such as 0/4, got {value!r}") from None
    if not 0 <= shard[0] < shard[1]:
        raise InvalidInputError(f"expected 0 <= INDEX < COUNT, got {value!r}")
    return shard


def parse_options(pairs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``NAME.KEY=VALUE`` pairs (the scripts' ``--option``) into {name: {key: value}}; values are
    JSON when they parse (numbers, true/false, lists), else strings."""
    options: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        target, equals, raw = pair.partition("=")
        name, dot, key = target.partition(".")
        if not (name and dot and key and equals):
            raise InvalidInputError(f"an option needs NAME.KEY=VALUE, got {pair!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        options.setdefault(name, {})[key] = value
    return options


def option_setting(name: str, key: str, value: Any) -> str:
    """``NAME.KEY=VALUE`` as ``--option`` takes it: ``parse_options`` reads it back as ``value``."""
    return f"{name}.{key}={value if isinstance(value, str) else json.dumps(value)}"


def option_argument(name: str, key: str, value: Any) -> str:
    """The ``--option NAME.KEY=VALUE`` that ``parse_options`` reads back as ``value``."""
    return f"--option {option_setting(name, key, value)}"


class JsonLines:
    """Append-only JSON lines, one file per process, read back across all processes' files."""

    def __init__(self, folder: Path, pattern: str, rank: int | str):
        self.folder = folder
        self.pattern = pattern
        self.path = folder / pattern.replace("*", str(rank))

    def append(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, allow_nan=False) + "\n"
        if self.path.is_file() and self.path.stat().st_size:
            with open(self.path, "rb") as handle:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    line = "\n" + line  # end a line cut short by an interrupted write
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def drop_torn_lines(self) -> int:
        """Move the lines of this process's file that are not complete records (cut short by an
        interrupted write) to ``<file>.torn`` and rewrite the file without them; returns how many."""
        if not self.path.is_file():
            return 0
        kept, torn = [], []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                torn.append(line)
            else:
                kept.append(line)
        if torn:
            with open(self.path.with_name(self.path.name + ".torn"), "a", encoding="utf-8") as handle:
                handle.write("".join(f"{line}\n" for line in torn))
            write_text_atomic(self.path, "".join(f"{line}\n" for line in kept))
            warnings.warn(f"{self.path.name}: moved {len(torn)} incomplete line(s) from an interrupted write to {self.path.name}.torn; those texts are redone", stacklevel=2)
        return len(torn)

    def read(self) -> list[dict[str, Any]]:
        """All complete records, first occurrence of each index, sorted by index."""
        records: dict[Any, dict[str, Any]] = {}
        for path in sorted(self.folder.glob(self.pattern)):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    warnings.warn(f"{path.name} line {number} is incomplete (interrupted write); that text will be redone", stacklevel=2)
                    continue
                records.setdefault(record["index"], record)
        return [records[key] for key in sorted(records)]


def finite(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(item) for item in value]
    return value


def share_cpu_threads(device: str | Any, processes: int) -> None:
    """Give each of ``processes`` processes on one CPU its share of the cores (torch's threads),
    unless ``OMP_NUM_THREADS`` says otherwise: processes that each use every core slow each
    other down several times over (``scripts/bench_threads.py --busy``)."""
    import torch

    if processes > 1 and torch.device(device).type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // processes))


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str]) -> None:
    """All summary rows (method, metric, value, direction, mean, sem, n) as CSV, written atomically."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["method", "metric", "value", "direction", "mean", "sem", "n"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def finished_prefix(order: Sequence[Any], records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of the longest prefix of ``order`` (record indices, in sample order) whose
    records are all present."""
    done = {record["index"] for record in records}
    finished = next((k for k, index in enumerate(order) if index not in done), len(order))
    keep = set(order[:finished])
    return [record for record in records if record["index"] in keep]


def refuse_other_settings(folder: Path, stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> None:
    """Refuse to resume the run in ``folder`` with other settings than it was started with
    (``stored`` and ``wanted`` hold the settings that must not change), naming those that differ."""
    if stored != wanted:
        changed = sorted(key for key in {*stored, *wanted} if stored.get(key) != wanted.get(key))
        raise InvalidInputError(
            f"{folder} holds a run with other settings ({', '.join(changed)} differ); "
            "resume with the same settings, or choose another output folder"
        )
