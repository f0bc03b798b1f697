"""The same results on a CUDA device (skipped where there is none)."""

from __future__ import annotations

import numpy as np
import pytest

from ib_nlp import PerSampleIBA
from ib_nlp.testing import random_classifier


@pytest.mark.gpu
@pytest.mark.parametrize("architecture", ["bert", "lstm"])
def test_prefix_and_full_engines_agree_on_cuda(architecture, reference_texts):
    pair = random_classifier(architecture)
    options = {"reference_corpus": reference_texts, "steps": 3, "samples": 3, "device": "cuda"}
    fast = PerSampleIBA(pair, 1, **options).explain("a wonderful film, i loved it")
    full = PerSampleIBA(pair, 1, engine="full", **options).explain("a wonderful film, i loved it")
    np.testing.assert_allclose(fast.token_scores, full.token_scores, rtol=1e-3, atol=1e-4)
