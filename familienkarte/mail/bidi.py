"""Left-to-right tokens in e-mail written right to left (Arabic): card numbers, codes, e-mail addresses, web
addresses.

In an Arabic sentence the bidirectional algorithm reorders the parts of such a token: the card number
``7KX 3QM 9TB`` would read ``9TB 3QM 7KX``, and a link's trailing slash or query jumps to the other end. Each token
found here is isolated as left to right: in the plain-text part with the Unicode controls LRI … PDI (U+2066,
U+2069), in the HTML part with ``<bdi dir="ltr">`` (``familienkarte.mail.html``), as the web pages do with
``ltr()``. An isolated token also no longer decides the direction of its line, so a line that begins with a link
still reads right to left. E-mail in a left-to-right language goes out unchanged.

The tokens are found in the finished text, so every e-mail gets this whatever template wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from familienkarte import i18n
from familienkarte.credentials.card_numbers import ALPHABET

LRI: Final = "\u2066"
PDI: Final = "\u2069"
_INITIATORS: Final = "\u2066\u2067\u2068"  # LRI, RLI, FSI
# The bidirectional controls: never part of a token (a token already isolated is left as it is).
_CONTROLS: Final = "\u200e\u200f\u202a-\u202e\u2066-\u2069"
# A web address; the punctuation that usually ends a sentence is not part of it (TRAILING).
URL: Final = re.compile(rf"https?://[^\s<>\"'{_CONTROLS}]+", re.IGNORECASE)
TRAILING: Final = ".,;:!?)]}»“”’'،؛؟۔"  # the last four: Arabic comma, semicolon, question mark, full stop
_CARD_GROUP = f"[{ALPHABET}]{{3}}"
_TOKEN: Final = re.compile(
    "|".join(
        (
            rf"(?P<url>{URL.pattern})",
            # An e-mail address.
            r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+",
            # A card number as people read it: three groups of three (format_card_number).
            rf"(?<![A-Za-z0-9]){_CARD_GROUP}[ \u00a0-]{_CARD_GROUP}[ \u00a0-]{_CARD_GROUP}(?![A-Za-z0-9])",
            # A code: Latin letters and digits, both, maybe joined by - _ / . (a reference, "12a", a card number
            # written without spaces).
            r"(?<![A-Za-z0-9])(?=[A-Za-z0-9_./-]*[0-9])(?=[A-Za-z0-9_./-]*[A-Za-z])[A-Za-z0-9]+(?:[_./-][A-Za-z0-9]+)*",
        )
    ),
    re.IGNORECASE,
)


def ltr_tokens(text: str) -> Iterator[tuple[int, int]]:
    """Where the left-to-right tokens of a text are: (start, end) of each, in order, not overlapping."""
    for match in _TOKEN.finditer(text):
        start, end = match.span()
        if match.group("url") is not None:
            end = start + len(match.group(0).rstrip(TRAILING))
        already = start > 0 and text[start - 1] in _INITIATORS and text[end : end + 1] == PDI
        if end > start and not already:
            yield start, end


def isolate_ltr(text: str) -> str:
    """The text with every left-to-right token between LRI and PDI."""
    out: list[str] = []
    position = 0
    for start, end in ltr_tokens(text):
        out += [text[position:start], LRI, text[start:end], PDI]
        position = end
    out.append(text[position:])
    return "".join(out)


def plain_text(body_text: str, locale: str | None) -> str:
    """The plain-text part of an e-mail written in ``locale``: its tokens isolated when the language is written
    right to left, else the text as it is."""
    if locale and i18n.text_direction(locale) == "rtl":
        return isolate_ltr(body_text)
    return body_text
