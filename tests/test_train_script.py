"""scripts/train_imdb.py resumes an interrupted run from its checkpoint to the same model."""

from __future__ import annotations

import json

import importlib.util
import sys
from pathlib import Path

import datasets
import pytest
import torch
from safetensors.torch import load_file

from ib_nlp.testing import random_classifier

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "train_imdb.py"
WORDS = ["good", "great", "fine", "bad", "awful", "dull", "film", "plot", "the", "was", "a", "and"]


def _script(name: str = "train_imdb"):
    """A fresh copy of the script as a module (dataclasses need it in sys.modules)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


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
    script = _script()
    script.main(_arguments(imdb, encoder, tmp_path / "whole"))
    whole = load_file(tmp_path / "whole" / "model.safetensors")
    assert not (tmp_path / "whole" / script.CHECKPOINT_FILE).exists(), "the checkpoint goes once the model is saved"

    interrupted = _script("train_imdb_interrupted")
    saves = []
    original = interrupted.save_checkpoint

    def crash_after_third_save(*args, **kwargs):
        original(*args, **kwargs)
        saves.append(args[4])
        if len(saves) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(interrupted, "save_checkpoint", crash_after_third_save)
    with pytest.raises(KeyboardInterrupt):
        interrupted.main(_arguments(imdb, encoder, tmp_path / "resumed"))
    assert saves[-1]["epoch"] == 0 and saves[-1]["step"] == 6, "stopped inside the first epoch"
    assert (tmp_path / "resumed" / interrupted.CHECKPOINT_FILE).is_file()

    script.main(_arguments(imdb, encoder, tmp_path / "resumed"))
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    facts = json.loads((tmp_path / "resumed" / "training.json").read_text())
    assert facts["size_bytes"] == sum(f.stat().st_size for f in (tmp_path / "resumed").iterdir() if f.name not in ("README.md", "training.json")), "the checkpoint is not counted"
    assert f"fine-tuned from {encoder}," in facts["architecture"]
    assert resumed.keys() == whole.keys()
    for name in whole:
        torch.testing.assert_close(resumed[name], whole[name], rtol=0, atol=0, msg=name)
    with pytest.raises(SystemExit, match="other settings"):
        (tmp_path / "other").mkdir()
        torch.save({"settings": {}, "position": {}}, tmp_path / "other" / script.CHECKPOINT_FILE)
        script.main(_arguments(imdb, encoder, tmp_path / "other"))
