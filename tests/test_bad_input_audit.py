"""The audit's bad inputs against both shipped models, through the API and the command line.

Each case runs in an empty folder. It passes when it ends in a clear error of the toolkit
(``IBNLPError``; exit status 2 on the command line) or in a finite result, and leaves no file
behind (the saved huge review leaves exactly its ``out.json``). Any other exception is a
traceback a user would see and fails the case with that traceback.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import sys
import warnings
from collections.abc import Callable
from typing import Any

import pytest

from ib_nlp import IBNLPError, explain_text
from ib_nlp.cli import main as cli_main
from ib_nlp.core.statistics import STATISTICS_FILENAME
from ib_nlp.text.shipped import shipped_model_path

TEXT = "The director was boring, but the acting was great."
MODELS = ("imdb-bert-small", "imdb-lstm")


def saved(explanation: Any) -> Any:
    explanation.save("out.json")
    return explanation


API_CASES: dict[str, Callable[[str], Any]] = {
    "beta='abc'": lambda model: explain_text(model, TEXT, beta="abc"),
    "beta='1' (numeric string)": lambda model: explain_text(model, TEXT, beta="1"),
    "steps=2.5": lambda model: explain_text(model, TEXT, steps=2.5),
    "seed='x'": lambda model: explain_text(model, TEXT, seed="x"),
    "lr=inf": lambda model: explain_text(model, TEXT, lr=math.inf),
    "lr=1e3": lambda model: explain_text(model, TEXT, lr=1e3),
    "beta=1e25": lambda model: explain_text(model, TEXT, beta=1e25),
    "text=None": lambda model: explain_text(model, None),
    "text=bytes": lambda model: explain_text(model, TEXT.encode()),
    "lone surrogate": lambda model: explain_text(model, "a good \ud800 film"),
    "only NUL and control characters": lambda model: explain_text(model, "\x00\x01\x1b\x07"),
    "layer=''": lambda model: explain_text(model, TEXT, layer=""),
    "layer=99": lambda model: explain_text(model, TEXT, layer=99),
    "unknown target": lambda model: explain_text(model, TEXT, target="neutral"),
    "100,000-character review": lambda model: explain_text(model, TEXT * 2000),
    "2,000,000-character review, saved": lambda model: saved(explain_text(model, TEXT * 40_000)),
}

CLI_CASES: dict[str, Callable[[str, str], list[str]]] = {
    "surrogate in TEXT": lambda model, other: ["explain", "a \udcff film", "--model", model, "--json", "out.json"],
    "control characters only": lambda model, other: ["explain", "\x00\x1b", "--model", model, "--html", "out.html"],
    "escape sequences in TEXT": lambda model, other: ["explain", "good \x1b]0;title\x07 film \x1b[31m", "--model", model, "--quiet"],
    "beta=nan": lambda model, other: ["explain", TEXT, "--model", model, "--beta", "nan", "--json", "out.json"],
    "statistics of the other model": lambda model, other: ["explain", TEXT, "--model", model, "--statistics", other, "--json", "out.json"],
}


def other_models_statistics(model: str) -> str:
    other = next(name for name in MODELS if name != model)
    return str(shipped_model_path(other) / STATISTICS_FILENAME)


def quiet_cli(arguments: list[str]) -> int:
    """The command line's exit status, its output swallowed, standard input empty."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        previous, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(b""))
        try:
            return cli_main(arguments)
        finally:
            sys.stdin = previous


def run_cli_case(case: str) -> Callable[[str], int]:
    return lambda model: quiet_cli(CLI_CASES[case](model, other_models_statistics(model)))


CASES: dict[str, Callable[[str], Any]] = {**API_CASES, **{f"command line: {case}": run_cli_case(case) for case in CLI_CASES}}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("model", MODELS)
def test_bad_input_ends_in_a_clear_error_or_a_finite_result_and_leaves_no_file(model, case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            result = CASES[case](model)
        except IBNLPError:
            result = None
    if isinstance(result, int):
        assert result in (0, 2), f"exit status {result}"
    elif result is not None:
        assert result.token_scores and all(math.isfinite(score) for score in result.token_scores)
        assert math.isfinite(result.total_score)
    saved_file = {"out.json"} if result is not None and case.endswith("saved") else set()
    assert set(os.listdir(tmp_path)) == saved_file
