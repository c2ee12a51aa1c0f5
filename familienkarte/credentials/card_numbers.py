"""Card numbers: pseudonymous, easy to read aloud and type, with a check character.

A card number is 8 random characters and a check character from a 31-character alphabet without the look-alikes
0/O, 1/I/L. It is drawn at random, never derived from personal data.

The check character makes the weighted sum of all nine values, with weights 9, 8, ..., 1, divisible by 31.
Because 31 is prime and every weight and every difference of two weights is a non-zero number below 31, the
check catches every single wrong character and every swap of two characters (adjacent or not).
"""

from __future__ import annotations

import random
import secrets
from typing import Final

ALPHABET: Final = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH: Final = 9
_MODULUS: Final = len(ALPHABET)  # 31, a prime
_WEIGHTS: Final = tuple(range(LENGTH, 0, -1))
_VALUES: Final = {char: value for value, char in enumerate(ALPHABET)}
_SEPARATORS: Final = frozenset(" -\u00a0\u2010\u2011\u2012\u2013\u2014\u2212\t")
_MAX_TYPED_LENGTH: Final = 64
_system_random = secrets.SystemRandom()


def check_character(body: str) -> str:
    """The check character for the first eight characters of a card number."""
    if len(body) != LENGTH - 1 or any(char not in _VALUES for char in body):
        raise ValueError(f"a card number body is {LENGTH - 1} characters of {ALPHABET}")
    total = sum(weight * _VALUES[char] for weight, char in zip(_WEIGHTS[:-1], body, strict=True))
    return ALPHABET[-total % _MODULUS]


def new_card_number(rng: random.Random | None = None) -> str:
    """A fresh random card number (9 characters, no separators). Uniqueness is the caller's to enforce."""
    source = rng if rng is not None else _system_random
    body = "".join(source.choice(ALPHABET) for _ in range(LENGTH - 1))
    return body + check_character(body)


def normalize_card_number(text: str) -> str | None:
    """The card number in typed text (spaces, dashes and lower case tolerated), or ``None`` if it is not one."""
    if not isinstance(text, str) or len(text) > _MAX_TYPED_LENGTH:
        return None
    number = "".join(char for char in text.upper() if char not in _SEPARATORS)
    if len(number) != LENGTH or any(char not in _VALUES for char in number):
        return None
    if sum(weight * _VALUES[char] for weight, char in zip(_WEIGHTS, number, strict=True)) % _MODULUS:
        return None
    return number


def is_valid_card_number(text: str) -> bool:
    """Whether typed text is a well-formed card number with a matching check character."""
    return normalize_card_number(text) is not None


def format_card_number(number: str, separator: str = " ") -> str:
    """A card number for people to read: three groups of three (``7KX 3QM 9TB``)."""
    normal = normalize_card_number(number)
    if normal is None:
        raise ValueError("not a card number")
    return separator.join(normal[i : i + 3] for i in range(0, LENGTH, 3))
