"""Left-to-right tokens in Arabic e-mail: card numbers, codes, e-mail addresses and links keep their order.

In an Arabic sentence "7KX 3QM 9TB" would read "9TB 3QM 7KX" and a line that begins with a link would be laid out
left to right. Both parts of the e-mail isolate such tokens: the plain text with LRI … PDI, the HTML with
``<bdi dir="ltr">``; e-mail in a left-to-right language goes out as it was written.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import unicodedata
import uuid
from email.message import EmailMessage

import pytest

from familienkarte import i18n
from familienkarte.mail.bidi import LRI, PDI, isolate_ltr, plain_text
from familienkarte.mail.html import paragraphs
from familienkarte.mail.models import Email
from familienkarte.mail.sending import compose

SENDER = "Familienkarte Köln <familienkarte@stadt.example>"
LINK = "https://stadt.example/login/family/Xy7_k-2?lang=ar"
ARABIC_BODY = (
    "مرحبا،\n\n"
    "رقم بطاقتك هو 7KX 3QM 9TB.\n"
    f"{LINK} هو رابط تسجيل الدخول.\n"
    f"افتح هذا الرابط: {LINK}.\n"
    "اكتب إلينا على familienkarte@stadt.example أو اذكر الرمز AB-2026-17.\n"
)


def _email(**fields: object) -> Email:
    values: dict[str, object] = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "to_address": "familie@example.org",
        "subject": "بطاقة العائلة",
        "body_text": ARABIC_BODY,
        "body_html": None,
        "locale": "ar",
        "created_at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
    }
    values.update(fields)
    return Email(**values)


def _parts(message: EmailMessage) -> tuple[str, str]:
    parsed = email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    text, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert text is not None
    assert html is not None
    return text.get_content(), html.get_content()


def _isolated(text: str) -> list[str]:
    """The runs between LRI and PDI, in order; every LRI is closed before the next one opens."""
    runs, rest = [], text
    while LRI in rest:
        before, _lri, rest = rest.partition(LRI)
        assert PDI not in before, "a PDI without its LRI"
        inside, pdi, rest = rest.partition(PDI)
        assert pdi, "an LRI without its PDI"
        assert LRI not in inside, "an LRI inside an isolate"
        runs.append(inside)
    assert PDI not in rest
    return runs


def _first_strong(line: str) -> str | None:
    """The direction a mail program gives a line (Unicode rule P2): its first strong letter outside isolates."""
    depth = 0
    for char in line:
        if char in "\u2066\u2067\u2068":
            depth += 1
        elif char == PDI:
            depth = max(depth - 1, 0)
        elif depth == 0 and unicodedata.bidirectional(char) in ("L", "R", "AL"):
            return "ltr" if unicodedata.bidirectional(char) == "L" else "rtl"
    return None


def test_the_plain_text_of_an_arabic_email_isolates_card_number_link_address_and_code() -> None:
    text, _html = _parts(compose(_email(), SENDER, "stadt.example", city_name="Köln"))

    assert _isolated(text) == [
        "7KX 3QM 9TB",
        LINK,
        LINK,
        "familienkarte@stadt.example",
        "AB-2026-17",
    ]
    # Nothing else changes: without the controls it is the text as written, the full stop after the link included.
    assert text.replace(LRI, "").replace(PDI, "") == ARABIC_BODY
    assert f"{LRI}{LINK}{PDI}.\n" in text
    # Every line reads right to left, the one that begins with the link too; without the isolation a mail program
    # would lay that one out left to right.
    lines = [line for line in text.splitlines() if line.strip()]
    assert [_first_strong(line) for line in lines] == ["rtl"] * 5
    assert _first_strong(ARABIC_BODY.splitlines()[3]) == "ltr"


def test_the_html_part_isolates_the_same_tokens_and_keeps_the_link_clickable() -> None:
    _text, html = _parts(compose(_email(), SENDER, "stadt.example", city_name="Köln"))

    assert '<html lang="ar" dir="rtl">' in html
    assert '<bdi dir="ltr">7KX 3QM 9TB</bdi>' in html
    assert '<bdi dir="ltr">familienkarte@stadt.example</bdi>' in html
    assert '<bdi dir="ltr">AB-2026-17</bdi>' in html
    link = LINK.replace("&", "&amp;")
    assert html.count(f'<bdi dir="ltr"><a href="{link}" style="color:#0b4f8a;text-decoration:underline;">') == 2
    # No control character reaches the HTML, where <bdi> does the work.
    assert LRI not in html
    assert PDI not in html


@pytest.mark.parametrize("locale", [code for code in i18n.SUPPORTED_LOCALES if i18n.text_direction(code) == "ltr"])
def test_left_to_right_languages_get_their_text_as_written(locale: str) -> None:
    body = "Ihre Karte 7KX 3QM 9TB: https://stadt.example/card (Code AB-2026-17, familienkarte@stadt.example).\n"
    text, html = _parts(compose(_email(locale=locale, body_text=body), SENDER, "stadt.example"))

    assert text == body
    assert "<bdi" not in html


def test_a_text_without_a_language_is_not_changed() -> None:
    assert plain_text(ARABIC_BODY, None) == ARABIC_BODY


@pytest.mark.parametrize(
    ("text", "isolated"),
    [
        ("البطاقة 7kx-3qm-9tb صالحة", ["7kx-3qm-9tb"]),  # typed with hyphens, in small letters
        ("البطاقة 7KX3QM9TB صالحة", ["7KX3QM9TB"]),  # written without spaces
        ("المنزل 12a في 50823 كولونيا", ["12a"]),  # a house number is a code; a plain number needs nothing
        ("(https://stadt.example/card)، شكرا", ["https://stadt.example/card"]),
        ("شارع Venloer Straße", []),  # Latin words alone keep their order
        (f"بطاقتك {LRI}7KX 3QM 9TB{PDI} جاهزة", ["7KX 3QM 9TB"]),  # already isolated: not twice
    ],
)
def test_what_counts_as_a_left_to_right_token(text: str, isolated: list[str]) -> None:
    assert _isolated(isolate_ltr(text)) == isolated


def test_what_the_html_isolates_stays_escaped() -> None:
    shown = paragraphs('رمز <b>AB-12</b> "x@y.example"', isolate=True)
    assert [str(p) for p in shown] == [
        'رمز &lt;b&gt;<bdi dir="ltr">AB-12</bdi>&lt;/b&gt; &#34;<bdi dir="ltr">x@y.example</bdi>&#34;'
    ]
