"""The readout bottleneck (Schulz et al. 2020; docs/input-iba-and-readout.md): a small network, trained
once over a dataset, predicts alpha for the bottleneck at one layer from the normalised
activations of several layers, read in a first pass without gradients. An explanation then
costs one forward pass instead of an optimisation per text.

For text the network is a per-token MLP over the concatenated normalised features
(R_l - mu_l) / sigma_l of the readout layers; its last layer starts at alpha = 5 (lam ~ 0.993),
and alpha is clamped to [-5, 5]. Training minimises CE + beta * mean KL (the per-sample loss)
with the classifier frozen, for the class the classifier predicts (what an explanation
explains by default). A trained readout is saved with the statistics it normalises by.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ib_nlp.text.methods.base import AttributionMethod
from ib_nlp.core.runtime import attribution_mode
from ib_nlp.core.bottleneck import NATS_PER_BIT, apply_bottleneck, gaussian_capacity, hold_inactive, normalize
from ib_nlp.text.classifier import Classifier, EncodedBatch
from ib_nlp.core.readout_head import bound_alpha, load_readout, save_readout
from ib_nlp.text.shipped import shipped_model_path
from ib_nlp.errors import InvalidInputError, StatisticsError
from ib_nlp.text.methods.iba import PerSampleIBA
from ib_nlp.text.sites import Site, SiteKind, first_tensor
from ib_nlp.core.statistics import DEFAULT_MIN_STD, FeatureStatistics

READOUT_FILE = "readout.safetensors"


@dataclass(frozen=True)
class ReadoutConfig:
    """Where the readout attaches, what it reads, and how it was trained."""

    layer: int | str
    readout_layers: list[int | str]
    hidden: int = 256
    beta: float = 10.0
    init_alpha: float = 5.0
    min_std: float = DEFAULT_MIN_STD
    model: str = ""
    training: dict[str, Any] = field(default_factory=dict)


class ReadoutNetwork(nn.Module):
    """Per-token MLP: concatenated normalised features -> alpha at the attach layer, in [-5, 5]."""

    def __init__(self, in_features: int, hidden: int, out_features: int, init_alpha: float = 5.0):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, out_features))
        last = self.layers[-1]
        nn.init.zeros_(last.weight)
        nn.init.constant_(last.bias, init_alpha)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return bound_alpha(self.layers(features))


class Readout:
    """A readout network with its configuration and the statistics of every layer it uses."""

    def __init__(self, config: ReadoutConfig, network: ReadoutNetwork, statistics: Mapping[str, FeatureStatistics]):
        self.config = config
        self.network = network
        self.statistics = dict(statistics)

    @classmethod
    def create(cls, classifier: Classifier, layer: int | str, readout_layers: Sequence[int | str] | None = None, *, statistics: Mapping[str, FeatureStatistics] | None = None, reference_corpus: Any = None, hidden: int = 256, beta: float = 10.0) -> Readout:
        """An untrained readout for ``classifier`` attached at ``layer``; by default it reads the
        attach layer and every block output after it."""
        attach = classifier.layers.resolve(layer)
        if readout_layers is None:
            first = attach.block_index if attach.kind == SiteKind.BLOCK_OUTPUT else -1
            readout_layers = [attach.label] + [index for index in range(len(classifier.layers)) if index > first]
        sites = [classifier.layers.resolve(name) for name in readout_layers]
        if attach.key not in {site.key for site in sites}:
            sites.insert(0, attach)
        found = {}
        for site in sites:
            found[site.key] = statistics[site.key] if statistics is not None and site.key in statistics else classifier.statistics_for(site, reference_corpus)
        config = ReadoutConfig(layer=attach.label, readout_layers=[site.label for site in sites], hidden=hidden, beta=beta, model=classifier.name)
        in_features = sum(found[site.key].num_features for site in sites)
        network = ReadoutNetwork(in_features, hidden, found[attach.key].num_features, config.init_alpha).to(classifier.device)
        return cls(config, network, found)

    def sites(self, classifier: Classifier) -> tuple[Site, list[Site]]:
        """The attach site and the readout sites resolved on ``classifier``."""
        return classifier.layers.resolve(self.config.layer), [classifier.layers.resolve(name) for name in self.config.readout_layers]

    def features(self, captured: Mapping[str, Any], sites: Sequence[Site]) -> torch.Tensor:
        """Concatenated normalised activations (texts x tokens x features) of the readout sites."""
        parts = []
        for site in sites:
            stats = self.statistics[site.key]
            activations = first_tensor(captured[site.key]).float()
            if activations.shape[-1] != stats.num_features:
                raise StatisticsError(f"the readout's statistics for {site.key} have {stats.num_features} features, the model has {activations.shape[-1]}")
            parts.append(normalize(activations, stats.mean.to(activations.device), stats.clamped_std(self.config.min_std).to(activations.device)))
        return torch.cat(parts, dim=-1)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the network, its configuration and statistics into one safetensors file (atomically)."""
        return save_readout(path, self.network, self.statistics, asdict(self.config))

    @classmethod
    def load(cls, path: str | os.PathLike[str], device: str | torch.device = "cpu") -> Readout:
        """A readout saved by :meth:`save`."""
        if not Path(path).is_file():
            raise InvalidInputError(f"no readout file at {path}; train one with: ib-nlp train-readout --model MODEL --out {path}")
        settings, state, statistics = load_readout(path)
        config = ReadoutConfig(**settings)
        weights = [state[f"layers.{index}.weight"] for index in (0, 2, 4)]
        network = ReadoutNetwork(weights[0].shape[1], weights[0].shape[0], weights[2].shape[0], config.init_alpha)
        network.load_state_dict(state)
        return cls(config, network.to(device), statistics)


def train_readout(
    classifier: Classifier,
    readout: Readout,
    texts: Sequence[str],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-3,
    samples: int = 1,
    seed: int = 0,
    progress: bool = True,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> list[float]:
    """Train ``readout`` on ``texts`` (the classifier frozen); returns the mean loss per epoch.
    ``on_epoch_end(epoch, loss)`` runs after each epoch (e.g. to save a checkpoint). Calling it
    again continues the training (the configuration records every epoch's loss; the optimiser
    starts afresh)."""
    from tqdm.auto import tqdm

    if not texts:
        raise InvalidInputError("no training texts")
    attach, sites = readout.sites(classifier)
    iba = PerSampleIBA(classifier, readout.config.layer, statistics=readout.statistics, beta=readout.config.beta, samples=samples, min_std=readout.config.min_std)
    optimizer = torch.optim.Adam(readout.network.parameters(), lr=lr)
    history = list(readout.config.training.get("loss", []))
    generator = torch.Generator().manual_seed(seed + len(history))
    losses: list[float] = []
    readout.network.train()
    with attribution_mode(classifier.model):
        for epoch in range(epochs):
            order = torch.randperm(len(texts), generator=generator).tolist()
            total, count = 0.0, 0
            bar = tqdm(range(0, len(texts), batch_size), desc=f"readout epoch {epoch + 1}/{epochs}", unit="batch", disable=not progress)
            for start in bar:
                batch = classifier.encode([texts[index] for index in order[start : start + batch_size]])
                loss = readout_loss(classifier, readout, iba, attach, sites, batch, samples, generator)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total, count = total + loss.item() * len(batch.texts), count + len(batch.texts)
                bar.set_postfix(loss=f"{total / count:.3f}")
            losses.append(total / count)
            readout.config.training.update({"texts": len(texts), "epochs": len(history) + len(losses), "batch_size": batch_size, "lr": lr, "samples": samples, "seed": seed, "loss": history + losses})
            if on_epoch_end is not None:
                readout.network.eval()
                on_epoch_end(epoch, losses[-1])
                readout.network.train()
    readout.network.eval()
    return losses


def readout_loss(classifier: Classifier, readout: Readout, iba: PerSampleIBA, attach: Site, sites: Sequence[Site], batch: EncodedBatch, samples: int, generator: torch.Generator) -> torch.Tensor:
    """CE of the predicted class under the predicted bottleneck + beta * mean KL, over a batch."""
    logits, captured = classifier.capture(batch, sites)
    targets = logits.argmax(dim=-1).repeat_interleave(samples)
    activations = first_tensor(captured[attach.key])
    alpha = readout.network(readout.features(captured, sites))
    mean, std = iba._prior(activations)
    mask = batch.attention_mask.to(torch.float32).unsqueeze(-1)
    noise = torch.randn(len(batch.texts) * samples, *activations.shape[1:], generator=generator).to(activations.device) * mask.repeat_interleave(samples, dim=0)
    alpha_rows = alpha.repeat_interleave(samples, dim=0)
    engine = iba.engine_for(batch, captured[attach.key])
    active = iba._active(activations)
    noisy = engine.logits(lambda values: hold_inactive(apply_bottleneck(values.float(), alpha_rows, mean, std, noise), mean, active).to(values.dtype), samples)
    capacity = (iba.capacity(alpha, activations) * mask).sum() / (mask.sum() * activations.shape[-1])
    return F.cross_entropy(noisy.float(), targets) + readout.config.beta * capacity


class ReadoutIBA(AttributionMethod):
    """Explain with a trained readout bottleneck: one forward pass per batch of texts.

    ``readout`` is a :class:`Readout` or the path of a saved one; by default the readout
    shipped with the model (``readout.safetensors`` beside it) is used.
    """

    name = "readout"
    unit = "bits"
    signed = False
    description = "readout bottleneck: alpha predicted by a trained network in one pass (bits per token)"

    def __init__(
        self,
        model: Any,
        readout: Readout | str | os.PathLike[str] | None = None,
        *,
        tokenizer: Any = None,
        device: str | torch.device | None = None,
        progress: bool = False,
        threads: int | None = None,
    ):
        super().__init__(model, tokenizer=tokenizer, device=device, progress=progress, threads=threads)
        if readout is None:
            folder = shipped_model_path(self.classifier.name)
            if folder is None or not (folder / READOUT_FILE).is_file():
                raise InvalidInputError(f"no trained readout ships with {self.classifier.name}; train one with `ib-nlp train-readout --model {self.classifier.name} --out PATH` and pass readout=PATH")
            readout = folder / READOUT_FILE
        self.readout = readout if isinstance(readout, Readout) else Readout.load(readout, self.classifier.device)
        self.readout.network.to(self.classifier.device).eval()
        self.attach, self.sites = self.readout.sites(self.classifier)

    @property
    def layer(self) -> int | str:
        return self.attach.label

    def parameters(self) -> dict[str, Any]:
        config = self.readout.config
        return {"beta": config.beta, "readout_layers": list(config.readout_layers), "hidden": config.hidden}

    def first_pass(self, batch: EncodedBatch) -> tuple[torch.Tensor, Any]:
        return self.classifier.capture(batch, self.sites)

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        predicted = logits.argmax(dim=-1).tolist()
        if any(target != guess for target, guess in zip(targets, predicted)):
            warnings.warn("the readout's bits do not depend on the target: it was trained for the predicted class, which differs from the requested target", stacklevel=3)
        captured = recorded if recorded is not None else self.first_pass(batch)[1]
        with torch.no_grad():
            alpha = self.readout.network(self.readout.features(captured, self.sites))
            activations = first_tensor(captured[self.attach.key]).float()
            stats = self.readout.statistics[self.attach.key]
            mean, std = stats.mean.to(activations.device), stats.clamped_std(self.readout.config.min_std).to(activations.device)
            mask = batch.attention_mask.to(device=activations.device, dtype=torch.float32)
            capacity = gaussian_capacity(alpha, normalize(activations, mean, std)) * stats.active_mask().to(activations.device)
            bits = (capacity * mask.unsqueeze(-1)).sum(dim=-1) / NATS_PER_BIT
        return bits.cpu()
