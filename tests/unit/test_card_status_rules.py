"""The rules of staff card search and reasons that need no database: name folding, card numbers typed, reasons."""

from __future__ import annotations

import re

import pytest

from familienkarte.cards.card_status import REASON_MAX, card_number_in_query, fold_name, name_pattern, read_reason
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.errors import InvalidInput


def finds(query: str, name: str) -> bool:
    return re.search(name_pattern(fold_name(query)), name) is not None


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("muller", "Müller"),
        ("MÜLLER", "Müller"),
        ("müll", "MÜLLER"),
        ("yilmaz", "Yılmaz"),
        ("ozdemir", "Özdemir"),
        ("strasser", "Straßer"),
        ("Straßer", "Strasser"),
        ("muller", "Schmidt-Müller"),
        ("schmidt muller", "Schmidt-Müller"),
        ("brien", "O'Brien"),
        ("muller", "Mu\u0308ller"),  # decomposed ü
        ("иванов", "Иванов"),
    ],
)
def test_a_last_name_is_found_however_it_is_typed(query: str, name: str) -> None:
    assert finds(query, name)


@pytest.mark.parametrize(
    ("query", "name"),
    [("muller", "Mueller"), ("muller", "Smuller"), ("muller", "Müll"), ("meier", "Meyer"), ("a.b", "Aab")],
)
def test_only_names_starting_with_the_query_are_found(query: str, name: str) -> None:
    assert not finds(query, name)


def test_typed_card_numbers_are_read_and_wrong_ones_are_named() -> None:
    number = new_card_number()
    assert card_number_in_query(format_card_number(number, "-").lower()) == number
    assert card_number_in_query("Schneider") is None
    assert card_number_in_query("Müller") is None
    assert card_number_in_query("a@b.org") is None
    for typed, words in [("7KX3QM9T", "9 characters"), ("7KX 3QM 0TB", "0, 1, I, L and O")]:
        with pytest.raises(InvalidInput) as info:
            card_number_in_query(typed)
        error = info.value.errors[0]
        assert error.field == "q"
        assert words in error.message % error.params


def test_a_reason_is_required_and_at_most_2000_characters() -> None:
    assert read_reason("  Verlust gemeldet.\r\nAnruf am Montag. ") == "Verlust gemeldet.\nAnruf am Montag."
    assert read_reason("x" * REASON_MAX) == "x" * REASON_MAX
    for bad in ("", "   ", None, "x" * (REASON_MAX + 1), "bad\x00byte"):
        with pytest.raises(InvalidInput) as info:
            read_reason(bad)
        assert info.value.errors[0].field == "reason"
