"""Gradient-signed IBA: IBA's bits, signed by the direction in which each token's information
moves the prediction.

After the per-sample optimisation, the bottleneck passes Z = lam * R + (1 - lam) * eps. Sending
a token's representation R to the prior mean mu (erasing its information) changes the target's
log-probability, to first order, by -g . lam (R - mu) with g the gradient at Z; the token's sign
is that of

    effect = sum over units of  grad_R log p(target) . (R - mu)      (grad_R = lam * g),

averaged over the noise samples at the final alpha: positive when the token's information
supports the target, negative when it argues against it. The score is bits x sign(effect): the
magnitude stays IBA's (bits on an absolute scale), the direction comes from one extra
forward and backward pass. The log-probability rather than a raw logit: it does not move when
all logits shift together, and for two classes its sign is that of the margin between them.
"""

from __future__ import annotations

from typing import Any

import torch

from .bottleneck import apply_bottleneck, hold_inactive
from .classifier import EncodedBatch
from .iba import Fit, PerSampleIBA, _NoiseSource


class GradientSignedIBA(PerSampleIBA):
    """Per-sample IBA whose bits carry the sign of each token's first-order effect on the target.

    Takes every option of :class:`~ib_nlp.iba.PerSampleIBA`.
    """

    name = "gradient_signed_iba"
    unit = "signed bits"
    signed = True
    description = "IBA's bits times the sign of the token's first-order effect on the target (signed bits per token)"

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor:
        fit = self.fit(batch, logits, targets, recorded)
        self._check_not_closed(fit.bits, batch)
        return fit.bits * torch.sign(self.first_order_effect(fit, batch, targets)).cpu()

    def first_order_effect(self, fit: Fit, batch: EncodedBatch, targets: list[int]) -> torch.Tensor:
        """grad_R log p(target) . (R - mu) per token (texts x tokens, zero on padding), at the
        final alpha, averaged over the noise samples, summed over the active units."""
        samples = self.config.samples
        activations = fit.activations
        mean, std = self._prior(activations)
        active = self._active(activations)
        texts, length, features = activations.shape
        noise = _NoiseSource(batch.lengths, samples, features, self.config.seed, activations.device).draw(length, torch.float32)
        values = activations.detach().float().requires_grad_(True)
        rows = values.repeat_interleave(samples, dim=0)
        alpha_rows = fit.alpha.repeat_interleave(samples, dim=0)

        def bottleneck(cached: torch.Tensor) -> torch.Tensor:
            return hold_inactive(apply_bottleneck(rows, alpha_rows, mean, std, noise), mean, active).to(cached.dtype)

        target_rows = torch.tensor(targets, device=activations.device).repeat_interleave(samples)
        with torch.enable_grad():
            log_probabilities = fit.engine.logits(bottleneck, samples).float().log_softmax(dim=-1)
            chosen = log_probabilities.gather(1, target_rows[:, None]).sum() / samples
            (gradient,) = torch.autograd.grad(chosen, values)
        mask = batch.attention_mask.to(device=activations.device, dtype=torch.float32)
        return ((gradient * (values.detach() - mean)).where(active, 0.0).sum(dim=-1) * mask).detach()
