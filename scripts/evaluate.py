"""Faithfulness evaluation of attribution methods on IMDB reviews.

Explains a seeded sample of reviews with each method, scores every explanation with each
metric, and writes to --out:

- results.<process>.jsonl  one line per review as soon as it is done (re-running resumes)
- sanity.<process>.jsonl   the cascading-randomisation check on the first --sanity-n reviews
- summary.md, summary.csv  mean ± standard error per method and value, median seconds per text
- curves.png, sanity.png   mean curves per method
- report.html              the tables and figures in one self-contained page

    python scripts/evaluate.py --model imdb-bert-small --n 100 --out runs/bert
    accelerate launch --multi_gpu --num_processes 2 scripts/evaluate.py --model imdb-lstm --n 100 --out runs/lstm

(--multi_gpu starts one process per GPU; without GPUs it starts CPU processes that talk over gloo.)
A small model leaves a GPU mostly idle; to run several processes on one GPU, start them by hand
with --shard 0/4 ... 3/4 (same --out), then once more without --shard to write the summary.
While a long run is going, `--summary-only --out FOLDER` writes the summary of the reviews
finished so far (the longest finished prefix of the sample) without computing anything.

Options of methods and metrics: --option lime.samples=200 --option sensitivity_n.subsets=50
(values are JSON, else strings).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from ib_nlp.cli import argument_type, run_reporting_errors
from ib_nlp.attr import method_names
from ib_nlp.corpus import reference_texts as corpus_texts
from ib_nlp.data import load_imdb
from ib_nlp.errors import InvalidInputError
from ib_nlp.iba import is_bottleneck_method
from ib_nlp.evaluation import (
    RESULTS_PATTERN,
    SANITY_PATTERN,
    EvaluationSettings,
    JsonLines,
    finished_records,
    load_settings,
    markdown_table,
    mean_curves,
    parse_options,
    parse_shard,
    run_evaluation,
    sample_items,
    summarize,
    summarize_sanity,
    summary_table,
    write_csv,
)
from ib_nlp.io import write_text_atomic
from ib_nlp.metrics import DEFAULT_METRICS, METRICS

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"
MAIN_VALUES = [
    ("degradation", "morf_area"),
    ("degradation", "lerf_area"),
    ("degradation", "lerf_minus_morf"),
    ("sensitivity_n", "mean_correlation"),
    ("insertion_deletion", "deletion_auc"),
    ("insertion_deletion", "insertion_auc"),
    ("eraser", "comprehensiveness"),
    ("eraser", "sufficiency"),
    ("eraser", "normalized_comprehensiveness"),
    ("eraser", "normalized_sufficiency"),
    ("time", "median_seconds_per_text"),
]


def reference_texts(model: str, data: Path, count: int, seed: int) -> list[str]:
    """Reviews for re-estimating IBA's prior in the sanity check: the model's held-out training
    reviews when it lists them, else a seeded sample of the training split."""
    from ib_nlp.shipped import shipped_model_path

    train = load_imdb("train", data)
    directory = shipped_model_path(model) or Path(model)
    facts = directory / "training.json"
    if facts.is_file() and json.loads(facts.read_text()).get("holdout_indices"):
        indices = json.loads(facts.read_text())["holdout_indices"][:count]
        return list(train.select(indices)["text"])
    return [item["text"] for item in sample_items(train, min(count, len(train)), seed)]


def write_outputs(folder: Path, settings: EvaluationSettings, records: list[dict[str, Any]], sanity: list[dict[str, Any]]) -> str:
    """Summary tables (Markdown, CSV), figures and the HTML report; returns the Markdown."""
    from ib_nlp.plots import curves_png
    from ib_nlp.report import render_evaluation, save_html

    rows = summarize(records, settings.metrics)
    sanity_rows = summarize_sanity(sanity)
    values = [(metric, value) for metric, value in MAIN_VALUES if metric == "time" or metric in settings.metrics]
    header, body = summary_table(rows, values)
    title = f"{settings.model}: {len(records) or len(sanity)} IMDB {settings.split} reviews (seed {settings.seed})"
    markdown = f"## {title}\n\n"
    tables = []
    if records:
        markdown += "mean ± standard error over reviews; ↑ higher is better, ↓ lower is better\n\n" + markdown_table(header, body)
        tables.append(("Faithfulness (mean ± standard error)", header, body))
    if sanity_rows:
        steps = [row["value"].split("@", 1)[1] for row in sanity_rows if row["method"] == sanity_rows[0]["method"]]
        sanity_header, sanity_body = summary_table(sanity_rows, [("sanity_check", f"spearman@{step}") for step in steps])
        sanity_header = ["method"] + ["original" if step == "original" else f"up to {step}" for step in steps]
        markdown += f"\n### Sanity check ({len(sanity)} reviews): Spearman correlation with the original attribution\n\n" + markdown_table(sanity_header, sanity_body)
        tables.append(("Sanity check: Spearman correlation with the original attribution (closer to 0 is better)", sanity_header, sanity_body))
    write_text_atomic(folder / "summary.md", markdown)
    write_csv(rows + sanity_rows, folder / "summary.csv")
    panels = []
    if "degradation" in settings.metrics:
        panels += [("MoRF (lower is better)", "fraction of tokens removed", "target probability", mean_curves(records, "degradation", "morf")),
                   ("LeRF (higher is better)", "fraction of tokens removed", "target probability", mean_curves(records, "degradation", "lerf"))]
    if "insertion_deletion" in settings.metrics:
        panels += [("Deletion (lower is better)", "fraction of tokens replaced", "target probability", mean_curves(records, "insertion_deletion", "deletion")),
                   ("Insertion (higher is better)", "fraction of tokens restored", "target probability", mean_curves(records, "insertion_deletion", "insertion"))]
    if "sensitivity_n" in settings.metrics:
        panels.append(("Sensitivity-N (higher is better)", "fraction of words removed", "Pearson correlation", mean_curves(records, "sensitivity_n", "correlations")))
    figures = []
    if panels and records:
        png = curves_png(panels)
        (folder / "curves.png").write_bytes(png)
        figures.append(("Mean curves per method", png))
    if sanity_rows:
        methods = list(dict.fromkeys(row["method"] for row in sanity_rows))
        curves = {m: (steps, [row["mean"] for row in sanity_rows if row["method"] == m]) for m in methods}
        png = curves_png([("Cascading randomisation, top layer first", "randomised up to", "Spearman correlation with the original", curves)])
        (folder / "sanity.png").write_bytes(png)
        figures.append(("Sanity check", png))
    notes = [f"Settings: {json.dumps(settings.__dict__)}"]
    save_html(render_evaluation(title, tables, figures, notes), folder / "report.html")
    return markdown


def summarize_finished(folder: Path) -> None:
    """Write the outputs for the longest finished prefix of the run in ``folder``."""
    try:
        settings = load_settings(folder)
        items = sample_items(load_imdb(settings.split, settings.data), settings.n, settings.seed)
        records, sanity = finished_records(settings, items, folder)
    except InvalidInputError as error:
        raise SystemExit(str(error)) from None
    if not records and not sanity:
        raise SystemExit(f"no review of the run in {folder} is finished yet (the first review of the sample is not done)")
    markdown = write_outputs(folder, dataclasses.replace(settings, n=len(records), sanity_n=len(sanity)), records, sanity)
    sys.stdout.write(markdown)
    done = [f"{len(records)} of {settings.n} reviews"] if settings.metrics else []
    done += [f"the sanity check on {len(sanity)} of {settings.sanity_n}"] if settings.sanity_n else []
    print(f"\nwrote {folder}/summary.md, summary.csv, report.html: finished so far {' and '.join(done)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="imdb-bert-small", help="shipped model name, local path or hub id")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IMDB folder or file (see ib_nlp.data.load_imdb)")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--n", type=int, default=100, help="number of reviews (a seeded sample; a larger n extends a run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=method_names(), help=f"from: {', '.join(method_names())}")
    parser.add_argument(
        "--metrics", nargs="*", default=list(DEFAULT_METRICS), choices=list(METRICS), help=f"default: {' '.join(DEFAULT_METRICS)}; none: only the sanity check"
    )
    parser.add_argument("--option", action="append", default=[], metavar="NAME.KEY=VALUE", help="option of a method or metric")
    parser.add_argument("--sanity-n", type=int, default=0, help="run the cascading-randomisation check on the first N reviews")
    parser.add_argument("--reference-n", type=int, default=500, help="reviews for re-estimating IBA's prior in the sanity check")
    prior = parser.add_mutually_exclusive_group()
    prior.add_argument("--reference", metavar="FILE_OR_DATASET", help="texts for the prior of IBA and its signed variants, for a model without statistics: a file or a dataset id (the first 2,000 texts)")
    prior.add_argument("--statistics", metavar="FILE", help="statistics file of IBA and its signed variants (written by ib-nlp estimate)")
    parser.add_argument("--text-column", default="text", help="column of the texts in a --reference table or dataset (default: text)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; an existing run is resumed)")
    parser.add_argument("--shard", type=argument_type(parse_shard), metavar="INDEX/COUNT", help="this process's share of the texts, for processes started by hand (e.g. 0/8 ... 7/8 on one GPU); writes no summary")
    parser.add_argument("--device", help="torch device for the model (default: this process's GPU when there is one)")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--summary-only", action="store_true", help="compute nothing: summarise the reviews of the run in --out finished so far (with its stored settings)")
    args = parser.parse_args(argv)
    if args.summary_only:
        summarize_finished(args.out)
        return

    unknown = sorted(set(args.methods) - set(method_names()))
    if unknown:
        raise SystemExit(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(method_names())}")
    try:
        options = parse_options(args.option)
    except InvalidInputError as error:
        parser.error(str(error))
    for name in filter(is_bottleneck_method, args.methods):
        if args.reference is not None:
            options.setdefault(name, {}).update(reference_corpus=args.reference, text_column=args.text_column)
        if args.statistics is not None:
            options.setdefault(name, {})["statistics"] = args.statistics
    settings = EvaluationSettings(
        model=args.model, data=str(args.data), split=args.split, n=args.n, seed=args.seed, methods=args.methods,
        metrics=args.metrics, options=options, sanity_n=args.sanity_n,
    )
    items = sample_items(load_imdb(args.split, args.data), args.n, args.seed)
    references = None
    bottlenecks = [name for name in args.methods if is_bottleneck_method(name)]
    if args.sanity_n and bottlenecks:
        given = settings.options.get(bottlenecks[0], {}).get("reference_corpus")
        text_column = settings.options.get(bottlenecks[0], {}).get("text_column", "text")
        references = corpus_texts(given, text_column) if given is not None else reference_texts(args.model, args.data, args.reference_n, args.seed)
    records = run_evaluation(settings, items, args.out, reference_texts=references, progress=not args.no_progress, shard=args.shard, device=args.device)
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; run again without --shard to write the summary")
        return

    from accelerate import PartialState

    if PartialState().is_main_process:
        wanted = {item["index"] for item in items[: args.sanity_n]}
        sanity = [r for r in JsonLines(args.out, SANITY_PATTERN, 0).read() if r["index"] in wanted]
        markdown = write_outputs(args.out, settings, records, sanity)
        sys.stdout.write(markdown)
        print(f"\nwrote {args.out}/summary.md, summary.csv, report.html ({len(records)} reviews in {RESULTS_PATTERN})")


if __name__ == "__main__":
    sys.exit(run_reporting_errors(Path(__file__).name, main, on_interrupt="finished items are kept; run the same command again to resume"))
