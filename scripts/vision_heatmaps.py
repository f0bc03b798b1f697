"""Heatmaps of every image method on a few images of the ImageNet sample, side by side (PNG).

    python scripts/vision_heatmaps.py --n 4 --out docs/images/heatmaps-lite0.png

EfficientNet-Lite0, centre crop 224, the predicted class; IBA at the preset layer with its
prior from the first --reference-n images of the sample; Grad-CAM at the last block.

This is `ib-nlp image-heatmaps` with --data defaulting to the repository's ../shared/data/imagenet-val-1000.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"

if __name__ == "__main__":
    sys.exit(run_script("image-heatmaps", Path(__file__).name, DEFAULT_DATA, description=__doc__))
