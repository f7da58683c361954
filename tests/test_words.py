"""Numbers in sentences: counts agree with their nouns, quantities carry units and sensible digits."""
import math

from helpers import words as W


def test_count_agrees_in_number():
    assert W.count(1, "epoch") == "1 epoch"
    assert W.count(3, "fine-tuning seed") == "3 fine-tuning seeds"
    assert W.count(1.5, "epoch") == "1.5 epochs"
    assert W.count(12000, "token") == "12,000 tokens"


def test_number_keeps_significant_digits_and_drops_trailing_zeros():
    assert W.number(0.08253208504257997) == "0.0825"
    assert W.number(-1.8697728765174748) == "-1.87"
    assert W.number(0.05) == "0.05"
    assert W.number(45.0) == "45"
    assert W.number(7605695) == "7,605,695"
    assert W.number(4.089364402659612e-10, digits=2) == "4.1e-10"
    assert W.number(0.999, digits=2) == "1"                 # the rounding carry
    assert W.number(0.5, sign=True) == "+0.5" and W.number(-0.5, sign=True) == "-0.5"
    assert W.number(math.nan) == "not measured" and W.number(None) == "not measured"


def test_quantity_carries_its_unit():
    assert W.quantity(22.7, "M parameters") == "22.7 M parameters"
    assert W.quantity(0.5418, "of all occurrences", digits=2) == "0.54 of all occurrences"
    assert W.quantity(-1.16) == "-1.16"                       # a pure number: the sentence names it
    assert W.quantity(math.nan, "tokens") == "not measured"
