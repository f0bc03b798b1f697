"""Compare IBA's faithfulness under different noise priors, review by review.

Each run folder is an evaluation of ``iba`` with the degradation metric on the same reviews
(``scripts/evaluate.py --methods iba --metrics degradation``), one per prior. Prints, for each
run, the mean degradation score (LeRF - MoRF) ± standard error over the reviews all runs
finished, and its paired difference from the first run. This is `ib-nlp compare` (which also
takes --method, --metric and --value).

    python scripts/compare_priors.py imdb=runs/priors/imdb-lstm-imdb general=runs/priors/imdb-lstm-general
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

if __name__ == "__main__":
    sys.exit(run_script("compare", Path(__file__).name, None, description=__doc__))
