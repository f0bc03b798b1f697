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
import sys
from pathlib import Path

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
    parse_options,
    parse_shard,
    run_evaluation,
    sample_items,
    sanity_reference_texts,
    write_outputs,
)
from ib_nlp.metrics import DEFAULT_METRICS, METRICS

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "imdb"
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
        references = corpus_texts(given, text_column) if given is not None else sanity_reference_texts(args.model, args.data, args.reference_n, args.seed)
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
