"""Benchmark: seconds per IBA explanation at 1 and 2 CPU threads (and more with --threads).

For each model, each thread count runs in a fresh process (``OMP_NUM_THREADS`` and
``torch.set_num_threads`` set before torch does any work): one warm-up explanation, then
the median of ``--repeats`` explanations of the same review. Models: the shipped
``imdb-bert-small`` and ``imdb-lstm`` with their shipped statistics, and a BERT-base-sized
classifier with random weights (12 layers, hidden 768, intermediate 3072, 93M parameters,
the shipped BERT's WordPiece tokenizer; statistics estimated on 16 random texts, not timed). The review is the first IMDB test
review of 180-220 words from ``--imdb`` when it exists, else a random text of 200 words.

    python scripts/bench_threads.py --threads 1 2 --repeats 5
    python scripts/bench_threads.py --busy 1 --models imdb-bert-small imdb-lstm   # a shared machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULT_PREFIX = "THREADS-RESULT "
MODELS = ("imdb-bert-small", "imdb-lstm", "bert-base-random")
# What a busy process runs: another torch job (default threads), or plain Python.
HOGS = {
    "torch": "import torch\nmatrix = torch.randn(384, 384)\nwhile True:\n    matrix = torch.tanh(matrix @ matrix)",
    "python": "while True:\n    pass",
}
DEFAULT_IMDB = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb" / "test.parquet"


def review(imdb: Path) -> str:
    """A review of about 200 words (IMDB test when available, else random words)."""
    if imdb.is_file():
        import pandas as pd

        from ib_nlp.text.cleaning import clean_text

        for text in pd.read_parquet(imdb)["text"]:
            if 180 <= len(text.split()) <= 220:
                return clean_text(text)
    import random

    from ib_nlp.testing import BASIC_WORDS

    return " ".join(random.Random(0).choice(BASIC_WORDS) for _ in range(200))


def build_bert_base(folder: Path) -> None:
    """Save a BERT-base-sized classifier with random weights, its tokenizer and statistics."""
    import random

    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from ib_nlp import Classifier, save_statistics
    from ib_nlp.text.shipped import shipped_model_path
    from ib_nlp.core.statistics import STATISTICS_FILENAME
    from ib_nlp.testing import BASIC_WORDS

    tokenizer = AutoTokenizer.from_pretrained(str(shipped_model_path("imdb-bert-small")))  # IMDB's WordPiece: real token counts
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, num_labels=2)
    model = BertForSequenceClassification(config).eval()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    generator = random.Random(1)
    texts = [" ".join(generator.choice(BASIC_WORDS) for _ in range(100)) for _ in range(16)]
    save_statistics(folder / STATISTICS_FILENAME, Classifier.load(str(folder)).estimate_statistics(texts))


def run_worker(model: str, threads: int, repeats: int, text: str) -> dict[str, float]:
    """Time explanations of ``text`` in this process at ``threads`` threads."""
    import torch

    torch.set_num_threads(threads)
    from ib_nlp import PerSampleIBA

    explainer = PerSampleIBA(model, threads=threads)
    explainer.explain(text)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        explanation = explainer.explain(text)
        times.append(time.perf_counter() - started)
    return {"seconds": statistics.median(times), "tokens": len(explanation.tokens)}


def measure(model: str, threads: int, repeats: int, text: str) -> dict[str, float]:
    """Run one worker in a fresh process and return its result."""
    environment = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    job = json.dumps({"model": model, "threads": threads, "repeats": repeats, "text": text})
    done = subprocess.run([sys.executable, __file__, "--worker", job], capture_output=True, text=True, env=environment, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"worker for {model} at {threads} thread(s) failed:\n{done.stderr[-2000:]}")
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def time_models(models: list[str], thread_counts: list[int], repeats: int, text: str) -> list[tuple[str, dict[int, dict[str, float]]]]:
    """Seconds per explanation of every model at every thread count, printed as they come."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            source = model
            if model == "bert-base-random":
                build_bert_base(Path(folder))
                source = folder
            results = {threads: measure(source, threads, repeats, text) for threads in thread_counts}
            rows.append((model, results))
            print(f"{model}: " + ", ".join(f"{t} thread(s) {r['seconds']:.3f} s" for t, r in results.items()), flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts to compare (default: 1 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed explanations per setting (default: 5)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to time (default: all)")
    parser.add_argument("--imdb", type=Path, default=DEFAULT_IMDB, help="IMDB test parquet for the review")
    parser.add_argument("--busy", type=int, default=0, metavar="K", help="keep K other processes busy while timing: a shared machine")
    parser.add_argument(
        "--busy-kind",
        choices=sorted(HOGS),
        default="torch",
        help="what the busy processes run: torch matrix products with torch's default threads (other torch jobs), or a pure-Python loop",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        job = json.loads(args.worker)
        print(RESULT_PREFIX + json.dumps(run_worker(job["model"], job["threads"], job["repeats"], job["text"])), flush=True)
        return 0
    text = review(args.imdb)
    print(f"load average before: {os.getloadavg()[0]:.2f}; {os.cpu_count()} CPUs; review of {len(text.split())} words; {args.busy} busy process(es) ({args.busy_kind})", flush=True)
    hogs = [subprocess.Popen([sys.executable, "-c", HOGS[args.busy_kind]]) for _ in range(args.busy)]
    try:
        rows = time_models(args.models, args.threads, args.repeats, text)
    finally:
        for hog in hogs:
            hog.kill()
    base = args.threads[0]
    header = "| model | tokens | " + " | ".join(f"{t} thread(s) s" for t in args.threads) + " | " + " | ".join(f"time at {t} / at {base}" for t in args.threads[1:]) + " |"
    print("\n" + header)
    print("|" + "---|" * (2 + 2 * len(args.threads) - 1))
    for model, results in rows:
        seconds = [results[t]["seconds"] for t in args.threads]
        ratios = [f"{results[t]['seconds'] / results[base]['seconds']:.2f}x" for t in args.threads[1:]]
        print(f"| {model} | {int(results[base]['tokens'])} | " + " | ".join(f"{s:.3f}" for s in seconds) + " | " + " | ".join(ratios) + " |")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
