"""Card numbers: unambiguous characters, and a check character that catches typing mistakes."""

from __future__ import annotations

import itertools
import random

import pytest

from familienkarte.credentials.card_numbers import (
    ALPHABET,
    LENGTH,
    check_character,
    format_card_number,
    is_valid_card_number,
    new_card_number,
    normalize_card_number,
)

SAMPLE = [new_card_number(random.Random(seed)) for seed in range(60)]


def test_new_numbers_are_nine_unambiguous_characters_with_a_valid_check() -> None:
    for number in [*SAMPLE, *(new_card_number() for _ in range(200))]:
        assert len(number) == LENGTH
        assert set(number) <= set(ALPHABET)
        assert is_valid_card_number(number)
    assert not set("0O1IL") & set(ALPHABET)
    assert len(ALPHABET) == 31


def test_numbers_are_drawn_at_random() -> None:
    rng = random.Random(1)
    numbers = {new_card_number(rng) for _ in range(20000)}
    assert len(numbers) == 20000
    first_characters = {number[0] for number in numbers}
    assert first_characters == set(ALPHABET)


def test_every_single_wrong_character_is_caught() -> None:
    for number in SAMPLE:
        for position, wrong in itertools.product(range(LENGTH), ALPHABET):
            if wrong != number[position]:
                assert not is_valid_card_number(number[:position] + wrong + number[position + 1 :])


def test_every_swap_of_two_adjacent_characters_is_caught_for_every_pair_of_characters() -> None:
    # The check is linear, so whether a swap is caught depends only on the two characters and their position;
    # placing every pair at every position over a valid number covers all cases.
    for position, (first, second) in itertools.product(range(LENGTH - 1), itertools.permutations(ALPHABET, 2)):
        body = SAMPLE[0][: LENGTH - 1]
        if position < LENGTH - 2:
            body = body[:position] + first + second + body[position + 2 :]
            number = body + check_character(body)
        else:  # the last swap involves the check character itself
            prefix = body[: LENGTH - 2] + first
            number = prefix + check_character(prefix)
        if number[position] == number[position + 1]:
            continue
        swapped = number[:position] + number[position + 1] + number[position] + number[position + 2 :]
        assert not is_valid_card_number(swapped), (number, swapped)


def test_every_swap_in_the_sample_is_caught_adjacent_or_not() -> None:
    for number in SAMPLE:
        for i, j in itertools.combinations(range(LENGTH), 2):
            if number[i] != number[j]:
                chars = list(number)
                chars[i], chars[j] = chars[j], chars[i]
                assert not is_valid_card_number("".join(chars))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("{n}", "{n}"),
        ("{lower}", "{n}"),
        ("{spaced}", "{n}"),
        ("{dashed}", "{n}"),
        ("  {spaced} ", "{n}"),
    ],
)
def test_typed_numbers_are_normalised(typed: str, expected: str) -> None:
    number = SAMPLE[1]
    spaced = f"{number[:3]} {number[3:6]} {number[6:]}"
    values = {"n": number, "lower": number.lower(), "spaced": spaced, "dashed": spaced.replace(" ", "-")}
    assert normalize_card_number(typed.format(**values)) == expected.format(**values)


@pytest.mark.parametrize("typed", ["", "ABC", "O" * 9, "1" * 9, "I" * 9, "L" * 9, "A" * 64 + "B", "ÄÖÜ234567"])
def test_what_is_not_a_card_number(typed: str) -> None:
    assert normalize_card_number(typed) is None
    assert not is_valid_card_number(typed)


def test_numbers_are_shown_in_groups_of_three() -> None:
    number = SAMPLE[2]
    assert format_card_number(number) == f"{number[:3]} {number[3:6]} {number[6:]}"
    assert format_card_number(number.lower(), separator="-") == f"{number[:3]}-{number[3:6]}-{number[6:]}"
    with pytest.raises(ValueError, match="not a card number"):
        format_card_number(number[:-1] + ("2" if number[-1] != "2" else "3"))
