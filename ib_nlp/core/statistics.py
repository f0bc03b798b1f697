"""Feature statistics of the noise prior, estimated over a reference corpus and cached on disk.

The prior N(mu, sigma^2) must describe the layer's activations over many texts of the task,
never the single text being explained (see docs/method.md: a prior from the explained text itself leaks it). Statistics are
pooled per feature (hidden unit) over the non-padding tokens of every text, accumulated in
float64, and saved keyed by model, layer and corpus so that they are computed once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ib_nlp.errors import StatisticsError
from ib_nlp.io import atomic_destination, default_cache_dir

DEFAULT_MIN_STD = 0.01
STATISTICS_FILENAME = "ib_statistics.safetensors"
# A unit is active when it is non-zero in more than this fraction of the reference samples
# (the reference implementation's threshold); units that never vary are inactive too.
ACTIVE_FRACTION = 0.01
PROBE_KEY = "__model__/probe"


@dataclass
class FeatureStatistics:
    """Per-feature mean and standard deviation of one layer's activations over a corpus.

    ``active`` marks the units that carry information: non-zero in more than 1% of the
    reference samples and not constant (the reference implementation's active-neuron mask;
    after a ReLU, dead units would otherwise get a std at the floor and dominate the bits).
    ``None`` (statistics from before the mask existed) means every unit is active.
    ``model_probe`` identifies the model the statistics were estimated on (see
    :func:`model_probe`); ``None`` when unknown.
    """

    mean: torch.Tensor
    std: torch.Tensor
    count: int
    metadata: dict[str, str] = field(default_factory=dict)
    active: torch.Tensor | None = None
    model_probe: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.dim() != 1:
            raise StatisticsError(f"mean and std must be 1-d of equal length, got {tuple(self.mean.shape)} and {tuple(self.std.shape)}")
        if self.count < 2:
            raise StatisticsError(f"statistics need at least 2 activations, got {self.count}")
        if not (torch.isfinite(self.mean).all() and torch.isfinite(self.std).all()):
            raise StatisticsError("statistics contain non-finite values")
        if self.active is not None:
            if self.active.shape != self.mean.shape:
                raise StatisticsError(f"the active-unit mask has shape {tuple(self.active.shape)}, the mean {tuple(self.mean.shape)}")
            self.active = self.active.bool()
        informative = self.active if self.active is not None else torch.ones_like(self.std, dtype=torch.bool)
        bad = (self.std < 0) | ((self.std <= 0) & informative)
        if bool(bad.any()):
            raise StatisticsError(
                f"statistics have a non-positive std at {int(bad.sum())} of {self.std.numel()} units (first: unit "
                f"{int(bad.nonzero()[0])}, std {float(self.std[bad][0]):g}): a std must be > 0 at every active unit; re-estimate them"
            )

    @property
    def num_features(self) -> int:
        return self.mean.numel()

    def clamped_std(self, min_std: float = DEFAULT_MIN_STD) -> torch.Tensor:
        """Standard deviation floored at ``min_std`` so that dead units do not blow up r = (R - mu) / sigma."""
        return self.std.clamp_min(min_std)

    def active_mask(self) -> torch.Tensor:
        """The active units (all of them when no mask was estimated)."""
        return self.active if self.active is not None else torch.ones_like(self.mean, dtype=torch.bool)


def model_probe(model: torch.nn.Module, tensors: int = 32, values: int = 4) -> torch.Tensor:
    """A small fingerprint of a model's weights: the first ``values`` entries of its first
    ``tensors`` parameters (by name), as float32. Compared with a tolerance, it tells whether
    statistics belong to this model whatever the folder it was loaded from, its device or its
    precision (unlike a hash)."""
    parameters = sorted(model.named_parameters(), key=lambda item: item[0])[:tensors]
    parts = [parameter.detach().reshape(-1)[:values].float().cpu() for _, parameter in parameters]
    return torch.cat(parts) if parts else torch.zeros(0)


def same_model(probe: torch.Tensor | None, model: torch.nn.Module) -> bool:
    """False only when ``probe`` is known and differs from the model's (relative 1%, so
    half precision still matches)."""
    if probe is None:
        return True
    mine = model_probe(model)
    return probe.shape == mine.shape and bool(torch.allclose(probe.float(), mine, rtol=1e-2, atol=1e-3))


class RunningMoments:
    """Streaming per-feature mean, variance and count of non-zero values (Chan et al. parallel update, float64)."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None
        self.nonzero: torch.Tensor | None = None

    def update(self, rows: torch.Tensor) -> None:
        """Add a (samples x features) block of activations."""
        if rows.numel() == 0:
            return
        rows = rows.detach().to(dtype=torch.float64, device="cpu")
        batch_count = rows.shape[0]
        batch_mean = rows.mean(dim=0)
        batch_m2 = ((rows - batch_mean) ** 2).sum(dim=0)
        batch_nonzero = (rows != 0).sum(dim=0)
        if self.mean is None or self.m2 is None or self.nonzero is None:
            self.count, self.mean, self.m2, self.nonzero = batch_count, batch_mean, batch_m2, batch_nonzero
            return
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (batch_count / total)
        self.m2 = self.m2 + batch_m2 + delta**2 * (self.count * batch_count / total)
        self.nonzero = self.nonzero + batch_nonzero
        self.count = total

    def result(self, metadata: dict[str, str] | None = None, unbiased: bool = False, model_probe: torch.Tensor | None = None) -> FeatureStatistics:
        """Mean, standard deviation (population; ``unbiased``: divided by n - 1, as the reference
        implementation does) and the active units so far."""
        if self.mean is None or self.m2 is None or self.nonzero is None:
            raise StatisticsError("no activations were seen: is the reference corpus empty?")
        std = (self.m2 / (self.count - 1 if unbiased and self.count > 1 else self.count)).sqrt().float()
        constant = std.double() <= 1e-6 * self.mean.abs().clamp_min(1.0)  # streaming rounding leaves ~1e-17, not 0
        active = (self.nonzero.double() / self.count > ACTIVE_FRACTION) & ~constant
        return FeatureStatistics(self.mean.float(), std, self.count, dict(metadata or {}), active, model_probe)


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
    """Write several layers' statistics (and the model probe) into one safetensors file, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}
    for key, stats in statistics.items():
        tensors[f"{key}/mean"] = stats.mean.detach().float().cpu().contiguous()
        tensors[f"{key}/std"] = stats.std.detach().float().cpu().contiguous()
        if stats.active is not None:
            tensors[f"{key}/active"] = stats.active.detach().to(torch.uint8).cpu().contiguous()
        if stats.model_probe is not None:
            tensors[PROBE_KEY] = stats.model_probe.detach().float().cpu().contiguous()
        counts[key] = stats.count
    header = {"counts": json.dumps(counts), **{k: str(v) for k, v in (metadata or {}).items()}}
    with atomic_destination(path) as temporary:
        save_file(tensors, str(temporary), metadata=header)


def load_statistics(path: str | os.PathLike) -> dict[str, FeatureStatistics]:
    """Read the statistics of every layer stored in ``path``; an unreadable or inconsistent
    file raises a :class:`StatisticsError` that names it."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise StatisticsError(f"no statistics file at {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
        tensors = load_file(str(path))
        counts = json.loads(header.get("counts", "{}"))
        if not isinstance(counts, dict):
            raise ValueError("its 'counts' header is not a mapping")
    except Exception as error:  # safetensors raises SafetensorError, OSError or ValueError for broken files
        raise StatisticsError(f"statistics file {path} is unreadable ({type(error).__name__}: {error}); delete it and estimate again") from error
    metadata = {k: v for k, v in header.items() if k != "counts"}
    result = {}
    for key, count in counts.items():
        if f"{key}/mean" not in tensors or f"{key}/std" not in tensors:
            raise StatisticsError(f"statistics file {path} lacks tensors for {key}")
        try:
            result[key] = FeatureStatistics(
                tensors[f"{key}/mean"], tensors[f"{key}/std"], int(count), {**metadata, "layer": key},
                tensors.get(f"{key}/active"), tensors.get(PROBE_KEY),
            )
        except StatisticsError as error:
            raise StatisticsError(f"statistics file {path}, {key}: {error}") from error
    return result


class StatisticsStore:
    """Statistics on disk under ``directory/<model key>/<corpus key>.safetensors``, one entry per layer."""

    def __init__(self, directory: str | os.PathLike | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir() / "statistics"

    def path(self, model_key: str, corpus_key: str) -> Path:
        return self.directory / model_key / f"{corpus_key}.safetensors"

    def load(self, model_key: str, corpus_key: str) -> dict[str, FeatureStatistics]:
        """All layers stored for this model and corpus (empty if none, or if the cached file is
        unreadable: it is then removed, with a warning, and the statistics are estimated again)."""
        path = self.path(model_key, corpus_key)
        if not path.is_file():
            return {}
        try:
            return load_statistics(path)
        except StatisticsError as error:
            warnings.warn(f"{error}; the cached file is removed and the statistics are estimated again", stacklevel=2)
            with contextlib.suppress(OSError):
                path.unlink()
            return {}

    def save(self, model_key: str, corpus_key: str, statistics: Mapping[str, FeatureStatistics]) -> Path | None:
        """Merge ``statistics`` into the stored entry and return its path; None (with a warning)
        when the cache cannot be written, e.g. a read-only folder: the estimate is still used."""
        merged = {**self.load(model_key, corpus_key), **statistics}
        path = self.path(model_key, corpus_key)
        try:
            save_statistics(path, merged, {"model": model_key, "corpus": corpus_key})
        except OSError as error:
            warnings.warn(
                f"could not cache the statistics in {path} ({error.strerror or error}); they are used without caching. "
                "Set IB_NLP_CACHE to a writable folder to keep them.",
                stacklevel=2,
            )
            return None
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
