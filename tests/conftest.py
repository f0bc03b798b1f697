"""Shared fixtures: tiny random classifiers (no downloads) and a small reference corpus."""

from __future__ import annotations

import huggingface_hub
import pytest

from ib_nlp.text.classifier import _warn_general_prior
from ib_nlp.testing import random_classifier

REFERENCE_TEXTS = [
    "the movie was good and the acting was great",
    "a terrible boring film with bad acting",
    "i loved this story, the music was beautiful",
    "worst movie ever made, a waste of time",
    "the plot was dull but the ending was fun",
    "brilliant actors and a wonderful director",
    "i hated it. poor story, weak characters",
    "one of the best films i have seen",
] * 3


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Keep statistics caches of tests out of the user's home directory; never touch the network."""
    monkeypatch.setenv("IB_NLP_CACHE", str(tmp_path_factory.mktemp("ib_nlp_cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    _warn_general_prior.cache_clear()  # each test sees the once-per-model warning of the general prior


@pytest.fixture(scope="session")
def tiny_bert():
    return random_classifier("bert", layers=3)


@pytest.fixture
def reference_texts() -> list[str]:
    return list(REFERENCE_TEXTS)


def pytest_collection_modifyitems(config, items):
    """Skip tests marked ``gpu`` where no CUDA device exists, saying so."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none is visible to torch on this machine")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
