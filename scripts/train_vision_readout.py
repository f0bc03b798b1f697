"""Train the image readout bottleneck for EfficientNet-Lite0 on images of the ImageNet sample.

    python scripts/train_vision_readout.py --skip 500 --n 500 --epochs 2 --out runs/readout-lite0.safetensors

The readout attaches at IBA's layer (default ``_blocks.5``) and reads it and the later block
outputs given by --readout-layers. Training images are the --n images after the first --skip
of the sample, so that the first --skip images stay unseen for evaluating the readout; their
ids are saved with the readout, and scripts/evaluate_vision.py never scores a readout on an image
it was trained on (give it two readouts trained on complementary halves to cover the sample).
The file is saved after every epoch; the same command continues it.

    python scripts/train_vision_readout.py --skip 0 --n 500 --epochs 4 --out runs/readout-lite0-first500.safetensors

This is `ib-nlp train-image-readout` with --data defaulting to the repository's ../shared/data/imagenet-val-1000.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ib_nlp.commands import run_script

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imagenet-val-1000"

if __name__ == "__main__":
    sys.exit(run_script("train-image-readout", Path(__file__).name, DEFAULT_DATA, description=__doc__))
