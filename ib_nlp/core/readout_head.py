"""What every readout bottleneck shares, for text or images: the range of the alpha its network
predicts, and one file format (safetensors) for a trained readout.

A readout file holds the network's weights (``network.<name>``), the statistics of every layer
it reads (``statistics.<key>.mean`` / ``.std`` / ``.active``, with their counts and metadata in
the header) and the readout's settings as JSON (``config``), and is written atomically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ib_nlp.errors import InvalidInputError
from ib_nlp.io import atomic_destination
from ib_nlp.core.statistics import FeatureStatistics

ALPHA_BOUND = 5.0
"""A readout's alpha lies in [-5, 5] (lam between 0.007 and 0.993), as in Schulz et al. (2020)."""


def bound_alpha(values: torch.Tensor) -> torch.Tensor:
    """The network's output clamped to [-ALPHA_BOUND, ALPHA_BOUND]."""
    return values.clamp(-ALPHA_BOUND, ALPHA_BOUND)


def save_readout(path: str | os.PathLike[str], network: nn.Module, statistics: Mapping[str, FeatureStatistics], config: Mapping[str, Any]) -> Path:
    """Write a readout (network, statistics, JSON ``config``) into one safetensors file, atomically."""
    from safetensors.torch import save_file

    tensors = {f"network.{name}": value.detach().cpu().contiguous() for name, value in network.state_dict().items()}
    for key, stats in statistics.items():
        tensors[f"statistics.{key}.mean"] = stats.mean.detach().cpu().float().contiguous()
        tensors[f"statistics.{key}.std"] = stats.std.detach().cpu().float().contiguous()
        if stats.active is not None:
            tensors[f"statistics.{key}.active"] = stats.active.detach().cpu().to(torch.uint8).contiguous()
    header = {
        "config": json.dumps(dict(config)),
        "counts": json.dumps({key: int(stats.count) for key, stats in statistics.items()}),
        "statistics_metadata": json.dumps({key: dict(stats.metadata) for key, stats in statistics.items()}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_destination(path) as temporary:
        save_file(tensors, str(temporary), metadata=header)
    return path


def load_readout(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, torch.Tensor], dict[str, FeatureStatistics]]:
    """The settings, the network's state dict and the statistics of a readout file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"no readout file at {path}")
    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata() or {}
        if "config" not in header:
            raise InvalidInputError(f"{path} is not a readout file (no configuration in its metadata)")
        tensors = {key: handle.get_tensor(key) for key in handle.keys()}
    counts = json.loads(header.get("counts", "{}"))
    metadata = json.loads(header.get("statistics_metadata", "{}"))
    statistics = {}
    for key in [name.removeprefix("statistics.").removesuffix(".mean") for name in tensors if name.startswith("statistics.") and name.endswith(".mean")]:
        statistics[key] = FeatureStatistics(
            mean=tensors[f"statistics.{key}.mean"], std=tensors[f"statistics.{key}.std"], count=counts.get(key, 0), metadata=metadata.get(key, {}), active=tensors.get(f"statistics.{key}.active")
        )
    state = {name.removeprefix("network."): value for name, value in tensors.items() if name.startswith("network.")}
    return json.loads(header["config"]), state, statistics
