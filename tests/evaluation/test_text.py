"""The evaluation runner: records per text, resume, summaries, outputs, and multi-process runs."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest

from ib_nlp import Classifier, InvalidInputError
from ib_nlp.evaluation import text as text_evaluation
from ib_nlp.evaluation import (
    EvaluationSettings,
    SETTINGS_FILE,
    JsonLines,
    finished_records,
    run_evaluation,
    sample_items,
    summarize,
)
from ib_nlp.testing import random_classifier

ROOT = Path(__file__).resolve().parents[2]
TEXTS = [
    "the movie was good and the acting was great",
    "a terrible boring film with bad acting",
    "i loved this story, the music was beautiful",
    "worst movie ever made, a waste of time",
    "the plot was dull but the ending was fun",
    "brilliant actors and a wonderful director",
]
LABELS = [1, 0, 1, 0, 0, 1]


@pytest.fixture
def settings(reference_texts) -> EvaluationSettings:
    return EvaluationSettings(
        model="tiny",
        data=None,
        n=4,
        methods=["iba", "saliency", "random"],
        options={"iba": {"reference_corpus": reference_texts, "steps": 3, "samples": 2}, "sensitivity_n": {"subsets": 5}, "degradation": {"steps": 4}},
    )


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.load(random_classifier("bert", layers=2))


def items(n: int) -> list[dict]:
    return sample_items(datasets.Dataset.from_dict({"text": TEXTS, "label": LABELS}), n, seed=0)


def test_sample_items_are_a_seeded_prefix():
    assert [i["index"] for i in items(3)] == [i["index"] for i in items(5)[:3]]
    assert sorted(i["index"] for i in items(6)) == list(range(6))
    with pytest.raises(InvalidInputError, match="n must be between 1 and 6"):
        items(7)


def test_records_are_written_per_text_and_a_rerun_resumes(settings, classifier, tmp_path, monkeypatch):
    records = run_evaluation(settings, items(4), tmp_path, classifier=classifier, progress=False)
    assert [r["index"] for r in records] == sorted(i["index"] for i in items(4))
    assert set(records[0]["methods"]) == {"iba", "saliency", "random"}
    assert set(records[0]["methods"]["iba"]["metrics"]) == {"degradation", "sensitivity_n", "insertion_deletion"}
    assert 0 < records[0]["methods"]["iba"]["kept_probability"] <= 1 and "kept_probability" not in records[0]["methods"]["saliency"]

    computed = []
    original = text_evaluation.evaluate_item
    monkeypatch.setattr(text_evaluation, "evaluate_item", lambda *args: computed.append(args[3]["index"]) or original(*args))
    again = run_evaluation(settings, items(4), tmp_path, classifier=classifier, progress=False)
    assert computed == [] and again == records

    results = tmp_path / "results.0.jsonl"
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][: len(lines[-1]) // 2])  # a write cut short
    settings.n = 5
    with pytest.warns(UserWarning, match="incomplete"):
        extended = run_evaluation(settings, items(5), tmp_path, classifier=classifier, progress=False)
    assert sorted(computed) == sorted([items(4)[-1]["index"], items(5)[-1]["index"]])
    assert len(extended) == 5


def test_a_run_with_other_settings_is_refused(settings, classifier, tmp_path):
    run_evaluation(settings, items(1), tmp_path, classifier=classifier, progress=False)
    settings.methods = ["random"]
    with pytest.raises(InvalidInputError, match="methods differ"):
        run_evaluation(settings, items(1), tmp_path, classifier=classifier, progress=False)


@pytest.mark.parametrize(
    ("recommendation", "message"),
    [
        ({"layer": 1}, r'with \{"beta": 10.0, "keep_special_tokens": false, "layer": 0\}, but iba now resolves \{"beta": 10.0, "keep_special_tokens": false, "layer": 1\}'),
        ({"keep_special_tokens": True}, r'with \{.*"keep_special_tokens": false.*\}, but iba now resolves \{.*"keep_special_tokens": true.*\}'),
    ],
)
def test_a_resumed_run_refuses_when_a_method_resolves_another_setting(settings, classifier, tmp_path, monkeypatch, recommendation, message):
    """The model's recommended settings changed between two parts of a run: the records say so,
    and the refusal names the options that pin the records' setting."""
    from ib_nlp.core.optimise import IBAConfig

    first = run_evaluation(settings, items(2), tmp_path, classifier=classifier, progress=False)
    assert first[0]["methods"]["iba"]["setting"] == {"layer": 0, "beta": IBAConfig().beta, "keep_special_tokens": False}
    assert "setting" not in first[0]["methods"]["random"]
    monkeypatch.setattr(classifier.model.config, "ib_nlp_defaults", recommendation, raising=False)
    before = (tmp_path / "results.0.jsonl").read_text()
    settings.n = 3
    pins = "--option iba.beta=10.0 --option iba.keep_special_tokens=false --option iba.layer=0"
    with pytest.raises(InvalidInputError, match=message + ".*resume with " + pins + " to keep"):
        run_evaluation(settings, items(3), tmp_path, classifier=classifier, progress=False)
    assert (tmp_path / "results.0.jsonl").read_text() == before


def test_keys_a_record_does_not_hold_are_not_checked(settings, classifier, tmp_path, monkeypatch):
    """Records written before keep_special_tokens was recorded resume under either value."""
    run_evaluation(settings, items(2), tmp_path, classifier=classifier, progress=False)
    results = tmp_path / "results.0.jsonl"
    older = [json.loads(line) for line in results.read_text().splitlines()]
    for record in older:
        del record["methods"]["iba"]["setting"]["keep_special_tokens"]
    results.write_text("".join(json.dumps(record) + "\n" for record in older))
    monkeypatch.setattr(classifier.model.config, "ib_nlp_defaults", {"keep_special_tokens": True}, raising=False)
    settings.n = 3
    assert len(run_evaluation(settings, items(3), tmp_path, classifier=classifier, progress=False)) == 3


def test_a_resumed_run_can_pin_the_setting_its_texts_were_explained_with(settings, classifier, tmp_path, monkeypatch):
    """After the recommendation changed, the options the refusal names continue the run; a pin
    the texts contradict, or any other changed option, is refused and changes nothing."""
    from ib_nlp.core.optimise import IBAConfig

    run_evaluation(settings, items(2), tmp_path, classifier=classifier, progress=False)
    monkeypatch.setattr(classifier.model.config, "ib_nlp_defaults", {"layer": 1}, raising=False)
    settings_file = tmp_path / SETTINGS_FILE
    for wrong in ({"layer": 1}, {"layer": 0, "steps": 4}):
        stored = (settings_file.read_text(), (tmp_path / "results.0.jsonl").read_text())
        attempt = dataclasses.replace(settings, n=3, options={**settings.options, "iba": {**settings.options["iba"], **wrong}})
        with pytest.raises(InvalidInputError, match="now resolves" if "steps" not in wrong else "options differ"):
            run_evaluation(attempt, items(3), tmp_path, classifier=classifier, progress=False)
        assert (settings_file.read_text(), (tmp_path / "results.0.jsonl").read_text()) == stored

    pinned = dataclasses.replace(settings, n=3, options={**settings.options, "iba": {**settings.options["iba"], "layer": 0, "beta": IBAConfig().beta}})
    records = run_evaluation(pinned, items(3), tmp_path, classifier=classifier, progress=False)
    assert [record["methods"]["iba"]["setting"] for record in records] == [{"layer": 0, "beta": IBAConfig().beta, "keep_special_tokens": False}] * 3
    assert json.loads(settings_file.read_text())["options"]["iba"]["layer"] == 0


def test_finished_records_are_the_longest_finished_prefix_of_the_sample(settings, classifier, tmp_path):
    settings.methods, settings.sanity_n = ["saliency", "random"], 4
    with pytest.raises(InvalidInputError, match="holds no evaluation run"):
        finished_records(settings, items(4), tmp_path)
    first = run_evaluation(settings, items(4), tmp_path, classifier=classifier, progress=False, shard=(0, 2))
    assert len(first) == 2  # the sample's texts 1 and 3; text 2 belongs to the other shard
    results, sanity = finished_records(settings, items(4), tmp_path)
    assert [r["index"] for r in results] == [r["index"] for r in sanity] == [items(4)[0]["index"]]
    everything = run_evaluation(settings, items(4), tmp_path, classifier=classifier, progress=False, shard=(1, 2))
    results, sanity = finished_records(settings, items(4), tmp_path)
    assert results == everything and len(sanity) == 4
    settings.methods = ["random"]
    with pytest.raises(InvalidInputError, match="methods differ"):
        finished_records(settings, items(4), tmp_path)


def without_timings(record: dict) -> dict:
    methods = {name: {key: value for key, value in result.items() if key != "seconds"} for name, result in record["methods"].items()}
    return {**{key: value for key, value in record.items() if key != "metric_seconds"}, "methods": methods}


def test_shards_started_by_hand_split_the_texts_and_merge_to_the_records_of_one_run(settings, classifier, tmp_path, monkeypatch):
    one = run_evaluation(settings, items(4), tmp_path / "one", classifier=classifier, progress=False)
    computed = []
    original = text_evaluation.evaluate_item
    monkeypatch.setattr(text_evaluation, "evaluate_item", lambda *args: computed.append(args[3]["index"]) or original(*args))
    for index in (1, 0):
        run_evaluation(settings, items(4), tmp_path / "two", classifier=classifier, progress=False, shard=(index, 2))
    assert sorted(p.name for p in (tmp_path / "two").glob("results.*.jsonl")) == ["results.s0of2.jsonl", "results.s1of2.jsonl"]
    assert sorted(computed) == sorted(i["index"] for i in items(4))
    merged = run_evaluation(settings, items(4), tmp_path / "two", classifier=classifier, progress=False)
    assert len(computed) == 4 and [without_timings(r) for r in merged] == [without_timings(r) for r in one]
    with pytest.raises(InvalidInputError, match="0 <= index < count"):
        run_evaluation(settings, items(4), tmp_path / "three", classifier=classifier, progress=False, shard=(2, 2))


def test_methods_that_do_not_apply_are_skipped_with_the_reason(settings, tmp_path):
    lstm = Classifier.load(random_classifier("lstm", layers=1))
    settings.methods = ["random", "attention"]
    with pytest.warns(UserWarning, match="skipping attention: .*no attention weights"):
        records = run_evaluation(settings, items(1), tmp_path, classifier=lstm, progress=False)
    assert list(records[0]["methods"]) == ["random"]


def test_summary_is_the_mean_and_standard_error_over_texts(settings, classifier, tmp_path):
    records = run_evaluation(settings, items(4), tmp_path, classifier=classifier, progress=False)
    rows = {(r["method"], r["metric"], r["value"]): r for r in summarize(records, settings.metrics)}
    values = np.array([r["methods"]["saliency"]["metrics"]["degradation"]["lerf_minus_morf"] for r in records])
    row = rows[("saliency", "degradation", "lerf_minus_morf")]
    assert row["mean"] == pytest.approx(values.mean()) and row["n"] == 4
    assert row["sem"] == pytest.approx(values.std(ddof=1) / 2) and row["direction"] == "higher is better"
    assert rows[("iba", "insertion_deletion", "deletion_auc")]["direction"] == "lower is better"
    kept = np.array([r["methods"]["iba"]["kept_probability"] for r in records])
    assert rows[("iba", "bottleneck", "kept_probability")]["mean"] == pytest.approx(kept.mean()) and ("saliency", "bottleneck", "kept_probability") not in rows
    assert rows[("iba", "bottleneck", "kept_probability")]["direction"] == f"model's own {np.mean([r['probability'] for r in records]):.3f}"
    header, body = text_evaluation.summary_table(list(rows.values()), [("bottleneck", "kept_probability")])
    assert header[1] == f"bottleneck: kept_probability (model's own {np.mean([r['probability'] for r in records]):.3f})"
    assert [cells[1] for cells in body if cells[0] == "saliency"] == ["n/a"]
    older = [json.loads(json.dumps(record)) for record in records]
    del older[0]["methods"]["iba"]["kept_probability"]  # written before the kept probability existed
    older_rows = {(r["method"], r["metric"], r["value"]): r for r in summarize(older, settings.metrics)}
    later = older_rows[("iba", "bottleneck", "kept_probability")]
    assert later["n"] == 3 and later["mean"] == pytest.approx(kept[1:].mean())
    assert later["direction"] == f"model's own {np.mean([r['probability'] for r in records[1:]]):.3f} on the 3 reviews that record it"


def test_the_report_lists_the_settings_a_reader_can_repeat_the_run_from(settings):
    facts = dict(text_evaluation.settings_facts(dataclasses.replace(settings, sanity_n=2)))
    assert facts["Methods"] == "iba, saliency, random" and facts["Reviews"] == "4 (seed 0)" and facts["Sanity check"] == "2 reviews"
    assert "IB_NLP_IMDB" in facts["Data"] and "stanfordnlp/imdb" in facts["Data"]
    corpus = len(settings.options["iba"]["reference_corpus"])
    assert facts["Options"] == f"iba.reference_corpus=[{corpus} items], iba.steps=3, iba.samples=2, sensitivity_n.subsets=5, degradation.steps=4"
    plain = dict(text_evaluation.settings_facts(dataclasses.replace(settings, options={"lime": {"kernel": "x" * 80}}, data="reviews.parquet")))
    assert plain["Options"] == "lime.kernel=" + "x" * 59 + "…" and plain["Data"] == "reviews.parquet" and plain["Sanity check"] == "not run"


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    datasets.Dataset.from_dict({"text": TEXTS, "label": LABELS}).to_parquet(folder / "test.parquet")
    return folder / "model", folder / "test.parquet"


def script_arguments(model: Path, data: Path, out: Path) -> list[str]:
    return [
        str(ROOT / "scripts" / "evaluate.py"), "--model", str(model), "--data", str(data), "--n", "5", "--no-progress",
        "--methods", "iba", "gradient_x_input", "random", "--out", str(out),
        "--option", 'iba.reference_corpus=["good movie", "a bad film", "i loved it", "boring"]', "--option", "iba.steps=3",
        "--option", "sensitivity_n.subsets=6", "--sanity-n", "2",
    ]


def read_summary(path: Path) -> dict[tuple[str, str, str], float | None]:
    with open(path) as handle:
        return {(r["method"], r["metric"], r["value"]): (float(r["mean"]) if r["mean"] else None) for r in csv.DictReader(handle) if r["metric"] != "time"}


@pytest.mark.slow
def test_two_processes_give_the_numbers_of_one(saved_model, tmp_path):
    model, data = saved_model
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, *script_arguments(model, data, tmp_path / "one")], check=True, env=environment, capture_output=True)
    launcher = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    subprocess.run([*launcher, *script_arguments(model, data, tmp_path / "two")], check=True, env=environment, capture_output=True)
    assert sorted(p.name for p in (tmp_path / "two").glob("results.*.jsonl")) == ["results.0.jsonl", "results.1.jsonl"]
    one, two = read_summary(tmp_path / "one" / "summary.csv"), read_summary(tmp_path / "two" / "summary.csv")
    assert one.keys() == two.keys() and any(key[1] == "sanity_check" for key in one)
    for key, value in one.items():
        assert (value is None and two[key] is None) or two[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_script_writes_tables_figures_and_a_report(saved_model, tmp_path):
    model, data = saved_model
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, *script_arguments(model, data, out)], check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "| iba |" in result.stdout and "Sanity check (2 reviews)" in result.stdout
    for name in ("summary.md", "summary.csv", "curves.png", "sanity.png", "report.html", "settings.json"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "<script" not in page
    assert "<h2>Settings</h2>" in page and "iba, gradient_x_input, random" in page and "iba.steps=3" in page
    assert json.loads((out / "settings.json").read_text())["methods"] == ["iba", "gradient_x_input", "random"]
    assert len(JsonLines(out, "sanity.*.jsonl", 0).read()) == 2

    (out / "summary.md").unlink()
    summary_only = [sys.executable, str(ROOT / "scripts" / "evaluate.py"), "--summary-only", "--out"]
    again = subprocess.run([*summary_only, str(out)], check=True, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert "finished so far 5 of 5 reviews and the sanity check on 2 of 2" in again.stdout
    assert (out / "summary.md").read_text() in again.stdout
    refused = subprocess.run([*summary_only, str(tmp_path / "empty")], capture_output=True, text=True)
    assert refused.returncode != 0 and "holds no evaluation run" in refused.stderr


@pytest.mark.parametrize("panels", [1, 2, 4])
def test_curves_png_draws_any_number_of_panels(panels):
    from ib_nlp.ui.plots import curves_png

    curves = {"iba": ([0, 0.5, 1], [1.0, 0.4, 0.2]), "random": (["original", "head", "layer.0"], [1.0, 0.9, 0.8])}
    png = curves_png([(f"panel {i}", "x", "y", curves) for i in range(panels)])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_shard_arguments_are_parsed_and_bad_ones_refused(capsys):
    import argparse

    from ib_nlp.options import argument_type
    from ib_nlp.evaluation import parse_shard

    assert parse_shard("3/14") == (3, 14)
    for bad, message in (("4/4", "0 <= INDEX < COUNT"), ("a/2", "INDEX/COUNT such as 0/4"), ("2", "INDEX/COUNT such as 0/4")):
        with pytest.raises(InvalidInputError, match=message):
            parse_shard(bad)
    parser = argparse.ArgumentParser(prog="evaluate.py")
    parser.add_argument("--shard", type=argument_type(parse_shard))
    with pytest.raises(SystemExit):
        parser.parse_args(["--shard", "4/4"])
    assert "argument --shard: expected 0 <= INDEX < COUNT, got '4/4'" in capsys.readouterr().err


def test_script_options_are_parsed_as_json_else_strings_and_bad_ones_refused():
    from ib_nlp.evaluation import parse_options

    parsed = parse_options(["iba.beta=1", "iba.layer=embeddings", "lime.samples=200", "input_iba.gan_epochs=0", "readout.readout=runs/a=b.pt"])
    assert parsed == {"iba": {"beta": 1, "layer": "embeddings"}, "lime": {"samples": 200}, "input_iba": {"gan_epochs": 0}, "readout": {"readout": "runs/a=b.pt"}}
    for bad in ("beta=1", "iba.beta", ".beta=1", "iba.=1"):
        with pytest.raises(InvalidInputError, match="NAME.KEY=VALUE"):
            parse_options([bad])


def test_a_torn_last_line_is_moved_aside_when_the_run_resumes(tmp_path):
    log = JsonLines(tmp_path, "results.*.jsonl", 0)
    log.append({"index": 1, "value": 1.0})
    with open(log.path, "a", encoding="utf-8") as handle:
        handle.write('{"index": 2, "val')
    with pytest.warns(UserWarning, match="moved 1 incomplete line"):
        assert log.drop_torn_lines() == 1
    assert log.path.read_text() == '{"index": 1, "value": 1.0}\n'
    assert (tmp_path / "results.0.jsonl.torn").read_text() == '{"index": 2, "val\n'
    assert log.drop_torn_lines() == 0 and [r["index"] for r in log.read()] == [1]


def test_a_run_that_finished_nothing_does_not_lock_its_folder(tmp_path):
    from ib_nlp.evaluation.text import _settings_guard

    first = EvaluationSettings(model="m", data=None, methods=["iba"], options={"iba": {"stpes": 3}})
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(first)))
    corrected = dataclasses.replace(first, options={"iba": {"steps": 3}})
    _settings_guard(tmp_path, corrected)  # nothing finished: the corrected settings replace the failed run's
    JsonLines(tmp_path, "results.*.jsonl", 0).append({"index": 0})
    with pytest.raises(InvalidInputError, match="holds a run with other settings"):
        _settings_guard(tmp_path, corrected)


def test_pins_are_refused_where_the_texts_cannot_confirm_them(tmp_path):
    """Texts written before settings were recorded, or a sanity check (which records none),
    cannot confirm a pinned layer or beta: any change of options is refused there."""
    from ib_nlp.evaluation.text import _settings_guard

    first = EvaluationSettings(model="m", data=None, methods=["iba"], options={"iba": {"steps": 3}})
    (tmp_path / SETTINGS_FILE).write_text(json.dumps(dataclasses.asdict(first)))
    pinned = dataclasses.replace(first, options={"iba": {"steps": 3, "beta": 10}})
    results = JsonLines(tmp_path, "results.*.jsonl", 0)
    results.append({"index": 0, "methods": {"iba": {"setting": {"layer": 0, "beta": 10}}}})
    _settings_guard(tmp_path, pinned)
    JsonLines(tmp_path, "sanity.*.jsonl", 0).append({"index": 0, "methods": {}})
    with pytest.raises(InvalidInputError, match="options differ"):
        _settings_guard(tmp_path, pinned)
    (tmp_path / "sanity.0.jsonl").unlink()
    with pytest.raises(InvalidInputError, match="options differ"):  # the records do not hold it
        _settings_guard(tmp_path, dataclasses.replace(pinned, options={"iba": {"steps": 3, "beta": 10, "keep_special_tokens": True}}))
    results.append({"index": 1, "methods": {"iba": {}}})
    with pytest.raises(InvalidInputError, match="options differ"):
        _settings_guard(tmp_path, pinned)


def test_a_run_resumes_from_another_copy_of_its_data_and_refuses_other_reviews(saved_model, tmp_path, monkeypatch):
    """Runs are tied to their reviews' content, not to the path they were read from: shards on
    another machine, or another checkout, continue the same run."""
    from ib_nlp.evaluation.text import evaluate_imdb, summarize_finished_run

    model, data = saved_model
    copy, edited, out = tmp_path / "copy.parquet", tmp_path / "edited.parquet", tmp_path / "run"
    copy.write_bytes(data.read_bytes())
    datasets.Dataset.from_dict({"text": [TEXTS[0] + "!", *TEXTS[1:]], "label": LABELS}).to_parquet(edited)
    run = EvaluationSettings(model=str(model), data=str(data), n=2, methods=["random"], metrics=["degradation"], options={"degradation": {"steps": 3}})
    evaluate_imdb(run, out, progress=False)
    assert json.loads((out / SETTINGS_FILE).read_text())["data_fingerprint"] == text_evaluation.data_fingerprint(datasets.Dataset.from_parquet(str(copy)))

    computed = []
    original = text_evaluation.evaluate_item
    monkeypatch.setattr(text_evaluation, "evaluate_item", lambda *args: computed.append(args[3]["index"]) or original(*args))
    evaluate_imdb(dataclasses.replace(run, data=str(copy), n=3), out, progress=False)
    assert computed == [items(3)[-1]["index"]]
    with pytest.raises(InvalidInputError, match=f"other reviews than {edited}.*it read {copy}"):
        evaluate_imdb(dataclasses.replace(run, data=str(edited), n=3), out, progress=False)
    original_bytes = copy.read_bytes()
    copy.write_bytes(edited.read_bytes())
    with pytest.raises(InvalidInputError, match=f"the reviews in {copy} changed since the run"):
        evaluate_imdb(dataclasses.replace(run, data=str(copy), n=3), out, progress=False)
    copy.write_bytes(original_bytes)

    data_here = json.loads((out / SETTINGS_FILE).read_text())["data"]
    assert summarize_finished_run(out, edited)[1] == "3 of 3 reviews"  # the run's own data is here: --data is not needed
    copy.rename(tmp_path / "moved.parquet")  # as if the run's folder came from another machine
    assert summarize_finished_run(out, data)[1] == "3 of 3 reviews"
    with pytest.raises(InvalidInputError, match="other reviews"):
        summarize_finished_run(out, edited)
    assert data_here == str(copy)


def test_a_run_from_before_data_fingerprints_resumes_from_its_own_data_source_only(tmp_path):
    from ib_nlp.evaluation.text import _settings_guard

    old = EvaluationSettings(model="m", data="imdb/", methods=["random"])
    (tmp_path / SETTINGS_FILE).write_text(json.dumps({key: value for key, value in dataclasses.asdict(old).items() if key != "data_fingerprint"}))
    JsonLines(tmp_path, "results.*.jsonl", 0).append({"index": 0})
    _settings_guard(tmp_path, dataclasses.replace(old, data_fingerprint="ab12"))
    with pytest.raises(InvalidInputError, match="other reviews than copy/ \\(it read imdb/\\)"):
        _settings_guard(tmp_path, dataclasses.replace(old, data="copy/", data_fingerprint="ab12"))


@pytest.mark.slow
def test_the_script_reports_library_errors_in_one_line(saved_model, tmp_path):
    model, data = saved_model
    missing = tmp_path / "missing.safetensors"
    arguments = [str(ROOT / "scripts" / "evaluate.py"), "--model", str(model), "--data", str(data), "--n", "2", "--no-progress", "--methods", "iba", "--statistics", str(missing), "--out", str(tmp_path / "run")]
    result = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("evaluate.py: error: ") and str(missing) in last


def test_processes_sharing_a_cpu_share_its_threads(monkeypatch):
    import os

    import torch

    from ib_nlp.evaluation import share_cpu_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    before = torch.get_num_threads()
    try:
        share_cpu_threads("cpu", 4)
        assert torch.get_num_threads() == 2
        share_cpu_threads("cpu", 16)
        assert torch.get_num_threads() == 1
        torch.set_num_threads(3)
        share_cpu_threads("cuda", 4)
        share_cpu_threads("cpu", 1)
        monkeypatch.setenv("OMP_NUM_THREADS", "3")
        share_cpu_threads("cpu", 4)
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_the_script_takes_a_reference_corpus_file_for_a_model_without_statistics(saved_model, tmp_path):
    model, data = saved_model
    corpus = tmp_path / "corpus.csv"
    datasets.Dataset.from_dict({"review": TEXTS}).to_csv(str(corpus))
    out = tmp_path / "run"
    arguments = [str(ROOT / "scripts" / "evaluate.py"), "--model", str(model), "--data", str(data), "--n", "2", "--no-progress", "--methods", "iba", "gradient_signed_iba",
                 "--metrics", "degradation", "--reference", str(corpus), "--text-column", "review", "--option", "iba.steps=2", "--option", "gradient_signed_iba.steps=2", "--out", str(out)]
    result = subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert result.returncode == 0, result.stderr
    assert "general-English" not in result.stderr
    settings = json.loads((out / SETTINGS_FILE).read_text())
    for name in ("iba", "gradient_signed_iba"):
        assert settings["options"][name] == {"steps": 2, "reference_corpus": str(corpus), "text_column": "review"}
    record = json.loads((out / "results.0.jsonl").read_text().splitlines()[0])
    assert record["methods"]["gradient_signed_iba"]["metrics"]["degradation"]["lerf_minus_morf"] is not None


def test_a_users_metric_is_added_in_one_place_and_joins_the_run_and_its_summary(settings, classifier, tmp_path, monkeypatch):
    from ib_nlp.core.metric_info import MetricInfo, ValueInfo
    from ib_nlp.text.metrics import METRICS, FaithfulnessMetric, load_metric, register_metric

    monkeypatch.setattr(METRICS, "_entries", dict(METRICS._entries))  # keep the user's metric out of other tests

    @register_metric
    class TopTokenScore(FaithfulnessMetric):
        """The largest token score of each explanation (a toy metric with a known value)."""

        info = MetricInfo("top_token_score", "the largest token score", (ValueInfo("top", True, -np.inf, np.inf, "largest score"),), "top")

        def compute(self, classifier, explanations, label=None):
            return [{"top": float(max(explanation.token_scores))} for explanation in explanations]

    assert isinstance(load_metric("top_token_score"), TopTokenScore)
    records = run_evaluation(dataclasses.replace(settings, methods=["random"], metrics=["top_token_score"]), items(2), tmp_path, classifier=classifier, progress=False)
    rows = summarize(records, ["top_token_score"])
    tops = [record["methods"]["random"]["metrics"]["top_token_score"]["top"] for record in records]
    (row,) = [row for row in rows if row["metric"] == "top_token_score"]
    assert row["mean"] == pytest.approx(float(np.mean(tops))) and row["direction"] == "higher is better"
    with pytest.raises(InvalidInputError, match="built-in"):
        register_metric(type("Clash", (TopTokenScore,), {"info": MetricInfo("degradation", "", (), "")}))


def test_paired_comparison_of_two_runs_matches_numpy(settings, classifier, tmp_path):
    from ib_nlp.evaluation.text import paired_comparison

    folders = {}
    for seed in (1, 2):
        folders[f"seed{seed}"] = tmp_path / f"seed{seed}"
        run_evaluation(dataclasses.replace(settings, methods=["random"], metrics=["degradation"], options={"random": {"seed": seed}, "degradation": {"steps": 4}}), items(4), folders[f"seed{seed}"], classifier=classifier, progress=False)
    shared, rows = paired_comparison(folders, method="random")
    values = {name: [r["methods"]["random"]["metrics"]["degradation"]["lerf_minus_morf"] for r in JsonLines(folder, "results.*.jsonl", 0).read()] for name, folder in folders.items()}
    difference = np.array(values["seed2"]) - np.array(values["seed1"])
    assert shared == 4 and rows[0][2] == ""
    assert rows[1][2] == f"{difference.mean():.3f} ± {difference.std(ddof=1) / np.sqrt(4):.3f}"
    assert rows[1][1] == f"{np.mean(values['seed2']):.3f} ± {np.std(values['seed2'], ddof=1) / np.sqrt(4):.3f}"
    with pytest.raises(InvalidInputError, match="has no method 'iba'"):
        paired_comparison(folders)
    with pytest.raises(InvalidInputError, match="no sensitivity_n"):
        paired_comparison(folders, method="random", metric="sensitivity_n")


def test_paired_comparison_of_the_methods_of_one_run_matches_numpy_and_runs_on_the_command_line(settings, classifier, tmp_path, capsys):
    from ib_nlp.cli import main
    from ib_nlp.evaluation.text import paired_comparison

    methods = ["gradient_x_input", "random"]
    run_evaluation(dataclasses.replace(settings, methods=methods, metrics=["degradation"], options={"degradation": {"steps": 4}}), items(4), tmp_path, classifier=classifier, progress=False)
    records = JsonLines(tmp_path, "results.*.jsonl", 0).read()
    values = {method: np.array([r["methods"][method]["metrics"]["degradation"]["lerf_minus_morf"] for r in records]) for method in methods}
    shared, rows = paired_comparison({method: (tmp_path, method) for method in methods})
    difference = values["random"] - values["gradient_x_input"]
    assert shared == 4 and rows[1] == ["random", f"{values['random'].mean():.3f} ± {values['random'].std(ddof=1) / 2:.3f}", f"{difference.mean():.3f} ± {difference.std(ddof=1) / 2:.3f}"]
    assert main(["compare", str(tmp_path), "--methods", *methods]) == 0
    printed = capsys.readouterr().out
    assert "4 reviews finished by every run" in printed and f"| random | {rows[1][1]} | {rows[1][2]} |" in printed and "paired difference from gradient_x_input" in printed
    assert main(["compare", f"a={tmp_path}", f"b={tmp_path}", "--methods", *methods]) == 2
    assert "--methods compares the methods of one run; got 2 runs" in capsys.readouterr().err


def test_compare_takes_a_method_per_run_on_the_command_line(settings, classifier, tmp_path, capsys):
    from ib_nlp.cli import main

    runs = {"gxi": (tmp_path / "a", "gradient_x_input"), "random": (tmp_path / "b@2", "random")}  # an @ in a folder's own name
    for folder, method in runs.values():
        run_evaluation(dataclasses.replace(settings, methods=[method], metrics=["degradation"], options={"degradation": {"steps": 4}}), items(3), folder, classifier=classifier, progress=False)
    values = {name: np.array([r["methods"][method]["metrics"]["degradation"]["lerf_minus_morf"] for r in JsonLines(folder, "results.*.jsonl", 0).read()]) for name, (folder, method) in runs.items()}
    folders = {name: folder for name, (folder, _) in runs.items()}
    difference = values["random"] - values["gxi"]
    assert main(["compare", f"gxi={folders['gxi']}@gradient_x_input", f"random={folders['random']}", "--method", "random"]) == 0
    printed = capsys.readouterr().out
    assert "3 reviews finished by every run" in printed and "| run | degradation lerf_minus_morf |" in printed
    assert f"| random | {values['random'].mean():.3f} ± {values['random'].std(ddof=1) / np.sqrt(3):.3f} | {difference.mean():.3f} ± {difference.std(ddof=1) / np.sqrt(3):.3f} |" in printed
    assert main(["compare", f"gxi={folders['gxi']}@random", f"random={folders['random']}@random"]) == 2
    assert "has no method 'random'; it has gradient_x_input" in capsys.readouterr().err
    assert main(["compare", f"gxi={folders['gxi']}@", f"random={folders['random']}@random"]) == 2
    assert "expected FOLDER@METHOD" in capsys.readouterr().err
