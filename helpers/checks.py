"""Parameter validation: fail early, name the parameter and what is allowed."""
from __future__ import annotations

from typing import Iterable


class ParameterError(ValueError):
    """A user-facing parameter is invalid.  The message names it and the valid choices."""


def choice(name: str, value, valid: Iterable) -> None:
    valid = list(valid)
    if value not in valid:
        raise ParameterError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, valid))}")


def positive(name: str, value, *, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not value > 0:
        kind = "a positive integer" if integer else "a number > 0"
        raise ParameterError(f"{name}={value!r} is not valid; it must be {kind}")


def in_range(name: str, value, lo, hi) -> None:
    """lo <= value <= hi (inclusive), integers."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ParameterError(f"{name}={value!r} is out of range; it must be an integer in [{lo}, {hi}]")


def as_list(value) -> list:
    """A scalar or a sequence -> list (papermill passes lists as lists, CLI users often pass a scalar)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]
