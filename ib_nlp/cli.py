"""Command line interface: ``ib-nlp explain``, ``ib-nlp estimate`` and ``ib-nlp models``.

Every expected failure (an ``IBNLPError`` or an unreadable input file) is reported as one
line ``ib-nlp: error: <message>`` with exit status 2 and no traceback. Output files are only
written once everything has succeeded, and atomically, so a failed run leaves nothing behind.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ib_nlp.text.methods import method_names
from ib_nlp.text.corpus import DEFAULT_MAX_TEXTS, reference_texts
from ib_nlp.errors import IBNLPError, InvalidInputError, StatisticsError
from ib_nlp.core.interrupt import stop_on_interrupt
from ib_nlp.commands import add_commands
from ib_nlp.options import parse_layer
from ib_nlp.text.shipped import DEFAULT_MODEL, RECIPE_MODELS, ShippedModel, built_model_names, recipe_command, shipped_model_names
from ib_nlp.text.cleaning import check_text

if TYPE_CHECKING:  # torch and transformers are imported where a command needs them, so --help is fast
    from ib_nlp.text.methods import AttributionMethod
    from ib_nlp.text.classifier import Classifier
    from ib_nlp.text.explanation import Explanation

PROGRAM = "ib-nlp"
USAGE_ERROR = 2
INTERRUPTED = 130
REFERENCE_FORMATS = "a .txt file (one text per line), a .parquet, .csv, .jsonl or .json file (column --text-column), or a dataset id"


def _int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: a whole number >= ``minimum``."""

    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _read_text(args: argparse.Namespace) -> str:
    """The text to explain: the TEXT argument, standard input (``-``) or ``--file``."""
    if args.file is not None and args.text is not None:
        raise InvalidInputError("give the text either as TEXT or with --file, not both")
    if args.file is not None:
        file = Path(args.file)
        if not file.is_file():
            raise FileNotFoundError(f"text file {str(file)!r} {'is a directory' if file.is_dir() else 'does not exist'}")
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"text file {str(file)!r} is not UTF-8 text: {error}") from error
    elif args.text == "-":
        try:
            stream = getattr(sys.stdin, "buffer", None)  # a stream replaced by text (tests, notebooks) has no bytes
            text = stream.read().decode("utf-8") if stream is not None else sys.stdin.read()
        except UnicodeDecodeError as error:
            raise InvalidInputError(f"standard input is not UTF-8 text: {error}") from error
    elif args.text is None:
        raise InvalidInputError("no text given: pass TEXT, '-' to read standard input, or --file PATH")
    else:
        text = args.text
    return check_text(text)


def printable(text: str) -> str:
    """``text`` with control and format characters (terminal escape sequences, bidirectional
    overrides) written as Python escapes, so printing it cannot drive the terminal."""
    return "".join(character if character.isprintable() or character == " " else character.encode("unicode_escape").decode("ascii") for character in text)


def _check_output_path(path: str) -> Path:
    """Fail before any computation if the output file could not be written."""
    target = Path(path)
    if target.is_dir():
        raise InvalidInputError(f"output {str(target)!r} is a directory, not a file")
    if not target.parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(target)!r}: folder {str(target.parent)!r} does not exist")
    return target


def _load_classifier(model: str, device: str | None) -> Classifier:
    """Load the classifier (without transformers' weight-loading bar: the command line shows its own progress)."""
    from ib_nlp.text.classifier import Classifier

    return Classifier.load(model, device=device)


def _build_explainer(args: argparse.Namespace, classifier: Classifier, reference: list[str] | None) -> AttributionMethod:
    """The explainer of --method for the command line options (IBA's statistics from --statistics or --reference)."""
    from ib_nlp.api import make_explainer

    options: dict[str, Any] = {
        "layer": args.layer,
        "beta": args.beta,
        "steps": args.steps,
        "lr": args.lr,
        "samples": args.samples,
        "seed": args.seed,
        "statistics": args.statistics,
        "reference_corpus": reference,
        "progress": not args.quiet,
        "threads": args.threads,
    }
    if args.contrast is not None:
        options["contrast"] = args.contrast
    if args.ignore_statistics_origin:
        options["ignore_statistics_origin"] = True
    if args.keep_special_tokens is not None:
        options["keep_special_tokens"] = args.keep_special_tokens
    try:
        return make_explainer(classifier, args.method, **options)
    except StatisticsError as error:
        if reference is not None:
            raise
        raise StatisticsError(f"{error} On the command line: --reference-corpus FILE_OR_DATASET or --statistics PATH.") from error


def format_summary(explanation: Explanation, top: int) -> str:
    """A short human-readable report: prediction, settings and the top words with their bits;
    for a signed method, the ``top`` words for the target and the ``top`` words against it."""
    probability = explanation.probabilities[explanation.predicted]
    header = [
        ("model", printable(explanation.model_name)),
        ("predicted", f"{printable(explanation.predicted_label)} (p = {probability:.3f})"),
        ("target", printable(explanation.target_label)),
        ("method", explanation.method),
        ("layer", str(explanation.layer) + (f" ({where})" if (where := explanation.metadata.get("layer_description")) else "")),
        *([("beta", f"{explanation.parameters['beta']}")] if "beta" in explanation.parameters else []),
        *([("kept", f"p = {kept:.3f} through the bottleneck" + (f", {reading}" if (reading := explanation.kept_reading) else ""))] if (kept := explanation.kept_probability) is not None else []),
        ("seconds", f"{explanation.seconds:.2f}"),
    ]
    width = max(len(name) for name, _ in header)
    lines = [f"{name:<{width}}  {value}" for name, value in header]
    supporting, opposing = explanation.words_for_and_against(top)
    for heading, words in ((["for the target:"] if opposing else [], supporting), (["against the target:"], opposing)):
        if words:
            lines.extend(["", *heading, *_word_table(words, explanation.unit)])
    return "\n".join(lines)


def _word_table(words: list[tuple[str, float]], unit: str) -> list[str]:
    """Ranked words with their scores, the score column right-aligned under ``unit``."""
    names = [printable(word) for word, _ in words]
    scores = [f"{score:.3f}" for _, score in words]
    rank_width = max(len("rank"), len(str(len(words))))
    word_width = max(len("word"), *(len(name) for name in names))
    score_width = max(len(unit), *(len(score) for score in scores))
    rows = [f"{'rank':>{rank_width}}  {'word':<{word_width}}  {unit:>{score_width}}"]
    for rank, (name, score) in enumerate(zip(names, scores, strict=True), start=1):
        rows.append(f"{rank:>{rank_width}}  {name:<{word_width}}  {score:>{score_width}}")
    return rows


def run_explain(args: argparse.Namespace) -> int:
    """``ib-nlp explain``: explain one text and print (and optionally save) the result."""
    from ib_nlp.ui.report import render_explanation, save_html

    text = _read_text(args)
    output = _check_output_path(args.json) if args.json is not None else None
    html_output = _check_output_path(args.html) if args.html is not None else None
    if output is not None and html_output is not None and output.resolve() == html_output.resolve():
        raise InvalidInputError(f"--json and --html name the same file {str(output)!r}; give two different paths")
    reference = reference_texts(args.reference, args.text_column) if args.reference is not None else None
    classifier = _load_classifier(args.model, args.device)
    explainer = _build_explainer(args, classifier, reference)
    explanation = explainer.explain(text, args.target)
    # The report is rendered before the first file is written, so a rendering error writes nothing.
    page = render_explanation(explanation) if html_output is not None else ""
    written = []
    if output is not None:
        written.append(explanation.save(output))
    if html_output is not None:
        written.append(save_html(page, html_output))
    if not args.quiet:
        print(format_summary(explanation, args.top))
        for path in written:
            print(f"{PROGRAM}: wrote {path}", file=sys.stderr)
    return 0


def run_estimate(args: argparse.Namespace) -> int:
    """``ib-nlp estimate``: statistics of the embeddings and every layer over a reference corpus."""
    from ib_nlp.core.statistics import STATISTICS_FILENAME, fingerprint_texts, save_statistics

    texts = reference_texts(args.reference, args.text_column, args.max_texts)
    classifier = _load_classifier(args.model, args.device)
    if args.output is None and classifier.source_dir is None:
        raise InvalidInputError(f"{args.model!r} is not a local model folder: give the statistics file to write with --output")
    output = _check_output_path(args.output if args.output is not None else str(classifier.source_dir / STATISTICS_FILENAME))
    statistics = classifier.estimate_statistics(texts, batch_size=args.batch_size, progress=not args.quiet)
    metadata = {"model": classifier.model_key, "model_name": classifier.name, "corpus": f"texts-{len(texts)}-{fingerprint_texts(texts)}"}
    save_statistics(output, statistics, metadata)
    if not args.quiet:
        tokens = next(iter(statistics.values())).count
        print(f"wrote statistics of {len(statistics)} sites ({', '.join(statistics)}) over {len(texts)} texts ({tokens} tokens) to {output}")
        if args.output is None:
            print(f"{PROGRAM} explain --model {printable(args.model)} now finds them there")
    return 0


def format_models(models: Sequence[ShippedModel]) -> str:
    """The shipped models as an aligned table: what each is, how good, its IBA defaults, its folder."""
    header = ("name", "architecture", "size", "IMDB test accuracy", "layer", "beta", "folder")
    rows = [header]
    for model in models:
        accuracy = "?" if model.test_accuracy is None else f"{100 * model.test_accuracy:.2f}% of {model.test_reviews:,}"
        name = f"{model.name} (default)" if model.name == DEFAULT_MODEL else model.name
        rows.append((name, model.architecture, f"{model.megabytes:.1f} MB", accuracy, str(model.layer), f"{model.beta:g}" if model.beta is not None else "?", str(model.path)))
    own = [f"{model.name}: {method} at {_settings_text(settings)}" for model in models for method, settings in model.method_settings.items()]
    kept = [model.name for model in models if model.keep_special_tokens]
    return (
        _aligned(rows)
        + ("\n\nmethods with their own recommended settings:\n" + "\n".join(own) if own else "")
        + ("\n\n[CLS]/[SEP] kept out of the bottleneck by default (keep_special_tokens): " + ", ".join(kept) if kept else "")
    )


def _settings_text(settings: dict) -> str:
    """Recommended settings as "layer L, beta B" (the layer first)."""
    ordered = sorted(settings.items(), key=lambda item: (item[0] != "layer", item[0]))
    return ", ".join(f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}" for key, value in ordered)


def format_methods() -> str:
    """The registry's attribution methods as an aligned table: name, full name, unit, sign, what each computes."""
    from ib_nlp.text.methods import display_name, get_method, method_names

    rows = [("name", "method", "unit", "signed", "what it computes")]
    for name in method_names():
        method = get_method(name)
        rows.append((name, display_name(name), method.unit, "yes" if method.signed else "no", method.description))
    return _aligned(rows)


def _aligned(rows: Sequence[Sequence[str]]) -> str:
    """Rows of strings as left-aligned columns, the first row being the header."""
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    return "\n".join("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in rows)


def run_methods(args: argparse.Namespace) -> int:
    """``ib-nlp methods``: the attribution methods, with their unit and whether scores carry a sign."""
    print(format_methods())
    return 0


def run_models(args: argparse.Namespace) -> int:
    """``ib-nlp models``: the models shipped with the package and those built by a recipe, as a
    table, then the recipes not built yet with their command (``--names``: names only)."""
    names = [*shipped_model_names(), *built_model_names()]
    if not names:
        print(f"{PROGRAM}: no models are shipped with this installation; pass --model a local model directory", file=sys.stderr)
    elif args.names:
        print("\n".join(names))
    else:
        print(format_models([ShippedModel.read(name) for name in names]))
        for name in RECIPE_MODELS:
            if name not in names:
                print(f"\n{name}: too large to ship, not built yet; build it with: {recipe_command(name)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROGRAM,
        description="Information bottleneck attribution for text classifiers: how many bits of each token the prediction needs.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    explain = commands.add_parser(
        "explain",
        help="explain the prediction of a classifier for one text",
        description="Explain the prediction of a text classifier for one text, in bits per token and per word.",
        epilog=(
            "examples:\n"
            f"  {PROGRAM} explain 'a wonderful film' --model ./my-model --reference-corpus reviews.txt\n"
            f"  {PROGRAM} explain --file review.txt --statistics stats.safetensors --layer 2 --json out.json\n"
            f"  {PROGRAM} explain 'a wonderful film' --model ./my-model --reference-corpus train.csv --text-column review --html report.html\n"
            f"  cat review.txt | {PROGRAM} explain - --target negative"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("text", nargs="?", metavar="TEXT", help="the text to explain; '-' reads it from standard input")
    explain.add_argument("--file", metavar="PATH", help="read the text to explain from this UTF-8 file instead")
    explain.add_argument("--model", default=DEFAULT_MODEL, help=f"local model directory, hub id or shipped model name (default: {DEFAULT_MODEL})")
    explain.add_argument(
        "--layer",
        type=parse_layer,
        help="where the bottleneck sits: a block index (0 is the first block's output), 'embeddings', or a dotted module name "
        "(default: the model's recommended layer, else 0)",
    )
    explain.add_argument("--method", default="iba", choices=method_names(), help="attribution method (default: iba); layer, beta, lr, --reference-corpus and --statistics belong to IBA and its signed variants (contrastive_iba, gradient_signed_iba, open_signed_iba, closing_signed_iba)")
    explain.add_argument("--target", help="class to explain, as index or label name (default: the predicted class)")
    explain.add_argument("--contrast", help="contrastive_iba's contrast class, as index or label name (default: the runner-up)")
    explain.add_argument("--beta", type=float, help="weight of the information term (default: 10 or the model's recommendation)")
    explain.add_argument("--steps", type=_positive_int, help="optimisation steps (default: 10)")
    explain.add_argument("--lr", type=float, help="Adam learning rate (default: 1.0)")
    explain.add_argument("--samples", type=_positive_int, help="noise samples per step (default: 10)")
    explain.add_argument("--seed", type=int, help="seed of the noise (default: 0)")
    prior = explain.add_mutually_exclusive_group()
    prior.add_argument(
        "--reference-corpus",
        "--reference",
        dest="reference",
        metavar="FILE_OR_DATASET",
        help=f"texts for the noise prior (the first {DEFAULT_MAX_TEXTS:,} non-empty ones): {REFERENCE_FORMATS}",
    )
    prior.add_argument("--statistics", metavar="PATH", help=f"statistics file written by '{PROGRAM} estimate' (the layer's entry is used)")
    explain.add_argument("--text-column", default="text", metavar="NAME", help="column of the texts in a table or dataset corpus (default: text)")
    explain.add_argument(
        "--keep-special-tokens",
        action=argparse.BooleanOptionalAction,
        help="let [CLS], [SEP] and the like pass the bottleneck unchanged (they get 0 bits), or not; IBA and its signed variants (default: the model's recommendation, else not)",
    )
    explain.add_argument(
        "--ignore-statistics-origin",
        action="store_true",
        help="use --statistics even if they were recorded for another model or layer (refused by default)",
    )
    explain.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    explain.add_argument(
        "--threads",
        type=_positive_int,
        help="CPU threads for the explanation (default: torch's, every core; 1 is faster when other processes share the CPU)",
    )
    explain.add_argument("--json", metavar="OUT.json", help="also save the explanation as JSON (written atomically)")
    explain.add_argument("--html", metavar="OUT.html", help="also save a self-contained HTML report (written atomically)")
    explain.add_argument("--top", type=_non_negative_int, default=10, metavar="K", help="number of top words to print, and of words against the target for a signed method (default: 10)")
    explain.add_argument("--quiet", action="store_true", help="print no progress bars and no summary, only errors and warnings")
    explain.set_defaults(handler=run_explain)

    estimate = commands.add_parser(
        "estimate",
        help="estimate feature statistics of every layer over a reference corpus",
        description=(
            "Estimate per-feature statistics (the noise prior) at the embeddings and every layer of a model over a "
            f"reference corpus, and save them for '{PROGRAM} explain --statistics'."
        ),
    )
    estimate.add_argument("--model", default=DEFAULT_MODEL, help=f"local model directory, hub id or shipped model name (default: {DEFAULT_MODEL})")
    estimate.add_argument("--reference-corpus", "--reference", dest="reference", metavar="FILE_OR_DATASET", required=True, help=f"reference corpus: {REFERENCE_FORMATS}")
    estimate.add_argument("--text-column", default="text", metavar="NAME", help="column of the texts in a table or dataset corpus (default: text)")
    estimate.add_argument(
        "--output",
        metavar="FILE.safetensors",
        help="where to write the statistics, atomically (default: ib_statistics.safetensors in the model folder, where explain finds them)",
    )
    estimate.add_argument("--batch-size", type=_positive_int, default=16, help="texts per forward pass (default: 16)")
    estimate.add_argument("--max-texts", type=_positive_int, default=DEFAULT_MAX_TEXTS, metavar="N", help=f"use the first N non-empty texts of the corpus (default: {DEFAULT_MAX_TEXTS:,})")
    estimate.add_argument("--device", help="torch device, e.g. cpu or cuda (default: cuda when available)")
    estimate.add_argument("--quiet", action="store_true", help="print no progress bar and no summary, only errors and warnings")
    estimate.set_defaults(handler=run_estimate)

    models = commands.add_parser(
        "models",
        help="list the models shipped with ib-nlp",
        description="List the models shipped with ib-nlp: architecture, size, accuracy, default IBA layer and beta, folder.",
    )
    models.add_argument("--names", action="store_true", help="print only the names, one per line")
    models.set_defaults(handler=run_models)

    methods = commands.add_parser(
        "methods",
        help="list the attribution methods",
        description="List the attribution methods (--method of explain): full name, unit, whether scores are signed, what each computes.",
    )
    methods.set_defaults(handler=run_methods)
    add_commands(commands)
    return parser


@contextlib.contextmanager
def _plain_warnings(program: str) -> Iterator[None]:
    """Show warnings as one ``PROGRAM: warning:`` line each (not Python's source excerpt) for the duration."""

    def show(message: Warning | str, category: type[Warning], filename: str, lineno: int, file: Any = None, line: str | None = None) -> None:
        print(f"{program}: warning: {printable(str(message))}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _describe(error: BaseException) -> str:
    """One-line message for an error; OS errors as 'reason: path'."""
    if isinstance(error, OSError) and not isinstance(error, IBNLPError) and error.strerror and error.filename:
        return f"{error.strerror}: {error.filename}"
    return str(error)


def run_reporting_errors(program: str, function: Callable[[], Any], on_interrupt: str = "nothing was written") -> int:
    """Run ``function`` the way every command line of the toolkit runs: an expected failure (an
    ``IBNLPError`` or an OS error) prints one line ``PROGRAM: error: ...`` and returns 2; Ctrl-C
    stops at the next optimisation step at the latest, prints one line and returns 130 (a second
    Ctrl-C ends the process at once), saying ``on_interrupt``. Warnings print as one line each.
    Returns ``function``'s status (None counts as 0)."""
    interrupted = f"{program}: interrupted; {on_interrupt}"
    try:
        with _plain_warnings(program), stop_on_interrupt(interrupted, INTERRUPTED):
            return function() or 0
    except (IBNLPError, OSError) as error:
        print(f"{program}: error: {printable(_describe(error))}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return INTERRUPTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return its exit status (0 on success, 2 on errors, 130 on Ctrl-C)."""
    parser = build_parser()
    try:
        args = parser.parse_args(None if argv is None else list(argv))
    except SystemExit as exit_request:
        if exit_request.code is None:
            return 0
        return exit_request.code if isinstance(exit_request.code, int) else USAGE_ERROR
    return run_reporting_errors(PROGRAM, lambda: args.handler(args))
