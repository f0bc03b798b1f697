"""A text classifier as the toolkit sees it: model, tokenizer, layers, encoding and statistics.

``Classifier.load`` accepts what users have at hand: a hub id or local directory (loaded with
``from_pretrained`` and ``trust_remote_code`` off), the name of a model shipped with the
package, a ``(model, tokenizer)`` pair, or a ``transformers`` text-classification pipeline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import pickle
import re
import socket
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import (
    AutoConfig,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    Pipeline,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from ib_nlp.text import models as _registered_models  # noqa: F401  (registers the LSTM with the Auto classes)
from ib_nlp.text.corpus import GENERAL_PRIOR, general_english_texts, is_corpus_source, reference_texts
from ib_nlp.errors import InvalidInputError, ModelLoadError, StatisticsError, first_line
from ib_nlp.text.sites import LayerMap, Site, first_tensor, intercept_calls
from ib_nlp.core.statistics import (
    STATISTICS_FILENAME,
    FeatureStatistics,
    RunningMoments,
    StatisticsStore,
    fingerprint_corpus,
    fingerprint_model,
    iterate_text_batches,
    load_statistics,
    model_probe,
    tokens_to_rows,
)
from ib_nlp.text.shipped import model_folder, shipped_model_names
from ib_nlp.text.cleaning import clean_text

UNBOUNDED_LENGTH = 1_000_000
# How long to wait for the model hub to accept a connection before saying it cannot be reached.
HUB_CONNECT_SECONDS = 5.0
# Of a truncated text, the characters after the last token the model reads that are kept (the
# report shows them as unread); the rest is dropped, so a huge input is never segmented into
# words, stored or rendered in full. No IMDB review is that long.
UNREAD_CHARACTERS_KEPT = 20_000


@dataclass
class EncodedBatch:
    """Texts tokenised for the model, right-padded, with what is needed to map tokens back to text."""

    texts: list[str]
    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    tokens: list[list[str]]
    offsets: list[list[tuple[int, int] | None]]
    special: list[list[bool]]
    truncated: list[bool]
    extra: dict[str, torch.Tensor]
    text_lengths: list[int] | None = None

    def text_length(self, row: int) -> int:
        """Characters of the cleaned text before any unread tail was dropped."""
        return self.text_lengths[row] if self.text_lengths is not None else len(self.texts[row])

    @property
    def lengths(self) -> list[int]:
        return [int(n) for n in self.attention_mask.sum(dim=1).tolist()]

    def ordinary_mask(self) -> torch.Tensor:
        """True at the text's own tokens: not special, not padding."""
        special = torch.zeros_like(self.attention_mask, dtype=torch.bool)
        for row, flags in enumerate(self.special):
            special[row, : len(flags)] = torch.tensor(flags, dtype=torch.bool)
        return self.attention_mask.bool() & ~special

    def replace_ordinary(self, token_id: int) -> torch.Tensor:
        """The input ids with every ordinary token replaced by ``token_id`` (special tokens and padding kept)."""
        return torch.where(self.ordinary_mask(), torch.full_like(self.input_ids, token_id), self.input_ids)

    def repeated(self, times: int) -> EncodedBatch:
        """The batch with each row repeated ``times`` times consecutively (rows r*times ... r*times
        + times - 1 are copies of row r), e.g. to optimise several objectives for one text at once."""

        def each(values: list) -> list:
            return [value for value in values for _ in range(times)]

        return EncodedBatch(
            texts=each(self.texts),
            input_ids=self.input_ids.repeat_interleave(times, dim=0),
            attention_mask=self.attention_mask.repeat_interleave(times, dim=0),
            tokens=each(self.tokens),
            offsets=each(self.offsets),
            special=each(self.special),
            truncated=each(self.truncated),
            extra={key: value.repeat_interleave(times, dim=0) for key, value in self.extra.items()},
            text_lengths=None if self.text_lengths is None else each(self.text_lengths),
        )

    def model_inputs(self, repeats: int = 1) -> dict[str, torch.Tensor]:
        """Keyword arguments for the model, each row repeated ``repeats`` times consecutively."""
        inputs = {"input_ids": self.input_ids, "attention_mask": self.attention_mask, **self.extra}
        if repeats == 1:
            return inputs
        return {key: value.repeat_interleave(repeats, dim=0) for key, value in inputs.items()}


def _is_sequence_classifier(model: nn.Module) -> bool:
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES,
    )

    known = set(MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES.values())
    return any(cls.__name__ in known or cls.__name__.endswith("ForSequenceClassification") for cls in type(model).__mro__)


@contextlib.contextmanager
def _weight_loading_bar(shown: bool) -> Iterator[None]:
    """Show or hide transformers' "Loading weights" progress bar for the duration."""
    from transformers.utils import logging as transformers_logging

    was_shown = transformers_logging.is_progress_bar_enabled()
    (transformers_logging.enable_progress_bar if shown else transformers_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (transformers_logging.enable_progress_bar if was_shown else transformers_logging.disable_progress_bar)()


def _with_prior(statistics: FeatureStatistics, prior: str) -> FeatureStatistics:
    """A copy of ``statistics`` that says where the prior comes from (recorded in explanations)."""
    return dataclasses.replace(statistics, metadata={**statistics.metadata, "prior": prior})


@functools.cache
def _warn_general_prior(model_key: str, model_name: str) -> None:
    """Warn once per model (by its cache key) and process that the general-English prior stands in for a task corpus."""
    warnings.warn(
        f"{model_name} has no statistics of its own, so IBA's noise prior is estimated on the general-English corpus "
        "shipped with ib-nlp (see Explanation.parameters['prior']). A corpus of the task gives a better one: pass "
        "reference_corpus= (a few thousand texts like those explained), or write the statistics next to the model "
        "with `ib-nlp estimate --model FOLDER --reference-corpus TEXTS`.",
        stacklevel=4,
    )


def _offline_advice() -> str:
    return (
        "If you are offline, pass the path of a local model directory, a (model, tokenizer) pair, or one of the shipped "
        f"models: {', '.join(shipped_model_names()) or 'none installed'}"
    )


def check_hub_reachable(source: str, timeout: float = HUB_CONNECT_SECONDS) -> None:
    """Fail at once, in one line, when ``source`` is a hub id that is not in the local cache and
    the hub cannot be reached (``huggingface_hub`` would otherwise retry for half a minute or more).
    Skipped offline (``HF_HUB_OFFLINE``, which fails fast by itself) and behind a proxy."""
    from huggingface_hub import constants, try_to_load_from_cache

    if constants.HF_HUB_OFFLINE or urllib.request.getproxies().get("https"):
        return
    with contextlib.suppress(Exception):  # an id the cache cannot even look up is left to from_pretrained
        if isinstance(try_to_load_from_cache(source, "config.json"), str):
            return
    endpoint = urllib.parse.urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((endpoint.hostname, endpoint.port or (443 if endpoint.scheme == "https" else 80)), timeout=timeout).close()
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise ModelLoadError(f"cannot download {source!r}: {constants.ENDPOINT} cannot be reached ({reason}). {_offline_advice()}") from error


def _check_checkpoint_is_classifier(source: str, local_only: bool) -> None:
    """Refuse checkpoints saved as another kind of model (a random head would be bolted on)."""
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=local_only, trust_remote_code=False)
    except Exception as error:  # from_pretrained raises OSError, ValueError or HTTP errors
        raise ModelLoadError(f"could not load the configuration of {source!r}: {first_line(error)} {_offline_advice()}") from error
    architectures = getattr(config, "architectures", None) or []
    if architectures and not any(a.endswith("ForSequenceClassification") for a in architectures):
        raise ModelLoadError(
            f"{source!r} is a {', '.join(architectures)}, not a sequence classifier: explaining it would explain "
            "a randomly initialised classification head. Fine-tune it for classification first."
        )


def _drop_unread_tail(text: str, offsets: Sequence[tuple[int, int] | None]) -> str:
    """``text`` without what lies more than ``UNREAD_CHARACTERS_KEPT`` characters past the last
    token read (cut at the next whitespace within 100 characters, else exactly there)."""
    last_read = max((end for span in offsets if span is not None for end in span[1:]), default=0)
    cut = last_read + UNREAD_CHARACTERS_KEPT
    if len(text) <= cut:
        return text
    space = text.find(" ", cut, cut + 100)
    return text[: space if space != -1 else cut]


def _weights_error(source: str, folder: Path | None, error: BaseException) -> str:
    """One line saying which weights file could not be read and why."""
    files = sorted(folder.glob("model*.safetensors")) + sorted(folder.glob("pytorch_model*.bin")) if folder is not None else []
    named = ", ".join(str(file) for file in files) or source
    if isinstance(error, pickle.UnpicklingError) or "weights_only" in str(error).lower():
        return (
            f"the weights of {source!r} ({named}) are a pickle that torch's safe loader refuses; ib-nlp loads only "
            "safetensors or pickles that torch.load(weights_only=True) accepts. Convert them to safetensors."
        )
    return f"the weights of {source!r} ({named}) are unreadable, perhaps truncated or corrupt ({type(error).__name__}: {first_line(error)})"


def _check_nothing_missing(source: str, model: nn.Module, missing: Any) -> None:
    """Refuse a checkpoint that lacked weights the classifier needs: transformers initialises
    them at random (a bare encoder gets a random classification head) and only logs a note."""
    ignored = [re.compile(pattern) for pattern in getattr(model, "_keys_to_ignore_on_load_missing", None) or []]
    missing = sorted(key for key in missing if not any(pattern.search(key) for pattern in ignored))
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more" if len(missing) > 6 else "")
        raise ModelLoadError(
            f"{source!r} lacks weights of the classifier ({shown}): they would be initialised at random, and the explanation "
            "would explain a random classification head. Load a checkpoint fine-tuned for sequence classification."
        )


class Classifier:
    """A sequence classifier with its tokenizer, prepared for attribution (eval mode, frozen)."""

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str | None = None, device: str | torch.device | None = None):
        if not _is_sequence_classifier(model):
            raise ModelLoadError(
                f"{type(model).__name__} is not a sequence classifier; pass a *ForSequenceClassification model "
                "(or a text-classification pipeline)"
            )
        if not getattr(tokenizer, "is_fast", False):
            raise ModelLoadError(
                f"{type(tokenizer).__name__} is a slow tokenizer; token-to-text offsets need a fast tokenizer "
                "(load it with AutoTokenizer.from_pretrained(..., use_fast=True))"
            )
        self.model = model.eval()
        if device is not None:
            self.model.to(device)
        self.tokenizer = tokenizer
        self.name = name or getattr(model.config, "_name_or_path", "") or type(model).__name__
        self._ensure_padding()
        self.max_length = self._max_length()
        self.layers = LayerMap.discover(self.model, self.encode(["a b c"]).model_inputs())
        self.label_names = [str(model.config.id2label.get(i, f"LABEL_{i}")) for i in range(model.config.num_labels)]
        # Where the model was loaded from, when that is a folder: its statistics file is found there.
        folder = getattr(model.config, "_name_or_path", "") or getattr(model, "name_or_path", "")
        self.source_dir: Path | None = Path(folder) if folder and Path(folder).is_dir() else None

    @functools.cached_property
    def model_key(self) -> str:
        """Cache key of the model for statistics (computed on first use: it may hash the weights)."""
        return fingerprint_model(self.model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @classmethod
    def load(cls, model: Any, tokenizer: PreTrainedTokenizerBase | None = None, device: str | torch.device | None = None, progress: bool = False) -> Classifier:
        """Build a classifier from a name, a path, a (model, tokenizer) pair, a pipeline or a Classifier.
        ``progress`` shows transformers' weight-loading bar (hidden by default)."""
        if isinstance(model, Classifier):
            if device is not None:
                model.model.to(device)
            return model
        if isinstance(model, Pipeline):
            if model.tokenizer is None:
                raise ModelLoadError("the pipeline has no tokenizer")
            return cls(model.model, model.tokenizer, device=device)
        if isinstance(model, tuple):
            if len(model) != 2:
                raise ModelLoadError("pass the model as a (model, tokenizer) pair")
            model, tokenizer = model
        if isinstance(model, PreTrainedModel):
            if tokenizer is None:
                raise ModelLoadError("a model object needs its tokenizer: pass (model, tokenizer)")
            return cls(model, tokenizer, device=device)
        if isinstance(model, (str, Path)):
            with _weight_loading_bar(progress):
                return cls._from_name_or_path(str(model), tokenizer, device)
        raise ModelLoadError(f"cannot load a model from a {type(model).__name__}")

    @classmethod
    def _from_name_or_path(cls, source: str, tokenizer: PreTrainedTokenizerBase | None, device: str | torch.device | None) -> Classifier:
        folder = model_folder(source)
        path = folder if folder is not None else Path(source)
        local = path.is_dir()
        if not local and (path.exists() or source.startswith((".", "/", "~"))):
            raise ModelLoadError(f"{source!r} is not a model directory (it needs a config.json)")
        target = str(path) if local else source
        if not local:
            check_hub_reachable(source)
        _check_checkpoint_is_classifier(target, local_only=local)
        try:
            model, loading = AutoModelForSequenceClassification.from_pretrained(target, trust_remote_code=False, local_files_only=local, output_loading_info=True)
            tokenizer = tokenizer or AutoTokenizer.from_pretrained(target, trust_remote_code=False, local_files_only=local, use_fast=True)
        except (OSError, ValueError) as error:
            raise ModelLoadError(f"could not load {source!r}: {first_line(error)} {_offline_advice()}") from error
        except Exception as error:  # a corrupt safetensors file or a refused pickle raise their libraries' own types
            raise ModelLoadError(_weights_error(source, path if local else None, error)) from error
        _check_nothing_missing(source, model, loading.get("missing_keys") or ())
        if device is None and torch.cuda.is_available():
            device = "cuda"
        classifier = cls(model, tokenizer, name=source, device=device)
        classifier.source_dir = path if local else None
        return classifier

    def replacement_id(self, kind: str = "auto") -> int:
        """Id of the token that stands in for a removed token: ``"mask"``, ``"unk"``, ``"pad"``,
        or ``"auto"`` (the first of these the tokenizer has)."""
        names = {"mask": "mask_token_id", "unk": "unk_token_id", "pad": "pad_token_id"}
        if kind == "auto":
            for candidate in names.values():
                if getattr(self.tokenizer, candidate, None) is not None:
                    return int(getattr(self.tokenizer, candidate))
            raise InvalidInputError("the tokenizer has no mask, unknown or padding token to stand in for removed tokens")
        if kind not in names:
            raise InvalidInputError(f"replacement token must be one of 'auto', {', '.join(map(repr, names))}, not {kind!r}")
        token_id = getattr(self.tokenizer, names[kind], None)
        if token_id is None:
            raise InvalidInputError(f"the tokenizer of {self.name} has no {kind} token; choose another replacement")
        return int(token_id)

    def _ensure_padding(self) -> None:
        if self.tokenizer.pad_token is None:
            if self.tokenizer.eos_token is None:
                raise ModelLoadError("the tokenizer has neither a padding nor an end-of-sequence token; set tokenizer.pad_token")
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if getattr(self.model.config, "pad_token_id", None) is None:
            self.model.config.pad_token_id = self.tokenizer.pad_token_id

    def _max_length(self) -> int:
        limits = []
        tokenizer_limit = getattr(self.tokenizer, "model_max_length", None)
        if tokenizer_limit is not None and tokenizer_limit < UNBOUNDED_LENGTH:
            limits.append(int(tokenizer_limit))
        positions = getattr(self.model.config, "max_position_embeddings", None)
        if positions:
            offset = 0
            for name, module in self.model.named_modules():
                if name.endswith("position_embeddings") and isinstance(module, nn.Embedding) and module.padding_idx is not None:
                    offset = module.padding_idx + 1
            limits.append(int(positions) - offset)
        return min(limits) if limits else 512

    def encode(self, texts: Sequence[str], max_length: int | None = None) -> EncodedBatch:
        """Clean and tokenise texts (right padding, truncation recorded per text)."""
        texts = [clean_text(text) for text in texts]
        limit = min(max_length or self.max_length, self.max_length)
        full_lengths = [len(ids) for ids in self.tokenizer(texts, truncation=False, verbose=False)["input_ids"]]
        previous_side = self.tokenizer.padding_side
        self.tokenizer.padding_side = "right"
        try:
            encoded = self.tokenizer(
                texts,
                padding=True,
                truncation=True,
                max_length=limit,
                return_offsets_mapping=True,
                return_special_tokens_mask=True,
                return_tensors="pt",
            )
        finally:
            self.tokenizer.padding_side = previous_side
        mask = encoded["attention_mask"]
        tokens, offsets, special = [], [], []
        for row in range(len(texts)):
            length = int(mask[row].sum())
            ids = encoded["input_ids"][row, :length].tolist()
            tokens.append(self.tokenizer.convert_ids_to_tokens(ids))
            row_special = [bool(flag) for flag in encoded["special_tokens_mask"][row, :length].tolist()]
            row_offsets: list[tuple[int, int] | None] = []
            for (start, end), is_special in zip(encoded["offset_mapping"][row, :length].tolist(), row_special):
                row_offsets.append(None if is_special or end <= start else (int(start), int(end)))
            offsets.append(row_offsets)
            special.append(row_special)
        extra = {key: encoded[key] for key in ("token_type_ids",) if key in encoded}
        text_lengths = [len(text) for text in texts]
        texts = [_drop_unread_tail(text, row_offsets) for text, row_offsets in zip(texts, offsets)]
        return EncodedBatch(
            texts=texts,
            input_ids=encoded["input_ids"].to(self.device),
            attention_mask=mask.to(self.device),
            tokens=tokens,
            offsets=offsets,
            special=special,
            truncated=[length > limit for length in full_lengths],
            extra={key: value.to(self.device) for key, value in extra.items()},
            text_lengths=text_lengths,
        )

    def run(self, inputs: Mapping[str, torch.Tensor], handlers: Mapping[nn.Module, Mapping[int, Any]] | None = None) -> torch.Tensor:
        """Logits of one forward pass with optional call handlers installed."""
        with intercept_calls(handlers or {}):
            output = self.model(**inputs)
        return output.logits if hasattr(output, "logits") else output[0]

    def predict(self, batch: EncodedBatch) -> torch.Tensor:
        """Logits of the unperturbed model (no gradients)."""
        with torch.no_grad():
            return self.run(batch.model_inputs())

    def capture(self, batch: EncodedBatch, sites: Sequence[Site]) -> tuple[torch.Tensor, dict[str, Any]]:
        """Logits and the raw outputs recorded at ``sites`` (no gradients)."""
        store: dict[str, Any] = {}
        with torch.no_grad():
            logits = self.run(batch.model_inputs(), self.layers.capture_handlers(list(sites), store))
        missing = [site.key for site in sites if site.key not in store]
        if missing:
            raise StatisticsError(f"the model never called the module(s) for {', '.join(missing)} during its forward pass")
        return logits, store

    def resolve_target(self, target: int | str | None, logits: torch.Tensor) -> int:
        """Class index for a target given as index, label name or None (the predicted class)."""
        if target is None:
            return int(logits.argmax())
        return self.class_index(target)

    def class_index(self, label: int | str, role: str = "target") -> int:
        """Index of the class given as index or label name; ``role`` names the option in errors."""
        if isinstance(label, bool):
            raise InvalidInputError(f"{role} must be a class index or label name, not {label!r}")
        if isinstance(label, int):
            if not 0 <= label < len(self.label_names):
                raise InvalidInputError(f"{role} {label} does not exist; classes are {self._label_list()}")
            return label
        if isinstance(label, str):
            lowered = [name.lower() for name in self.label_names]
            if label.lower() in lowered:
                return lowered.index(label.lower())
            if label.isdigit() and int(label) < len(self.label_names):
                return int(label)
            raise InvalidInputError(f"{role} {label!r} does not exist; classes are {self._label_list()}")
        raise InvalidInputError(f"{role} must be a class index or label name, not {type(label).__name__}")

    def _label_list(self) -> str:
        return ", ".join(f"{i} = {name!r}" for i, name in enumerate(self.label_names))

    def estimate_statistics(
        self,
        corpus: Any,
        sites: Sequence[Site] | None = None,
        batch_size: int = 16,
        max_length: int | None = None,
        progress: bool = False,
    ) -> dict[str, FeatureStatistics]:
        """Per-feature statistics at ``sites`` (default: embeddings and every layer) over a corpus."""
        from tqdm.auto import tqdm

        sites = list(sites) if sites is not None else self.layers.all_block_sites()
        moments = {site.key: RunningMoments() for site in sites}
        total = len(corpus) if hasattr(corpus, "__len__") and not isinstance(corpus, str) else None
        bar = tqdm(total=total, desc="estimating statistics", unit="text", disable=not progress)
        for batch in iterate_text_batches(corpus, batch_size):
            if isinstance(batch, Mapping):
                inputs = {key: value.to(self.device) for key, value in batch.items() if key in ("input_ids", "attention_mask", "token_type_ids")}
                if "attention_mask" not in inputs:
                    raise StatisticsError("tokenised reference batches need an attention_mask (padding must not enter the statistics)")
                store: dict[str, Any] = {}
                with torch.no_grad():
                    self.run(inputs, self.layers.capture_handlers(sites, store))
                mask, count = inputs["attention_mask"], inputs["input_ids"].shape[0]
            else:
                encoded = self.encode(batch, max_length)
                _, store = self.capture(encoded, sites)
                mask, count = encoded.attention_mask, len(batch)
            for site in sites:
                moments[site.key].update(tokens_to_rows(first_tensor(store[site.key]), mask))
            bar.update(count)
        bar.close()
        metadata = {"model": self.model_key, "model_name": self.name}
        probe = model_probe(self.model)
        return {key: running.result({**metadata, "layer": key}, model_probe=probe) for key, running in moments.items()}

    def statistics_for(
        self,
        site: Site,
        reference_corpus: Any = None,
        store: StatisticsStore | None = None,
        progress: bool = False,
        text_column: str = "text",
    ) -> FeatureStatistics:
        """Statistics at ``site``, with where they come from in ``metadata["prior"]``: from the
        reference corpus (any source :func:`~ib_nlp.text.corpus.reference_texts` reads, or a data
        loader; estimated once and cached on disk), else from ``ib_statistics.safetensors`` in the
        model's folder, else from the general-English corpus shipped with the package (with a
        warning: a corpus of the task gives a better prior)."""
        if reference_corpus is not None:
            texts = reference_texts(reference_corpus, text_column) if is_corpus_source(reference_corpus) else reference_corpus
            statistics = self._estimated(site, texts, store, progress)
            size = f"{len(texts)} texts" if isinstance(texts, list) else "a data loader"
            return _with_prior(statistics, f"reference corpus ({size})")
        if self.source_dir is not None and (self.source_dir / STATISTICS_FILENAME).is_file():
            shipped = load_statistics(self.source_dir / STATISTICS_FILENAME)
            if site.key in shipped:
                return _with_prior(shipped[site.key], f"{STATISTICS_FILENAME} in the model folder")
        texts = general_english_texts()
        _warn_general_prior(self.model_key, self.name)
        return _with_prior(self._estimated(site, texts, store, progress), f"{GENERAL_PRIOR} ({len(texts)} texts)")

    def _estimated(self, site: Site, corpus: Any, store: StatisticsStore | None, progress: bool) -> FeatureStatistics:
        """Statistics at ``site`` over ``corpus``, from the disk cache when the corpus can be keyed."""
        store = store or StatisticsStore()
        corpus_key = fingerprint_corpus(corpus)
        if corpus_key is not None:
            cached = store.load(self.model_key, corpus_key)
            if site.key in cached:
                return cached[site.key]
        sites = self.layers.all_block_sites()
        if site not in sites:
            sites.append(site)
        estimated = self.estimate_statistics(corpus, sites, progress=progress)
        if corpus_key is not None:
            store.save(self.model_key, corpus_key, estimated)
        return estimated[site.key]
