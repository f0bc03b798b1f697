"""Checks of user options: each returns the value as the right Python type or raises an
:class:`~ib_nlp.errors.InvalidInputError` that names the option and what it accepts.

Numbers given as numeric strings (``"10"``, ``"1e-3"``) are accepted on purpose: they come
from command lines, config files and ``--option KEY=VALUE`` pairs. Booleans are refused
(``True`` is an int to Python, never a meant number of steps).
"""

from __future__ import annotations

import argparse
import math
import numbers
from collections.abc import Callable
from typing import Any

from ib_nlp.errors import InvalidInputError


def _as_float(name: str, value: Any, accepts: str) -> float:
    if isinstance(value, bool) or value is None:
        raise InvalidInputError(f"{name} must be {accepts}, got {value!r}")
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise InvalidInputError(f"{name} must be {accepts}, got {value!r} ({type(value).__name__})")


def real_number(name: str, value: Any, *, minimum: float | None = None, exclusive: bool = False, maximum: float | None = None) -> float:
    """A finite number, optionally bounded below (``exclusive``: strictly above) and above."""
    bounds = []
    if minimum is not None:
        bounds.append(f"{'>' if exclusive else '>='} {minimum:g}")
    if maximum is not None:
        bounds.append(f"<= {maximum:g}")
    accepts = "a finite number" + (f" {' and '.join(bounds)}" if bounds else "")
    number = _as_float(name, value, accepts)
    too_low = minimum is not None and (number <= minimum if exclusive else number < minimum)
    too_high = maximum is not None and number > maximum
    if not math.isfinite(number) or too_low or too_high:
        raise InvalidInputError(f"{name} must be {accepts}, got {value!r}")
    return number


def whole_number(name: str, value: Any, *, minimum: int | None = None) -> int:
    """An integer (``3``, ``3.0`` or ``"3"``), optionally at least ``minimum``."""
    accepts = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        number = int(value)
    else:
        real = _as_float(name, value, accepts)
        if not (math.isfinite(real) and real.is_integer()):
            raise InvalidInputError(f"{name} must be {accepts}, got {value!r}")
        number = int(real)
    if minimum is not None and number < minimum:
        raise InvalidInputError(f"{name} must be {accepts}, got {value!r}")
    return number


def seed_value(name: str, value: Any) -> int:
    """A seed for ``torch.Generator.manual_seed``: a whole number in [0, 2**63)."""
    number = whole_number(name, value, minimum=0)
    if number >= 2**63:
        raise InvalidInputError(f"{name} must be a whole number in [0, 2**63), got {value!r}")
    return number


def parse_layer(value: str) -> int | str:
    """A layer as written on a command line or in a config: a block index (``"3"``, ``"-1"``,
    ``"layer.3"``) becomes an int; ``embeddings`` and dotted module names stay strings."""
    text = value.strip()
    if text.startswith("layer.") and text[len("layer.") :].isdigit():
        return int(text[len("layer.") :])
    return int(text) if text.lstrip("-").isdigit() else text


def argument_type(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse ``type=`` from a library parser: its :class:`InvalidInputError` becomes
    argparse's usage error with the same message (a plain ValueError would lose the message)."""

    def checked(value: str) -> Any:
        try:
            return parse(value)
        except InvalidInputError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    checked.__name__ = parse.__name__
    return checked
