"""Faithfulness evaluation of attribution methods on IMDB reviews.

Explains a seeded sample of reviews with each method, scores every explanation with each
metric, and writes to --out:

- results.<process>.jsonl  one line per review as soon as it is done (re-running resumes)
- sanity.<process>.jsonl   the cascading-randomisation check on the first --sanity-n reviews
- summary.md, summary.csv  mean ± standard error per method and value, median seconds per text
- curves.png, sanity.png   mean curves per method
- report.html              the tables and figures in one self-contained page

    python scripts/evaluate.py --model imdb-bert-small --n 100 --out runs/bert
    accelerate launch --multi_gpu --num_processes 2 scripts/evaluate.py --model imdb-lstm --n 100 --out runs/lstm

(--multi_gpu starts one process per GPU; without GPUs it starts CPU processes that talk over gloo.)
A small model leaves a GPU mostly idle; to run several processes on one GPU, start them by hand
with --shard 0/4 ... 3/4 (same --out), then once more without --shard to write the summary.
While a long run is going, `--summary-only --out FOLDER` writes the summary of the reviews
finished so far (the longest finished prefix of the sample) without computing anything. A run
is tied to its reviews' content, not their path: shards on machines that hold the data at other
paths write to the same run.

Options of methods and metrics: --option lime.samples=200 --option sensitivity_n.subsets=50
(values are JSON, else strings).

This is `ib-nlp evaluate` with --data defaulting to the repository's ../shared/data/imdb.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"

if __name__ == "__main__":
    sys.exit(run_script("evaluate", Path(__file__).name, DEFAULT_DATA, description=__doc__))
