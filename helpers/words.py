"""Numbers in the book's sentences, each with what it counts or measures: a count with its noun in the right
number ("1 epoch", "3 fine-tuning seeds") and a quantity with its unit and the digits it deserves ("22.7 M
parameters", "0.54 of all occurrences").  Every glued number goes through one of them (tested on the executed
chapters: no glue is a bare number).  No helper imports."""
from __future__ import annotations

import math


def count(n, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` agreeing in number: ``count(1, "model")`` is "1 model", ``count(2, "model")`` "2
    models", ``count(1.5, "epoch")`` "1.5 epochs"; ``plural`` for irregular nouns."""
    return f"{number(n)} {noun if n == 1 else (plural or noun + 's')}"


def number(value, digits: int = 3, sign: bool = False) -> str:
    """``value`` to ``digits`` significant digits, thousands separated, trailing zeros dropped ("0.0825", "-1.87",
    "0.05", "7,605,695", "4.09e-10"); a whole number whole; "not measured" for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    value = float(value)
    if value.is_integer() and abs(value) < 1e15:
        shown = f"{int(value):,}"
    elif abs(value) < 1e-3 or abs(value) >= 1e7:
        shown = f"{value:.{max(digits - 1, 0)}e}"
    else:
        rounded = float(f"{value:.{digits}g}")              # the carry of 0.999 -> 1.00 happens here
        magnitude = math.floor(math.log10(abs(rounded))) if rounded else 0
        shown = f"{rounded:,.{max(digits - 1 - magnitude, 0)}f}"
        shown = shown.rstrip("0").rstrip(".") if "." in shown else shown
    return ("+" + shown) if sign and value > 0 else shown


def quantity(value, unit: str = "", digits: int = 3, sign: bool = False) -> str:
    """``value`` (:func:`number`) followed by its ``unit`` ("M parameters", "tokens", "of all occurrences"); an
    empty unit declares a pure number whose sentence names what it measures (a slope, log10 I(W))."""
    shown = number(value, digits, sign)
    return f"{shown} {unit}" if unit and shown != "not measured" else shown
