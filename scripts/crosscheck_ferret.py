"""Cross-check our ERASER metrics against ferret's on the same explanations.

ferret (``ferret-xai``) needs transformers < 5 and numpy 1.26, so it cannot sit in this
environment: this script exports explanations from ours, runs ferret's comprehensiveness and
sufficiency on them in a separate virtual environment, and compares, text by text, with
``Eraser`` at ferret's default counts (every k = 1..n top tokens).

    python3 -m venv /tmp/ferretenv && /tmp/ferretenv/bin/pip install "ferret-xai==0.4.2" "transformers<5" "numpy==1.26.*" "pyarrow<21" torch
    python scripts/crosscheck_ferret.py --ferret-python /tmp/ferretenv/bin/python --n 20

The ferret side runs this same file with ``--ferret-side`` (it imports nothing from ib_nlp).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "imdb"


def export(model: str, data: Path, n: int, method: str, path: Path) -> list[dict]:
    """Explain n IMDB test reviews with ``method`` and score them with our Eraser at ferret's counts."""
    from ib_nlp.text.methods import load_method
    from ib_nlp.text.classifier import Classifier
    from ib_nlp.text.data import load_imdb
    from ib_nlp.evaluation import sample_items
    from ib_nlp.text.metrics import Eraser
    from ib_nlp.text.cleaning import clean_text

    classifier = Classifier.load(model)
    explainer = load_method(method, classifier)
    records = []
    for item in sample_items(load_imdb("test", data), n, seed=0):
        text = " ".join(clean_text(item["text"]).split()[:60])  # short texts: ferret scores every k
        explanation = explainer.explain(text)
        tokens = sum(not special for special in explanation.special_tokens)
        (ours,) = Eraser(bins=[k / tokens for k in range(1, tokens + 1)]).compute(classifier, [explanation])
        records.append(
            {
                "text": text,
                "tokens": explanation.tokens,
                "scores": explanation.token_scores,
                "target": explanation.target,
                "comprehensiveness": ours["comprehensiveness"],
                "sufficiency": ours["sufficiency"],
            }
        )
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n", encoding="utf-8")
    return records


def ferret_side(folder: str, records_path: Path) -> None:
    """Run ferret's evaluators on the exported explanations (in ferret's environment)."""
    from ferret import Benchmark
    from ferret.explainers.explanation import Explanation
    from transformers import AutoModelForSequenceClassification, PreTrainedTokenizerFast

    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    # transformers 5 names the tokenizer class TokenizersBackend, unknown to transformers 4: build
    # the same fast tokenizer from its tokenizer.json and special tokens.
    settings = json.loads((Path(folder) / "tokenizer_config.json").read_text(encoding="utf-8"))
    special = {key: settings[key] for key in ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token") if settings.get(key)}
    tokenizer = PreTrainedTokenizerFast(tokenizer_file=str(Path(folder) / "tokenizer.json"), model_max_length=settings.get("model_max_length", 512), **special)
    benchmark = Benchmark(model, tokenizer)
    for line in records_path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        import numpy as np

        explanation = Explanation(record["text"], record["tokens"], np.array(record["scores"]), "ours", record["target"])
        values = {evaluation.name: float(evaluation.score) for evaluation in benchmark.evaluate_explanation(explanation, record["target"], show_progress=False).evaluation_scores}
        print(json.dumps({"comprehensiveness": values["aopc_compr"], "sufficiency": values["aopc_suff"]}), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="imdb-bert-small", help="shipped model name or local folder")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--n", type=int, default=20, help="IMDB test reviews (seeded sample, first 60 words of each)")
    parser.add_argument("--method", default="integrated_gradients")
    parser.add_argument("--ferret-python", help="python of a virtual environment with ferret-xai installed")
    parser.add_argument("--ferret-side", nargs=2, metavar=("MODEL_FOLDER", "RECORDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.ferret_side:
        ferret_side(args.ferret_side[0], Path(args.ferret_side[1]))
        return 0
    if not args.ferret_python:
        parser.error("--ferret-python is required (see the docstring for the environment)")
    from ib_nlp.text.shipped import shipped_model_path

    folder = str(shipped_model_path(args.model) or args.model)
    with tempfile.TemporaryDirectory() as scratch:
        records_path = Path(scratch) / "records.jsonl"
        records = export(args.model, args.data, args.n, args.method, records_path)
        done = subprocess.run([args.ferret_python, __file__, "--ferret-side", folder, str(records_path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"ferret's side failed:\n{done.stderr[-3000:]}")
        theirs = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    import numpy as np

    print(f"{len(records)} IMDB test reviews (first 60 words), {args.method} on {args.model}; AOPC over k = 1..n top tokens\n")
    print("| value | ours (mean) | ferret (mean) | mean absolute difference | largest difference | Pearson r |\n|---|---:|---:|---:|---:|---:|")
    for name in ("comprehensiveness", "sufficiency"):
        ours = np.array([record[name] for record in records])
        ferret = np.array([record[name] for record in theirs])
        difference = np.abs(ours - ferret)
        print(f"| {name} | {ours.mean():.4f} | {ferret.mean():.4f} | {difference.mean():.4f} | {difference.max():.4f} | {np.corrcoef(ours, ferret)[0, 1]:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
