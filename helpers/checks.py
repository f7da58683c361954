"""Parameter validation: fail early, name the parameter and what is allowed; and the one reader of the YAML a
user writes (:func:`load_yaml`: `-p` values, parameter sets, sweep files)."""
from __future__ import annotations

import re
from typing import Iterable

import yaml


class ParameterError(ValueError):
    """A user-facing parameter is invalid.  The message names it and the valid choices."""


NUMBER = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
"""A number as YAML 1.2 and JSON write it (``1e-9``, ``3E-4``, ``-2e5``, ``.5``, ``+1.5e3``, ``16``)."""


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading floats as YAML 1.2 does: PyYAML follows YAML 1.1, whose floats need a
    decimal point and a signed exponent, so ``1e-9`` or ``3e-4`` would be strings.  Added after 1.1's own
    resolvers (ints, ``09`` and the rest read as before), for plain scalars only (a quoted one stays a string)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+.0123456789"))


def load_yaml(text: str):
    """A user's YAML (a ``-p`` value, a parameter set, a sweep file), safely, its numbers read as researchers
    type them: ``1e-9`` is a float (YAML 1.2, JSON), not the string YAML 1.1 makes of it."""
    return yaml.load(text, Loader=_Loader)


def number_hint(value) -> str:
    """For a string that reads as a number (a quoted ``'1e-9'``): what to write instead, for an error message."""
    if isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        return f" (got the string {value!r}; write it as a number, e.g. {value.strip()} without quotes)"
    return ""


def number(name: str, value) -> None:
    """``value`` is not a string that reads as a number (where a number is expected; other values are left to
    the checks that know the setting)."""
    if number_hint(value):
        raise ParameterError(f"{name}={value!r} is not valid; it must be a number{number_hint(value)}")


def choice(name: str, value, valid: Iterable) -> None:
    valid = list(valid)
    if value not in valid:
        raise ParameterError(f"{name}={value!r} is not valid; choose one of: {', '.join(map(str, valid))}")


def positive(name: str, value, *, integer: bool = False) -> None:
    ok_type = isinstance(value, int) if integer else isinstance(value, (int, float))
    if isinstance(value, bool) or not ok_type or not value > 0:
        kind = "a positive integer" if integer else "a number > 0"
        raise ParameterError(f"{name}={value!r} is not valid; it must be {kind}{number_hint(value)}")


def in_range(name: str, value, lo, hi) -> None:
    """lo <= value <= hi (inclusive), integers."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ParameterError(f"{name}={value!r} is out of range; it must be an integer in [{lo}, {hi}]{number_hint(value)}")


def as_list(value) -> list:
    """A scalar or a sequence -> list (papermill passes lists as lists, CLI users often pass a scalar)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str) and "," in value:
        return [v.strip() for v in value.split(",") if v.strip()]
    return [value]
