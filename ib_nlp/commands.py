"""The research subcommands of ``ib-nlp``: ``evaluate`` (faithfulness of methods on IMDB),
``sweep`` (IBA's layer x beta grid) and ``train-readout``. Each is an argument list and a
handler that calls the package; the repository's scripts (``scripts/evaluate.py`` ...) run the
same commands with the repository's data folder as the default. Nothing heavy is imported
until a handler runs, so ``ib-nlp --help`` stays fast."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ib_nlp.text.methods import method_names
from ib_nlp.errors import InvalidInputError, TruncationWarning
from ib_nlp.text.metrics import DEFAULT_METRICS, metric_names
from ib_nlp.evaluation.runner import parse_shard
from ib_nlp.options import argument_type, parse_layer

DATA_HELP = "IMDB folder or file (default: $IB_NLP_IMDB, else the hub dataset stanfordnlp/imdb; see ib_nlp.text.data.load_imdb)"


def add_review_sample_arguments(parser: argparse.ArgumentParser, data: Path | None, n: int, model: str = "imdb-bert-small") -> None:
    """--model, --data, --n and --seed: a model and a seeded sample of IMDB test reviews (the
    research commands and the repository's diagnosis and benchmark scripts)."""
    parser.add_argument("--model", default=model, help="shipped model name, local path or hub id")
    parser.add_argument("--data", type=Path, default=data, help=DATA_HELP)
    parser.add_argument("--n", type=int, default=n, help="IMDB test reviews (a seeded sample)")
    parser.add_argument("--seed", type=int, default=0)


def add_evaluate_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--model", default="imdb-bert-small", help="shipped model name, local path or hub id")
    parser.add_argument("--data", type=Path, default=data, help=DATA_HELP)
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--n", type=int, default=100, help="number of reviews (a seeded sample; a larger n extends a run)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", nargs="+", default=method_names(), help=f"from: {', '.join(method_names())}")
    parser.add_argument("--metrics", nargs="*", default=list(DEFAULT_METRICS), choices=metric_names(), help=f"default: {' '.join(DEFAULT_METRICS)}; none: only the sanity check")
    parser.add_argument("--option", action="append", default=[], metavar="NAME.KEY=VALUE", help="option of a method or metric (values are JSON, else strings)")
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
    parser.add_argument("--summary-only", action="store_true", help="compute nothing: summarise the reviews of the run in --out finished so far (with its stored settings; --data only where the run's data is not on this machine)")


def run_evaluate(args: argparse.Namespace) -> None:
    from ib_nlp.evaluation.runner import RESULTS_PATTERN, parse_options
    from ib_nlp.evaluation.text import EvaluationSettings, evaluate_imdb, summarize_finished_run, with_prior

    if args.summary_only:
        markdown, done = summarize_finished_run(args.out, args.data)
        sys.stdout.write(markdown)
        print(f"\nwrote {args.out}/summary.md, summary.csv, report.html: finished so far {done}")
        return
    options = with_prior(parse_options(args.option), args.methods, reference=args.reference, text_column=args.text_column, statistics=args.statistics)
    settings = EvaluationSettings(
        model=args.model, data=None if args.data is None else str(args.data), split=args.split, n=args.n, seed=args.seed,
        methods=args.methods, metrics=args.metrics, options=options, sanity_n=args.sanity_n,
    )
    markdown = evaluate_imdb(settings, args.out, reference_n=args.reference_n, shard=args.shard, device=args.device, progress=not args.no_progress)
    if args.shard:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; run again without --shard to write the summary")
    elif markdown is not None:
        sys.stdout.write(markdown)
        print(f"\nwrote {args.out}/summary.md, summary.csv, report.html ({args.n} reviews in {RESULTS_PATTERN})")


def add_compare_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument(
        "runs", nargs="+", metavar="NAME=FOLDER[@METHOD]",
        help="evaluation runs on the same reviews (the first is the reference), each of --method or of its own @METHOD "
        "(e.g. ig=runs/a@integrated_gradients signed=runs/b@gradient_signed_iba); or one FOLDER with --methods",
    )
    parser.add_argument("--method", default="iba", help="the method compared across runs when an entry names none (default: iba)")
    parser.add_argument("--methods", nargs="+", metavar="METHOD", help="instead: these methods of one run, each against the first")
    parser.add_argument("--metric", default="degradation", help="default: degradation")
    parser.add_argument("--value", default="lerf_minus_morf", help="the metric's value (default: lerf_minus_morf)")


def compared_run(entry: str, method: str) -> tuple[str, str]:
    """``FOLDER@METHOD`` as (folder, method); a plain ``FOLDER`` (or an existing folder whose name
    holds an @) compares ``method``."""
    folder, separator, own_method = entry.rpartition("@")
    if not separator or Path(entry).is_dir():
        return entry, method
    if not folder or not own_method:
        raise InvalidInputError(f"expected FOLDER@METHOD, got {entry!r}")
    return folder, own_method


def run_compare(args: argparse.Namespace) -> None:
    from .evaluation.text import paired_comparison
    from .ui.markdown import markdown_table

    runs: dict[str, Any] = {}
    if args.methods:
        if len(args.runs) != 1:
            raise InvalidInputError(f"--methods compares the methods of one run; got {len(args.runs)} runs")
        runs = {method: (args.runs[0], method) for method in args.methods}
        title = f"{args.metric} {args.value}"
    else:
        for item in args.runs:
            name, separator, folder = item.partition("=")
            if not separator or not name or not folder:
                raise InvalidInputError(f"expected NAME=FOLDER or NAME=FOLDER@METHOD, got {item!r}")
            runs[name] = compared_run(folder, args.method)
        methods = {method for _, method in runs.values()}
        title = f"{args.metric} {args.value}" if len(methods) > 1 else f"{next(iter(methods))}: {args.metric} {args.value}"
    shared, rows = paired_comparison(runs, metric=args.metric, value=args.value)  # every entry names its method
    print(f"{shared} reviews finished by every run; mean ± standard error\n")
    print(markdown_table(["method" if args.methods else "run", title, f"paired difference from {next(iter(runs))}"], rows))


def add_sweep_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    add_review_sample_arguments(parser, data, n=30)
    parser.add_argument("--layers", nargs="+", type=parse_layer, default=None, help="default: embeddings and every block")
    parser.add_argument("--betas", nargs="+", type=float, default=[1.0, 10.0])
    parser.add_argument("--method", default="iba", help="the bottleneck method swept: iba (default) or a variant (contrastive_iba, gradient_signed_iba, open_signed_iba, closing_signed_iba)")
    parser.add_argument("--metric", default="degradation", choices=metric_names(), help="the metric that scores each setting (its main value; default: degradation)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timing", action="store_true", help="also time the shared-pass sweep against layers one by one")
    parser.add_argument(
        "--keep-special-tokens",
        action=argparse.BooleanOptionalAction,
        help="let [CLS]/[SEP] pass every bottleneck unchanged (0 bits), so the text's own tokens carry the bits, or not (default: the model's recommendation, else not)",
    )
    prior = parser.add_mutually_exclusive_group()
    prior.add_argument("--reference-n", type=int, default=0, help="estimate IBA's prior on N IMDB train reviews (default: the model's own statistics)")
    prior.add_argument("--reference", metavar="FILE_OR_DATASET", help="texts for IBA's prior of a model without statistics: a file or a dataset id (the first 2,000 texts)")
    prior.add_argument("--statistics", metavar="FILE", help="IBA's statistics file (written by ib-nlp estimate)")
    parser.add_argument("--text-column", default="text", help="column of the texts in a --reference table or dataset (default: text)")


def run_sweep(args: argparse.Namespace) -> None:
    from ib_nlp import Classifier
    from ib_nlp.text.corpus import reference_texts
    from ib_nlp.text.data import load_imdb
    from ib_nlp.evaluation.text import sample_items
    from ib_nlp.io import write_text_atomic
    from ib_nlp.text.methods.iba import bottleneck_method
    from ib_nlp.text.sweep import sweep_layers_and_betas, time_shared_sweep

    warnings.simplefilter("ignore", TruncationWarning)
    bottleneck_method(args.method)
    items = sample_items(load_imdb("test", args.data), args.n, args.seed)
    iba_options: dict[str, Any] = {}
    if args.reference_n:
        train = load_imdb("train", args.data)
        iba_options = {"reference_corpus": [item["text"] for item in sample_items(train, min(args.reference_n, len(train)), args.seed)]}
    elif args.reference is not None:
        iba_options = {"reference_corpus": reference_texts(args.reference, args.text_column)}
    elif args.statistics is not None:
        iba_options = {"statistics": args.statistics}
    if args.keep_special_tokens is not None:
        iba_options["keep_special_tokens"] = args.keep_special_tokens
    texts, labels = [item["text"] for item in items], [item["label"] for item in items]
    classifier = Classifier.load(args.model, device="cpu")
    args.out.mkdir(parents=True, exist_ok=True)

    def saved(beta: float, sweep: Any) -> None:
        sweep.save(args.out / f"sweep-beta{beta:g}.json")
        ties = f" (tied within a standard error: {', '.join(map(str, sweep.tied))}; the first is kept)" if len(sweep.tied) > 1 else ""
        print(f"beta {beta:g}: {sweep.seconds:.0f} s, best layer {sweep.best}{ties}", flush=True)

    grid = sweep_layers_and_betas(
        classifier, texts, args.betas, args.layers, labels=labels, batch_size=args.batch_size, progress=True, on_sweep=saved,
        method=args.method, metric=args.metric, **iba_options,
    )
    kept = grid.sweeps[0].explanations[0][0].parameters.get("keep_special_tokens", False)  # as the methods resolved it
    report = grid.report(args.model + (", [CLS]/[SEP] kept out of the bottleneck" if kept else ""), args.seed)
    best_beta = grid.best[1] if grid.best is not None else args.betas[0]
    grid.sweeps[args.betas.index(best_beta)].to_html(0, args.out / "layers-review0.html")
    if args.timing:
        shared, separate = time_shared_sweep(classifier, texts, grid.layers, best_beta, args.batch_size, args.method, **iba_options)
        report += (
            f"\ntiming (beta {best_beta:g}, {len(grid.layers)} layers, {args.n} reviews, batches of {args.batch_size}): "
            f"shared-pass sweep {shared:.1f} s, layers one by one {separate:.1f} s, "
            f"ratio {separate / shared:.2f}x; sweep seconds per review and layer {shared / len(texts) / len(grid.layers):.3f}\n"
        )
    write_text_atomic(args.out / "summary.md", report)
    print("\n" + report)


def add_train_readout_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--model", default="imdb-bert-small", help="shipped model name, local path or hub id")
    parser.add_argument("--data", type=Path, default=data, help=DATA_HELP)
    parser.add_argument("--n", type=int, default=5000, help="training reviews (a seeded sample of the train split)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--hidden", type=int, default=256, help="width of the readout MLP")
    parser.add_argument("--layer", type=parse_layer, help="attach layer (default: the model's recommended IBA layer)")
    parser.add_argument("--beta", type=float, help="default: the model's recommended IBA beta")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference-n", type=int, default=0, help="estimate the statistics from this many other training reviews (default: the model's shipped statistics)")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--out", type=Path, required=True, help="readout file (.safetensors); an existing one is continued")
    parser.add_argument("--no-progress", action="store_true")


def run_train_readout(args: argparse.Namespace) -> None:
    """Train a readout (or continue the one in --out) on IMDB training reviews, saving after every epoch."""
    from ib_nlp import Classifier
    from ib_nlp.core.optimise import IBAConfig
    from ib_nlp.text.data import load_imdb
    from ib_nlp.evaluation.text import sample_items
    from ib_nlp.text.methods.iba import recommended_settings
    from ib_nlp.text.methods.readout import Readout, train_readout

    warnings.simplefilter("ignore", TruncationWarning)
    classifier = Classifier.load(args.model, device=args.device)
    recommended = recommended_settings(classifier.model, "iba")
    layer = args.layer if args.layer is not None else recommended.get("layer", 0)
    beta = args.beta if args.beta is not None else recommended.get("beta", IBAConfig().beta)
    train = load_imdb("train", args.data)
    if args.n + args.reference_n > len(train):
        raise InvalidInputError(f"--n plus --reference-n must not exceed the {len(train)} training reviews")
    sample = [item["text"] for item in sample_items(train, args.n + args.reference_n, args.seed)]
    texts, reference = sample[: args.n], (sample[args.n :] or None)
    if args.out.is_file():
        readout = Readout.load(args.out, classifier.device)
        if (readout.config.layer, readout.config.beta) != (layer, beta):
            raise InvalidInputError(f"{args.out} holds a readout at layer {readout.config.layer} with beta {readout.config.beta}; choose another --out")
    else:
        readout = Readout.create(classifier, layer, hidden=args.hidden, beta=beta, reference_corpus=reference)
    done = readout.config.training.get("epochs", 0)
    if done >= args.epochs:
        print(f"{args.out} already has {done} epochs", file=sys.stderr)
        return

    def save(epoch: int, loss: float) -> None:
        readout.save(args.out)
        print(f"epoch {done + epoch + 1}/{args.epochs}: mean loss {loss:.4f}; saved {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)", flush=True)

    train_readout(classifier, readout, texts, epochs=args.epochs - done, batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=not args.no_progress, on_epoch_end=save)


def add_train_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--model", required=True, choices=["bert-small", "lstm", "minilm"], help="bert-small: BERT from scratch; lstm: the LSTM with GloVe (the train extra); minilm: fine-tune --init")
    parser.add_argument("--data", type=Path, default=data, help=DATA_HELP)
    parser.add_argument("--output", type=Path, required=True, help="directory to write the trained model into (a checkpoint there is resumed)")
    parser.add_argument("--init", type=Path, help="pretrained encoder directory, or an installed package that ships one (required for --model minilm)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--lr", type=float, help="peak learning rate of the one-cycle schedule")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--max-length", type=int, help="maximum number of tokens per review")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--vocab-size", type=int, help="WordPiece (bert-small) or word (lstm) vocabulary size")
    parser.add_argument("--holdout", type=int, default=2000, help="IMDB train reviews held out from training (for the statistics)")
    parser.add_argument("--eval-n", type=int, default=25000, help="IMDB test reviews to evaluate on (seeded sample)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--notes", default="", help="free text added to the model card and training.json")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="bf16: forward and backward passes under bfloat16 autocast (float32 weights), about 1.4x faster per step on CPUs with AVX512-BF16 or AMX, emulated and about 10x slower on CPUs without (a warning says so; scripts/bench_training.py)")
    parser.add_argument("--attention-dropout", type=float, help="dropout on the attention probabilities of the BERT models (default: the config's, 0.1); 0 saves a third of a CPU step")
    parser.add_argument("--checkpoint-every", type=int, default=200, metavar="STEPS", help="save a checkpoint every STEPS steps (and after each epoch); the same command resumes from it")


def run_train(args: argparse.Namespace) -> None:
    import shlex

    from .text.training import TrainingSettings, train_imdb

    settings = TrainingSettings(**{name: value for name, value in vars(args).items() if name not in ("handler", "program", "command")})
    command = shlex.join(["python", *sys.argv] if args.program.endswith(".py") else [args.program, *sys.argv[1:]])
    train_imdb(settings, command)


def add_ship_statistics_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("model_dir", type=Path, help="a model directory written by ib-nlp train (its training.json lists the held-out reviews)")
    parser.add_argument("--data", type=Path, default=data, help=DATA_HELP)
    parser.add_argument("--layer", type=parse_layer, help="recommended IBA layer stored in the config (a block index or 'embeddings')")
    parser.add_argument("--beta", type=float, help="recommended IBA beta stored in the config")
    parser.add_argument("--method", default="iba", help="store the settings for this bottleneck method only (e.g. gradient_signed_iba, whose best layer ib-nlp sweep --method finds); default: iba, which every method without its own entry follows")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--keep-special-tokens",
        action=argparse.BooleanOptionalAction,
        help="recommend letting [CLS]/[SEP] pass the bottleneck unchanged (0 bits), or not (--no-keep-special-tokens)",
    )
    parser.add_argument("--defaults-only", action="store_true", help="only store --layer/--beta/--keep-special-tokens, keep the statistics")


def run_ship_statistics(args: argparse.Namespace) -> None:
    from .text.methods.iba import bottleneck_method
    from .text.training import estimate_held_out_statistics, write_recommended_settings

    bottleneck_method(args.method)
    if not args.defaults_only:
        print(estimate_held_out_statistics(args.model_dir, args.data, args.batch_size))
    if args.layer is not None or args.beta is not None or args.keep_special_tokens is not None:
        stored = write_recommended_settings(args.model_dir, args.layer, args.beta, args.method, keep_special_tokens=args.keep_special_tokens)
        print(f"recommended settings in {args.model_dir / 'config.json'}: {stored}")


def add_evaluate_images_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--data", type=Path, default=data, required=data is None, help="ImageNet sample folder (images/<id>.jpg, boxes.csv)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--methods", nargs="+", help="image methods (default: IBA and the baselines of the IBA paper's Table 1; ib_nlp.vision.methods.image_method_names())")
    parser.add_argument("--model", default="efficientnet-lite0", help="image model by name (ib_nlp.vision.models.IMAGE_MODELS; an unknown name lists them)")
    parser.add_argument("--layer", help="IBA's layer (module name; default: the model's, for EfficientNet-Lite0 _blocks.5)")
    parser.add_argument("--cam-layer", help="Grad-CAM's layer (default: the model's, for EfficientNet-Lite0 the output of the last block, 7x7)")
    parser.add_argument("--reference-n", type=int, default=200, help="images for IBA's prior")
    parser.add_argument("--reference-data", type=Path, help="sample folder whose first --reference-n images give IBA's prior (default: --data; lets a part of the sample be evaluated with the prior of the whole run)")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE", help="option of a method (values are JSON)")
    parser.add_argument("--steps", type=int, default=20, help="points of the degradation and insertion/deletion curves")
    parser.add_argument("--shard", type=argument_type(parse_shard), metavar="INDEX/COUNT", help="this process's share of the images; writes no summary")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--summary-only", action="store_true", help="compute nothing: the table of the images of the run in --out finished so far (with its stored settings)")


def run_evaluate_images(args: argparse.Namespace) -> None:
    import torch

    from ib_nlp.evaluation.image import DEFAULT_IMAGE_METHODS, ImageEvaluationSettings, run_image_evaluation, summarize_finished
    from ib_nlp.evaluation.runner import parse_options

    if args.summary_only:
        markdown, finished, total = summarize_finished(args.out, args.data)
        print(markdown)
        print(f"wrote {args.out}/summary.md: finished so far {finished} of {total} images")
        return
    settings = ImageEvaluationSettings(
        n=args.n, methods=args.methods or DEFAULT_IMAGE_METHODS, layer=args.layer, cam_layer=args.cam_layer,
        reference_n=args.reference_n, options=parse_options(args.option), steps=args.steps, model=args.model,
    )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    markdown = run_image_evaluation(settings, args.data, args.out, reference_data=args.reference_data, shard=args.shard, device=device)
    if markdown is None:
        print(f"shard {args.shard[0]}/{args.shard[1]} done; run again without --shard to write the summary")
    else:
        print(markdown)


def add_image_heatmaps_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--data", type=Path, default=data, required=data is None, help="ImageNet sample folder (images/<id>.jpg, boxes.csv)")
    parser.add_argument("--n", type=int, default=4, help="images (the first of the sample), one row each")
    parser.add_argument("--methods", nargs="+", default=["iba", "grad_cam", "saliency", "integrated_gradients", "guided_backprop", "occlusion_14"], help="image methods, one column each (ib_nlp.vision.methods.image_method_names())")
    parser.add_argument("--model", default="efficientnet-lite0", help="image model by name (ib_nlp.vision.models.IMAGE_MODELS; an unknown name lists them)")
    parser.add_argument("--layer", help="IBA's layer (module name; default: the model's)")
    parser.add_argument("--cam-layer", help="Grad-CAM's layer (default: the model's)")
    parser.add_argument("--reference-n", type=int, default=64, help="images for IBA's prior (the first of the sample)")
    parser.add_argument("--option", action="append", default=[], metavar="METHOD.KEY=VALUE", help="option of a method (values are JSON)")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--out", type=Path, required=True, help="PNG file")


def run_image_heatmaps(args: argparse.Namespace) -> None:
    import torch

    from ib_nlp.evaluation.image import ImageEvaluationSettings, heatmap_figure
    from ib_nlp.evaluation.runner import parse_options
    from ib_nlp.io import atomic_destination

    settings = ImageEvaluationSettings(
        n=args.n, methods=args.methods, layer=args.layer, cam_layer=args.cam_layer, reference_n=args.reference_n, options=parse_options(args.option), model=args.model,
    )
    png = heatmap_figure(settings, args.data, args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_destination(args.out) as destination:
        destination.write_bytes(png)
    print(f"wrote {args.out}")


def add_train_image_readout_arguments(parser: argparse.ArgumentParser, data: Path | None = None) -> None:
    parser.add_argument("--data", type=Path, default=data, required=data is None, help="ImageNet sample folder (images/<id>.jpg, boxes.csv)")
    parser.add_argument("--skip", type=int, default=500, help="leave the first images of the sample out of training (to evaluate on them)")
    parser.add_argument("--n", type=int, default=500, help="training images (those after the skipped ones)")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--beta", type=float, default=10.0)
    parser.add_argument("--layer", help="attach layer (module name; default: EfficientNet-Lite0's IBA preset)")
    parser.add_argument("--readout-layers", nargs="+", default=["_blocks.10", "_blocks.15"], help="later layers the readout reads besides --layer")
    parser.add_argument("--device", help="torch device (default: cuda when available)")
    parser.add_argument("--out", type=Path, required=True, help="readout file (.safetensors); an existing one is continued")


def run_train_image_readout(args: argparse.Namespace) -> None:
    """Train EfficientNet-Lite0's readout (or continue the one in --out), saving after every epoch."""
    import torch

    from ib_nlp.vision.models import EFFICIENTNET_LITE0, imagenet_sample
    from ib_nlp.vision.readout import ImageReadoutTraining, train_image_readout

    training = ImageReadoutTraining(args.layer or EFFICIENTNET_LITE0.layer, tuple(args.readout_layers), args.beta, args.epochs, args.batch_size, args.lr)
    items = list(imagenet_sample(args.data, args.skip + args.n))[args.skip :]
    if not items:
        raise InvalidInputError(f"no training images: the sample in {args.data} has at most {args.skip} images (--skip)")
    model = EFFICIENTNET_LITE0.load().to(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def report(epoch: int, loss: float) -> None:
        print(f"epoch {epoch}/{args.epochs}: mean loss {loss:.4f}; saved {args.out}", flush=True)

    readout = train_image_readout(model, items, args.out, training, on_epoch_end=report)
    print(f"{args.out}: {readout.epochs} epochs on {len(readout.trained_on)} images")


Command = tuple[str, str, Callable[[argparse.ArgumentParser, Path | None], None], Callable[[argparse.Namespace], None], str]
RESUME = "finished items are kept; run the same command again to resume"
COMMANDS: dict[str, Command] = {
    "evaluate": (
        "faithfulness of attribution methods on IMDB reviews (resumable, shardable)",
        "Explain a seeded sample of IMDB reviews with each method, score every explanation with each metric, and write "
        "results.*.jsonl (one line per review, as soon as it is done: re-running resumes), summary.md/.csv, curves.png "
        "and report.html to --out. accelerate launch shards the reviews over processes; --shard I/K splits them by hand.",
        add_evaluate_arguments, run_evaluate, RESUME,
    ),
    "compare": (
        "compare evaluation runs of one method, or the methods of one run, review by review (paired differences)",
        "For evaluation runs of the same method on the same reviews (e.g. with and without an option, or with two priors), "
        "methods of different runs on the same reviews (NAME=FOLDER@METHOD), "
        "or for several methods of one run (--methods), print each one's mean and standard error of one metric value over "
        "the reviews all of them finished, and its paired difference from the first (the mean and standard error of the "
        "per-review differences).",
        add_compare_arguments, run_compare, "nothing was written",
    ),
    "sweep": (
        "IBA's faithfulness at every layer for several betas, and the recommended setting",
        "Run per-sample IBA (or --method, a signed variant) at every layer for each beta on a seeded sample of IMDB test "
        "reviews, score each setting with the degradation test (or --metric) and print the layers x betas table with the "
        "recommended setting (a lead within its standard error is a tie: the shallower layer and smaller beta are kept). "
        "Writes the sweeps (JSON) and the first review's layer heatmap (HTML) to --out.",
        add_sweep_arguments, run_sweep, "nothing was written for the beta in progress",
    ),
    "train-readout": (
        "train the readout bottleneck of a classifier on IMDB training reviews",
        "Train a readout bottleneck at the model's recommended IBA layer and beta (--layer, --beta override them); it reads "
        "that layer and every later block. The file is saved after every epoch; the same command continues it until "
        "--epochs are done (Adam starts afresh).",
        add_train_readout_arguments, run_train_readout, "the file holds the last finished epoch; run the same command again to continue",
    ),
    "train": (
        "train an IMDB classifier to explain (the shipped models' recipes, or fine-tune a local encoder)",
        "Train bert-small (from scratch, WordPiece vocabulary), lstm (GloVe embeddings; needs the train extra) or minilm "
        "(fine-tune --init) on IMDB train, holding out --holdout reviews for the statistics, evaluate once on the test "
        "reviews and write the model, tokenizer, README.md card and training.json to --output. Checkpoints every "
        "--checkpoint-every steps; the same command resumes.",
        add_train_arguments, run_train, "the checkpoint in --output holds the last saved step; run the same command again to resume",
    ),
    "ship-statistics": (
        "estimate a trained model's statistics on its held-out reviews and store its recommended layer and beta",
        "Estimate the feature statistics of the embeddings and every block over the IMDB train reviews that ib-nlp train "
        "held out (training.json), save them next to the model (ib_statistics.safetensors), and store --layer/--beta in "
        "its config (ib_nlp_defaults), so that explaining the model needs no corpus and no options.",
        add_ship_statistics_arguments, run_ship_statistics, "the statistics file is written only when complete",
    ),
    "evaluate-images": (
        "faithfulness and localisation of image methods on an ImageNet sample (needs the vision extra)",
        "Explain each image of an ImageNet sample (centre crop 224) with every method for the predicted class, score the map "
        "with the tile degradation test (8x8, 14x14), the bounding-box ratio, the effective heat ratio and insertion/deletion, "
        "and print the table in the layout of the IBA paper's Table 1. One JSON line per image (re-running resumes).",
        add_evaluate_images_arguments, run_evaluate_images, RESUME,
    ),
    "image-heatmaps": (
        "heatmaps of image methods on a few images of an ImageNet sample, side by side (PNG; needs the vision extra)",
        "Explain the first --n images of an ImageNet sample (centre crop 224) with every method for the predicted class, "
        "as ib-nlp evaluate-images does, and draw one row per image: the image with its boxes, then each method's map "
        "scaled to its own range.",
        add_image_heatmaps_arguments, run_image_heatmaps, "nothing was written",
    ),
    "train-image-readout": (
        "train EfficientNet-Lite0's readout bottleneck on an ImageNet sample (needs the vision extra)",
        "Train the image readout on the --n images after the first --skip of the sample (their ids are saved with it, so "
        "that ib-nlp evaluate-images never scores it on them). It attaches at IBA's layer and reads it and --readout-layers. "
        "The file is saved after every epoch; the same command continues it until --epochs are done.",
        add_train_image_readout_arguments, run_train_image_readout, "the file holds the last finished epoch; run the same command again to continue",
    ),
}


def add_commands(commands: Any) -> None:
    """Add the research subcommands to the ``ib-nlp`` parser's subparsers."""
    for name, (summary, description, add_arguments, handler, _) in COMMANDS.items():
        parser = commands.add_parser(name, help=summary, description=description)
        add_arguments(parser, None)
        parser.set_defaults(handler=handler, program="ib-nlp")


def run_script(name: str, program: str, data: Path, argv: Sequence[str] | None = None, description: str | None = None) -> int:
    """Run the subcommand ``name`` as the repository script ``program``, whose data folder
    ``data`` is the default of --data (``description``: the script's help); returns the exit status."""
    from ib_nlp.cli import run_reporting_errors

    _, command_description, add_arguments, handler, on_interrupt = COMMANDS[name]
    parser = argparse.ArgumentParser(prog=program, description=description or command_description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser, data)
    parser.set_defaults(program=program)
    args = parser.parse_args(None if argv is None else list(argv))
    return run_reporting_errors(program, lambda: handler(args), on_interrupt=on_interrupt)
