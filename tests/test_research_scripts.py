"""The layer-sweep and IBA-diagnostics scripts run end to end on a tiny model and tiny data."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import datasets
import pytest
import torch

from ib_nlp.testing import image_sample, random_classifier

ROOT = Path(__file__).resolve().parent.parent
TEXTS = ["the movie was good and the acting was great", "a terrible boring film with bad acting", "i loved this story", "worst movie ever made"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny")
    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    datasets.Dataset.from_dict({"text": TEXTS, "label": [1, 0, 1, 0]}).to_parquet(folder / "imdb.parquet")
    return folder / "model", folder / "imdb.parquet"


def run(script: str, *arguments: str) -> str:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / script), *arguments], check=True, capture_output=True, text=True, env=environment).stdout


@pytest.mark.slow
def test_layer_sweep_script(tiny, tmp_path):
    model, data = tiny
    out = run("layer_sweep.py", "--model", str(model), "--data", str(data), "--n", "2", "--betas", "1", "10", "--reference-n", "4", "--out", str(tmp_path), "--timing")
    assert "| embeddings |" in out and "| 1 |" in out and "recommended: layer" in out and "ratio" in out
    assert (tmp_path / "sweep-beta10.json").is_file() and (tmp_path / "layers-review0.html").is_file()


def test_sweep_keeps_special_tokens_out_of_every_bottleneck_when_asked(tiny, tmp_path):
    from ib_nlp.cli import main
    from ib_nlp.text.sweep import Sweep

    model, data = tiny
    arguments = ["sweep", "--model", str(model), "--data", str(data), "--n", "2", "--betas", "1", "--reference-n", "4", "--layers", "0", "1"]
    assert main([*arguments, "--keep-special-tokens", "--out", str(tmp_path / "kept")]) == 0
    assert main([*arguments, "--out", str(tmp_path / "default")]) == 0
    kept, default = (Sweep.load(tmp_path / name / "sweep-beta1.json") for name in ("kept", "default"))
    for row_kept, row_default in zip(kept.explanations, default.explanations):
        for explanation, plain in zip(row_kept, row_default):
            assert explanation.parameters["keep_special_tokens"] is True and "keep_special_tokens" not in plain.parameters
            assert explanation.tokens[0] == "[CLS]" and explanation.tokens[-1] == "[SEP]"
            assert explanation.token_scores[0] == explanation.token_scores[-1] == 0 < min(plain.token_scores[0], plain.token_scores[-1])
    assert "[CLS]/[SEP] kept out of the bottleneck" in (tmp_path / "kept" / "summary.md").read_text()


def test_sweep_follows_a_models_recommendation_to_keep_special_tokens_out(tiny, tmp_path):
    import shutil

    from ib_nlp.cli import main
    from ib_nlp.text.sweep import Sweep
    from ib_nlp.text.training import write_recommended_settings

    model, data = tiny
    recommending = tmp_path / "model"
    shutil.copytree(model, recommending)
    write_recommended_settings(recommending, keep_special_tokens=True)
    arguments = ["sweep", "--model", str(recommending), "--data", str(data), "--n", "1", "--betas", "1", "--reference-n", "4", "--layers", "0"]
    assert main([*arguments, "--out", str(tmp_path / "recommended")]) == 0
    assert main([*arguments, "--no-keep-special-tokens", "--out", str(tmp_path / "overridden")]) == 0
    recommended, overridden = (Sweep.load(tmp_path / name / "sweep-beta1.json").explanations[0][0] for name in ("recommended", "overridden"))
    assert recommended.parameters["keep_special_tokens"] is True and "keep_special_tokens" not in overridden.parameters
    assert "[CLS]/[SEP] kept out of the bottleneck" in (tmp_path / "recommended" / "summary.md").read_text()
    assert "[CLS]/[SEP] kept out of the bottleneck" not in (tmp_path / "overridden" / "summary.md").read_text()


def test_sweep_scores_the_chosen_method_with_the_chosen_metric(tiny, tmp_path, capsys):
    from ib_nlp.cli import main
    from ib_nlp.text.sweep import Sweep

    model, data = tiny
    arguments = ["sweep", "--model", str(model), "--data", str(data), "--n", "3", "--betas", "1", "--reference-n", "4", "--layers", "0", "1"]
    assert main([*arguments, "--method", "gradient_signed_iba", "--metric", "sensitivity_n", "--out", str(tmp_path / "signed")]) == 0
    sweep = Sweep.load(tmp_path / "signed" / "sweep-beta1.json")
    assert sweep.method == "gradient_signed_iba" and sweep.metric == "sensitivity_n" and sweep.metric_value == "mean_correlation"
    assert all(e.unit == "signed bits" for row in sweep.explanations for e in row) and len(sweep.faithfulness) == 2
    summary = (tmp_path / "signed" / "summary.md").read_text()
    assert "Gradient-signed IBA scored by sensitivity_n (mean_correlation, higher is better)" in summary and "signed bits/review" in summary
    capsys.readouterr()
    assert main([*arguments, "--method", "lime", "--out", str(tmp_path / "refused")]) == 2
    assert "is not a bottleneck method (iba, " in capsys.readouterr().err and not (tmp_path / "refused").exists()


@pytest.mark.slow
def test_the_command_line_runs_the_research_commands_as_the_scripts_do(tiny, tmp_path):
    model, data = tiny
    arguments = ["--model", str(model), "--data", str(data), "--n", "2", "--betas", "1", "--reference-n", "4"]
    run("layer_sweep.py", *arguments, "--out", str(tmp_path / "script"))
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "ib_nlp", "sweep", *arguments, "--out", str(tmp_path / "cli")], check=True, capture_output=True, env=environment)
    script, cli = (json.loads((tmp_path / name / "sweep-beta1.json").read_text()) for name in ("script", "cli"))
    assert script["faithfulness"] == cli["faithfulness"] and script["settings"] == cli["settings"]
    refused = subprocess.run(
        [sys.executable, "-m", "ib_nlp", "evaluate", "--model", str(model), "--data", str(data), "--n", "2", "--methods", "igg", "--out", str(tmp_path / "bad")],
        capture_output=True, text=True, env=environment,
    )
    assert refused.returncode == 2 and "ib-nlp: error: unknown attribution method 'igg'" in refused.stderr and not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_training_benchmark_script(tiny):
    model, _ = tiny
    out = run("bench_training.py", "--init", str(model), "--batch-size", "2", "--length", "8", "--repeats", "1", "--threads", "1")
    rows = [line for line in out.splitlines() if line.startswith("| fp32") or line.startswith("| bf16")]
    assert len(rows) == 4 and rows[0].endswith("| 1.00x |") and "| bf16 | 0 |" in out


@pytest.mark.slow
def test_iba_diagnostics_script(tiny):
    model, data = tiny
    out = run("iba_diagnostics.py", "--model", str(model), "--data", str(data), "--n", "2", "--settings", "3x1", "--subsets", "4", "--reference-n", "4")
    for row in ("| capacity at initialisation |", "| IBA 3 steps, lr 1 |", "| integrated_gradients |", "| |integrated_gradients| |"):
        assert row in out
    assert "| share on special tokens |" in out
    share = float(next(line for line in out.splitlines() if line.startswith("| IBA 3 steps")).rstrip(" |").split("|")[-1])
    assert 0 <= share <= 1


@pytest.mark.slow
def test_sign_diagnostics_script(tiny):
    model, data = tiny
    out = run("sign_diagnostics.py", "--model", str(model), "--data", str(data), "--n", "2", "--methods", "occlusion", "open_signed_iba", "--option", "open_signed_iba.reference_corpus=[\"a good film\", \"a bad film\", \"the acting\"]", "--option", "open_signed_iba.steps=2")
    assert "| occlusion | 1.000 ± 0.000 | 1.000 ± 0.000 | 1.000 ± 0.000 |" in out and "| open_signed_iba |" in out


@pytest.mark.slow
def test_sign_and_size_script(tiny):
    model, data = tiny
    out = run("sign_and_size.py", "--model", str(model), "--data", str(data), "--n", "2", "--betas", "1", "30", "--layer", "1")
    assert "gradient_signed_iba at layer 1; the two betas give a token the same sign on" in out
    for row in ("| signed bits, beta 1 |", "| sign alone, beta 30 |", "| sign at beta 1, size at beta 30 |"):
        assert row in out


@pytest.mark.slow
def test_input_iba_diagnostics_script(tiny):
    model, data = tiny
    options = ["--option", "gan_epochs=1", "--option", "gan_samples=4", "--option", "gan_batch=2", "--option", "steps=2", "--option", "samples=2"]
    out = run("input_iba_diagnostics.py", "--model", str(model), "--data", str(data), "--n", "1", "--reference-n", "4", "--settings", "paper", "no-gan", *options)
    assert "| per-sample IBA (recommended layer) |" in out and "| InputIBA paper |" in out
    no_gan = next(line for line in out.splitlines() if line.startswith("| InputIBA no-gan |")).split("|")
    assert no_gan[5].strip() == "0.000" and no_gan[6].strip() == "0.000"


@pytest.mark.slow
def test_bench_methods_script(tiny):
    model, data = tiny
    out = run("bench_methods.py", "--model", str(model), "--data", str(data), "--n", "2", "--methods", "iba", "random")
    assert re.search(r"\| iba \| \d+\.\d+ \|", out), "a model without statistics gets the general prior"
    out = run("bench_methods.py", "--model", "imdb-lstm", "--data", str(data), "--n", "2", "--lime-samples", "10", "--methods", "iba", "lime", "attention", "random", "readout")
    assert "| iba |" in out and "| attention | n/a |" in out and "| random |" in out and "| readout |" in out
    assert "per-sample IBA / method (median)" in out and "| 1.0x |" in out
    out = run("bench_methods.py", "--model", "imdb-lstm", "--data", str(data), "--n", "1", "--methods", "random", "--option", "random.bogus=1")
    assert "| random | n/a |" in out and "bogus" in out  # the option reached the method, which refused it
    with pytest.raises(subprocess.CalledProcessError):
        run("bench_methods.py", "--model", "imdb-lstm", "--data", str(data), "--n", "1", "--methods", "random", "--option", "bogus")


@pytest.mark.slow
def test_train_readout_script_trains_saves_and_continues(tiny, tmp_path):
    from ib_nlp.text.methods.readout import Readout

    model, data = tiny
    arguments = ["--model", str(model), "--data", str(data), "--n", "2", "--reference-n", "2", "--batch-size", "2", "--hidden", "8", "--out", str(tmp_path / "r.safetensors"), "--no-progress"]
    assert "epoch 1/1" in run("train_readout.py", *arguments, "--epochs", "1")
    out = run("train_readout.py", *arguments, "--epochs", "2")
    assert "epoch 2/2" in out and "epoch 1/2" not in out
    readout = Readout.load(tmp_path / "r.safetensors")
    assert readout.config.training["epochs"] == 2 and len(readout.config.training["loss"]) == 2 and readout.config.hidden == 8


@pytest.mark.slow
def test_vision_heatmaps_script_writes_a_png(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed")
    data = image_sample(tmp_path / "sample", 3)
    out = tmp_path / "maps.png"
    run("vision_heatmaps.py", "--data", str(data), "--n", "1", "--reference-n", "2", "--methods", "grad_cam", "random", "--out", str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_vision_script_scores_resumes_and_summarises(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed")
    data = image_sample(tmp_path / "sample", 2)
    arguments = ["--data", str(data), "--n", "2", "--methods", "iba", "grad_cam", "guided_grad_cam_abs", "random", "--reference-n", "2", "--steps", "4",
                 "--option", "iba.steps=1", "--option", "iba.samples=2", "--out", str(tmp_path / "out"), "--device", "cpu"]
    out = run("evaluate_vision.py", *arguments, "--shard", "0/2", "--reference-data", str(image_sample(tmp_path / "references", 2)))
    assert "shard 0/2 done" in out and len((tmp_path / "out" / "results.s0of2.jsonl").read_text().splitlines()) == 1
    out = run("evaluate_vision.py", "--summary-only", "--data", str(data), "--out", str(tmp_path / "out"))
    assert "finished so far 1 of 2 images" in out and "efficientnet-lite0, 1 ImageNet" in out
    out = run("evaluate_vision.py", *arguments)
    assert "| iba |" in out and "| grad_cam |" in out and "degradation 14x14" in out and (tmp_path / "out" / "summary.md").is_file()
    assert sum(len(p.read_text().splitlines()) for p in (tmp_path / "out").glob("results.*.jsonl")) == 2
    with pytest.raises(subprocess.CalledProcessError) as refused:
        run("evaluate_vision.py", "--data", str(data), "--n", "1", "--methods", "gradient", "--option", "gradient.stpes=3", "--out", str(tmp_path / "bad"))
    assert "gradient has no option 'stpes'" in refused.value.stderr and not (tmp_path / "bad").exists()
    with pytest.raises(subprocess.CalledProcessError) as refused:
        run("evaluate_vision.py", "--summary-only", "--data", str(data), "--out", str(tmp_path / "bad"))
    assert "holds no image evaluation run" in refused.value.stderr


@pytest.mark.slow
def test_evaluate_vision_never_scores_a_readout_on_its_training_images(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed")
    from ib_nlp.vision.models import efficientnet_lite0, imagenet_sample
    from ib_nlp.vision.readout import ImageReadout

    data = image_sample(tmp_path / "sample", 2)
    model = efficientnet_lite0()
    references = [torch.stack([item.image for item in imagenet_sample(data)])]
    paths = []
    for name, seen in (("both", ["img0", "img1"]), ("second", ["img1"])):
        readout = ImageReadout.create(model, "_blocks.5", ["_blocks.10"], references)
        readout.trained_on = seen
        paths.append(str(readout.save(tmp_path / f"{name}.safetensors")))
    out = run("evaluate_vision.py", "--data", str(data), "--n", "2", "--methods", "readout", "random", "--steps", "4", "--option", f"readout.readout={json.dumps(paths)}", "--out", str(tmp_path / "out"), "--device", "cpu")
    records = {record["index"]: record["methods"]["readout"] for record in map(json.loads, (tmp_path / "out" / "results.0.jsonl").read_text().splitlines())}
    assert records["img0"]["bbox"] is not None and records["img0"]["seconds"] > 0
    assert records["img1"]["skipped"] == "trained on this image" and records["img1"]["bbox"] is None
    assert "| readout | n/a |" in out and "| random |" in out


@pytest.mark.slow
def test_train_vision_readout_script_trains_on_the_images_after_the_skipped_ones_and_continues(tmp_path):
    pytest.importorskip("efficientnet_lite_pytorch", reason="the vision extra is not installed")
    from ib_nlp.vision.models import efficientnet_lite0
    from ib_nlp.vision.readout import ImageReadout

    data = image_sample(tmp_path / "sample", 3)
    out = tmp_path / "readout.safetensors"
    printed = run("train_vision_readout.py", "--data", str(data), "--skip", "1", "--n", "2", "--epochs", "1", "--batch-size", "2", "--out", str(out))
    assert "epoch 1/1" in printed
    readout = ImageReadout.load(efficientnet_lite0(), out)
    assert readout.readout_layers == ["_blocks.5", "_blocks.10", "_blocks.15"] and readout.statistics["_blocks.5"].count == 2
    assert readout.trained_on == ["img1", "img2"] and readout.epochs == 1
    printed = run("train_vision_readout.py", "--data", str(data), "--skip", "1", "--n", "2", "--epochs", "2", "--batch-size", "2", "--out", str(out))
    assert "epoch 2/2" in printed and "epoch 1/2" not in printed and ImageReadout.load(efficientnet_lite0(), out).epochs == 2
    with pytest.raises(subprocess.CalledProcessError) as refused:
        run("train_vision_readout.py", "--data", str(data), "--skip", "0", "--n", "2", "--epochs", "3", "--out", str(out))
    assert "holds a readout with other training images" in refused.value.stderr
