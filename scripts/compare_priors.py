"""Compare IBA's faithfulness under different noise priors, review by review.

Each run folder is an evaluation of ``iba`` with the degradation metric on the same reviews
(``scripts/evaluate.py --methods iba --metrics degradation``), one per prior. Prints, for each
run, the mean degradation score (LeRF - MoRF) ± standard error over the reviews all runs
finished, and its paired difference from the first run (mean ± standard error of the
per-review differences).

    python scripts/compare_priors.py imdb=runs/priors/imdb-lstm-imdb general=runs/priors/imdb-lstm-general
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from pathlib import Path

from ib_nlp.cli import run_reporting_errors
from ib_nlp.errors import InvalidInputError
from ib_nlp.evaluation import RESULTS_PATTERN, JsonLines

VALUE = ("degradation", "lerf_minus_morf")


def scores(folder: Path) -> dict[int, float]:
    """IBA's degradation score per review index of one run."""
    records = JsonLines(folder, RESULTS_PATTERN, 0).read()
    if not records:
        raise InvalidInputError(f"{folder} holds no finished reviews")
    metric, value = VALUE
    return {record["index"]: record["methods"]["iba"]["metrics"][metric][value] for record in records}


def mean_and_sem(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f} ± {statistics.stdev(values) / math.sqrt(len(values)):.3f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", metavar="NAME=FOLDER", help="the prior's name and its run folder; the first is the reference")
    args = parser.parse_args(argv)
    runs = {}
    for item in args.runs:
        name, separator, folder = item.partition("=")
        if not separator:
            raise InvalidInputError(f"expected NAME=FOLDER, got {item!r}")
        runs[name] = scores(Path(folder))
    common = sorted(set.intersection(*(set(run) for run in runs.values())))
    if len(common) < 2:
        raise InvalidInputError(f"the runs share {len(common)} finished review(s); at least 2 are needed")
    reference_name, reference = next(iter(runs.items()))
    print(f"{len(common)} reviews finished by every run\n")
    print(f"| prior | degradation score (LeRF - MoRF) | paired difference from {reference_name} |\n|---|---|---|")
    for name, run in runs.items():
        difference = "" if name == reference_name else mean_and_sem([run[index] - reference[index] for index in common])
        print(f"| {name} | {mean_and_sem([run[index] for index in common])} | {difference} |")
    return 0


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main))
