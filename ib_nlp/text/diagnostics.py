"""Why does IBA rank tokens the way it does? The diagnoses of ``scripts/iba_diagnostics.py``,
``scripts/input_iba_diagnostics.py``, ``scripts/sign_diagnostics.py`` and
``scripts/evidence_paths.py`` and ``scripts/sign_and_size.py``.

Each text is explained with IBA at several (steps, lr) settings and with the "capacity at
initialisation" (the bits every token would get before any optimisation: the KL at alpha =
init_alpha, which only measures how far the token's activations are from the prior mean).
All are scored with the degradation test, insertion/deletion and Sensitivity-N, beside
Integrated Gradients and its absolute value (IBA's bits have no sign; the gap between IG and
|IG| shows how much of IG's lead comes from the sign). Also reported: the rank correlation of
each attribution with the capacity at initialisation, the bits per text and the share of the
bits on the special tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ib_nlp.errors import InvalidInputError
from ib_nlp.core.runtime import attribution_mode
from ib_nlp.text.classifier import Classifier, EncodedBatch
from ib_nlp.text.methods import load_method
from ib_nlp.text.methods.base import build_explanation, explanation_from_scores
from ib_nlp.text.methods.iba import Fit, PerSampleIBA
from ib_nlp.text.metrics import Degradation, InsertionDeletion, SensitivityN
from ib_nlp.text.metrics.sanity import spearman
from ib_nlp.text.sites import first_tensor
from ib_nlp.ui.markdown import mean_and_error

HEADER = ["attribution", "degradation LeRF-MoRF (↑)", "deletion AUC (↓)", "Sensitivity-N (↑)", "Spearman to capacity at init", "bits per review", "share on special tokens"]


def initial_capacity(explainer: PerSampleIBA, text: str) -> list[float]:
    """Bits per token at alpha = init_alpha, before any optimisation step."""
    batch = explainer.classifier.encode([text])
    _, captured = explainer.first_pass(batch)
    activations = first_tensor(captured)
    alpha = torch.full(activations.shape, explainer.config.init_alpha, device=activations.device)
    return explainer.bits_per_token(alpha, activations, batch)[0].tolist()


def diagnose_iba(
    classifier: Classifier,
    items: Sequence[Mapping[str, Any]],
    settings: Sequence[tuple[int, float]],
    *,
    layer: int | str | None = None,
    beta: float | None = None,
    subsets: int = 30,
    prior: Mapping[str, Any] | None = None,
) -> tuple[str, list[list[str]]]:
    """The diagnosis of ``items`` (dicts with text and label) for IBA at each (steps, lr) of
    ``settings``: a title line and the rows under :data:`HEADER`, each cell mean ± standard error."""
    prior = dict(prior or {})
    explainers = {f"IBA {steps} steps, lr {lr:g}": PerSampleIBA(classifier, layer, beta=beta, steps=steps, lr=lr, **prior) for steps, lr in settings}
    first = next(iter(explainers.values()))
    metrics = {"degradation": Degradation(), "insertion_deletion": InsertionDeletion(), "sensitivity_n": SensitivityN(subsets=subsets)}
    gradients = load_method("integrated_gradients", classifier)
    names = ["capacity at initialisation", *explainers, "integrated_gradients", "|integrated_gradients|"]
    values: dict[str, dict[str, list[float]]] = {name: {"lerf_minus_morf": [], "deletion_auc": [], "mean_correlation": [], "spearman_to_initial": [], "bits": [], "special_share": []} for name in names}
    for item in items:
        explained = {name: explainer.explain(item["text"]) for name, explainer in explainers.items()}
        target = next(iter(explained.values())).target
        initial = explanation_from_scores(classifier, item["text"], initial_capacity(first, item["text"]), target, method="capacity at initialisation")
        signed = gradients.explain(item["text"], target)
        absolute = explanation_from_scores(classifier, item["text"], [abs(v) for v in signed.token_scores], target, method="|integrated_gradients|")
        row = [initial, *explained.values(), signed, absolute]
        ordinary = [i for i, special in enumerate(initial.special_tokens) if not special]
        for metric_name, metric in metrics.items():
            for name, result in zip(names, metric.compute(classifier, row, item["label"])):
                value = metric.info.main if metric_name != "insertion_deletion" else "deletion_auc"
                if result[value] is not None:
                    values[name][value].append(result[value])
        for name, explanation in zip(names, row):
            correlation = spearman(np.asarray([initial.token_scores[i] for i in ordinary]), np.asarray([explanation.token_scores[i] for i in ordinary]))
            if correlation is not None:
                values[name]["spearman_to_initial"].append(correlation)
            values[name]["bits"].append(sum(explanation.token_scores) if explanation.unit == "bits" or name.startswith("capacity") else float("nan"))
            special = sum(score for score, flag in zip(explanation.token_scores, explanation.special_tokens) if flag)
            values[name]["special_share"].append(special / sum(explanation.token_scores) if sum(explanation.token_scores) > 0 else float("nan"))

    body = [
        [
            name,
            *(mean_and_error(values[name][key]) for key in ("lerf_minus_morf", "deletion_auc", "mean_correlation", "spearman_to_initial")),
            *((f"{np.mean(values[name]['bits']):.0f}", f"{np.nanmean(values[name]['special_share']):.3f}") if name.startswith(("IBA", "capacity")) else ("-", "-")),
        ]
        for name in names
    ]
    return f"layer {first.layer}, beta {first.config.beta:g}", body


# InputIBA's GAN settings the diagnosis compares: the paper's (weight clipping, RMSprop lr 5e-5),
# no GAN (lam_G stays 0.5), and faster GANs with clipping or a gradient penalty.
INPUT_IBA_SETTINGS = {
    "paper": {},
    "no-gan": {"gan_epochs": 0},
    "clip-fast": {"gan_lr": 1e-2},
    "penalty-fast": {"critic": "gradient_penalty", "gan_lr": 1e-2},
}
INPUT_IBA_HEADER = ["method", "LeRF - MoRF (↑)", "deletion AUC (↓)", "insertion AUC (↑)", "mean |lam_G - 0.5|", "max |lam_G - 0.5|", "feature IBA s", "GAN s", "input bottleneck s", "total s"]


def diagnose_input_iba(
    classifier: Classifier,
    items: Sequence[Mapping[str, Any]],
    settings: Sequence[str],
    *,
    common: Mapping[str, Any] | None = None,
    reference: Sequence[str] | None = None,
) -> list[list[str]]:
    """Does InputIBA's GAN matter? Per-sample IBA at the recommended layer and InputIBA under each
    of ``settings`` (names of :data:`INPUT_IBA_SETTINGS`, with the ``common`` options): rows under
    :data:`INPUT_IBA_HEADER` with the faithfulness means, how far the prior mask lam_G moved from
    its start at 0.5, and the seconds of each stage."""
    from ib_nlp.text.methods.input_iba import InputIBA

    unknown = [name for name in settings if name not in INPUT_IBA_SETTINGS]
    if unknown:
        raise InvalidInputError(f"unknown setting(s) {', '.join(unknown)}; choose from {', '.join(INPUT_IBA_SETTINGS)}")
    metrics = [Degradation(), InsertionDeletion()]
    methods: dict[str, Any] = {"per-sample IBA (recommended layer)": load_method("iba", classifier, reference_corpus=reference)}
    for name in settings:
        methods[f"InputIBA {name}"] = InputIBA(classifier, reference_corpus=reference, **{**(common or {}), **INPUT_IBA_SETTINGS[name]})
    rows = []
    for label, method in methods.items():
        scores: dict[str, list[float]] = {"lerf_minus_morf": [], "deletion_auc": [], "insertion_auc": [], "drift_mean": [], "drift_max": [], "feature": [], "gan": [], "input": [], "seconds": []}
        for item in items:
            explanation = method.explain(item["text"])
            for metric in metrics:
                (result,) = metric.compute(classifier, [explanation], item["label"])
                for key in ("lerf_minus_morf", "deletion_auc", "insertion_auc"):
                    if key in result:
                        scores[key].append(result[key])
            scores["seconds"].append(explanation.seconds)
            if isinstance(method, InputIBA):
                drift = (method.last_prior_masks[0] - 0.5).abs()
                scores["drift_mean"].append(float(drift.mean()))
                scores["drift_max"].append(float(drift.max()))
                for stage, seconds in method.stage_seconds.items():
                    scores[stage].append(seconds)
        rows.append([label] + [f"{np.mean(scores[key]):.3f}" if scores[key] else "n/a" for key in scores])
    return rows


SIGN_HEADER = ["attribution", "sign agrees with the leave-one-out effect (↑)", "Pearson with the effect (↑)", "Pearson of the magnitudes (↑)", "deletion rank of the opposing tokens (↑)"]


def diagnose_signs(classifier: Classifier, texts: Sequence[str], methods: Sequence[str], options: Mapping[str, Mapping[str, Any]] | None = None) -> list[list[str]]:
    """Do the signs and sizes of each method's scores follow the tokens' leave-one-out effects?
    The effect of a token is occlusion's score (the target's drop when that token alone is
    replaced). Per text, over the ordinary tokens (not [CLS]/[SEP]): the Pearson correlation of
    the scores with the effects; over the tokens with the larger half of |effect| (those with a
    clear direction): the share whose score has the effect's sign, and the Pearson correlation of
    |score| with |effect|; over the clear effects against the target: where the method's order
    puts them for deletion (0: deleted first, 1: last; ties share their mean rank), which the
    deletion curve rewards when it is high. Rows under :data:`SIGN_HEADER`, each cell mean ±
    standard error over the texts (a correlation left out where one side is constant)."""
    from scipy.stats import rankdata

    from ib_nlp.text.metrics.sensitivity import pearson

    options = options or {}
    occlusion = load_method("occlusion", classifier, **options.get("occlusion", {}))
    explainers = {name: load_method(name, classifier, **options.get(name, {})) for name in methods}
    keys = ("signs", "pearson", "magnitudes", "opposing_rank")
    values: dict[str, dict[str, list[float]]] = {name: {key: [] for key in keys} for name in methods}
    for text in texts:
        leave_one_out = occlusion.explain(text)
        ordinary = np.array([not special for special in leave_one_out.special_tokens])
        effect = np.asarray(leave_one_out.token_scores)[ordinary]
        clear = np.abs(effect) > np.median(np.abs(effect))
        opposing = clear & (effect < 0)
        for name, explainer in explainers.items():
            scores = np.asarray(explainer.explain(text, leave_one_out.target).token_scores)[ordinary]
            if clear.any():
                values[name]["signs"].append(float(np.mean(np.sign(scores[clear]) == np.sign(effect[clear]))))
            if opposing.any() and len(scores) > 1:
                deletion_rank = (rankdata(-scores) - 1) / (len(scores) - 1)
                values[name]["opposing_rank"].append(float(np.mean(deletion_rank[opposing])))
            for key, correlation in (("pearson", pearson(scores, effect)), ("magnitudes", pearson(np.abs(scores[clear]), np.abs(effect[clear])) if clear.sum() > 1 else float("nan"))):
                if not np.isnan(correlation):
                    values[name][key].append(correlation)
    return [[name, *(mean_and_error(values[name][key]) for key in keys)] for name in methods]


# The paths of the expected bottleneck output along which path_evidence integrates: "closed"
# (lam = 0, every token at the prior mean), "optimised" (the fitted lam), "open" (lam = 1).
EVIDENCE_PATHS: dict[str, tuple[str, ...]] = {
    "evidence, closed → optimised": ("closed", "optimised"),
    "evidence, closed → optimised → open": ("closed", "optimised", "open"),
    "evidence, closed → open": ("closed", "open"),
}
EVIDENCE_HEADER = ["attribution", "degradation LeRF-MoRF (↑)", "Sensitivity-N (↑)", "deletion AUC (↓)", "|sum - change| / |change|"]


def log_odds_bits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each row's log-odds of its target against the other classes, in bits."""
    logits = logits.float()
    others = logits.scatter(1, targets[:, None], float("-inf")).logsumexp(dim=1)
    return (logits.gather(1, targets[:, None]).squeeze(1) - others) / math.log(2)


def path_evidence(explainer: PerSampleIBA, fit: Fit, batch: EncodedBatch, targets: Sequence[int], waypoints: Sequence[str], steps: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Each token's share of the change in the target's log-odds (bits) along a piecewise-linear
    path of the expected bottleneck output through ``waypoints`` (keys of "closed", "optimised",
    "open"): Integrated Gradients along each leg (midpoint rule, ``steps`` points per leg), so the
    shares add up to the change up to the rule's error. Tokens the bottleneck leaves alone (kept
    special tokens) stay open on the whole path. Returns the shares (texts x tokens, zero on
    padding) and the change of the log-odds from the first waypoint to the last (texts)."""
    activations = fit.activations
    lams = {"closed": torch.zeros_like(fit.alpha), "optimised": torch.sigmoid(fit.alpha), "open": torch.ones_like(fit.alpha)}
    unknown = [name for name in waypoints if name not in lams]
    if unknown or len(waypoints) < 2:
        raise InvalidInputError(f"a path needs at least two waypoints from {', '.join(lams)}, got {list(waypoints)}")
    texts, length, features = activations.shape
    passing = ~explainer.bottlenecked_tokens(batch).to(activations.device)[..., None]
    points = [explainer.expected_output(lams[name].float().masked_fill(passing, 1.0), activations) for name in waypoints]
    target_rows = torch.tensor(list(targets), device=activations.device)
    middles = (torch.arange(steps, device=activations.device, dtype=torch.float32) + 0.5) / steps
    shares = torch.zeros(texts, length, device=activations.device)
    for start, end in zip(points, points[1:]):
        leg = end - start
        values = (start[:, None] + middles[None, :, None, None] * leg[:, None]).reshape(texts * steps, length, features).requires_grad_(True)
        with torch.enable_grad():
            evidence = log_odds_bits(fit.engine.logits(lambda cached: values.to(cached.dtype), steps), target_rows.repeat_interleave(steps))
            (gradient,) = torch.autograd.grad(evidence.sum(), values)
        shares += (gradient.view(texts, steps, length, features).mean(dim=1) * leg).sum(dim=-1)
    with torch.no_grad():
        first, last = (log_odds_bits(fit.engine.logits(lambda cached, point=point: point.to(cached.dtype), 1), target_rows) for point in (points[0], points[-1]))
    mask = batch.attention_mask.to(device=activations.device, dtype=torch.float32)
    return (shares * mask).detach(), last - first


def diagnose_evidence_paths(
    classifier: Classifier,
    items: Sequence[Mapping[str, Any]],
    *,
    layer: int | str | None = None,
    steps: int = 16,
    subsets: int = 100,
    options: Mapping[str, Any] | None = None,
) -> tuple[str, list[list[str]]]:
    """Would the bottleneck's scores reach IG's Sensitivity-N if they added up like IG's? For each
    of ``items`` (dicts with text and label): ``gradient_signed_iba`` at ``layer`` (its
    ``options``: beta, statistics, ...), the evidence (log-odds shares in bits,
    :func:`path_evidence`) along each path of :data:`EVIDENCE_PATHS` from the same fit, and
    Integrated Gradients, scored with degradation, Sensitivity-N (``subsets`` per size) and
    deletion. Returns a title and rows under :data:`EVIDENCE_HEADER`, each cell mean ± standard
    error; the last column is how far each path's shares miss their sum (the rule's error)."""
    from ib_nlp.text.methods.signed_iba import GradientSignedIBA

    explainer = GradientSignedIBA(classifier, layer, progress=False, **(options or {}))
    gradients = load_method("integrated_gradients", classifier)
    metrics = {"lerf_minus_morf": Degradation(), "mean_correlation": SensitivityN(subsets=subsets), "deletion_auc": InsertionDeletion()}
    names = [explainer.name, *EVIDENCE_PATHS, gradients.name]
    values: dict[str, dict[str, list[float]]] = {name: {key: [] for key in (*metrics, "completeness")} for name in names}
    for item in items:
        batch = classifier.encode([item["text"]])
        with attribution_mode(classifier.model):
            logits, captured = explainer.first_pass(batch)
            targets = [classifier.resolve_target(None, logits[0])]
            fit = explainer.fit(batch, logits, targets, captured)
            scores = {explainer.name: explainer.signed_bits(fit, batch, targets)}
            for name, waypoints in EVIDENCE_PATHS.items():
                shares, change = path_evidence(explainer, fit, batch, targets, waypoints, steps)
                scores[name] = shares.cpu()
                values[name]["completeness"].append(float(abs(shares.sum() - change.sum()) / max(abs(float(change.sum())), 1e-9)))
        probabilities = logits[0].float().softmax(dim=-1).cpu()
        row = [build_explanation(classifier, batch, 0, score[0], probabilities, targets[0], 0.0, name, "signed bits", explainer.layer) for name, score in scores.items()]
        row.append(gradients.explain(item["text"], targets[0]))
        for key, metric in metrics.items():
            for name, result in zip(names, metric.compute(classifier, row, item["label"])):
                if result[key] is not None:
                    values[name][key].append(result[key])
    body = [[name, *(mean_and_error(values[name][key]) for key in metrics), mean_and_error(values[name]["completeness"]) if values[name]["completeness"] else "-"] for name in names]
    return f"layer {explainer.layer}, beta {explainer.config.beta:g}, {steps} steps per leg", body


SIZE_HEADER = ["scores", "degradation LeRF-MoRF (↑)", "MoRF area (↓)", "LeRF area (↑)"]


def diagnose_sign_and_size(
    classifier: Classifier,
    items: Sequence[Mapping[str, Any]],
    method: str,
    betas: tuple[float, float],
    options: Mapping[str, Any] | None = None,
) -> tuple[str, list[list[str]]]:
    """Which part of a signed bottleneck's scores ranks the tokens: the sign or the size in bits?
    Each of ``items`` (dicts with text and label) is explained with ``method`` (its ``options``)
    at both ``betas``; degradation scores each beta's signed bits, its sign alone (every token
    +1, -1 or 0, ties in the metric's seeded order) and each beta's sign with the other beta's
    size. Returns a title (how often the two betas give a token the same sign) and rows under
    :data:`SIZE_HEADER`, each cell mean ± standard error."""
    if len(betas) != 2:
        raise InvalidInputError(f"give two betas to compare, got {list(betas)}")
    low, high = betas
    explainers = [load_method(method, classifier, **{**(options or {}), "beta": beta}) for beta in betas]
    names = [
        f"signed bits, beta {low:g}",
        f"sign alone, beta {low:g}",
        f"signed bits, beta {high:g}",
        f"sign alone, beta {high:g}",
        f"sign at beta {high:g}, size at beta {low:g}",
        f"sign at beta {low:g}, size at beta {high:g}",
    ]
    keys = ("lerf_minus_morf", "morf_area", "lerf_area")
    values: dict[str, dict[str, list[float]]] = {name: {key: [] for key in keys} for name in names}
    agreement = []
    metric = Degradation()
    for item in items:
        first = explainers[0].explain(item["text"])
        second = explainers[1].explain(item["text"], first.target)
        ordinary = np.array([not special for special in first.special_tokens])
        sign_low, sign_high = np.sign(first.token_scores), np.sign(second.token_scores)
        size_low, size_high = np.abs(first.token_scores), np.abs(second.token_scores)
        agreement.append(float(np.mean(sign_low[ordinary] == sign_high[ordinary])))
        variants = [sign_low * size_low, sign_low, sign_high * size_high, sign_high, sign_high * size_low, sign_low * size_high]
        results = metric.compute(classifier, [explanation_from_scores(classifier, item["text"], scores, first.target, name) for name, scores in zip(names, variants)], item["label"])
        for name, result in zip(names, results):
            for key in keys:
                values[name][key].append(result[key])
    body = [[name, *(mean_and_error(values[name][key]) for key in keys)] for name in names]
    return f"{method} at layer {explainers[0].layer}; the two betas give a token the same sign on {mean_and_error(agreement)} of the tokens", body
