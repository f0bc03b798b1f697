"""ib_nlp.text.training (ib-nlp train, scripts/train_imdb.py) resumes an interrupted run from its checkpoint to the same model."""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file

from ib_nlp.commands import add_train_arguments
from ib_nlp.errors import InvalidInputError
from ib_nlp.testing import random_classifier
from ib_nlp.text import training

WORDS = ["good", "great", "fine", "bad", "awful", "dull", "film", "plot", "the", "was", "a", "and"]


def _train(arguments: list[str]) -> dict:
    """Run the training as ``ib-nlp train`` parses it."""
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    options = vars(parser.parse_args(arguments))
    return training.train_imdb(training.TrainingSettings(**options), "ib-nlp train " + " ".join(arguments))


@pytest.fixture(scope="module")
def imdb(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("imdb")
    generator = torch.Generator().manual_seed(0)
    for split in ("train", "test"):
        rows = {"text": [], "label": []}
        for index in range(40):
            picks = torch.randint(len(WORDS), (12,), generator=generator).tolist()
            rows["text"].append(" ".join(WORDS[i] for i in picks))
            rows["label"].append(index % 2)
        datasets.Dataset.from_dict(rows).to_parquet(str(folder / f"{split}.parquet"))
    return folder


@pytest.fixture(scope="module")
def encoder(tmp_path_factory) -> Path:
    """A fixed starting point (fine-tuning mode): training a WordPiece vocabulary is not deterministic on ties."""
    folder = tmp_path_factory.mktemp("encoder")
    model, tokenizer = random_classifier("bert", layers=2, words=WORDS)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _arguments(imdb: Path, encoder: Path, output: Path) -> list[str]:
    return ["--model", "minilm", "--init", str(encoder), "--data", str(imdb), "--output", str(output), "--epochs", "2", "--batch-size", "4",
            "--max-length", "32", "--lr", "1e-3", "--holdout", "4", "--eval-n", "8", "--checkpoint-every", "2", "--threads", "1"]


@pytest.mark.slow
def test_an_interrupted_run_resumes_to_the_same_model(imdb, encoder, tmp_path, monkeypatch):
    _train(_arguments(imdb, encoder, tmp_path / "whole"))
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    assert not (tmp_path / "whole" / training.CHECKPOINT_FILE).exists(), "the checkpoint goes once the model is saved"

    saves = []
    original = training.save_checkpoint

    def crash_after_third_save(*args, **kwargs):
        original(*args, **kwargs)
        saves.append(args[4])
        if len(saves) == 3:
            raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(training, "save_checkpoint", crash_after_third_save)
        with pytest.raises(KeyboardInterrupt):
            _train(_arguments(imdb, encoder, tmp_path / "resumed"))
    assert saves[-1]["epoch"] == 0 and saves[-1]["step"] == 6, "stopped inside the first epoch"
    assert (tmp_path / "resumed" / training.CHECKPOINT_FILE).is_file()

    _train(_arguments(imdb, encoder, tmp_path / "resumed"))
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    facts = json.loads((tmp_path / "resumed" / "training.json").read_text())
    assert facts["size_bytes"] == sum(f.stat().st_size for f in (tmp_path / "resumed").iterdir() if f.name not in ("README.md", "training.json")), "the checkpoint is not counted"
    assert f"fine-tuned from {encoder}," in facts["architecture"] and facts["command"].startswith("ib-nlp train --model minilm")
    assert resumed.keys() == whole.keys()
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=0, msg=name)
    with pytest.raises(InvalidInputError, match="other settings"):
        (tmp_path / "other").mkdir()
        torch.save({"settings": {}, "position": {}}, tmp_path / "other" / training.CHECKPOINT_FILE)
        _train(_arguments(imdb, encoder, tmp_path / "other"))


@pytest.fixture
def autocast_dtypes(monkeypatch) -> list:
    """The CPU autocast dtype (None when off) of every linear layer's forward pass."""
    seen, forward = [], torch.nn.Linear.forward

    def recording_forward(self, x):
        seen.append(torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None)
        return forward(self, x)

    monkeypatch.setattr(torch.nn.Linear, "forward", recording_forward)
    return seen


def test_bf16_passes_without_attention_dropout_keep_float32_weights_and_say_so(imdb, encoder, tmp_path, autocast_dtypes):
    folder = tmp_path / "bf16"
    arguments = _arguments(imdb, encoder, folder)
    arguments[arguments.index("--epochs") + 1] = "1"
    facts = _train([*arguments, "--precision", "bf16", "--attention-dropout", "0"])
    assert autocast_dtypes and set(autocast_dtypes) == {torch.bfloat16}, "every pass, training and evaluation, under bf16 autocast"
    assert {tensor.dtype for tensor in load_file(folder / "model.safetensors").values()} == {torch.float32}
    assert json.loads((folder / "config.json").read_text())["attention_probs_dropout_prob"] == 0.0
    assert (facts["precision"], facts["attention_dropout"]) == ("bf16", 0.0)
    card = (folder / "README.md").read_text()
    assert "bfloat16 autocast (float32 weights) passes, attention dropout 0.0" in card and "batch size 4, 1 epoch, gradient" in card


def _cpuinfo_flags() -> set[str]:
    """The CPU's feature flags as Linux reports them (an independent reading of what torch detects)."""
    path = Path("/proc/cpuinfo")
    if not path.is_file():
        pytest.skip("no /proc/cpuinfo on this machine")
    lines = [line for line in path.read_text().splitlines() if line.startswith("flags")]
    return set(lines[0].split(":", 1)[1].split()) if lines else set()


def test_bfloat16_is_called_emulated_exactly_on_x86_cpus_without_avx512_bf16_or_amx(monkeypatch):
    flags = _cpuinfo_flags()
    if "avx2" not in flags and "avx512f" not in flags:
        pytest.skip("not an x86 CPU with AVX2 or AVX-512")
    assert training.cpu_lacks_native_bfloat16() == (not flags & {"avx512_bf16", "amx_bf16", "amx_tile"})
    monkeypatch.setattr(training.platform, "machine", lambda: "aarch64")
    assert not training.cpu_lacks_native_bfloat16(), "outside x86 the answer is unknown, so no warning"


@pytest.mark.parametrize("emulated", [True, False])
def test_bf16_training_on_a_cpu_that_emulates_it_warns_before_it_starts(imdb, encoder, tmp_path, monkeypatch, emulated):
    monkeypatch.setattr(training, "cpu_lacks_native_bfloat16", lambda: emulated)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert training.precision_warning("fp32", cpu) is None and training.precision_warning("bf16", cuda) is None
    message = training.precision_warning("bf16", cpu)
    assert (message is not None and "--precision fp32" in message) == emulated

    def stop_after_the_checks(*args):
        raise RuntimeError("stop after the checks")

    monkeypatch.setattr(training, "build_model", stop_after_the_checks)
    arguments = [*_arguments(imdb, encoder, tmp_path / "model"), "--precision", "bf16"]
    with warnings.catch_warnings(record=True) as caught, pytest.raises(RuntimeError, match="stop after the checks"):
        warnings.simplefilter("always")
        _train(arguments)
    assert any("bfloat16 is emulated" in str(warning.message) for warning in caught) == emulated


def test_a_timed_training_step_trains_the_encoder_as_ib_nlp_train_would(encoder, monkeypatch, autocast_dtypes):
    attention_dropouts = []
    attention = torch.nn.functional.scaled_dot_product_attention

    def recording_attention(*args, **kwargs):
        attention_dropouts.append(kwargs.get("dropout_p", 0.0))
        return attention(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", recording_attention)
    assert training.seconds_per_step(encoder, "bf16", 0.0, batch_size=2, length=8, repeats=1) > 0
    assert set(autocast_dtypes) == {torch.bfloat16} and set(attention_dropouts) == {0.0}
    autocast_dtypes.clear(), attention_dropouts.clear()
    training.seconds_per_step(encoder, "fp32", None, batch_size=2, length=8, repeats=1)
    assert set(autocast_dtypes) == {None} and attention_dropouts and set(attention_dropouts) == {0.1}, "the encoder's own attention dropout, in training mode"


@pytest.mark.slow
def test_ship_statistics_estimates_on_the_held_out_reviews_and_stores_the_settings(imdb, encoder, tmp_path, capsys):
    from ib_nlp import PerSampleIBA
    from ib_nlp.cli import main
    from ib_nlp.core.statistics import STATISTICS_FILENAME, load_statistics

    folder = tmp_path / "model"
    _train(_arguments(imdb, encoder, folder))
    assert main(["ship-statistics", str(folder), "--data", str(imdb), "--layer", "1", "--beta", "3"]) == 0
    assert "over 4 reviews" in capsys.readouterr().out
    statistics = load_statistics(folder / STATISTICS_FILENAME)
    assert "layer.1" in statistics and "4 reviews held out" in statistics["layer.1"].metadata["corpus"]
    explainer = PerSampleIBA(str(folder))
    assert explainer.layer == 1 and explainer.config.beta == 3 and explainer.parameters()["prior"] == "ib_statistics.safetensors in the model folder"
    assert main(["ship-statistics", str(tmp_path), "--data", str(imdb)]) == 2  # no training.json there


def test_a_method_gets_its_own_recommended_layer_and_the_others_keep_ibas(tmp_path, reference_texts, capsys):
    from ib_nlp import PerSampleIBA
    from ib_nlp.cli import main
    from ib_nlp.text.methods.signed_iba import GradientSignedIBA, OpenSignedIBA

    folder = tmp_path / "model"
    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert main(["ship-statistics", str(folder), "--defaults-only", "--layer", "1", "--beta", "3"]) == 0
    assert main(["ship-statistics", str(folder), "--defaults-only", "--method", "gradient_signed_iba", "--layer", "embeddings"]) == 0
    assert "'methods': {'gradient_signed_iba': {'layer': 'embeddings'}}" in capsys.readouterr().out
    before = (folder / "config.json").read_text()
    assert main(["ship-statistics", str(folder), "--defaults-only", "--method", "lime", "--layer", "0"]) == 2
    assert "is not a bottleneck method (iba, " in capsys.readouterr().err and (folder / "config.json").read_text() == before
    signed = GradientSignedIBA(str(folder), reference_corpus=reference_texts)
    assert signed.layer == "embeddings" and signed.config.beta == 3
    for other in (PerSampleIBA, OpenSignedIBA):
        explainer = other(str(folder), reference_corpus=reference_texts)
        assert explainer.layer == 1 and explainer.config.beta == 3
    assert GradientSignedIBA(str(folder), 0, reference_corpus=reference_texts, beta=5).layer == 0


def test_a_model_can_recommend_keeping_the_special_tokens_out(tmp_path, reference_texts, capsys):
    from ib_nlp import PerSampleIBA
    from ib_nlp.cli import main
    from ib_nlp.text.methods.signed_iba import GradientSignedIBA

    folder = tmp_path / "model"
    model, tokenizer = random_classifier("bert", layers=2)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert not PerSampleIBA(str(folder), reference_corpus=reference_texts).keep_special_tokens
    assert main(["ship-statistics", str(folder), "--defaults-only", "--keep-special-tokens"]) == 0
    assert main(["ship-statistics", str(folder), "--defaults-only", "--method", "gradient_signed_iba", "--no-keep-special-tokens"]) == 0
    assert "'keep_special_tokens': True" in capsys.readouterr().out
    kept = PerSampleIBA(str(folder), 1, reference_corpus=reference_texts, steps=2).explain("A quiet, lovely film.")
    special = [index for index, token in enumerate(kept.tokens) if token in ("[CLS]", "[SEP]")]
    assert special and all(kept.token_scores[index] == 0 for index in special) and kept.parameters["keep_special_tokens"] is True
    assert not PerSampleIBA(str(folder), reference_corpus=reference_texts, keep_special_tokens=False).keep_special_tokens
    assert not GradientSignedIBA(str(folder), reference_corpus=reference_texts).keep_special_tokens, "its own entry says no"
    config = json.loads((folder / "config.json").read_text())
    config["ib_nlp_defaults"]["keep_special_tokens"] = "yes"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="the model config's recommended keep_special_tokens must be true or false, got 'yes'"):
        PerSampleIBA(str(folder), reference_corpus=reference_texts)


def test_training_settings_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(InvalidInputError, match="--model minilm needs --init"):
        training.TrainingSettings("minilm", tmp_path)
    with pytest.raises(InvalidInputError, match="--init is only used with --model minilm"):
        training.TrainingSettings("bert-small", tmp_path, init=tmp_path)
    with pytest.raises(InvalidInputError, match="no such folder"):
        training.TrainingSettings("minilm", tmp_path, init=tmp_path / "missing")
    with pytest.raises(InvalidInputError, match="model must be one of"):
        training.TrainingSettings("gpt", tmp_path)
    with pytest.raises(InvalidInputError, match="precision must be one of fp32, bf16"):
        training.TrainingSettings("bert-small", tmp_path, precision="fp16")
    with pytest.raises(InvalidInputError, match="not to lstm"):
        training.TrainingSettings("lstm", tmp_path, attention_dropout=0.0)
    with pytest.raises(InvalidInputError, match=r"must be in \[0, 1\)"):
        training.TrainingSettings("bert-small", tmp_path, attention_dropout=1.0)
    settings = training.TrainingSettings("lstm", tmp_path)
    assert (settings.epochs, settings.max_length, settings.vocab_size) == (4, 320, 25000)
