"""The one registry behind the text and the image methods."""

from __future__ import annotations

import sys

import pytest

from ib_nlp import InvalidInputError
from ib_nlp.core.registry import Registry, did_you_mean


def make_registry() -> Registry:
    registry = Registry("widget")
    registry.add("fraction", "fractions:Fraction", display="Fraction (lazy)")
    registry.add("dict", dict)
    registry.add_variant("empty_dict", "dict", a=1)
    return registry


def test_entries_variants_and_display_names():
    registry = make_registry()
    assert registry.names() == ["fraction", "dict", "empty_dict"]
    assert registry.get("fraction").__name__ == "Fraction" and registry.display_name("fraction") == "Fraction (lazy)"
    factory, options = registry.resolve("empty_dict", {"b": 2})
    assert factory is dict and options == {"a": 1, "b": 2} and registry.base("empty_dict") == "dict"
    assert registry.resolve("empty_dict", {"a": 5})[1] == {"a": 5}, "the caller's options win over the preset"
    assert registry.display_name("dict") is None and "empty_dict" in registry and "list" not in registry


def test_built_in_entries_are_imported_on_first_use(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    registry = Registry("widget")
    registry.add("hls", "colorsys:rgb_to_hls")
    assert "colorsys" not in sys.modules
    assert registry.get("hls")(1, 0, 0) == (0.0, 0.5, 1.0)


def test_users_add_and_replace_their_own_entries_but_never_a_built_in():
    registry = make_registry()
    registry.add("mine", list, builtin=False)
    registry.add("mine", tuple, builtin=False)
    assert registry.get("mine") is tuple and not registry.is_builtin("mine") and registry.is_builtin("empty_dict")
    assert registry.names()[-2:] == ["mine", "empty_dict"]
    for name in ("dict", "empty_dict"):
        with pytest.raises(InvalidInputError, match=f"{name!r} is a built-in widget"):
            registry.add(name, list, builtin=False)


def test_unknown_names_list_the_valid_ones_with_a_suggestion():
    registry = make_registry()
    with pytest.raises(InvalidInputError, match=r"unknown widget 'dickt' \(did you mean 'dict'\?\); available: fraction, dict, empty_dict"):
        registry.get("dickt")
    with pytest.raises(InvalidInputError, match="a variant needs an existing widget"):
        registry.add_variant("x", "nothing")
    assert did_you_mean("zzz", ["dict"]) == ""
