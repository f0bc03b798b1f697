"""The IMDB classifiers shipped in ib_nlp/assets load by path and classify obvious reviews."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

import ib_nlp.text.models  # noqa: F401  (registers the LSTM with the Auto classes)
from ib_nlp.text.cleaning import clean_text

ASSETS = Path(__file__).resolve().parents[2] / "ib_nlp" / "assets"
MODELS = ["imdb-bert-small", "imdb-lstm"]

POSITIVE = [
    (
        "This movie was wonderful. The acting was brilliant and the story was beautiful. "
        "I loved every minute of it and highly recommend it."
    ),
    (
        "A superb film with a great cast and an excellent script.<br /><br />One of the best "
        "movies I have seen this year, a real masterpiece."
    ),
    "Absolutely fantastic! Funny, touching and perfectly directed. I will watch it again.",
]
NEGATIVE = [
    (
        "This movie was terrible. The acting was awful and the plot made no sense. "
        "A complete waste of time, I want my money back."
    ),
    (
        "Boring, stupid and badly made.<br /><br />One of the worst films I have ever seen; "
        "the dialogue is painful and the ending is ridiculous."
    ),
    "Awful. Dull characters, horrible writing and poor acting. Avoid this mess at all costs.",
]


@pytest.fixture(scope="module", params=MODELS)
def shipped(request: pytest.FixtureRequest) -> tuple:
    """Load one shipped model and its tokenizer (they are part of the package)."""
    path = ASSETS / request.param
    if not (path / "config.json").is_file():
        pytest.fail(
            f"{path} is missing from the package: recreate it with "
            f"python scripts/train_imdb.py --model {request.param.removeprefix('imdb-')} --output {path}"
        )
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


def predict(model: torch.nn.Module, tokenizer: object, texts: list[str]) -> list[int]:
    """Predicted classes for raw review texts (cleaned as in training)."""
    batch = tokenizer([clean_text(t) for t in texts], padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.argmax(dim=-1).tolist()


def test_shipped_model_classifies_clear_reviews(shipped: tuple) -> None:
    model, tokenizer = shipped
    assert model.config.num_labels == 2
    assert predict(model, tokenizer, POSITIVE) == [1, 1, 1]
    assert predict(model, tokenizer, NEGATIVE) == [0, 0, 0]


def test_shipped_model_has_card_and_training_facts(shipped: tuple) -> None:
    model, _ = shipped
    path = Path(model.name_or_path)
    assert (path / "README.md").read_text().splitlines()[0] == f"# {path.name}", "the card is titled with the model's name"
    assert (path / "training.json").is_file()
    size = sum(f.stat().st_size for f in path.iterdir() if f.is_file())
    assert size <= 10 * 1024 * 1024, f"{path} is {size / 1e6:.1f} MB, over the 10 MB budget"
