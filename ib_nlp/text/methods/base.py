"""The base class every attribution method derives from: one constructor shape, one result type.

A method is built once per model (``Method(model, **options)``) and explains texts with
``explain(text, target)`` or ``explain_batch(texts, targets)``; every method returns
:class:`~ib_nlp.text.explanation.Explanation` objects whose word scores are the sums of their
token scores (special tokens excluded), so methods are compared on the same footing.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, NamedTuple

import torch

from ib_nlp.text.classifier import Classifier, EncodedBatch
from ib_nlp.core.runtime import attribution_mode, cpu_threads
from ib_nlp.errors import InvalidInputError, TruncationWarning
from ib_nlp.text.explanation import Explanation
from ib_nlp.options import whole_number
from ib_nlp.text.cleaning import check_text
from ib_nlp.text.words import aggregate_to_words, segment_words

def check_texts(texts: Sequence[str] | str, targets: Sequence[Any] | None) -> list[str]:
    """The texts as a list, refusing what no model can read (see :func:`~ib_nlp.text.cleaning.check_text`)
    and a target list of the wrong length."""
    if isinstance(texts, (bytes, bytearray)):
        raise InvalidInputError("the text is bytes; decode it to a string first, e.g. text.decode('utf-8')")
    if texts is None or not isinstance(texts, (str, Iterable)):
        raise InvalidInputError(f"expected a text (str) or a list of texts, got {type(texts).__name__}")
    texts = [texts] if isinstance(texts, str) else list(texts)
    if not texts:
        raise InvalidInputError("no texts to explain")
    for index, text in enumerate(texts):
        check_text(text, f"text {index}")
    if targets is not None and len(targets) != len(texts):
        raise InvalidInputError(f"got {len(targets)} targets for {len(texts)} texts")
    return texts


class Attribution(NamedTuple):
    """What :meth:`AttributionMethod.attribute` may return instead of bare scores: the scores
    (texts x tokens) and, per text, facts of the computation that its explanation records in
    ``metadata`` (a bottleneck's ``kept_probability``)."""

    scores: torch.Tensor
    facts: list[dict[str, Any]]


class AttributionMethod:
    """An attribution method bound to one classifier.

    Subclasses set ``name``, ``unit`` and ``signed`` and implement :meth:`attribute`, which
    returns per-token scores for an encoded batch. Options are keyword arguments of the
    constructor; :meth:`parameters` records them in each explanation. ``threads`` sets torch's
    CPU threads while explaining (default: torch's setting, every core, the fastest on an idle
    machine; pass 1 when other processes share the CPU: see ``scripts/bench_threads.py``).
    """

    name: ClassVar[str]
    unit: ClassVar[str]
    signed: ClassVar[bool]
    description: ClassVar[str] = ""

    def __init__(
        self, model: Any, *, tokenizer: Any = None, device: str | torch.device | None = None, progress: bool = False, threads: int | None = None
    ):
        self.classifier = Classifier.load(model, tokenizer, device=device, progress=progress)
        self.progress = progress
        self.threads = None if threads is None else whole_number("threads", threads, minimum=1)

    @property
    def layer(self) -> int | str | None:
        """Where the method reads the model (``None`` for methods that only see inputs and outputs)."""
        return None

    def parameters(self) -> dict[str, Any]:
        """The options of this method, stored with each explanation."""
        return {}

    def explain(self, text: str, target: int | str | None = None) -> Explanation:
        """Explain one text (``target`` defaults to the predicted class)."""
        return self.explain_batch([text], None if target is None else [target])[0]

    def explain_batch(self, texts: Sequence[str], targets: Sequence[int | str | None] | None = None) -> list[Explanation]:
        """Explain several texts; ``targets`` (class indices or names, None = predicted) per text."""
        texts = check_texts(texts, targets)
        started = time.perf_counter()
        classifier = self.classifier
        batch = classifier.encode(texts)
        for row, truncated in enumerate(batch.truncated):
            if truncated:
                warnings.warn(
                    f"text of {batch.text_length(row)} characters is longer than the model's maximum of {classifier.max_length} tokens; "
                    "it was truncated and only the first part is explained (recorded in Explanation.truncated)",
                    TruncationWarning,
                    stacklevel=2,
                )
        with attribution_mode(classifier.model), cpu_threads(self.threads):
            logits, recorded = self.first_pass(batch)
            resolved = [classifier.resolve_target(None if targets is None else targets[i], logits[i]) for i in range(len(texts))]
            result = self.attribute(batch, logits, resolved, recorded)
        probabilities = torch.softmax(logits.float(), dim=-1).cpu()
        return self.explanations(batch, result, probabilities, resolved, (time.perf_counter() - started) / len(texts))

    def explanations(self, batch: EncodedBatch, result: torch.Tensor | Attribution, probabilities: torch.Tensor, targets: list[int], seconds: float) -> list[Explanation]:
        """One explanation per text of ``batch`` from what :meth:`attribute` returned, its facts
        (if any) added to each explanation's metadata."""
        scores, facts = result if isinstance(result, Attribution) else (result, [{} for _ in batch.texts])
        built = [self.build_explanation(batch, row, scores[row], probabilities[row], targets[row], seconds) for row in range(len(batch.texts))]
        for explanation, fact in zip(built, facts):
            explanation.metadata.update(fact)
        return built

    def forward_function(self, batch: EncodedBatch, probabilities: bool = False) -> tuple[Any, tuple[torch.Tensor, ...]]:
        """For captum: a function of (input_ids, attention_mask, *extra inputs) giving the logits
        (or the class probabilities), and those extra arguments, passed as additional forward
        arguments so that captum expands them together with the ids."""
        keys = ["attention_mask", *batch.extra]

        def forward(input_ids: torch.Tensor, *values: torch.Tensor) -> torch.Tensor:
            logits = self.classifier.run({"input_ids": input_ids, **dict(zip(keys, values))})
            return torch.softmax(logits.float(), dim=-1) if probabilities else logits

        return forward, (batch.attention_mask, *batch.extra.values())

    def first_pass(self, batch: EncodedBatch) -> tuple[torch.Tensor, Any]:
        """Logits of the unperturbed model, and whatever the method records during that pass."""
        return self.classifier.predict(batch), None

    def attribute(self, batch: EncodedBatch, logits: torch.Tensor, targets: list[int], recorded: Any = None) -> torch.Tensor | Attribution:
        """Scores of shape (texts, padded tokens) for the encoded batch, or an :class:`Attribution`
        with facts per text; padding positions are ignored. ``recorded`` is what :meth:`first_pass` recorded."""
        raise NotImplementedError

    def build_explanation(
        self, batch: EncodedBatch, row: int, scores: torch.Tensor, probabilities: torch.Tensor, target: int, seconds: float
    ) -> Explanation:
        """The explanation of one row of the batch, recording this method and its options."""
        return build_explanation(self.classifier, batch, row, scores, probabilities, target, seconds, self.name, self.unit, self.layer, self.parameters())


def build_explanation(
    classifier: Classifier,
    batch: EncodedBatch,
    row: int,
    scores: torch.Tensor | Sequence[float],
    probabilities: torch.Tensor,
    target: int,
    seconds: float,
    method: str,
    unit: str,
    layer: int | str | None = None,
    parameters: dict[str, Any] | None = None,
) -> Explanation:
    """An explanation of one row of an encoded batch; word scores sum the token scores, special tokens excluded."""
    length = batch.lengths[row]
    values = scores.tolist() if isinstance(scores, torch.Tensor) else list(scores)
    token_scores = [float(value) for value in values[:length]]
    words = segment_words(batch.texts[row], batch.offsets[row])
    scored = [0.0 if special else score for score, special in zip(token_scores, batch.special[row])]
    return Explanation(
        text=batch.texts[row],
        tokens=batch.tokens[row],
        token_offsets=batch.offsets[row],
        special_tokens=batch.special[row],
        token_scores=token_scores,
        words=words,
        word_scores=aggregate_to_words(scored, words),
        label_names=list(classifier.label_names),
        probabilities=probabilities.tolist(),
        predicted=int(probabilities.argmax()),
        target=target,
        method=method,
        unit=unit,
        layer=layer,
        model_name=classifier.name,
        parameters=parameters or {},
        seconds=seconds,
        truncated=batch.truncated[row],
        text_length=batch.text_length(row),
        metadata={} if layer is None else {"layer_description": classifier.layers.describe(classifier.layers.resolve(layer))},
    )


def explanation_from_scores(classifier: Classifier, text: str, token_scores: Sequence[float], target: int | str | None = None, method: str = "given") -> Explanation:
    """Wrap attributions computed elsewhere (one score per model token of ``text``) as an
    :class:`Explanation`, so that the toolkit's metrics and reports accept them."""
    batch = classifier.encode(check_texts(text, None))
    if len(token_scores) != batch.lengths[0]:
        raise InvalidInputError(
            f"got {len(token_scores)} scores but {classifier.name} splits the text into {batch.lengths[0]} tokens "
            "(special tokens included): give one score per token"
        )
    logits = classifier.predict(batch)
    resolved = classifier.resolve_target(target, logits[0])
    probabilities = torch.softmax(logits[0].float(), dim=-1).cpu()
    return build_explanation(classifier, batch, 0, list(token_scores), probabilities, resolved, 0.0, method, "score")
