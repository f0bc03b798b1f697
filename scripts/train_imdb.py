"""Train the IMDB sentiment classifiers that ib_nlp ships (or fine-tune a local encoder).

This is `ib-nlp train` (ib_nlp.text.training) with --data defaulting to the repository's
../shared/data/imdb; the model card records this command.

    python scripts/train_imdb.py --model bert-small --output ib_nlp/assets/imdb-bert-small
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"

if __name__ == "__main__":
    sys.exit(run_script("train", Path(__file__).name, DEFAULT_DATA, description=__doc__))
