"""The image evaluation's settings guard (the runs themselves are tested through
scripts/evaluate_vision.py in tests/test_research_scripts.py)."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from ib_nlp.errors import InvalidInputError
from ib_nlp.evaluation.image import ImageEvaluationSettings


def test_a_run_resumes_with_a_larger_n_but_not_with_other_settings(tmp_path):
    started = ImageEvaluationSettings(n=2, methods=["random"])
    (tmp_path / "settings.json").write_text(json.dumps(asdict(started)))
    ImageEvaluationSettings(n=5, methods=["random"]).check_stored(tmp_path)
    with pytest.raises(InvalidInputError, match=r"other settings \(methods, steps differ\)"):
        ImageEvaluationSettings(n=2, methods=["random", "grad_cam"], steps=10).check_stored(tmp_path)
    ImageEvaluationSettings(n=2, methods=["iba"]).check_stored(tmp_path / "empty")
    with pytest.raises(InvalidInputError, match="unknown image method 'grad_cma' \\(did you mean 'grad_cam'\\?\\)"):
        ImageEvaluationSettings(methods=["random", "grad_cma"])
