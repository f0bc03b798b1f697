"""Options are checked for type and range up front, naming the option and what it accepts."""

from __future__ import annotations

import pytest

from ib_nlp import IBAConfig, InvalidInputError
from ib_nlp.options import parse_layer, real_number, seed_value, whole_number


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"beta": "abc"}, "beta must be a finite number >= 0, got 'abc'"),
        ({"beta": None}, "beta must be a finite number"),
        ({"beta": True}, "beta must be a finite number"),
        ({"lr": float("inf")}, "lr must be a finite number > 0, got inf"),
        ({"lr": float("nan")}, "lr must be a finite number > 0"),
        ({"steps": 2.5}, "steps must be a whole number >= 1, got 2.5"),
        ({"steps": "many"}, "steps must be a whole number >= 1"),
        ({"samples": 0}, "samples must be a whole number >= 1, got 0"),
        ({"seed": "x"}, "seed must be a whole number >= 0, got 'x'"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"min_std": 0}, "min_std must be a finite number > 0"),
        ({"init_alpha": [5]}, "init_alpha must be a finite number"),
    ],
)
def test_bad_iba_options_name_the_option_and_what_it_accepts(options, fragment):
    with pytest.raises(InvalidInputError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        IBAConfig(**options)


def test_numeric_strings_and_integral_floats_are_accepted_as_numbers():
    config = IBAConfig(beta="1e-3", steps="4", lr=" 0.5 ", samples=3.0, seed="7")
    assert (config.beta, config.steps, config.lr, config.samples, config.seed) == (0.001, 4, 0.5, 3, 7)
    assert isinstance(config.steps, int) and isinstance(config.samples, int)


def test_the_helpers_bound_and_convert():
    assert real_number("x", "2", minimum=0, maximum=3) == 2.0
    with pytest.raises(InvalidInputError, match="x must be a finite number >= 0 and <= 3, got 4"):
        real_number("x", 4, minimum=0, maximum=3)
    assert whole_number("n", "12") == 12
    with pytest.raises(InvalidInputError, match=r"seed must be a whole number in \[0, 2\*\*63\)"):
        seed_value("seed", 2**63)


def test_parse_layer() -> None:
    assert parse_layer("8") == 8 and parse_layer(" -1 ") == -1 and parse_layer("layer.3") == 3
    assert parse_layer("embeddings") == "embeddings"
    assert parse_layer("bert.encoder.layer.3") == "bert.encoder.layer.3"
