"""Exceptions with messages that say what went wrong and how to fix it."""

from __future__ import annotations


class IBNLPError(Exception):
    """Base class of the toolkit's errors."""


class InvalidInputError(IBNLPError, ValueError):
    """The text, target or an option passed by the user cannot be used."""


class LayerError(IBNLPError, ValueError):
    """The requested layer does not exist or cannot hold a bottleneck."""


class LayerNotReadError(LayerError):
    """Replacing the layer's output by noise does not change the prediction."""


class ModelLoadError(IBNLPError, OSError):
    """The model could not be loaded, or is not a sequence classifier."""


class DataError(IBNLPError, OSError):
    """A dataset could not be found or read (IMDB from the hub or a local source)."""


class StatisticsError(IBNLPError, ValueError):
    """Feature statistics are missing or do not fit the model."""


class NonFiniteError(IBNLPError, FloatingPointError):
    """The optimisation produced a non-finite loss or attribution."""


class OptimisationError(IBNLPError, RuntimeError):
    """The bottleneck's optimisation gave no usable map (it did not move, or closed every token)."""


class TruncationWarning(UserWarning):
    """A text was longer than the model reads and only its first part was explained. Runs over
    datasets silence it with ``warnings.simplefilter("ignore", TruncationWarning)``."""


def first_line(error: BaseException) -> str:
    """The first line of an error's message (library messages can run to many lines)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
