"""Exceptions raised by microdl for user mistakes.

Every error a user can cause by passing a wrong file, shape, value or name is
an instance of :class:`MicrodlError`. The command line turns these into one
readable line and a non-zero exit code; library users can catch them like the
built-in exception they also subclass.
"""

from __future__ import annotations

import numbers


class MicrodlError(Exception):
    """Base class of every error microdl raises for bad user input."""


class InvalidParameterError(MicrodlError, ValueError):
    """A parameter has a value outside its allowed range or set.

    The message names the parameter, what was expected and what was received.
    """


class ShapeError(InvalidParameterError):
    """An array has the wrong number of dimensions, channels or size."""


class NonFiniteError(InvalidParameterError):
    """An array holds NaN or infinite values where finite numbers are needed."""


class UnknownNameError(InvalidParameterError):
    """A preset, model or registry name is not known."""


class DataFileError(MicrodlError, OSError):
    """A file is missing, unreadable or does not hold what was expected."""


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is positive.

    Parameters
    ----------
    name
        Parameter name used in the message.
    value
        Value to check.
    allow_zero
        Accept zero as well.
    """
    ok = value >= 0 if allow_zero else value > 0
    if not ok or value != value:  # NaN fails both
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidParameterError(f"{name} must be {bound}, got {value!r}")


def check_int(name: str, value: object, low: int, high: int | None = None) -> None:
    """Raise :class:`InvalidParameterError` unless ``value`` is an integer (Python or NumPy, not a
    bool) with ``low <= value`` (and ``value <= high`` when given)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or (
            high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise InvalidParameterError(f"{name} must be an integer {bound}, got {value!r}")

