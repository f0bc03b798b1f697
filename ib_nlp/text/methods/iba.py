"""Per-sample information bottleneck attribution (IBA) for text classifiers.

For each text, a bottleneck Z = lam * R + (1 - lam) * eps is inserted at one layer and
alpha (one value per token and hidden unit) is optimised to keep the target class while
letting as little information through as possible: loss = CE + beta * mean KL. The reported
attribution is the KL of the final alpha summed over hidden units, in bits per token.

Two engines compute the noisy forward passes and give the same result under the same noise:

- ``"prefix"`` (default): the layers before the bottleneck run once per explanation at the
  batch of texts; each optimisation step runs only the layers after it, with the batch of
  noise samples (the blocks before are skipped). Used for ``layer=int`` and ``"embeddings"``.
- ``"full"``: the straightforward implementation, the whole model at the batch of noise
  samples every step. Used for dotted module names and as the reference in tests.

In both, the model's parameters never receive gradients and the model is in eval mode.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any, NamedTuple

import torch

from ib_nlp.text.methods import check_method_options, get_method, method_names
from ib_nlp.text.methods.base import Attribution, AttributionMethod
from ib_nlp.core.bottleneck import (
    NATS_PER_BIT,
    apply_bottleneck,
    gaussian_capacity,
    hold_inactive,
    normalize,
    prior_capacity,
)
from ib_nlp.text.classifier import Classifier, EncodedBatch
from ib_nlp.core.optimise import IBAConfig, Optimised, check_influence, optimise_alpha
from ib_nlp.errors import (
    InvalidInputError,
    LayerError,
    NonFiniteError,
    OptimisationError,
    StatisticsError,
)
from ib_nlp.text.sites import (
    Site,
    SiteKind,
    first_tensor,
    return_output,
    skip_call,
    transform_input,
    transform_output,
)
from ib_nlp.core.statistics import (
    FeatureStatistics,
    StatisticsStore,
    load_statistics,
    same_model,
)

ENGINES = ("prefix", "full")
# A text whose tokens together carry fewer bits than this got a closed bottleneck, not a map.
CLOSED_BITS = 1e-6


def _check_keep_special_tokens(value: Any, source: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{source} must be true or false, got {value!r}")
    return value


class _NoiseSource:
    """Standard normal noise per text from its own seeded generator, so a text gets the same
    noise whether it is explained alone or in a batch."""

    def __init__(self, lengths: Sequence[int], samples: int, features: int, seed: int, device: torch.device):
        self.lengths = list(lengths)
        self.samples = samples
        self.features = features
        self.device = device
        self.generators = []
        for _ in self.lengths:
            generator = torch.Generator(device=device)
            generator.manual_seed(seed)
            self.generators.append(generator)

    def draw(self, padded_length: int, dtype: torch.dtype) -> torch.Tensor:
        """Noise of shape (texts * samples, padded_length, features); zero on padding."""
        noise = torch.zeros(len(self.lengths), self.samples, padded_length, self.features, device=self.device, dtype=dtype)
        for row, (length, generator) in enumerate(zip(self.lengths, self.generators)):
            noise[row, :, :length] = torch.randn(self.samples, length, self.features, generator=generator, device=self.device, dtype=dtype)
        return noise.reshape(-1, padded_length, self.features)


class _PrefixEngine:
    """Runs only the layers after the site; the site's activations come from the cached first pass."""

    def __init__(self, classifier: Classifier, site: Site, batch: EncodedBatch, captured: Any):
        if site.kind == SiteKind.MODULE_OUTPUT:
            raise LayerError("the prefix engine needs a block site (layer=int or 'embeddings'); use engine='full'")
        self.classifier = classifier
        self.site = site
        self.batch = batch
        self.template = captured
        self.activations = first_tensor(captured)

    def logits(self, bottleneck: Callable[[torch.Tensor], torch.Tensor], repeats: int) -> torch.Tensor:
        layers = self.classifier.layers
        cached = self.activations.repeat_interleave(repeats, dim=0)
        handlers: dict[Any, dict[int, Any]] = {}
        assert self.site.block_index is not None
        if self.site.kind == SiteKind.BLOCK_OUTPUT:
            for block in layers.blocks[: self.site.block_index]:
                handlers.setdefault(block.module, {})[block.call_index] = skip_call(self.template)
            last = layers.blocks[self.site.block_index]
            handlers.setdefault(last.module, {})[last.call_index] = return_output(self.template, lambda: bottleneck(cached))
        else:
            first = layers.blocks[0]
            handlers[first.module] = {first.call_index: transform_input(lambda _: bottleneck(cached))}
        return self.classifier.run(self.batch.model_inputs(repeats), handlers)


class _FullEngine:
    """Runs the whole model at the batch of noise samples and applies the bottleneck on the fly."""

    def __init__(self, classifier: Classifier, site: Site, batch: EncodedBatch):
        self.classifier = classifier
        self.site = site
        self.batch = batch

    def logits(self, bottleneck: Callable[[torch.Tensor], torch.Tensor], repeats: int) -> torch.Tensor:
        module, call_index = self.classifier.layers.module_call(self.site)
        make = transform_input if self.site.kind == SiteKind.BLOCK_INPUT else transform_output
        return self.classifier.run(self.batch.model_inputs(repeats), {module: {call_index: make(bottleneck)}})


class Fit(NamedTuple):
    """An optimised bottleneck: the engine that runs the model with it, the activations at its
    site, the final alpha, the bits per token (texts x tokens) and per text the target's
    probability through the bottleneck (see :class:`~ib_nlp.core.optimise.Optimised`)."""

    engine: _PrefixEngine | _FullEngine
    activations: torch.Tensor
    alpha: torch.Tensor
    bits: torch.Tensor
    kept_probability: torch.Tensor


def kept_facts(kept_probability: torch.Tensor) -> list[dict[str, float]]:
    """Per text, the metadata that records the target's probability through the optimised bottleneck."""
    return [{"kept_probability": float(value)} for value in kept_probability]


class PerSampleIBA(AttributionMethod):
    """Explain texts with per-sample IBA at one layer of one classifier.

    Load the model and the statistics once, then call :meth:`explain` for as many texts as
    needed. ``statistics`` may be given directly (one layer's, a mapping of layer keys such as
    ``"layer.3"`` to statistics, or the path of a statistics file); otherwise they come from
    ``reference_corpus`` (a list of texts, a ``datasets`` dataset with its ``text_column``, a
    text/CSV/JSON-lines/parquet file or a dataset id, at most 2,000 texts; or a data loader;
    estimated once, cached on disk), from ``ib_statistics.safetensors`` in the model's folder,
    or, with a warning, from the general-English corpus shipped with the package. Each
    explanation records which in ``parameters["prior"]``. ``keep_special_tokens=True`` lets
    [CLS], [SEP] and the like pass unchanged (0 bits); left at None it follows the model's
    recommendation (its config's ``ib_nlp_defaults``), else False.
    """

    name = "iba"
    config_class = IBAConfig
    unit = "bits"
    signed = False
    description = "per-sample information bottleneck at one layer (bits per token)"

    def __init__(
        self,
        model: Any,
        layer: int | str | None = None,
        *,
        tokenizer: Any = None,
        statistics: FeatureStatistics | Mapping[str, FeatureStatistics] | str | os.PathLike | None = None,
        reference_corpus: Any = None,
        text_column: str = "text",
        statistics_store: StatisticsStore | None = None,
        config: IBAConfig | None = None,
        engine: str = "prefix",
        keep_special_tokens: bool | None = None,
        ignore_statistics_origin: bool = False,
        device: str | torch.device | None = None,
        progress: bool = False,
        threads: int | None = None,
        **overrides: Any,
    ):
        check_method_options(type(self), overrides)
        if keep_special_tokens is not None:
            _check_keep_special_tokens(keep_special_tokens, "keep_special_tokens")
        super().__init__(model, tokenizer=tokenizer, device=device, progress=progress, threads=threads)
        if keep_special_tokens is None:
            keep_special_tokens = _check_keep_special_tokens(
                self.recommended_settings().get("keep_special_tokens", False), "the model config's recommended keep_special_tokens"
            )
        self.keep_special_tokens = keep_special_tokens
        base = config or IBAConfig(**self.classifier_defaults())
        self.config = IBAConfig(**{**asdict(base), **{k: v for k, v in overrides.items() if v is not None}})
        if engine not in ENGINES:
            raise InvalidInputError(f"engine must be one of {ENGINES}, not {engine!r}")
        if layer is None:
            layer = self.default_layer()
        self.site = self.classifier.layers.resolve(layer)
        self.engine = "full" if self.site.kind == SiteKind.MODULE_OUTPUT else engine
        self.statistics = self._resolve_statistics(statistics, reference_corpus, statistics_store, text_column)
        if not ignore_statistics_origin:
            self._check_origin(self.statistics)

    def _resolve_statistics(self, statistics: Any, reference_corpus: Any, store: StatisticsStore | None, text_column: str) -> FeatureStatistics:
        """The prior at this site: given directly, picked from a file or mapping by layer, or estimated."""
        if statistics is None:
            return self.classifier.statistics_for(self.site, reference_corpus, store, progress=self.progress, text_column=text_column)
        if reference_corpus is not None:
            raise InvalidInputError("pass either statistics or reference_corpus, not both")
        if isinstance(statistics, FeatureStatistics):
            return statistics
        source = str(statistics) if isinstance(statistics, (str, os.PathLike)) else "the statistics mapping"
        entries = load_statistics(statistics) if isinstance(statistics, (str, os.PathLike)) else statistics
        if self.site.key not in entries:
            raise StatisticsError(
                f"{source} has no entry for {self.site.key}; it holds {', '.join(entries) or 'nothing'}. "
                "Estimate statistics for this layer (ib-nlp estimate) or choose one of those layers."
            )
        return entries[self.site.key]

    def _check_origin(self, statistics: FeatureStatistics) -> None:
        """Refuse statistics recorded for another layer or estimated on another model: a prior
        of the same width from elsewhere gives plausible-looking but wrong bits."""
        layer = statistics.metadata.get("layer")
        override = "Pass ignore_statistics_origin=True (command line: --ignore-statistics-origin) if you know they fit."
        if layer is not None and layer != self.site.key:
            raise StatisticsError(f"the statistics were estimated at {layer}, but the bottleneck sits at {self.site.key}. {override}")
        if not same_model(statistics.model_probe, self.classifier.model):
            origin = statistics.metadata.get("model_name") or statistics.metadata.get("model")
            raise StatisticsError(
                f"the statistics were estimated on another model{f' ({origin})' if origin else ''}, not on {self.classifier.name}: its weights differ. "
                f"Estimate them for this model (reference_corpus=, or ib-nlp estimate). {override}"
            )

    def with_config(self, **changes: Any) -> PerSampleIBA:
        """The same explainer (sharing the classifier, site and statistics) with some
        hyper-parameters changed, e.g. ``with_config(beta=1)``; checked like the constructor's."""
        unknown = sorted(set(changes) - set(IBAConfig.__dataclass_fields__))
        if unknown:
            raise InvalidInputError(f"{', '.join(unknown)}: not a hyper-parameter of {self.name}; choose from {', '.join(IBAConfig.__dataclass_fields__)}")
        changed = copy.copy(self)
        changed.config = IBAConfig(**{**asdict(self.config), **changes})
        return changed

    def recommended_settings(self) -> dict[str, Any]:
        """The settings the model's config recommends for this method (see :func:`recommended_settings`)."""
        return recommended_settings(self.classifier.model, self.name)

    def classifier_defaults(self) -> dict[str, Any]:
        """IBA hyper-parameters recommended for this model and method (stored in its config), else the defaults."""
        return {key: value for key, value in self.recommended_settings().items() if key in IBAConfig.__dataclass_fields__}

    def default_layer(self) -> int | str:
        """The layer the model recommends for this method if it has one, else the output of the first block.

        Early layers localise tokens best on the models measured so far (docs/layer-scanning.md).
        """
        return self.recommended_settings().get("layer", 0)

    @property
    def layer(self) -> int | str:
        return self.site.label

    def parameters(self) -> dict[str, Any]:
        prior = self.statistics.metadata.get("prior", "statistics given")
        kept = {"keep_special_tokens": True} if self.keep_special_tokens else {}
        return {**asdict(self.config), "engine": self.engine, **kept, "statistics_count": int(self.statistics.count), "prior": prior}

    def bottlenecked_tokens(self, batch: EncodedBatch) -> torch.Tensor:
        """The tokens (texts x tokens, boolean) the bottleneck acts on and whose bits count: every
        token the model reads, or with ``keep_special_tokens`` only the text's own tokens ([CLS],
        [SEP] and the like then pass unchanged and get 0 bits)."""
        return batch.ordinary_mask() if self.keep_special_tokens else batch.attention_mask.bool()

    def first_pass(self, batch: EncodedBatch) -> tuple[torch.Tensor, Any]:
        """Logits and the activations at the bottleneck's site, in one pass."""
        logits, store = self.classifier.capture(batch, [self.site])
        return logits, store[self.site.key]

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> Attribution:
        """Bits per token (texts x tokens) from the activations ``recorded`` at the site, with the
        target's probability through the optimised bottleneck per text. Each text
        gets the updates it would get alone (the loss is a sum over texts, Adam acts per element,
        and each text draws its noise from its own seeded generator); the model's padded, batched
        matrix products round differently, so bits agree with single texts to float32 rounding
        (about 1e-5 relative; tested at 1e-4), not bit for bit."""
        fit = self.fit(batch, logits, targets, recorded)
        self._check_not_closed(fit.bits, batch)
        return Attribution(fit.bits, kept_facts(fit.kept_probability))

    def fit(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> Fit:
        """Optimise the bottleneck for ``targets`` from the activations ``recorded`` at the site
        (taken by a first pass when not given), after checking that they fit the statistics and
        that the model reads the site. Variants (e.g. signed ones) start from the result."""
        captured = recorded if recorded is not None else self.first_pass(batch)[1]
        activations = first_tensor(captured)
        self._check_features(activations)
        engine = self.engine_for(batch, captured)
        self._check_influence(engine, activations, logits, batch)
        optimised = self.optimise_alpha(engine, activations, batch, targets)
        return Fit(engine, activations, optimised.alpha, self.bits_per_token(optimised.alpha, activations, batch), optimised.kept_probability.cpu())

    def engine_for(self, batch: EncodedBatch, captured: Any) -> _PrefixEngine | _FullEngine:
        """The engine that runs the model with a bottleneck at this site for ``batch``."""
        return _PrefixEngine(self.classifier, self.site, batch, captured) if self.engine == "prefix" else _FullEngine(self.classifier, self.site, batch)

    def capacity(self, alpha: torch.Tensor, activations: torch.Tensor, prior_alpha: torch.Tensor | None = None) -> torch.Tensor:
        """KL per element in nats: IBA's Gaussian prior, or InputIBA's prior with mask ``prior_alpha``;
        zero at inactive units (see :func:`~ib_nlp.core.bottleneck.hold_inactive`)."""
        mean, std = self._prior(activations)
        normalized = normalize(activations.float(), mean, std)
        capacity = gaussian_capacity(alpha, normalized) if prior_alpha is None else prior_capacity(alpha, normalized, prior_alpha)
        return capacity * self._active(activations)

    def bits_per_token(self, alpha: torch.Tensor, activations: torch.Tensor, batch: EncodedBatch, prior_alpha: torch.Tensor | None = None) -> torch.Tensor:
        """The capacity summed over features, in bits per token (texts x tokens, zero on padding)."""
        with torch.no_grad():
            mask = self.bottlenecked_tokens(batch).to(device=alpha.device, dtype=torch.float32)
            bits = (self.capacity(alpha, activations, prior_alpha) * mask.unsqueeze(-1)).sum(dim=-1) / NATS_PER_BIT
        if not torch.isfinite(bits).all():
            raise NonFiniteError("the attribution contains non-finite values; check the statistics (min_std) and lr")
        return bits.detach().float().cpu()

    def expected_output(self, lam: torch.Tensor, activations: torch.Tensor) -> torch.Tensor:
        """What the bottleneck passes with its noise at the mean, in float32: lam * R + (1 - lam) * mu,
        inactive units held at mu (lam = 1 passes R, lam = 0 closes the token)."""
        mean, _ = self._prior(activations)
        return hold_inactive(lam * activations.float() + (1 - lam) * mean, mean, self._active(activations))

    def _check_features(self, activations: torch.Tensor) -> None:
        if activations.dim() != 3:
            raise LayerError(f"the bottleneck needs activations of shape (batch, tokens, features); {self.site.key} gives {tuple(activations.shape)}")
        if activations.shape[-1] != self.statistics.num_features:
            raise StatisticsError(
                f"the statistics have {self.statistics.num_features} features but {self.site.key} has {activations.shape[-1]}: "
                "they belong to another layer or model"
            )

    def _prior(self, activations: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and clamped std in float32: the bottleneck's math runs in float32 whatever the model's dtype."""
        mean = self.statistics.mean.to(device=activations.device, dtype=torch.float32)
        std = self.statistics.clamped_std(self.config.min_std).to(device=activations.device, dtype=torch.float32)
        return mean, std

    def _active(self, activations: torch.Tensor) -> torch.Tensor:
        """The active units as a boolean vector on the activations' device."""
        return self.statistics.active_mask().to(device=activations.device)

    def _check_influence(self, engine: Any, activations: torch.Tensor, logits: torch.Tensor, batch: EncodedBatch) -> None:
        """Replacing the site by pure noise (lam = 0) must change the logits, else the layer is not read."""
        mean, std = self._prior(activations)
        active = self._active(activations)
        noise = _NoiseSource(batch.lengths, 1, activations.shape[-1], self.config.seed + 1, activations.device).draw(activations.shape[1], torch.float32)
        with torch.no_grad():
            noisy = engine.logits(lambda values: hold_inactive(mean + std * noise, mean, active).to(values.dtype), 1)
        check_influence(noisy, logits, self.site.key, f"Choose another layer ({self.classifier.layers.valid_layers()}).")

    def optimise_alpha(self, engine: Any, activations: torch.Tensor, batch: EncodedBatch, targets: list[int], prior_alpha: torch.Tensor | None = None) -> Optimised:
        """Optimise alpha (texts x tokens x features) for loss = CE + beta * mean KL over the
        text's tokens, where the KL is IBA's or, with ``prior_alpha``, InputIBA's (Proposition 3)."""
        config = self.config
        mean, std = self._prior(activations)
        active = self._active(activations)
        length, features = activations.shape[1:]
        mask = self.bottlenecked_tokens(batch).to(device=activations.device, dtype=torch.float32)
        # The kept special tokens (with keep_special_tokens): they leave the bottleneck as they came in.
        passed = (batch.attention_mask.to(activations.device).bool() & ~mask.bool()).repeat_interleave(config.samples, dim=0).unsqueeze(-1) if self.keep_special_tokens else None
        noise_source = _NoiseSource(batch.lengths, config.samples, features, config.seed, activations.device)

        def step(alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            noise = noise_source.draw(length, torch.float32)
            alpha_rows = alpha.repeat_interleave(config.samples, dim=0)

            def bottleneck(values: torch.Tensor) -> torch.Tensor:
                restricted = hold_inactive(apply_bottleneck(values.float(), alpha_rows, mean, std, noise), mean, active).to(values.dtype)
                return restricted if passed is None else torch.where(passed, values, restricted)

            return engine.logits(bottleneck, config.samples), self.capacity(alpha, activations, prior_alpha) * mask.unsqueeze(-1)

        return optimise_alpha(
            config, activations, step, torch.tensor(targets, device=activations.device),
            elements=mask.sum(dim=1) * features, padding=~mask.bool().unsqueeze(-1), item="text", progress=self.progress,
        )

    def _check_not_closed(self, bits: torch.Tensor, batch: EncodedBatch) -> None:
        """Refuse a map in which every token got (numerically) zero bits: with a too large lr the
        first Adam step sends alpha so far down that the bottleneck closes for good and no
        gradient can reopen it. Such a map ranks nothing (the same silent zero map the
        influence check refuses for an unread layer)."""
        closed = [row for row, length in enumerate(batch.lengths) if float(bits[row, :length].sum()) < CLOSED_BITS]
        if closed:
            raise OptimisationError(
                f"every token of text {closed[0]} got 0 bits: the optimisation closed the bottleneck completely "
                f"(lr={self.config.lr:g}, beta={self.config.beta:g}), so the map ranks nothing. Use a smaller lr "
                "(the default is 1) or beta."
            )


def recommended_settings(model: Any, method: str) -> dict[str, Any]:
    """The settings a model's config recommends for the bottleneck method ``method``:
    ``ib_nlp_defaults`` (layer, beta, keep_special_tokens), with the method's own entry under its
    ``methods`` on top (a signed variant's best layer need not be IBA's)."""
    recommended = dict(getattr(model.config, "ib_nlp_defaults", None) or {})
    own = (recommended.pop("methods", None) or {}).get(method, {})
    return {**recommended, **own}


def bottleneck_method(name: str) -> type[PerSampleIBA]:
    """The registry method ``name`` if it is per-sample IBA or a variant of it (the methods that
    take a layer and beta, and so can be swept or given their own recommended setting);
    otherwise an error listing those methods."""
    cls = get_method(name)
    if not issubclass(cls, PerSampleIBA):
        valid = [other for other in method_names() if is_bottleneck_method(other)]
        raise InvalidInputError(f"{name!r} is not a bottleneck method ({', '.join(valid)}): it has no layer or beta to sweep or recommend")
    return cls


def is_bottleneck_method(name: str) -> bool:
    """Whether the registry method ``name`` is per-sample IBA or a variant of it (and so takes
    a layer, beta, lr, statistics and a reference corpus)."""
    return issubclass(get_method(name), PerSampleIBA)
