"""The README's first Python example runs as written: a model that is not shipped, no corpus."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def test_first_python_example_runs_as_written() -> None:
    first = re.search(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.DOTALL).group(1)
    assert "random_classifier" in first and "reference_corpus" not in first
    namespace: dict = {}
    with pytest.warns(UserWarning, match="general-English corpus"):
        exec(compile(first, str(README), "exec"), namespace)  # noqa: S102  (the project's own README)
    result = namespace["result"]
    assert result.parameters["prior"] == "general-English default (2000 texts)"
    assert len(result.top_words(3)) == 3
