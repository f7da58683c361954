"""Numbers in the book's sentences: a count with its noun in the right number ("1 epoch", "3 fine-tuning
seeds"), for every glued count.  No helper imports."""
from __future__ import annotations


def count(n, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` agreeing in number: ``count(1, "model")`` is "1 model", ``count(2, "model")`` "2
    models", ``count(1.5, "epoch")`` "1.5 epochs"; ``plural`` for irregular nouns."""
    shown = f"{int(n):,}" if float(n).is_integer() else f"{n:g}"
    return f"{shown} {noun if n == 1 else (plural or noun + 's')}"
