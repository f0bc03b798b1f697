"""Where a bottleneck can sit in a classifier, found without per-architecture code.

A classifier's repeated blocks (transformer layers, LSTM layers) are found by tracing one
forward pass: the ``nn.ModuleList`` whose children are called ``config.num_hidden_layers``
times, each returning the hidden sequence (first output of shape batch x tokens x features).
Tracing calls rather than counting modules also handles ALBERT, whose one shared layer group
is called once per layer. A bottleneck site is the output of block ``i`` (``layer=i``), the
input of block 0 (``layer="embeddings"``), or the output of any module by dotted name.

Calls are intercepted by temporarily replacing a module's ``forward`` with a wrapper that
counts calls and dispatches per call index; this lets a prefix block be skipped entirely.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import torch
from torch import nn

from ib_nlp.errors import LayerError
from ib_nlp.options import parse_layer

EMBEDDINGS = "embeddings"

CallHandler = Callable[[Callable[..., Any], tuple, dict], Any]


@dataclass(frozen=True)
class BlockCall:
    """One call of a repeated block: ``module`` called for the ``call_index``-th time."""

    name: str
    module: nn.Module
    call_index: int


class SiteKind(str, Enum):
    """Where a site sits: the output of block i, the input of block 0 (the embeddings), or the
    output of a module named by its dotted path."""

    BLOCK_OUTPUT = "block_output"
    BLOCK_INPUT = "block_input"
    MODULE_OUTPUT = "module_output"


@dataclass(frozen=True)
class Site:
    """A bottleneck position: the output of block i, the input of block 0, or a module's output."""

    kind: SiteKind
    block_index: int | None = None
    module_name: str | None = None

    @property
    def key(self) -> str:
        """Stable name used for statistics files and reports."""
        if self.kind == SiteKind.BLOCK_OUTPUT:
            return f"layer.{self.block_index}"
        if self.kind == SiteKind.BLOCK_INPUT:
            return EMBEDDINGS
        return f"module.{self.module_name}"

    @property
    def label(self) -> int | str:
        """The value a user passes as ``layer`` to get this site."""
        if self.kind == SiteKind.BLOCK_OUTPUT:
            assert self.block_index is not None
            return self.block_index
        if self.kind == SiteKind.BLOCK_INPUT:
            return EMBEDDINGS
        assert self.module_name is not None
        return self.module_name


def first_tensor(output: Any) -> torch.Tensor:
    """The hidden sequence of a block's output: the tensor itself or the first element."""
    if torch.is_tensor(output):
        return output
    if isinstance(output, (tuple, list)) and output and torch.is_tensor(output[0]):
        return output[0]
    if isinstance(output, Mapping):
        for value in output.values():
            if torch.is_tensor(value):
                return value
    raise LayerError(f"cannot find the hidden states in a module output of type {type(output).__name__}")


def replace_first(output: Any, new_first: torch.Tensor) -> Any:
    """``output`` with its hidden sequence replaced, keeping the structure the model expects."""
    if torch.is_tensor(output):
        return new_first
    if isinstance(output, tuple):
        return (new_first, *output[1:])
    if isinstance(output, list):
        return [new_first, *output[1:]]
    raise LayerError(f"cannot replace the hidden states in a module output of type {type(output).__name__}")


def _first_argument(args: tuple, kwargs: dict) -> torch.Tensor:
    if args and torch.is_tensor(args[0]):
        return args[0]
    for name in ("hidden_states", "hidden_state", "x", "input"):
        if torch.is_tensor(kwargs.get(name)):
            return kwargs[name]
    raise LayerError("cannot find the hidden states among the block's arguments")


def _with_first_argument(args: tuple, kwargs: dict, value: torch.Tensor) -> tuple[tuple, dict]:
    if args and torch.is_tensor(args[0]):
        return (value, *args[1:]), kwargs
    for name in ("hidden_states", "hidden_state", "x", "input"):
        if torch.is_tensor(kwargs.get(name)):
            return args, {**kwargs, name: value}
    raise LayerError("cannot find the hidden states among the block's arguments")


@contextlib.contextmanager
def intercept_calls(handlers: Mapping[nn.Module, Mapping[int, CallHandler]]) -> Iterator[None]:
    """Route chosen calls of modules through handlers ``handler(forward, args, kwargs)``.

    Call indices count from 0 per module within the ``with`` block; calls without a handler
    run the module's own forward. The original ``forward`` attributes are restored on exit.
    """
    patched: list[tuple[nn.Module, Any, bool]] = []
    try:
        for module, per_call in handlers.items():
            had_instance_forward = "forward" in module.__dict__
            previous = module.__dict__.get("forward")
            original = module.forward
            counter = {"calls": 0}

            def wrapper(*args: Any, _original=original, _per_call=per_call, _counter=counter, **kwargs: Any) -> Any:
                index = _counter["calls"]
                _counter["calls"] += 1
                handler = _per_call.get(index)
                if handler is None:
                    return _original(*args, **kwargs)
                return handler(_original, args, kwargs)

            module.forward = wrapper
            patched.append((module, previous, had_instance_forward))
        yield
    finally:
        for module, previous, had_instance_forward in reversed(patched):
            if had_instance_forward:
                module.forward = previous
            else:
                del module.forward


def _capture(store: dict, input_key: str | None, output_key: str | None) -> CallHandler:
    """Handler that runs the call and records its hidden input and/or output in ``store``."""

    def handler(forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        if input_key is not None:
            store[input_key] = _first_argument(args, kwargs)
        output = forward(*args, **kwargs)
        if output_key is not None:
            store[output_key] = output
        return output

    return handler


def transform_output(function: Callable[[torch.Tensor], torch.Tensor]) -> CallHandler:
    """Handler that runs the call and passes its hidden output through ``function``."""

    def handler(forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        output = forward(*args, **kwargs)
        return replace_first(output, function(first_tensor(output)))

    return handler


def transform_input(function: Callable[[torch.Tensor], torch.Tensor]) -> CallHandler:
    """Handler that passes the hidden-state argument through ``function`` before the call."""

    def handler(forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        args, kwargs = _with_first_argument(args, kwargs, function(_first_argument(args, kwargs)))
        return forward(*args, **kwargs)

    return handler


def skip_call(template: Any) -> CallHandler:
    """Handler that does not compute the block: it returns its input in the output's structure.

    Used for the blocks before a bottleneck whose result is already known.
    """

    def handler(forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        return replace_first(template, _first_argument(args, kwargs))

    return handler


def return_output(template: Any, function: Callable[[], torch.Tensor]) -> CallHandler:
    """Handler that does not compute the block and returns ``function()`` as its hidden output."""

    def handler(forward: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
        return replace_first(template, function())

    return handler


class LayerMap:
    """The repeated blocks of a classifier in call order, and the bottleneck sites they offer."""

    def __init__(self, model: nn.Module, blocks: list[BlockCall], container_name: str):
        self.model = model
        self.blocks = blocks
        self.container_name = container_name

    def __len__(self) -> int:
        return len(self.blocks)

    @classmethod
    def discover(cls, model: nn.Module, example_inputs: Mapping[str, torch.Tensor]) -> LayerMap:
        """Trace one forward pass and return the block list whose calls form the layers."""
        expected = getattr(getattr(model, "config", None), "num_hidden_layers", None)
        containers = [(name, module) for name, module in model.named_modules() if isinstance(module, nn.ModuleList)]
        calls: dict[str, list[BlockCall]] = {name: [] for name, _ in containers}
        sequence_length = example_inputs["input_ids"].shape[1] if "input_ids" in example_inputs else None
        hooks = []

        def make_hook(container: str, child_name: str):
            def hook(module: nn.Module, args: tuple, output: Any) -> None:
                try:
                    hidden = first_tensor(output)
                except LayerError:
                    return
                if hidden.dim() == 3 and (sequence_length is None or hidden.shape[1] == sequence_length):
                    index = sum(1 for call in calls[container] if call.module is module)
                    calls[container].append(BlockCall(child_name, module, index))

            return hook

        for container_name, container in containers:
            for child_index, child in enumerate(container):
                hooks.append(child.register_forward_hook(make_hook(container_name, f"{container_name}.{child_index}")))
        try:
            with torch.no_grad():
                model(**example_inputs)
        finally:
            for hook in hooks:
                hook.remove()

        candidates = [(name, found) for name, found in calls.items() if found]
        if expected is not None:
            candidates = [(name, found) for name, found in candidates if len(found) == expected]
        if not candidates:
            raise LayerError(
                f"could not find the repeated layers of {type(model).__name__}: no nn.ModuleList whose children "
                f"are called {expected if expected is not None else 'several'} times with hidden states; "
                "pass layer= as a dotted module name instead"
            )
        candidates.sort(key=lambda item: (-len(item[1]), item[0].count("."), item[0]))
        name, blocks = candidates[0]
        return cls(model, blocks, name)

    def valid_layers(self) -> str:
        """Human-readable list of valid ``layer`` values, for error messages."""
        return f"0..{len(self.blocks) - 1} (block outputs), '{EMBEDDINGS}', or a dotted module name"

    def resolve(self, layer: int | str) -> Site:
        """Turn a user's ``layer`` (int, "embeddings", dotted name, or its string form) into a site."""
        if isinstance(layer, bool):
            raise LayerError(f"layer must be an int or a string, not {layer!r}; valid layers: {self.valid_layers()}")
        if isinstance(layer, str):
            text = layer.strip()
            if not text:
                raise LayerError(f"layer is an empty string; valid layers: {self.valid_layers()}")
            if text == EMBEDDINGS:
                return Site(SiteKind.BLOCK_INPUT, block_index=0)
            layer = parse_layer(text)
            if isinstance(layer, str):
                name = text.removeprefix("module.")
                modules = dict(self.model.named_modules())
                if name not in modules:
                    raise LayerError(f"no module named {name!r} in {type(self.model).__name__}; valid layers: {self.valid_layers()}")
                for index, block in enumerate(self.blocks):
                    if block.name == name and block.call_index == 0 and sum(b.module is block.module for b in self.blocks) == 1:
                        return Site(SiteKind.BLOCK_OUTPUT, block_index=index)
                return Site(SiteKind.MODULE_OUTPUT, module_name=name)
        if isinstance(layer, int):
            count = len(self.blocks)
            index = layer + count if layer < 0 else layer
            if not 0 <= index < count:
                raise LayerError(f"layer {layer} is out of range for this model; valid layers: {self.valid_layers()}")
            return Site(SiteKind.BLOCK_OUTPUT, block_index=index)
        raise LayerError(f"layer must be an int or a string, not {type(layer).__name__}; valid layers: {self.valid_layers()}")

    def describe(self, site: Site) -> str:
        """Where ``site`` sits, in words: "output of block 1 of 4", "input of block 1 of 4" (the embeddings)."""
        count = len(self.blocks)
        if site.kind == SiteKind.BLOCK_OUTPUT:
            assert site.block_index is not None
            return f"output of block {site.block_index + 1} of {count}"
        if site.kind == SiteKind.BLOCK_INPUT:
            return f"input of block 1 of {count}"
        return f"output of module {site.module_name}"

    def all_block_sites(self) -> list[Site]:
        """The embeddings site and every block output, in depth order."""
        return [Site(SiteKind.BLOCK_INPUT, block_index=0)] + [Site(SiteKind.BLOCK_OUTPUT, block_index=i) for i in range(len(self.blocks))]

    def capture_handlers(self, sites: list[Site], store: dict) -> dict[nn.Module, dict[int, CallHandler]]:
        """Handlers that record the activations of ``sites`` under their keys in ``store``."""
        wanted: dict[tuple[int, int], dict[str, str]] = {}
        modules: dict[int, nn.Module] = {}
        for site in sites:
            module, call_index = self.module_call(site)
            modules[id(module)] = module
            wanted.setdefault((id(module), call_index), {})["input" if site.kind == SiteKind.BLOCK_INPUT else "output"] = site.key
        handlers: dict[nn.Module, dict[int, CallHandler]] = {}
        for (module_id, call_index), keys in wanted.items():
            handlers.setdefault(modules[module_id], {})[call_index] = _capture(store, keys.get("input"), keys.get("output"))
        return handlers

    def module_call(self, site: Site) -> tuple[nn.Module, int]:
        """The module and call index where ``site`` sits."""
        if site.kind in (SiteKind.BLOCK_OUTPUT, SiteKind.BLOCK_INPUT):
            assert site.block_index is not None
            block = self.blocks[site.block_index]
            return block.module, block.call_index
        assert site.module_name is not None
        return dict(self.model.named_modules())[site.module_name], 0
