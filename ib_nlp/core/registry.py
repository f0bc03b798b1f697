"""One registry for everything the toolkit looks up by name (text methods, image methods): built-in
entries imported on first use, entries users add, and variants (an entry with preset options).

    methods = Registry("attribution method")
    methods.add("lime", "ib_nlp.text.methods.perturbation:Lime", display="LIME")   # imported when first used
    methods.add_variant("occlusion_14", "occlusion", tile=14)
    factory, options = methods.resolve("occlusion_14", {"batch_size": 8})   # options with the preset
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ib_nlp.errors import InvalidInputError


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``choices``, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def option_names(cls: type) -> list[str] | None:
    """The keyword options a class takes: the keyword parameters of its ``__init__``, of the
    parents' it passes ``**options`` on to, and the fields of its ``config_class`` (where its
    ``**options`` go instead). None when that cannot be known (a ``**options`` that ends nowhere)."""
    names: list[str] = []
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        names += [p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "model"]
        config_class = vars(klass).get("config_class")
        if config_class is not None:
            return list(dict.fromkeys([*names, *(field.name for field in dataclasses.fields(config_class))]))
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return list(dict.fromkeys(names))
    return None


def check_options(owner: str, valid: list[str] | None, options: Iterable[str]) -> None:
    """Refuse option names ``owner`` does not take (``valid``; None: unknown, nothing is refused),
    listing its options, before anything is built."""
    if valid is None:
        return
    unknown = [option for option in options if option not in valid]
    if unknown:
        raise InvalidInputError(f"{owner} has no option {', '.join(map(repr, unknown))}{did_you_mean(unknown[0], valid)}; its options: {', '.join(valid) or 'none'}")


@dataclass
class _Entry:
    target: Callable[..., Any] | str
    display: str | None
    builtin: bool


@dataclass
class Registry:
    """Named factories of one kind (``kind`` names it in error messages)."""

    kind: str
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _variants: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    def add(self, name: str, target: Callable[..., Any] | str, *, display: str | None = None, builtin: bool = True) -> None:
        """Register ``target`` (a factory, or ``"module:attribute"`` imported on first use) under
        ``name``; a user's entry (``builtin=False``) may replace a user's entry, never a built-in."""
        existing = self._entries.get(name)
        if (existing is not None and existing.builtin) or name in self._variants:
            raise InvalidInputError(f"{name!r} is a built-in {self.kind}; choose another name")
        self._entries[name] = _Entry(target, display, builtin)

    def add_variant(self, name: str, base: str, **preset: Any) -> None:
        """Register ``name`` as the entry ``base`` with preset options (options a caller gives win)."""
        if base not in self._entries:
            raise InvalidInputError(f"a variant needs an existing {self.kind}; {base!r} is not one")
        self._variants[name] = (base, preset)

    def names(self) -> list[str]:
        """Every name, built-in entries first, then users', then variants."""
        ordered = [name for name, entry in self._entries.items() if entry.builtin] + [name for name, entry in self._entries.items() if not entry.builtin]
        return [*ordered, *self._variants]

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._variants

    def is_builtin(self, name: str) -> bool:
        return name in self._variants or (name in self._entries and self._entries[name].builtin)

    def base(self, name: str) -> str:
        """The entry a variant is built from (the name itself for an entry)."""
        return self._variants[name][0] if name in self._variants else name

    def get(self, name: str) -> Any:
        """The factory registered under ``name`` (a variant's base factory); an unknown name is an
        error listing the valid ones."""
        entry = self._entries.get(self.base(name))
        if entry is None:
            raise InvalidInputError(f"unknown {self.kind} {name!r}{did_you_mean(name, self.names())}; available: {', '.join(self.names())}")
        if isinstance(entry.target, str):
            module, _, attribute = entry.target.partition(":")
            entry.target = getattr(importlib.import_module(module), attribute)
        return entry.target

    def resolve(self, name: str, options: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """The factory of ``name`` and the options to call it with (a variant's preset, then ``options``)."""
        preset = self._variants[name][1] if name in self._variants else {}
        return self.get(name), {**preset, **options}

    def display_name(self, name: str) -> str | None:
        """The entry's display name, if it was given one."""
        entry = self._entries.get(self.base(name))
        return None if entry is None else entry.display
