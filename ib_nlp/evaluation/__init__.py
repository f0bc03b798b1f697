"""Dataset evaluations: the runner every task shares (``runner``: JSON lines, resume, shards,
finished prefixes, options, tables), the text task (``text``: IMDB reviews, faithfulness
metrics, the sanity check) and the image task (``image``: the ImageNet sample, imported on use
because it needs the vision extra). The names of the runner and the text task are here too."""

from .runner import (
    RESULTS_PATTERN,
    SETTINGS_FILE,
    JsonLines,
    finished_prefix,
    markdown_table,
    parse_options,
    parse_shard,
    share_cpu_threads,
    write_csv,
)
from .text import (
    MAIN_VALUES,
    SANITY_PATTERN,
    EvaluationSettings,
    applicable_methods,
    evaluate_item,
    finished_records,
    load_settings,
    mean_curves,
    run_evaluation,
    sample_items,
    sanity_record,
    sanity_reference_texts,
    summarize,
    summarize_sanity,
    summary_table,
    write_outputs,
)

__all__ = [
    "MAIN_VALUES", "RESULTS_PATTERN", "SANITY_PATTERN", "SETTINGS_FILE", "EvaluationSettings", "JsonLines", "applicable_methods",
    "evaluate_item", "finished_prefix", "finished_records", "load_settings", "markdown_table", "mean_curves", "parse_options",
    "parse_shard", "run_evaluation", "sample_items", "sanity_record", "sanity_reference_texts", "share_cpu_threads", "summarize",
    "summarize_sanity", "summary_table", "write_csv", "write_outputs",
]
