"""IBA's bits with a sign: the direction in which each token's information moves the prediction.

After the per-sample optimisation, the bottleneck passes Z = lam * R + (1 - lam) * eps. The
score of a token is bits x sign(effect), where effect estimates how much the target's
log-probability falls when the token's information is erased (its representation sent to
the prior mean mu): positive when the token supports the target, negative when it argues
against it. The magnitude stays IBA's (bits on an absolute scale). Three estimates of the effect:

- ``gradient_signed_iba``: to first order, ``grad_R log p(target) . (R - mu)`` summed over the
  active units, averaged over the noise samples at the final alpha (one extra forward and
  backward pass): the effect in the context the bottleneck leaves, where the other tokens
  pass only part of their information;
- ``open_signed_iba``: the same first-order effect with the bottleneck open (every token passes
  R, no noise): the effect in the text as the model reads it (one forward and backward pass);
- ``closing_signed_iba``: exactly, on the bottleneck's expected output (eps at its mean mu):
  ``log p(target)`` with the bottleneck as optimised minus ``log p(target)`` with the token's
  bottleneck closed (lam = 0, so it passes mu), one forward pass per token, in batches.

The log-probability rather than a raw logit: it does not move when all logits shift together,
and for two classes its sign is that of the margin between them. An effect of exactly zero
(closing a token changes no logit within float precision) scores 0 whatever its bits.
"""

from __future__ import annotations

from typing import Any

import torch

from ib_nlp.core.bottleneck import apply_bottleneck, hold_inactive
from ib_nlp.text.classifier import EncodedBatch
from ib_nlp.text.methods.base import Attribution
from ib_nlp.text.methods.iba import Fit, PerSampleIBA, _NoiseSource, kept_facts
from ib_nlp.options import whole_number


class _EffectSignedIBA(PerSampleIBA):
    """Per-sample IBA whose bits carry the sign of each token's effect on the target; subclasses
    estimate the effect (:meth:`token_effect`)."""

    unit = "signed bits"
    signed = True

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> Attribution:
        fit = self.fit(batch, logits, targets, recorded)
        self._check_not_closed(fit.bits, batch)
        return Attribution(self.signed_bits(fit, batch, targets), kept_facts(fit.kept_probability))

    def signed_bits(self, fit: Fit, batch: EncodedBatch, targets: list[int]) -> torch.Tensor:
        """The fit's bits times the sign of each token's effect (texts x tokens, on the CPU)."""
        return fit.bits * torch.sign(self.token_effect(fit, batch, targets)).cpu()

    def token_effect(self, fit: Fit, batch: EncodedBatch, targets: list[int]) -> torch.Tensor:
        """How much erasing each token's information lowers log p(target) (texts x tokens)."""
        raise NotImplementedError

    def _log_probabilities(self, logits: torch.Tensor, targets: list[int], repeats: int) -> torch.Tensor:
        """log p(target) of each row of ``logits`` (texts * repeats rows, each text's rows together)."""
        rows = torch.tensor(targets, device=logits.device).repeat_interleave(repeats)
        return logits.float().log_softmax(dim=-1).gather(1, rows[:, None]).squeeze(1)


class GradientSignedIBA(_EffectSignedIBA):
    """Per-sample IBA signed by the first-order effect of erasing each token under the optimised
    bottleneck (see the module).

    Takes every option of :class:`~ib_nlp.text.methods.iba.PerSampleIBA`.
    """

    name = "gradient_signed_iba"
    description = "IBA's bits times the sign of the token's first-order effect on the target under the bottleneck (signed bits per token)"
    open_bottleneck = False
    """Whether the effect is taken with the bottleneck open (every token passing R) instead of as optimised."""

    def token_effect(self, fit: Fit, batch: EncodedBatch, targets: list[int]) -> torch.Tensor:
        """grad_R log p(target) . (R - mu) per token (texts x tokens, zero on padding), summed over
        the active units: at the final alpha averaged over the noise samples, or with the
        bottleneck open."""
        samples = 1 if self.open_bottleneck else self.config.samples
        activations = fit.activations
        mean, std = self._prior(activations)
        active = self._active(activations)
        texts, length, features = activations.shape
        values = activations.detach().float().requires_grad_(True)
        rows = values.repeat_interleave(samples, dim=0)
        if self.open_bottleneck:

            def passed(cached: torch.Tensor) -> torch.Tensor:
                return rows.to(cached.dtype)

        else:
            noise = _NoiseSource(batch.lengths, samples, features, self.config.seed, activations.device).draw(length, torch.float32)
            alpha_rows = fit.alpha.repeat_interleave(samples, dim=0)

            def passed(cached: torch.Tensor) -> torch.Tensor:
                return hold_inactive(apply_bottleneck(rows, alpha_rows, mean, std, noise), mean, active).to(cached.dtype)

        with torch.enable_grad():
            chosen = self._log_probabilities(fit.engine.logits(passed, samples), targets, samples).sum() / samples
            (gradient,) = torch.autograd.grad(chosen, values)
        mask = batch.attention_mask.to(device=activations.device, dtype=torch.float32)
        return ((gradient * (values.detach() - mean)).where(active, 0.0).sum(dim=-1) * mask).detach()


class OpenSignedIBA(GradientSignedIBA):
    """Per-sample IBA signed by the first-order effect of erasing each token with the bottleneck
    open: the direction in which the token moves the prediction of the text as the model reads
    it (see the module). Takes every option of :class:`~ib_nlp.text.methods.iba.PerSampleIBA`.
    """

    name = "open_signed_iba"
    description = "IBA's bits times the sign of the token's first-order effect on the target in the text as the model reads it (signed bits per token)"
    open_bottleneck = True


class ClosingSignedIBA(_EffectSignedIBA):
    """Per-sample IBA signed by the change of log p(target) when each token's bottleneck is
    closed on the expected bottleneck (see the module). ``chunk``: tokens closed per forward
    pass (each a copy of the text; lower it to save memory on long texts).

    Takes every option of :class:`~ib_nlp.text.methods.iba.PerSampleIBA`.
    """

    name = "closing_signed_iba"
    description = "IBA's bits times the sign of the target's log-probability drop when the token's bottleneck is closed (signed bits per token)"

    def __init__(self, model: Any, layer: int | str | None = None, *, chunk: int = 32, **options: Any):
        super().__init__(model, layer, **options)
        self.chunk = whole_number("chunk", chunk, minimum=1)

    def parameters(self) -> dict[str, Any]:
        return {**super().parameters(), "chunk": self.chunk}

    def token_effect(self, fit: Fit, batch: EncodedBatch, targets: list[int]) -> torch.Tensor:
        """log p(target) open minus log p(target) with the token closed (texts x tokens, zero on padding)."""
        activations = fit.activations
        mean, _ = self._prior(activations)
        texts, length, _ = activations.shape
        expected = self.expected_output(torch.sigmoid(fit.alpha), activations)
        effect = torch.zeros(texts, length, device=activations.device)
        with torch.no_grad():
            opened = self._log_probabilities(fit.engine.logits(lambda cached: expected.to(cached.dtype), 1), targets, 1)
            for start in range(0, length, self.chunk):
                closing = torch.arange(start, min(start + self.chunk, length), device=activations.device)
                rows = expected.repeat_interleave(len(closing), dim=0).view(texts, len(closing), length, -1).clone()
                rows[:, torch.arange(len(closing)), closing] = mean
                closed = rows.view(texts * len(closing), length, -1)
                log_probabilities = self._log_probabilities(fit.engine.logits(lambda cached, closed=closed: closed.to(cached.dtype), len(closing)), targets, len(closing))
                effect[:, closing] = opened[:, None] - log_probabilities.view(texts, len(closing))
        return effect * batch.attention_mask.to(device=activations.device, dtype=torch.float32)
