"""Faithfulness and localisation of image attribution methods on the ImageNet sample.

Explains each image (centre crop 224) with every method for the class the model predicts and
scores the map with the tile degradation test (8x8 and 14x14 tiles), the bounding-box ratio,
the effective heat ratio (images whose boxes cover less than a third of the crop) and
insertion/deletion. One JSON line per image as soon as it is done (re-running resumes;
``--shard INDEX/COUNT`` splits the images over independent processes); at the end a table in
the layout of the IBA paper's Table 1 (Markdown and CSV).

    python scripts/evaluate_vision.py --n 1000 --out runs/vision-lite0
    python scripts/evaluate_vision.py --n 50 --methods iba grad_cam random --out runs/vision-quick

The prior of IBA is estimated over --reference-n images of the sample (the first ones; each
image is a small part of it; ``--reference-data`` takes them from another folder, e.g. when a
part of the sample is evaluated on another machine). A readout is never scored on an image it was trained on (its file
lists them): ``--option 'readout.readout=["a.safetensors", "b.safetensors"]'`` gives each image the first readout
that has not seen it, so two readouts trained on complementary halves cover the whole sample.
While a run is going, ``--summary-only --out FOLDER`` writes the table of the images finished
so far (the longest finished prefix of the sample) without computing anything.

This is `ib-nlp evaluate-images` with --data defaulting to the repository's ../shared/data/imagenet-val-1000.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"

if __name__ == "__main__":
    sys.exit(run_script("evaluate-images", Path(__file__).name, DEFAULT_DATA, description=__doc__))
