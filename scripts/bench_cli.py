"""Benchmark the command line's start-up: what a user waits for before any work is done.

Wall time (median of ``--repeats`` fresh processes) of ``python -c pass``,
``ib-nlp --help`` and ``ib-nlp models``, and the extra over ``python -c pass`` (goal: under
1 s on an idle machine). Then ``ib-nlp explain`` on the default model, in one fresh process,
split into import (the modules a real explanation needs), load (model, tokenizer, layer
tracing and statistics: building the explainer) and explanation.

    python scripts/bench_cli.py --repeats 5
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TEXT = "I expected a lot from this director, but the film is boring and far too long, although the lead actress is great."
SPLIT = """
import json, time
started = time.perf_counter()
from ib_nlp.cli import main
from ib_nlp.api import make_explainer
imported = time.perf_counter()
explainer = make_explainer("imdb-bert-small")
loaded = time.perf_counter()
explainer.explain({text!r})
done = time.perf_counter()
print(json.dumps({{"import": imported - started, "load": loaded - imported, "explanation": done - loaded}}))
"""


def wall_time(command: list[str], repeats: int) -> float:
    """Median wall time of ``command`` over ``repeats`` fresh processes (one untimed run first)."""
    subprocess.run(command, capture_output=True, check=True)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="fresh processes per command (default: 5)")
    args = parser.parse_args(argv)
    beside_python = Path(sys.executable).with_name("ib-nlp")
    program = str(beside_python) if beside_python.is_file() else shutil.which("ib-nlp") or sys.exit("ib-nlp is not installed: install the package first")
    baseline = wall_time([sys.executable, "-c", "pass"], args.repeats)
    print("| command | seconds | over `python -c pass` |\n|---|---:|---:|")
    print(f"| `python -c pass` | {baseline:.3f} | |")
    for arguments in (["--help"], ["models"]):
        seconds = wall_time([program, *arguments], args.repeats)
        print(f"| `ib-nlp {' '.join(arguments)}` | {seconds:.3f} | {seconds - baseline:+.3f} |")
    splits = []
    for _ in range(args.repeats):
        done = subprocess.run([sys.executable, "-c", SPLIT.format(text=TEXT)], capture_output=True, text=True, check=True)
        splits.append(json.loads(done.stdout.splitlines()[-1]))
    print("\n| `ib-nlp explain` stage | seconds (median) |\n|---|---:|")
    for stage in ("import", "load", "explanation"):
        print(f"| {stage} | {statistics.median(split[stage] for split in splits):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
