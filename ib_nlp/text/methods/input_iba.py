"""InputIBA (Zhang, Khakzar et al., NeurIPS 2021): a bottleneck on the token embeddings whose
prior is learnt from a deep layer (Zhang, Khakzar et al. 2021; docs/input-iba-and-readout.md).

1. Per-sample IBA at a deep layer (default: the last block) gives lam* and the bottleneck
   variable Z* = lam* R + (1 - lam*) eps.
2. A Wasserstein GAN finds an input mask lam_G: the generator's parameters are lam_G, mu_G and
   sigma_G (per token and embedding unit); its sample Z_G = lam_G I + (1 - lam_G) (mu_G +
   sigma_G n), with I drawn from the local explanation set (the input plus small Gaussian
   perturbations), is pushed through the network up to the deep layer. The critic (a one-layer
   GRU over the tokens and a small MLP) tells those samples from draws of Z*.
3. A bottleneck on the embeddings with the prior of Proposition 3 (mask lam_G), optimised for
   CE + beta_in * mean KL. The attribution is that KL summed over the embedding dimension, in
   bits per token (not the mask value).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from ib_nlp.text.methods import check_method_options
from ib_nlp.text.methods.base import Attribution, AttributionMethod
from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.core.input_prior import DeepLayerReached, InputIBAConfig, bottleneck_samples, fit_prior_mask
from ib_nlp.errors import InvalidInputError
from ib_nlp.text.methods.iba import PerSampleIBA, kept_facts
from ib_nlp.text.sites import SiteKind, first_tensor, transform_input
from ib_nlp.core.statistics import FeatureStatistics, StatisticsStore


class SequenceCritic(nn.Module):
    """WGAN critic over a text's deep-layer activations: a one-layer GRU and a small MLP."""

    def __init__(self, features: int, hidden: int):
        super().__init__()
        self.rnn = nn.GRU(features, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        _, last = self.rnn(sequences)
        return self.head(last[-1]).squeeze(-1)


class InputIBA(AttributionMethod):
    """InputIBA: bits per token from a bottleneck on the embeddings with a GAN-learnt prior.

    ``deep_layer`` is where step 1 runs (default: the last block). Statistics for both the deep
    layer and the embeddings come from ``statistics`` (a file or a mapping by layer key),
    ``reference_corpus``, or the statistics shipped with the model. Settings a model recommends
    in its config (``ib_nlp_input_iba_defaults``) replace the paper's defaults. The generator's mask starts
    at lam_G = 0.5; ``gan_epochs=0`` skips the GAN (an ablation). ``last_prior_masks`` keeps
    lam_G of each text of the last call (tokens x embedding units), for diagnostics.
    """

    name = "input_iba"
    config_class = InputIBAConfig
    unit = "bits"
    signed = False
    description = "InputIBA: embedding bottleneck with a prior learnt by a GAN from a deep layer (bits per token)"

    def __init__(
        self,
        model: Any,
        deep_layer: int | str | None = None,
        *,
        tokenizer: Any = None,
        statistics: Mapping[str, FeatureStatistics] | str | os.PathLike | None = None,
        reference_corpus: Any = None,
        statistics_store: StatisticsStore | None = None,
        config: InputIBAConfig | None = None,
        device: str | torch.device | None = None,
        progress: bool = False,
        threads: int | None = None,
        **overrides: Any,
    ):
        check_method_options(type(self), overrides)
        super().__init__(model, tokenizer=tokenizer, device=device, progress=progress, threads=threads)
        recommended = getattr(self.classifier.model.config, "ib_nlp_input_iba_defaults", None) or {}
        base = config or InputIBAConfig(**{key: value for key, value in recommended.items() if key in InputIBAConfig.__dataclass_fields__})
        self.config = InputIBAConfig(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
        config = self.config
        if deep_layer is None:
            deep_layer = len(self.classifier.layers) - 1
        prior = {"statistics": statistics, "reference_corpus": reference_corpus, "statistics_store": statistics_store}
        self.feature = PerSampleIBA(self.classifier, deep_layer, beta=config.feature_beta, steps=config.feature_steps, lr=config.feature_lr, samples=config.samples, seed=config.seed, **prior)
        if self.feature.site.kind != SiteKind.BLOCK_OUTPUT:
            raise InvalidInputError(f"the deep layer must be the output of a block (0..{len(self.classifier.layers) - 1}), got {deep_layer!r}")
        self.input = PerSampleIBA(self.classifier, "embeddings", beta=config.beta, steps=config.steps, lr=config.lr, samples=config.samples, seed=config.seed, **prior)
        self.stage_seconds: dict[str, float] = {}
        self.last_prior_masks: list[torch.Tensor] = []

    @property
    def layer(self) -> int | str:
        return self.input.layer

    def parameters(self) -> dict[str, Any]:
        return {**asdict(self.config), "deep_layer": self.feature.layer, "stage_seconds": dict(self.stage_seconds)}

    def first_pass(self, batch: EncodedBatch) -> tuple[torch.Tensor, Any]:
        """Logits and the activations at the embeddings and at the deep layer, in one pass."""
        logits, store = self.classifier.capture(batch, [self.input.site, self.feature.site])
        return logits, store

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> Attribution:
        from tqdm.auto import tqdm

        store = recorded if recorded is not None else self.first_pass(batch)[1]
        deep_captured, embeddings = store[self.feature.site.key], store[self.input.site.key]
        deep = first_tensor(deep_captured)
        self.input._check_features(embeddings)
        self.feature._check_features(deep)
        seconds = {"feature": 0.0, "gan": 0.0, "input": 0.0}
        with tqdm(total=2 + len(batch.texts), desc="InputIBA", unit="stage", disable=not self.progress, leave=False) as bar:
            started = time.perf_counter()
            feature_engine = self.feature.engine_for(batch, deep_captured)
            self.feature._check_influence(feature_engine, deep, logits, batch)
            feature_alpha = self.feature.optimise_alpha(feature_engine, deep, batch, targets).alpha
            seconds["feature"] = time.perf_counter() - started
            bar.update()
            started = time.perf_counter()
            prior_alpha = torch.zeros_like(embeddings, dtype=torch.float32)
            for row, length in enumerate(batch.lengths):
                prior_alpha[row, :length] = self.fit_input_prior(batch, row, embeddings[row, :length], deep[row, :length], feature_alpha[row, :length])
                bar.update()
            seconds["gan"] = time.perf_counter() - started
            started = time.perf_counter()
            input_engine = self.input.engine_for(batch, embeddings)
            self.input._check_influence(input_engine, embeddings, logits, batch)
            optimised = self.input.optimise_alpha(input_engine, embeddings, batch, targets, prior_alpha=prior_alpha)
            bits = self.input.bits_per_token(optimised.alpha, embeddings, batch, prior_alpha=prior_alpha)
            seconds["input"] = time.perf_counter() - started
            bar.update()
        self.stage_seconds = {stage: value / len(batch.texts) for stage, value in seconds.items()}
        self.last_prior_masks = [torch.sigmoid(prior_alpha[row, :length]).cpu() for row, length in enumerate(batch.lengths)]
        return Attribution(bits, kept_facts(optimised.kept_probability))

    def deep_activations(self, batch: EncodedBatch, row: int, embeddings: torch.Tensor) -> torch.Tensor:
        """The deep layer's output (samples x tokens x features) when the embeddings of text
        ``row`` are replaced by ``embeddings`` (samples x tokens x embedding units); the layers
        after the deep one are not run."""
        layers = self.classifier.layers
        input_call = layers.module_call(self.input.site)
        deep_call = layers.module_call(self.feature.site)
        recorded: dict[str, torch.Tensor] = {}
        replace = transform_input(lambda _: embeddings)

        def record(forward: Any, args: tuple, kwargs: dict) -> Any:
            recorded["deep"] = first_tensor(forward(*args, **kwargs))
            raise DeepLayerReached

        if input_call == deep_call:
            handlers = {input_call[0]: {input_call[1]: lambda forward, args, kwargs: record(lambda *a, **k: replace(forward, a, k), args, kwargs)}}
        else:
            handlers = {input_call[0]: {input_call[1]: replace}}
            handlers.setdefault(deep_call[0], {})[deep_call[1]] = record
        count, length = embeddings.shape[:2]
        inputs = {key: value[row : row + 1, :length].expand(count, length) for key, value in batch.model_inputs().items()}
        try:
            self.classifier.run(inputs, handlers)
        except DeepLayerReached:
            return recorded["deep"]
        raise InvalidInputError(f"the model never called the block of {self.feature.site.key}")

    def fit_input_prior(self, batch: EncodedBatch, row: int, embeddings: torch.Tensor, deep: torch.Tensor, feature_alpha: torch.Tensor) -> torch.Tensor:
        """Step 2 for one text: train the WGAN and return the generator's mask logits
        (tokens x embedding units), whose sigmoid is lam_G."""
        config = self.config
        device = embeddings.device
        generator = torch.Generator(device=device).manual_seed(config.seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            critic = SequenceCritic(deep.shape[-1], config.critic_hidden).to(device)
        deep_mean, deep_std = self.feature._prior(deep)
        input_mean, input_std = self.input._prior(embeddings)
        real = bottleneck_samples(deep.float(), torch.sigmoid(feature_alpha), deep_mean, deep_std, config.gan_samples, generator)

        def to_deep(z_g: torch.Tensor) -> torch.Tensor:
            return (self.deep_activations(batch, row, z_g.to(embeddings.dtype)).float() - deep_mean) / deep_std

        return fit_prior_mask(config, critic, real, embeddings.float(), input_mean, input_std, to_deep, generator)
