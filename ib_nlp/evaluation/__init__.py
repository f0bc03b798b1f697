"""Dataset evaluations: the runner every task shares (``runner``: JSON lines, resume, shards,
finished prefixes, options, tables), the text task (``text``: IMDB reviews, faithfulness
metrics, the sanity check) and the image task (``image``: the ImageNet sample; it needs the
vision extra). The names of the runner and the text task are importable from here too; each
is loaded on first use, so the runner alone loads no torch."""

from __future__ import annotations

import importlib
from typing import Any

_RUNNER = ("RESULTS_PATTERN", "SETTINGS_FILE", "JsonLines", "finished_prefix", "parse_options", "parse_shard", "share_cpu_threads", "write_csv")
_TEXT = (
    "MAIN_VALUES", "SANITY_PATTERN", "EvaluationSettings", "applicable_methods", "evaluate_imdb", "evaluate_item", "finished_records",
    "load_settings", "mean_curves", "run_evaluation", "sample_items", "sanity_record", "sanity_reference_texts", "summarize",
    "summarize_finished_run", "summarize_sanity", "summary_table", "with_prior", "write_outputs",
)
__all__ = sorted([*_RUNNER, *_TEXT])


def __getattr__(name: str) -> Any:
    if name in _RUNNER or name in _TEXT:
        return getattr(importlib.import_module(".runner" if name in _RUNNER else ".text", __name__), name)
    raise AttributeError(f"module 'ib_nlp.evaluation' has no attribute {name!r}")
