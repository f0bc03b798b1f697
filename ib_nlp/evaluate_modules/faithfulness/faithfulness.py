"""Faithfulness of token attributions, as a Hugging Face ``evaluate`` metric module.

Load it from the installed package (no hub download)::

    import evaluate
    from ib_nlp.text.metrics import evaluate_module_path

    faithfulness = evaluate.load(evaluate_module_path())
    faithfulness.compute(
        predictions=[token_scores, ...],   # one attribution per model token of each text
        references=[text, ...],
        model="imdb-bert-small",           # name, path, (model, tokenizer) pair or Classifier
        metric="degradation",              # degradation | sensitivity_n | insertion_deletion
    )

It returns the mean (and standard error) of every value the metric declares. The numbers
are computed by :mod:`ib_nlp.text.metrics`; this module only adapts the call.
"""

from __future__ import annotations

from typing import Any

import datasets
import evaluate
import numpy as np

_DESCRIPTION = "Faithfulness of token attributions (degradation, Sensitivity-N, insertion/deletion) by perturbing the texts and re-running the classifier."
_KWARGS_DESCRIPTION = """
Args:
    predictions: one list of floats per text, one attribution per model token (special tokens included).
    references: the texts.
    model: the classifier (shipped name, path, hub id, (model, tokenizer) pair, pipeline or ib_nlp Classifier).
    metric: "degradation" (default), "sensitivity_n" or "insertion_deletion".
    targets: optional class per text (index or label name); default: the predicted class.
    labels: optional true class per text (for the degradation accuracy curves).
    metric_options: optional dict of options of the metric (e.g. {"subsets": 50}).
Returns:
    {value: mean, value + "_sem": standard error} for every value the metric declares, and "n".
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class Faithfulness(evaluate.Metric):
    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="",
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Sequence(datasets.Value("float64")), "references": datasets.Value("string")}),
        )

    def _compute(
        self,
        predictions: list[list[float]],
        references: list[str],
        model: Any = None,
        metric: str = "degradation",
        targets: list[Any] | None = None,
        labels: list[int] | None = None,
        metric_options: dict[str, Any] | None = None,
    ) -> dict[str, float]:
        from ib_nlp.text.methods.base import explanation_from_scores
        from ib_nlp.text.classifier import Classifier
        from ib_nlp.errors import InvalidInputError
        from ib_nlp.text.metrics import load_metric

        if model is None:
            raise InvalidInputError("pass model= (the classifier whose predictions the attributions explain)")
        classifier = Classifier.load(model)
        scorer = load_metric(metric, **(metric_options or {}))
        samples: dict[str, list[float]] = {value.name: [] for value in scorer.info.values}
        for index, (scores, text) in enumerate(zip(predictions, references)):
            target = None if targets is None else targets[index]
            explanation = explanation_from_scores(classifier, text, scores, target)
            (result,) = scorer.compute(classifier, [explanation], None if labels is None else labels[index])
            for name in samples:
                if result[name] is not None:
                    samples[name].append(result[name])
        summary: dict[str, float] = {"n": len(references)}
        for name, values in samples.items():
            summary[name] = float(np.mean(values)) if values else float("nan")
            summary[f"{name}_sem"] = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else float("nan")
        return summary
