"""Train a readout bottleneck for a classifier on IMDB training reviews.

    python scripts/train_readout.py --model imdb-bert-small --n 5000 --epochs 2 --out runs/readout-bert-small.safetensors
    python scripts/train_readout.py --model imdb-lstm --n 5000 --epochs 2 --out ib_nlp/assets/imdb-lstm/readout.safetensors

The readout attaches at the model's recommended IBA layer with its recommended beta (override
with --layer and --beta) and reads that layer and every later block. The file is written after
every epoch; running the same command again continues from it until --epochs are done (the
optimiser's state is not saved: a continued run starts Adam afresh).

This is `ib-nlp train-readout` with --data defaulting to the repository's ../shared/data/imdb.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"

if __name__ == "__main__":
    sys.exit(run_script("train-readout", Path(__file__).name, DEFAULT_DATA, description=__doc__))
