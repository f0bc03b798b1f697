"""Model-randomisation sanity check (Adebayo et al., 2018), cascading from the top layer down.

The parameters of the classification head, then of each block from the last to the first,
then of the embeddings are re-drawn (cumulatively), and the method explains the same texts
on each randomised copy. An attribution that reflects what the model learnt changes: its rank
correlation with the original attribution falls towards 0. An attribution that stays the same
explains the input, not the model.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from ib_nlp.text.methods.base import AttributionMethod
from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.core.metric_info import MetricInfo, ValueInfo

MethodFactory = Callable[[Classifier], AttributionMethod]


def parameter_groups(classifier: Classifier) -> list[tuple[str, list[str]]]:
    """Parameter names grouped top-down: ``head``, ``layer.N-1`` ... ``layer.0``, ``embeddings``.

    Blocks are the model's layers; other parameters belong to the head or the embeddings
    depending on whether their module runs after the last block or before the first.
    """
    model = classifier.model
    blocks = classifier.layers.blocks
    block_names: list[str] = list(dict.fromkeys(block.name for block in blocks))
    order: list[str] = []
    hooks = []
    for name, module in model.named_modules():
        if list(module.parameters(recurse=False)):
            hooks.append(module.register_forward_pre_hook(lambda _m, _a, name=name: order.append(name) if name not in order else None))
    try:
        classifier.predict(classifier.encode(["a b c"]))
    finally:
        for hook in hooks:
            hook.remove()

    def block_of(name: str) -> str | None:
        return next((block for block in block_names if name == block or name.startswith(block + ".")), None)

    first_block = min(i for i, name in enumerate(order) if block_of(name) is not None)
    groups: dict[str, list[str]] = {"head": [], **{f"layer.{i}": [] for i in reversed(range(len(block_names)))}, "embeddings": []}
    for name, _ in model.named_parameters():
        module_name = name.rsplit(".", 1)[0] if "." in name else ""
        block = block_of(module_name)
        if block is not None:
            groups[f"layer.{block_names.index(block)}"].append(name)
        elif module_name in order and order.index(module_name) < first_block:
            groups["embeddings"].append(name)
        else:
            groups["head"].append(name)
    return [(label, names) for label, names in groups.items() if names]


def randomized_models(classifier: Classifier, seed: int = 0) -> Iterator[tuple[str, Classifier]]:
    """Cumulatively randomised copies of the classifier, top-down; the original is untouched.

    Each parameter tensor is re-drawn from a Gaussian with its own mean and standard deviation
    (constant tensors, such as fresh LayerNorm scales, are left as they are).
    """
    model = copy.deepcopy(classifier.model)
    parameters = dict(model.named_parameters())
    generator = torch.Generator().manual_seed(seed)
    randomized: list[str] = []
    for label, names in parameter_groups(classifier):
        with torch.no_grad():
            for name in names:
                tensor = parameters[name]
                if tensor.numel() > 1 and float(tensor.std()) > 0:
                    drawn = torch.randn(tensor.shape, generator=generator) * tensor.std().item() + tensor.mean().item()
                    tensor.copy_(drawn.to(tensor.dtype))
        randomized.append(label)
        snapshot = copy.deepcopy(model)
        snapshot.config._name_or_path = f"{classifier.name}+randomized({','.join(randomized)};seed={seed})"
        yield label, Classifier(snapshot, classifier.tokenizer, name=snapshot.config._name_or_path)


class CascadingRandomization:
    """Spearman correlation of each randomised model's attribution with the original one."""

    info = MetricInfo(
        name="sanity_check",
        description="cascading model randomisation: rank correlation with the original attribution, top layer down",
        values=(
            ValueInfo("final_abs_spearman", False, 0.0, 1.0, "|Spearman| after randomising the whole model"),
            ValueInfo("mean_abs_spearman", False, 0.0, 1.0, "|Spearman| averaged over the randomisation steps"),
        ),
        main="final_abs_spearman",
        curves=("spearman",),
    )

    def __init__(self, seed: int = 0):
        self.seed = seed
        self._checked: Classifier | None = None
        self._randomized: list[tuple[str, Classifier]] = []

    def randomized(self, classifier: Classifier) -> list[tuple[str, Classifier]]:
        """The randomised copies of ``classifier``, drawn on first use and kept for later calls
        with the same classifier (a run that checks many texts draws them once; they hold one
        copy of the model per step)."""
        if self._checked is not classifier:
            self._randomized = list(randomized_models(classifier, self.seed))
            self._checked = classifier
        return self._randomized

    def compute(self, classifier: Classifier, factory: MethodFactory, texts: Sequence[str]) -> list[dict[str, Any]]:
        """One result per text: the steps (``original`` first) and the Spearman correlation at each."""
        texts = list(texts)
        if not texts:
            raise InvalidInputError("no texts for the sanity check")
        original = factory(classifier).explain_batch(texts)
        targets = [e.target for e in original]
        ordinary = [[i for i, special in enumerate(e.special_tokens) if not special] for e in original]
        reference = [np.asarray([e.token_scores[i] for i in keep]) for e, keep in zip(original, ordinary)]
        steps, correlations = ["original"], [[1.0] for _ in texts]
        for label, randomized in self.randomized(classifier):
            steps.append(label)
            for row, explanation in enumerate(factory(randomized).explain_batch(texts, targets)):
                scores = np.asarray([explanation.token_scores[i] for i in ordinary[row]])
                correlations[row].append(spearman(reference[row], scores))
        results = []
        for row in range(len(texts)):
            defined = [abs(c) for c in correlations[row][1:] if c is not None]
            final = correlations[row][-1]
            results.append(
                {
                    "steps": steps,
                    "spearman": correlations[row],
                    "final_abs_spearman": None if final is None else abs(final),
                    "mean_abs_spearman": float(np.mean(defined)) if defined else None,
                }
            )
        return results


def spearman(x: np.ndarray, y: np.ndarray) -> float | None:
    """Spearman rank correlation, None when either side is constant."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(spearmanr(x, y).statistic)
