"""Run-time helpers every method needs, for text or images: the model frozen while it is
explained, and the number of CPU threads held for the duration."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def attribution_mode(model: torch.nn.Module) -> Iterator[None]:
    """For the duration: no gradients for the model's parameters (only the inputs or the
    bottleneck need them), and cuDNN off for models with recurrent layers, whose cuDNN
    backward pass refuses eval mode (and eval mode must stay: dropout off). Restored afterwards."""
    previous = [(parameter, parameter.requires_grad) for parameter in model.parameters()]
    recurrent = any(isinstance(module, torch.nn.RNNBase) for module in model.modules())
    for parameter, _ in previous:
        parameter.requires_grad_(False)
    try:
        with torch.backends.cudnn.flags(enabled=False) if recurrent else contextlib.nullcontext():
            yield
    finally:
        for parameter, flag in previous:
            parameter.requires_grad_(flag)


@contextlib.contextmanager
def cpu_threads(count: int | None) -> Iterator[None]:
    """Run with ``count`` CPU threads (torch's intra-op pool) for the duration; None changes nothing."""
    previous = torch.get_num_threads()
    if count is None or count == previous:
        yield
        return
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
