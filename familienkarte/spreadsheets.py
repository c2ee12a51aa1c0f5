"""Cells that a spreadsheet shows but never runs: the one guard against formula injection for every CSV and XLSX
file the service writes (statistics exports, the partner import's example files and error reports).

A spreadsheet runs a text cell that begins with ``=``, ``+``, ``-`` or ``@`` (and, in some programs, a tab or a
carriage return followed by one) as a formula, which can fetch URLs or start programs (OWASP, "CSV Injection").
Partner names, benefit titles and import files are typed by people outside the city, so every text cell gets an
apostrophe in front of such a first character. Numbers are written as numbers and stay numbers: a negative count
is ``-5``, not ``'-5``, and so is a text that is nothing but a plain decimal number, which no program runs.
"""

from __future__ import annotations

import decimal
import math
import re
from typing import Final

# The first characters that make a spreadsheet treat a text as a formula (OWASP's list for CSV injection).
FORMULA_STARTS: Final = ("=", "+", "-", "@", "\t", "\r")
# A negative number written as text ("-5", "-2.5"): a value, never a formula, so it is left as it is.
_PLAIN_NUMBER: Final = re.compile(r"-[0-9]+(?:\.[0-9]+)?")


def neutralise(text: str) -> str:
    """The text as a spreadsheet shows it without running it: an apostrophe in front of a formula's first character."""
    if text.startswith(FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def csv_cell(value: object) -> str:
    """The text of one CSV cell: empty for ``None``, numbers as they are, anything else as neutralised text."""
    if value is None:
        return ""
    if isinstance(value, int | decimal.Decimal) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(value)
    return neutralise(str(value))
