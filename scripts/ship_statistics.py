"""Estimate the feature statistics shipped with a trained model, on its held-out IMDB reviews,
and store its recommended IBA layer and beta in its config.

This is `ib-nlp ship-statistics` with --data defaulting to the repository's ../shared/data/imdb.

    python scripts/ship_statistics.py ib_nlp/assets/imdb-bert-small --layer 0 --beta 10
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"

if __name__ == "__main__":
    sys.exit(run_script("ship-statistics", Path(__file__).name, DEFAULT_DATA, description=__doc__))
