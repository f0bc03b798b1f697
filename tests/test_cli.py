"""Tests of the ``ib-nlp`` command line, run in-process on a tiny random model saved to disk."""

from __future__ import annotations

import html
import io
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ib_nlp import Explanation, load_statistics
from ib_nlp.cli import build_parser, format_summary, main
from ib_nlp.text.shipped import DEFAULT_MODEL, RECIPE_MODELS, recipe_command, shipped_model_names, shipped_model_path
from ib_nlp.testing import random_classifier
from ib_nlp.text.training import write_recommended_settings

TEXT = "A wonderful film, but the acting was bad."
REFERENCE = [
    "the film was good",
    "bad movie and a weak plot",
    "i loved it",
    "worst acting ever",
    "a brilliant story with great music",
    "boring and too long",
]
FAST = ["--steps", "2", "--samples", "2"]


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Statistics cached by the CLI go to a temporary folder, never the home directory."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("IB_NLP_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("model")
    model, tokenizer = random_classifier("bert")
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "reference.txt"
    path.write_text("\n".join(REFERENCE) + "\n\n", encoding="utf-8")
    return path


def _explain(model_dir: Path, reference: Path, *extra: str) -> list[str]:
    return ["explain", "--model", str(model_dir), "--reference", str(reference), *FAST, *extra]


def _assert_clean_error(code: int, stderr: str, *fragments: str) -> None:
    assert code == 2
    errors = [line for line in stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("ib-nlp: error: "), stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr, stderr


def test_explain_writes_json_and_prints_summary(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], private_cache: Path) -> None:
    output = tmp_path / "out.json"
    code = main(_explain(model_dir, reference, TEXT, "--layer", "1", "--json", str(output), "--top", "3"))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    explanation = Explanation.load(output)
    assert explanation.layer == 1
    assert explanation.text == TEXT
    assert explanation.parameters["steps"] == 2 and explanation.parameters["samples"] == 2
    lines = captured.out.splitlines()
    assert lines[0].split() == ["model", str(model_dir)]
    assert lines[1].startswith("predicted") and f"(p = {explanation.probabilities[explanation.predicted]:.3f})" in lines[1]
    assert lines[3].split() == ["method", "iba"] and lines[4].split() == ["layer", "1", "(output", "of", "block", "2", "of", "3)"]
    assert explanation.metadata["layer_description"] == "output of block 2 of 3"
    reading = f", {explanation.kept_reading}" if explanation.kept_reading else ""
    assert lines[6].split() == ["kept", "p", "=", f"{explanation.kept_probability:.3f}", "through", "the", *f"bottleneck{reading}".split()]
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == ["rank", "word", "bits"]
    assert [row.split()[1] for row in table[1:]] == [word for word, _ in explanation.top_words(3)]
    assert len({row.index(row.split()[2]) + len(row.split()[2]) for row in table}) == 1, "bits column is right-aligned"
    assert any(private_cache.rglob("*.safetensors")), "statistics were cached under IB_NLP_CACHE"


def test_explain_reads_stdin_and_file(model_dir: Path, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(TEXT))
    from_stdin = tmp_path / "stdin.json"
    assert main(_explain(model_dir, reference, "-", "--json", str(from_stdin), "--quiet")) == 0
    text_file = tmp_path / "review.txt"
    text_file.write_text(TEXT, encoding="utf-8")
    from_file = tmp_path / "file.json"
    assert main(_explain(model_dir, reference, "--file", str(text_file), "--json", str(from_file), "--quiet")) == 0
    assert capsys.readouterr().out == ""
    first, second = Explanation.load(from_stdin), Explanation.load(from_file)
    assert first.text == second.text == TEXT
    assert first.token_scores == pytest.approx(second.token_scores)


def test_kept_special_tokens_get_no_bits_on_the_command_line(model_dir: Path, reference: Path, tmp_path: Path) -> None:
    kept, default = tmp_path / "kept.json", tmp_path / "default.json"
    assert main(_explain(model_dir, reference, TEXT, "--keep-special-tokens", "--json", str(kept), "--quiet")) == 0
    assert main(_explain(model_dir, reference, TEXT, "--json", str(default), "--quiet")) == 0
    kept_scores, default_scores = (dict(enumerate(Explanation.load(path).token_scores)) for path in (kept, default))
    special = [index for index, token in enumerate(Explanation.load(kept).tokens) if token in ("[CLS]", "[SEP]")]
    assert special and all(kept_scores[index] == 0 for index in special) and all(default_scores[index] > 0 for index in special)
    assert Explanation.load(kept).parameters["keep_special_tokens"] is True


def test_no_keep_special_tokens_overrides_the_models_recommendation(reference: Path, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    model, tokenizer = random_classifier("bert")
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    write_recommended_settings(folder, keep_special_tokens=True)
    recommended, overridden = tmp_path / "recommended.json", tmp_path / "overridden.json"
    assert main(_explain(folder, reference, TEXT, "--json", str(recommended), "--quiet")) == 0
    assert main(_explain(folder, reference, TEXT, "--no-keep-special-tokens", "--json", str(overridden), "--quiet")) == 0
    kept, plain = Explanation.load(recommended), Explanation.load(overridden)
    special = [index for index, token in enumerate(kept.tokens) if token in ("[CLS]", "[SEP]")]
    assert special and all(kept.token_scores[index] == 0 for index in special) and kept.parameters["keep_special_tokens"] is True
    assert all(plain.token_scores[index] > 0 for index in special) and "keep_special_tokens" not in plain.parameters


def test_estimate_then_explain_with_statistics(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    statistics_file = tmp_path / "stats.safetensors"
    code = main(["estimate", "--model", str(model_dir), "--reference", str(reference), "--output", str(statistics_file), "--batch-size", "4", "--max-texts", "5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    stored = load_statistics(statistics_file)
    assert list(stored) == ["embeddings", "layer.0", "layer.1", "layer.2"]
    assert str(statistics_file) in captured.out and "over 5 texts" in captured.out

    output = tmp_path / "embeddings.json"
    args = ["explain", TEXT, "--model", str(model_dir), "--statistics", str(statistics_file), "--layer", "embeddings", "--json", str(output), *FAST]
    assert main(args) == 0
    explanation = Explanation.load(output)
    assert explanation.layer == "embeddings"
    assert explanation.parameters["statistics_count"] == stored["embeddings"].count


def test_statistics_without_the_layer(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    statistics_file = tmp_path / "stats.safetensors"
    assert main(["estimate", "--model", str(model_dir), "--reference", str(reference), "--output", str(statistics_file), "--quiet"]) == 0
    output = tmp_path / "out.json"
    code = main(["explain", TEXT, "--model", str(model_dir), "--statistics", str(statistics_file), "--layer", "bert.pooler.dense", "--json", str(output), *FAST])
    _assert_clean_error(code, capsys.readouterr().err, "no entry for module.bert.pooler.dense", "layer.2")
    assert not output.exists()


@pytest.mark.parametrize(
    ("arguments", "fragments"),
    [
        (["   "], ["empty"]),
        ([TEXT, "--layer", "7"], ["layer 7 is out of range", "0..2", "'embeddings'"]),
        ([TEXT, "--layer", "no.such.module"], ["no module named 'no.such.module'", "0..2"]),
        ([TEXT, "--target", "neutral"], ["target 'neutral' does not exist", "'negative'", "'positive'"]),
        ([TEXT, "--target", "5"], ["does not exist"]),
        ([TEXT, "--beta", "-1"], ["beta must be"]),
        ([], ["no text given"]),
    ],
)
def test_explain_errors_are_clean(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], fragments: list[str]) -> None:
    output = tmp_path / "out.json"
    code = main(_explain(model_dir, reference, *arguments, "--json", str(output)))
    _assert_clean_error(code, capsys.readouterr().err, *fragments)
    assert not output.exists()
    assert list(tmp_path.glob(".out.json*")) == []


def test_missing_model_and_inputs(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.json"
    missing_model = tmp_path / "no-model"
    code = main(["explain", TEXT, "--model", str(missing_model), "--reference", str(reference), "--json", str(output)])
    _assert_clean_error(code, capsys.readouterr().err, str(missing_model), "not a model directory")

    code = main(_explain(model_dir, tmp_path / "missing.txt", TEXT, "--json", str(output)))
    _assert_clean_error(code, capsys.readouterr().err, "missing.txt", "does not exist")

    code = main(_explain(model_dir, reference, "--file", str(tmp_path / "gone.txt"), "--json", str(output)))
    _assert_clean_error(code, capsys.readouterr().err, "gone.txt")

    code = main(_explain(model_dir, reference, TEXT, "--json", str(tmp_path / "no-folder" / "out.json")))
    _assert_clean_error(code, capsys.readouterr().err, "no-folder")

    code = main(["explain", TEXT, "--model", str(model_dir), "--statistics", str(tmp_path / "none.safetensors"), "--json", str(output)])
    _assert_clean_error(code, capsys.readouterr().err, "none.safetensors")

    assert not output.exists()


def test_a_model_without_statistics_is_explained_with_the_general_prior(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "out.json"
    assert main(["explain", TEXT, "--model", str(model_dir), "--json", str(output), *FAST]) == 0
    warning = [line for line in capsys.readouterr().err.splitlines() if line.startswith("ib-nlp: warning: ")]
    assert len(warning) == 1 and "general-English corpus shipped with ib-nlp" in warning[0] and "--reference-corpus" in warning[0]
    assert Explanation.load(output).parameters["prior"].startswith("general-English default")


def test_estimate_errors_write_nothing(model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n  \n", encoding="utf-8")
    output = tmp_path / "stats.safetensors"
    code = main(["estimate", "--model", str(model_dir), "--reference", str(empty), "--output", str(output)])
    _assert_clean_error(code, capsys.readouterr().err, "holds no texts")
    unsupported = tmp_path / "corpus.xml"
    unsupported.write_text("<texts/>", encoding="utf-8")
    code = main(["estimate", "--model", str(model_dir), "--reference", str(unsupported), "--output", str(output)])
    _assert_clean_error(code, capsys.readouterr().err, ".xml", ".jsonl")
    assert list(tmp_path.glob("*stats*")) == []


def test_reference_tables_by_column(tmp_path: Path, model_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv = tmp_path / "corpus.csv"
    csv.write_text("review,label\n" + "\n".join(f'"{text}",0' for text in REFERENCE) + "\n", encoding="utf-8")
    output = tmp_path / "out.json"
    assert main(["explain", TEXT, "--model", str(model_dir), "--reference-corpus", str(csv), "--text-column", "review", "--json", str(output), *FAST, "--quiet"]) == 0
    assert Explanation.load(output).parameters["prior"] == f"reference corpus ({len(REFERENCE)} texts)"
    code = main(["explain", TEXT, "--model", str(model_dir), "--reference-corpus", str(csv), *FAST])
    _assert_clean_error(code, capsys.readouterr().err, "has no column 'text'; its columns: review, label")


def test_estimate_writes_next_to_the_model_folder_where_explain_finds_it(tmp_path: Path, reference: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "my-model"
    model, tokenizer = random_classifier("bert", seed=3)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert main(["estimate", "--model", str(folder), "--reference-corpus", str(reference)]) == 0
    assert "now finds them there" in capsys.readouterr().out
    assert (folder / "ib_statistics.safetensors").is_file()
    output = tmp_path / "out.json"
    assert main(["explain", TEXT, "--model", str(folder), "--json", str(output), *FAST, "--quiet"]) == 0
    assert Explanation.load(output).parameters["prior"] == "ib_statistics.safetensors in the model folder"
    code = main(["estimate", "--model", "imdb-bert-small", "--reference-corpus", str(reference), "--output", str(tmp_path)])
    _assert_clean_error(code, capsys.readouterr().err, "is a directory")


def test_summary_without_words(model_dir: Path, reference: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    assert main(_explain(model_dir, reference, TEXT, "--json", str(output), "--quiet")) == 0
    summary = format_summary(Explanation.load(output), 0)
    assert "rank" not in summary and summary.splitlines()[-1].startswith("seconds")


def test_summary_of_a_signed_method_lists_the_words_for_and_against_the_target(model_dir: Path, reference: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.json"
    assert main(_explain(model_dir, reference, TEXT, "--method", "gradient_signed_iba", "--json", str(output), "--quiet")) == 0
    explanation = Explanation.load(output)
    explanation.word_scores = [(-1.0) ** index * (index + 1) for index in range(len(explanation.words))]
    lines = format_summary(explanation, 2).splitlines()
    supporting, opposing = lines.index("for the target:"), lines.index("against the target:")
    words = [word.text for word in explanation.words]
    supporting_words = sorted(range(0, len(words), 2), reverse=True)[:2]
    opposing_words = sorted(range(1, len(words), 2), reverse=True)[:2]
    assert [row.split()[1:] for row in lines[supporting + 2 : supporting + 4]] == [[words[i], f"{i + 1.0:.3f}"] for i in supporting_words]
    assert [row.split()[1:] for row in lines[opposing + 2 :]] == [[words[i], f"{-(i + 1.0):.3f}"] for i in opposing_words]
    assert lines[opposing + 1].split() == ["rank", "word", "signed", "bits"]


def test_models_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    capsys.readouterr()
    for command in ("explain", "estimate", "models"):
        assert main([command, "--help"]) == 0
        assert f"usage: ib-nlp {command}" in capsys.readouterr().out
    assert main([]) == 2
    assert "required" in capsys.readouterr().err
    assert main(["explain", TEXT, "--steps", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_models_table_shows_each_models_facts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models"]) == 0
    table, own, recipes = capsys.readouterr().out.split("\n\n")
    header, *rows = table.splitlines()
    assert recipes.startswith("minilm-imdb: too large to ship, not built yet; build it with: ") and "ib-nlp train --model minilm" in recipes and "ib-nlp ship-statistics" in recipes
    assert header.split()[:3] == ["name", "architecture", "size"] and header.rstrip().endswith("folder")
    assert len(rows) == len(shipped_model_names())
    for name, row in zip(shipped_model_names(), rows, strict=True):
        folder = shipped_model_path(name)
        config = json.loads((folder / "config.json").read_text())
        accuracy = json.loads((folder / "training.json").read_text())["test_accuracy"]
        defaults = config["ib_nlp_defaults"]
        assert row.startswith(name) and row.endswith(str(folder))
        assert f"{100 * accuracy:.2f}%" in row
        assert f"  {defaults['layer']}  " in row and f"  {defaults['beta']:g}  " in row
        for method, settings in defaults.get("methods", {}).items():
            line = next(line for line in own.splitlines() if line.startswith(f"{name}: {method} at "))
            for key, value in settings.items():
                shown = f"{key} {value:g}" if isinstance(value, float) else f"{key} {value}"
                assert shown in line
    assert own.startswith("methods with their own recommended settings:")
    assert "(default)" in rows[shipped_model_names().index(DEFAULT_MODEL)]
    assert main(["models", "--names"]) == 0
    assert capsys.readouterr().out.split() == shipped_model_names()


def test_every_ib_nlp_step_of_a_recipe_is_a_valid_command() -> None:
    """A recipe is a shell string the package prints; a misspelt option would only fail on a
    user's machine after an hour of training, so each ``ib-nlp`` step must parse here."""
    for name in RECIPE_MODELS:
        steps = [shlex.split(step) for step in recipe_command(name).split("&&")]
        ib_nlp_steps = [step[1:] for step in steps if step[0] == "ib-nlp"]
        assert ib_nlp_steps, name
        for arguments in ib_nlp_steps:
            build_parser().parse_args(arguments)  # argparse exits on an unknown option or a bad value


def test_a_built_recipe_model_joins_the_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("IB_NLP_CACHE", str(tmp_path))
    folder = tmp_path / "models" / "minilm-imdb"
    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    (folder / "training.json").write_text(json.dumps({"test_accuracy": 0.9, "eval_reviews": 25000}))
    write_recommended_settings(folder, 1, 3.0)
    write_recommended_settings(folder, "embeddings", 10.0, method="gradient_signed_iba")
    write_recommended_settings(folder, keep_special_tokens=True)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("minilm-imdb"))
    assert "Bert, 2 layers x 32" in row and "90.00% of 25,000" in row and row.endswith(str(folder)) and "not built" not in out
    assert row.split()[-3:-1] == ["1", "3"] and "methods with their own recommended settings:\n" in out
    assert "\nminilm-imdb: gradient_signed_iba at layer embeddings, beta 10\n" in out
    assert out.rstrip().endswith("\n[CLS]/[SEP] kept out of the bottleneck by default (keep_special_tokens): minilm-imdb")
    assert main(["models", "--names"]) == 0
    assert capsys.readouterr().out.split() == [*shipped_model_names(), "minilm-imdb"]


@pytest.mark.parametrize("argv", [["--help"], ["explain", "--help"], ["models"]])
def test_help_and_models_import_neither_torch_nor_transformers(argv: list[str]) -> None:
    code = f"import sys; from ib_nlp.cli import main; main({argv!r}); print(sorted(m for m in ('torch', 'transformers', 'scipy', 'datasets') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "[]"


def test_python_dash_m(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "ib_nlp", "explain", "--help"], capture_output=True, text=True, check=False, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "--reference" in result.stdout


def test_truncation_warning_is_one_line(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "long.json"
    assert main(_explain(model_dir, reference, " ".join(["good"] * 200), "--json", str(output), "--quiet")) == 0
    err = capsys.readouterr().err
    assert "ib-nlp: warning: text of" in err and "truncated" in err and "Traceback" not in err
    assert Explanation.load(output).truncated


def test_explain_writes_html_report(model_dir: Path, reference: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    review = "A wonderful film <script>alert(1)</script>"
    report_file = tmp_path / "report.html"
    output = tmp_path / "out.json"
    code = main(_explain(model_dir, reference, review, "--json", str(output), "--html", str(report_file)))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"ib-nlp: wrote {report_file}" in captured.err
    page = report_file.read_text(encoding="utf-8")
    explanation = Explanation.load(output)
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('<span class="w" ') == len(explanation.words)
    assert "<script" not in page
    assert review in html.unescape(re.sub(r"<[^>]*>", "", page)), "the markup of the review shows as text"
    assert list(tmp_path.glob(".report.html*")) == [], "no temporary file is left"

    missing = tmp_path / "no-folder" / "report.html"
    code = main(_explain(model_dir, reference, review, "--json", str(tmp_path / "second.json"), "--html", str(missing)))
    _assert_clean_error(code, capsys.readouterr().err, "no-folder")
    assert not (tmp_path / "second.json").exists(), "the path is checked before anything is computed or written"

    code = main(_explain(model_dir, reference, review, "--json", str(output), "--html", str(output)))
    _assert_clean_error(code, capsys.readouterr().err, "same file")


def test_explain_with_a_baseline_method(capsys, tmp_path):
    from ib_nlp.cli import main

    output = tmp_path / "ig.json"
    assert main(["explain", "a wonderful film", "--method", "integrated_gradients", "--steps", "8", "--json", str(output), "--quiet"]) == 0
    saved = Explanation.load(output)
    assert saved.method == "integrated_gradients" and saved.parameters["steps"] == 8 and saved.unit == "logit"
    assert main(["explain", "a wonderful film", "--method", "saliency", "--beta", "2"]) == 2
    assert "beta: option(s) of IBA, not of saliency" in capsys.readouterr().err


def test_text_the_tokenizer_cannot_take_is_refused_the_same_way_everywhere(model_dir, reference, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a good \xff\xfe film"), encoding="utf-8"))
    _assert_clean_error(main(_explain(model_dir, reference, "-")), capsys.readouterr().err, "standard input is not UTF-8 text")
    _assert_clean_error(main(_explain(model_dir, reference, "a good \udcff film")), capsys.readouterr().err, "unpaired surrogate (U+DCFF)")
    _assert_clean_error(main(_explain(model_dir, reference, "\x00\x01\x02")), capsys.readouterr().err, "holds only whitespace or control characters")


def test_the_summary_prints_terminal_escape_sequences_escaped(model_dir, reference, capsys):
    assert main(_explain(model_dir, reference, "good \x1b]0;owned\x07 film \x1b[31mred", "--top", "20")) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b" in out


def test_corrupt_weights_are_one_line(model_dir, reference, tmp_path, capsys):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    (broken / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    _assert_clean_error(main(_explain(broken, reference, TEXT)), capsys.readouterr().err, "are unreadable, perhaps truncated or corrupt", str(broken))


def test_statistics_of_another_model_need_the_explicit_override(model_dir, reference, tmp_path, capsys):
    other = tmp_path / "other"
    model, tokenizer = random_classifier("bert", seed=5)
    model.save_pretrained(other)
    tokenizer.save_pretrained(other)
    stats = tmp_path / "other.safetensors"
    assert main(["estimate", "--model", str(other), "--reference", str(reference), "--output", str(stats), "--quiet"]) == 0
    arguments = ["explain", TEXT, "--model", str(model_dir), "--statistics", str(stats), "--layer", "1", *FAST]
    _assert_clean_error(main(arguments), capsys.readouterr().err, "estimated on another model", "--ignore-statistics-origin")
    assert main([*arguments, "--ignore-statistics-origin", "--quiet"]) == 0


@pytest.mark.slow
def test_ctrl_c_stops_the_optimisation_at_once_and_writes_nothing(model_dir, reference, tmp_path):
    """SIGINT during a million-step optimisation: exit 130 within seconds, one line, no output file."""
    import fcntl
    import os
    import signal
    import time

    output = tmp_path / "out.json"
    arguments = [sys.executable, "-m", "ib_nlp", *_explain(model_dir, reference, TEXT, "--steps", "1000000", "--json", str(output))]
    arguments.remove("2")  # drop the FAST --steps value; --steps 1000000 follows
    arguments.remove("--steps")
    process = subprocess.Popen(arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    fcntl.fcntl(process.stderr, fcntl.F_SETFL, os.O_NONBLOCK)
    seen, started = b"", time.monotonic()
    while b"IBA" not in seen and time.monotonic() - started < 240 and process.poll() is None:
        seen += process.stderr.read() or b""
        time.sleep(0.1)
    assert b"IBA" in seen, seen.decode(errors="replace")
    process.send_signal(signal.SIGINT)
    interrupted = time.monotonic()
    assert process.wait(timeout=60) == 130
    assert time.monotonic() - interrupted < 30
    stderr = (seen + (process.stderr.read() or b"")).decode().replace("\r", "\n")
    assert stderr.strip().splitlines()[-1] == "ib-nlp: interrupted; nothing was written"
    assert "Traceback" not in stderr and not output.exists() and not list(tmp_path.glob(".out.json.*"))


def test_explain_with_a_signed_bottleneck_and_a_named_contrast(model_dir, reference, tmp_path, capsys):
    output = tmp_path / "signed.json"
    code = main(_explain(model_dir, reference, TEXT, "--method", "contrastive_iba", "--target", "positive", "--contrast", "negative", "--json", str(output), "--quiet"))
    assert code == 0, capsys.readouterr().err
    saved = Explanation.load(output)
    assert (saved.method, saved.unit, saved.metadata["contrast"], saved.parameters["contrast"]) == ("contrastive_iba", "signed bits", "negative", "negative")
    code = main(_explain(model_dir, reference, TEXT, "--method", "gradient_signed_iba", "--contrast", "negative"))
    _assert_clean_error(code, capsys.readouterr().err, "gradient_signed_iba has no option 'contrast'")


def test_methods_lists_every_method_with_its_unit_and_sign(capsys):
    from ib_nlp.text.methods import method_names

    assert main(["methods"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["name", "method", "unit", "signed", "what"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert list(rows) == method_names()
    assert "signed bits" in rows["gradient_signed_iba"] and " yes " in rows["contrastive_iba"] and " no " in rows["iba"]


@pytest.mark.parametrize("command", ["evaluate-images", "image-heatmaps"])
def test_an_unknown_image_model_is_refused_with_the_names_before_anything_is_written(command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ib_nlp.testing import image_sample

    out = tmp_path / "out" / ("maps.png" if command == "image-heatmaps" else "run")
    status = main([command, "--data", str(image_sample(tmp_path / "sample", 1)), "--model", "resnet51", "--out", str(out)])
    assert status == 2 and not (tmp_path / "out").exists()
    assert "unknown image model 'resnet51' (did you mean 'resnet50'?); available: efficientnet-lite0, vgg16, resnet50, resnet50-layer2" in capsys.readouterr().err
