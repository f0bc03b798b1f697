"""Which layer (and beta) gives the most faithful IBA attributions on IMDB reviews?

Runs per-sample IBA at every layer of a model for each beta, on a seeded sample of IMDB
test reviews, scores each setting with the degradation test (LeRF - MoRF area, higher is
better), and prints a layers x betas table with mean ± standard error and the recommended
setting. Writes the sweeps (JSON) and the layer heatmap of the first review (HTML) to --out.

--method sweeps a signed variant instead (e.g. gradient_signed_iba, whose best layer need
not be IBA's) and --metric scores the settings with another metric (e.g. sensitivity_n).

With --timing it also measures the shared-pass sweep against explaining the layers one by
one (each layer its own PerSampleIBA), on the same reviews, and prints the ratio.

    python scripts/layer_sweep.py --model imdb-bert-small --n 30 --betas 0.1 1 10 --out runs/sweep-bert --timing
    python scripts/layer_sweep.py --model imdb-bert-small --n 40 --betas 1 10 --method gradient_signed_iba --metric sensitivity_n --out runs/signed-sweep/bert-sensitivity

This is `ib-nlp sweep` with --data defaulting to the repository's ../shared/data/imdb.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"

if __name__ == "__main__":
    sys.exit(run_script("sweep", Path(__file__).name, DEFAULT_DATA, description=__doc__))
