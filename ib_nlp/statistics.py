"""Feature statistics of the noise prior, estimated over a reference corpus and cached on disk.

The prior N(mu, sigma^2) must describe the layer's activations over many texts of the task,
never the single text being explained (see ib-notes, the trap of section 2). Statistics are
pooled per feature (hidden unit) over the non-padding tokens of every text, accumulated in
float64, and saved keyed by model, layer and corpus so that they are computed once.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from .errors import StatisticsError
from .io import atomic_destination

DEFAULT_MIN_STD = 0.01
STATISTICS_FILENAME = "ib_statistics.safetensors"


@dataclass
class FeatureStatistics:
    """Per-feature mean and standard deviation of one layer's activations over a corpus."""

    mean: torch.Tensor
    std: torch.Tensor
    count: int
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.dim() != 1:
            raise StatisticsError(f"mean and std must be 1-d of equal length, got {tuple(self.mean.shape)} and {tuple(self.std.shape)}")
        if self.count < 2:
            raise StatisticsError(f"statistics need at least 2 activations, got {self.count}")
        if not (torch.isfinite(self.mean).all() and torch.isfinite(self.std).all()):
            raise StatisticsError("statistics contain non-finite values")

    @property
    def num_features(self) -> int:
        return self.mean.numel()

    def clamped_std(self, min_std: float = DEFAULT_MIN_STD) -> torch.Tensor:
        """Standard deviation floored at ``min_std`` so that dead units do not blow up r = (R - mu) / sigma."""
        return self.std.clamp_min(min_std)


class RunningMoments:
    """Streaming per-feature mean and variance (Chan et al. parallel update, float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None

    def update(self, rows: torch.Tensor) -> None:
        """Add a (samples x features) block of activations."""
        if rows.numel() == 0:
            return
        rows = rows.detach().to(dtype=torch.float64, device="cpu")
        batch_count = rows.shape[0]
        batch_mean = rows.mean(dim=0)
        batch_m2 = ((rows - batch_mean) ** 2).sum(dim=0)
        if self.mean is None or self.m2 is None:
            self.count, self.mean, self.m2 = batch_count, batch_mean, batch_m2
            return
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (batch_count / total)
        self.m2 = self.m2 + batch_m2 + delta**2 * (self.count * batch_count / total)
        self.count = total

    def result(self, metadata: dict[str, str] | None = None) -> FeatureStatistics:
        """Mean and (population) standard deviation so far."""
        if self.mean is None or self.m2 is None:
            raise StatisticsError("no activations were seen: is the reference corpus empty?")
        std = (self.m2 / self.count).sqrt()
        return FeatureStatistics(self.mean.float(), std.float(), self.count, dict(metadata or {}))


def tokens_to_rows(activations: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """Flatten (batch x tokens x features) activations to the rows of non-padding tokens."""
    if activations.dim() != 3:
        raise StatisticsError(f"expected activations of shape (batch, tokens, features), got {tuple(activations.shape)}")
    if attention_mask is None:
        return activations.reshape(-1, activations.shape[-1])
    return activations[attention_mask.to(activations.device).bool()]


def fingerprint_texts(texts: Sequence[str]) -> str:
    """Content hash of a list of texts (order matters)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def fingerprint_model(model: torch.nn.Module) -> str:
    """Identifies a model for the statistics cache: its name or path and configuration, or its weights."""
    config = getattr(model, "config", None)
    name = getattr(config, "_name_or_path", "") or getattr(model, "name_or_path", "")
    digest = hashlib.sha256()
    if config is not None:
        digest.update(config.to_json_string(use_diff=False).encode("utf-8"))
    if name:
        digest.update(str(name).encode("utf-8"))
    else:
        for tensor in model.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    readable = "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(str(name)).name) or type(model).__name__
    return f"{readable}-{digest.hexdigest()[:12]}"


def save_statistics(path: str | os.PathLike, statistics: Mapping[str, FeatureStatistics], metadata: Mapping[str, str] | None = None) -> None:
    """Write several layers' statistics into one safetensors file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for key, stats in statistics.items():
        tensors[f"{key}/mean"] = stats.mean.detach().float().cpu().contiguous()
        tensors[f"{key}/std"] = stats.std.detach().float().cpu().contiguous()
        counts[key] = stats.count
    header = {"counts": json.dumps(counts), **{k: str(v) for k, v in (metadata or {}).items()}}
    with atomic_destination(path) as temporary:
        save_file(tensors, str(temporary), metadata=header)


def load_statistics(path: str | os.PathLike) -> dict[str, FeatureStatistics]:
    """Read the statistics of every layer stored in ``path``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise StatisticsError(f"no statistics file at {path}")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
    tensors = load_file(str(path))
    counts = json.loads(header.get("counts", "{}"))
    metadata = {k: v for k, v in header.items() if k != "counts"}
    result = {}
    for key, count in counts.items():
        if f"{key}/mean" not in tensors or f"{key}/std" not in tensors:
            raise StatisticsError(f"statistics file {path} lacks tensors for {key}")
        result[key] = FeatureStatistics(tensors[f"{key}/mean"], tensors[f"{key}/std"], int(count), dict(metadata))
    return result


def default_cache_dir() -> Path:
    """``$IB_NLP_CACHE`` or ``~/.cache/ib_nlp``."""
    return Path(os.environ.get("IB_NLP_CACHE", Path.home() / ".cache" / "ib_nlp"))


class StatisticsStore:
    """Statistics on disk under ``directory/<model key>/<corpus key>.safetensors``, one entry per layer."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir() / "statistics"

    def path(self, model_key: str, corpus_key: str) -> Path:
        return self.directory / model_key / f"{corpus_key}.safetensors"

    def load(self, model_key: str, corpus_key: str) -> dict[str, FeatureStatistics]:
        """All layers stored for this model and corpus (empty if none)."""
        path = self.path(model_key, corpus_key)
        return load_statistics(path) if path.is_file() else {}

    def save(self, model_key: str, corpus_key: str, statistics: Mapping[str, FeatureStatistics]) -> Path:
        """Merge ``statistics`` into the stored entry and return its path."""
        merged = {**self.load(model_key, corpus_key), **statistics}
        path = self.path(model_key, corpus_key)
        save_statistics(path, merged, {"model": model_key, "corpus": corpus_key})
        return path


def iterate_text_batches(corpus: Any, batch_size: int) -> Iterator[list[str] | Mapping[str, torch.Tensor]]:
    """Yield batches from a list of texts, a ``datasets.Dataset`` (column ``text``) or a data loader.

    A data loader may yield lists of texts, dicts with a ``text`` list, or already tokenised
    dicts with ``input_ids`` and ``attention_mask`` (yielded as they are).
    """
    if isinstance(corpus, str):
        raise StatisticsError("the reference corpus must be a collection of texts, not a single string")
    column_names = getattr(corpus, "column_names", None)
    if column_names is not None:
        if "text" not in column_names:
            raise StatisticsError(f"the reference dataset needs a 'text' column; it has {column_names}")
        for start in range(0, len(corpus), batch_size):
            yield list(corpus[start : start + batch_size]["text"])
        return
    if isinstance(corpus, Sequence):
        for start in range(0, len(corpus), batch_size):
            batch = list(corpus[start : start + batch_size])
            if not all(isinstance(text, str) for text in batch):
                raise StatisticsError("the reference corpus must contain only strings")
            yield batch
        return
    if isinstance(corpus, Iterable):
        for batch in corpus:
            if isinstance(batch, Mapping) and "input_ids" in batch:
                yield batch
            elif isinstance(batch, Mapping) and "text" in batch:
                yield list(batch["text"])
            elif isinstance(batch, (list, tuple)) and all(isinstance(text, str) for text in batch):
                yield list(batch)
            else:
                raise StatisticsError(
                    "a reference data loader must yield lists of texts, dicts with 'text', or dicts with 'input_ids' and 'attention_mask'"
                )
        return
    raise StatisticsError(f"cannot read a reference corpus of type {type(corpus).__name__}")


def fingerprint_corpus(corpus: Any) -> str | None:
    """Cache key of a corpus, or None when it cannot be known without reading it (a data loader)."""
    if isinstance(corpus, str):
        raise StatisticsError("the reference corpus must be a collection of texts, not a single string")
    dataset_fingerprint = getattr(corpus, "_fingerprint", None)
    if dataset_fingerprint is not None:
        return f"dataset-{dataset_fingerprint}"
    if isinstance(corpus, Sequence) and all(isinstance(text, str) for text in corpus):
        return f"texts-{len(corpus)}-{fingerprint_texts(corpus)}"
    return None
