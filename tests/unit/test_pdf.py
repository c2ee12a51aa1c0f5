"""The printed card's PDF: what a printer and a partner's scanner get from it."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image

from familienkarte.cards.pdf import CARD_HEIGHT, CARD_WIDTH, ChildLine, PrintedCardFacts, printable, render_printed_card
from familienkarte.city import load_city
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.credentials.fk1 import (
    CredentialClaims,
    IssuerKey,
    Reason,
    issue_credential,
    present_printed,
    verify_presentation,
)
from familienkarte.credentials.qr import qr_version
from familienkarte.credentials.status_list import VALID

KOELN = load_city("koeln")
NOW = 1767225600  # 2026-01-01
KEY = IssuerKey.generate("kkkkkkkk")
NUMBER = new_card_number()
# A 9-character card number, three children and a 6-digit status index: the sizes CREDENTIAL.md promises.
CLAIMS = CredentialClaims(sub=NUMBER, exp=NOW + 10 * 365 * 86400, a=2, c=(201503, 201807, 202201), s=999999, l=1)
POINTS_PER_MM = 72 / 25.4
# Signed once: an ECDSA signature differs every time it is made.
PRESENTATION = present_printed(issue_credential(CLAIMS, KEY))


def facts(locale: str = "de", **changes: object) -> PrintedCardFacts:
    base = PrintedCardFacts(
        city=KOELN,
        locale=locale,
        presentation=PRESENTATION,
        formatted_number=format_card_number(NUMBER),
        holders=["Ayşe Yılmaz", "Jan Müller"],
        children=[
            ChildLine("Emre", dt.date(2015, 3, 2)),
            ChildLine("Lina", dt.date(2018, 7, 30)),
            ChildLine("Mikołaj", dt.date(2022, 1, 9)),
        ],
        valid_until=dt.date(2033, 3, 1),
        address=["Ayşe Yılmaz", "Jan Müller", "Venloer Straße 12a", "50823 Köln"],
        letter_date=dt.date(2026, 1, 1),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def page_image(pdf: bytes, dpi: int = 300) -> Image.Image:
    page = pdfium.PdfDocument(pdf)[0]
    image: Image.Image = page.render(scale=dpi / 72).to_pil()
    return image


def page_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    return str(document[0].get_textpage().get_text_range())


@pytest.fixture(scope="module")
def pdf() -> bytes:
    return render_printed_card(facts())


def test_the_qr_code_on_the_page_verifies_as_a_printed_card(pdf: bytes) -> None:
    found = zxingcpp.read_barcodes(page_image(pdf))
    assert len(found) == 1
    code = found[0]
    assert code.format == zxingcpp.BarcodeFormat.QRCode
    assert code.ec_level == "Q"
    text = code.text
    assert text == PRESENTATION
    assert len(text) <= 260
    assert qr_version(text, "M") <= 11

    result = verify_presentation(text, {KEY.kid: KEY.public_only()}, NOW, lambda _l, _s: VALID)
    assert result.reason is Reason.OK
    assert result.presentation_kind == "printed"
    assert result.claims is not None
    assert result.claims.k is None
    assert result.claims.sub == NUMBER
    # Signed by another key, the same code is worthless.
    other = IssuerKey.generate("kkkkkkkk").public_only()
    assert verify_presentation(text, {other.kid: other}, NOW, lambda _l, _s: VALID).reason is Reason.BAD_SIGNATURE


def test_the_code_still_reads_on_a_coarse_print(pdf: bytes) -> None:
    # A cheap printer at 150 dpi.
    assert [c.text for c in zxingcpp.read_barcodes(page_image(pdf, dpi=150))] == [PRESENTATION]


def test_the_page_shows_the_card_facts_in_german(pdf: bytes) -> None:
    text = page_text(pdf)
    assert format_card_number(NUMBER) in text
    assert "Ayşe Yılmaz" in text
    assert "Jan Müller" in text
    assert "Venloer Straße 12a" in text
    assert "50823 Köln" in text
    # The city's contact is on the letter.
    assert KOELN.contact.email in text
    assert KOELN.contact.phone in text
    # Children by first name with birth month and year, oldest first.
    assert text.index("Emre") < text.index("Lina") < text.index("Mikołaj")
    assert "03/2015" in text
    assert "07/2018" in text
    # The validity date as a German reader writes it.
    assert "1. März 2033" in text


def test_english_dates_follow_the_locale() -> None:
    text = page_text(render_printed_card(facts("en")))
    assert "March 1, 2033" in text
    assert "1. März 2033" not in text


def test_same_facts_same_bytes(pdf: bytes) -> None:
    assert render_printed_card(facts()) == pdf
    assert render_printed_card(facts(holders=["Ayşe Yılmaz"])) != pdf


def test_the_card_is_id_1_sized_with_cut_marks_around_it() -> None:
    assert round(CARD_WIDTH / POINTS_PER_MM, 1) == 85.6
    assert round(CARD_HEIGHT / POINTS_PER_MM, 1) == 54.0
    # The page is A4.
    page = pdfium.PdfDocument(render_printed_card(facts()))[0]
    width, height = page.get_size()
    assert (round(width / POINTS_PER_MM), round(height / POINTS_PER_MM)) == (210, 297)


def test_long_names_are_cut_on_the_card_and_rare_letters_degrade_to_base_letters() -> None:
    long_name = "Maximiliane Theodora von und zu Hohenzollern-Sigmaringen-Lüdenscheid"
    text = page_text(render_printed_card(facts(holders=[long_name])))
    # On the card a name too long for its line ends with an ellipsis.
    assert "Maximiliane Theodora" in text
    assert "…" in text
    # A letter the embedded fonts lack is printed as its base letter, never as an empty box.
    assert printable("Zoë Nguyễn") == "Zoë Nguyen"
    assert printable("سارا") == "????"
