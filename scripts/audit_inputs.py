"""Run the audit's bad-input list against the shipped models and print one row per case.

Each case goes through the API (and the command line where it has one) in a fresh temporary
folder. A case passes when it ends in a clear error of the toolkit (``IBNLPError``, exit 2 on
the command line) or in a finite result; it fails on any other exception (a traceback from deep
inside a library), a NaN, a run over --seconds, or a file left in the folder.

    python scripts/audit_inputs.py                 # both shipped models
    python scripts/audit_inputs.py --models imdb-lstm --seconds 60
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ib_nlp import IBNLPError, explain_text
from ib_nlp.cli import main as cli_main
from ib_nlp.cli import run_reporting_errors

TEXT = "The director was boring, but the acting was great."


def api_cases(model: str) -> dict[str, Callable[[], Any]]:
    """The API calls of the audit: wrong types, unreadable text, extreme options, huge input."""
    call = lambda text=TEXT, **options: explain_text(model, text, **options)  # noqa: E731
    return {
        "beta='abc'": lambda: call(beta="abc"),
        "beta='1' (numeric string)": lambda: call(beta="1"),
        "steps=2.5": lambda: call(steps=2.5),
        "seed='x'": lambda: call(seed="x"),
        "lr=inf": lambda: call(lr=math.inf),
        "lr=1e3": lambda: call(lr=1e3),
        "beta=1e25": lambda: call(beta=1e25),
        "text=None": lambda: explain_text(model, None),
        "text=bytes": lambda: explain_text(model, TEXT.encode()),
        "lone surrogate": lambda: call("a good \ud800 film"),
        "only NUL and control characters": lambda: call("\x00\x01\x1b\x07"),
        "layer=''": lambda: call(layer=""),
        "layer=99": lambda: call(layer=99),
        "unknown target": lambda: call(target="neutral"),
        "100,000-character review": lambda: call(TEXT * 2000),
        "2,000,000-character review (saved)": lambda: _saved(call(TEXT * 40_000)),
    }


def _saved(explanation: Any) -> Any:
    """Save the explanation in the case's folder (its size is what the audit looked at)."""
    explanation.save("out.json")
    return explanation


def cli_cases(model: str) -> dict[str, list[str]]:
    """Command lines of the audit (run in-process, standard input empty)."""
    return {
        "cli: surrogate in TEXT": ["explain", "a \udcff film", "--model", model, "--json", "out.json"],
        "cli: control characters only": ["explain", "\x00\x1b", "--model", model, "--html", "out.html"],
        "cli: escape sequences in TEXT": ["explain", "good \x1b]0;title\x07 film \x1b[31m", "--model", model, "--quiet"],
        "cli: beta=nan": ["explain", TEXT, "--model", model, "--beta", "nan", "--json", "out.json"],
        "cli: statistics of the other model": ["explain", TEXT, "--model", model, "--statistics", "{other_statistics}", "--json", "out.json"],
    }


class Timeout(Exception):
    pass


def run_case(function: Callable[[], Any], seconds: float) -> tuple[str, str]:
    """(verdict, detail) of one case run in the current folder under an alarm."""

    def alarm(signum: int, frame: object) -> None:
        raise Timeout

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = function()
    except Timeout:
        return "FAIL", f"no answer within {seconds:g} s"
    except IBNLPError as error:
        return "ok", f"clear error: {type(error).__name__}: {str(error)[:90]}"
    except Exception as error:  # anything else is a traceback a user would see
        return "FAIL", f"raw {type(error).__name__}: {str(error)[:90]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    if isinstance(result, int):
        return ("ok", f"exit {result}") if result in (0, 2) else ("FAIL", f"exit {result}")
    scores = getattr(result, "token_scores", None) or []
    if not all(math.isfinite(score) for score in scores):
        return "FAIL", "non-finite scores"
    return "ok", f"result: {getattr(result, 'total_score', 0.0):.3f} {getattr(result, 'unit', '')}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["imdb-bert-small", "imdb-lstm"])
    parser.add_argument("--seconds", type=float, default=120.0, help="a case running longer than this fails")
    args = parser.parse_args(argv)
    from ib_nlp.text.shipped import shipped_model_path
    from ib_nlp.core.statistics import STATISTICS_FILENAME

    rows, failures = [], 0
    for model in args.models:
        others = [name for name in ("imdb-bert-small", "imdb-lstm") if name != model]
        other_statistics = str(shipped_model_path(others[0]) / STATISTICS_FILENAME)
        cases: dict[str, Callable[[], Any]] = dict(api_cases(model))
        for name, arguments in cli_cases(model).items():
            arguments = [argument.replace("{other_statistics}", other_statistics) for argument in arguments]
            cases[name] = lambda arguments=arguments: _quiet_cli(arguments)
        for name, function in cases.items():
            with tempfile.TemporaryDirectory() as folder, contextlib.chdir(folder):
                started = time.perf_counter()
                verdict, detail = run_case(function, args.seconds)
                expected = {"out.json"} if "(saved)" in name and verdict == "ok" and "result" in detail else set()
                left = sorted(set(os.listdir(folder)) - expected)
                if left:
                    verdict, detail = "FAIL", f"left files behind: {', '.join(left)}"
            failures += verdict == "FAIL"
            rows.append((model, name, verdict, f"{time.perf_counter() - started:.1f}", detail))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths)) + "  " + row[4].replace("\n", " "))
    print(f"\n{len(rows) - failures} passed, {failures} failed")
    return 1 if failures else 0


def _quiet_cli(arguments: list[str]) -> int:
    """The command line's exit status, its output swallowed (standard input empty)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        previous, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(b""))
        try:
            return cli_main(arguments)
        finally:
            sys.stdin = previous


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
