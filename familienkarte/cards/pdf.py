"""The printed family card as a PDF: an A4 letter in the household's language with the card to cut out on it.

Pure: it takes the facts and returns bytes. The card is ID-1 sized (85.6 x 54 mm, a bank card), with cut marks
outside its corners. The QR code holds the printed presentation (``FK1:`` + credential) at error correction Q
(CREDENTIAL.md), drawn as vector squares with its quiet zone, so it stays sharp on any printer.

The fonts are the Bitstream Vera faces that ship with ReportLab, embedded in the PDF, so the output does not
depend on the fonts of the machine; a character they lack is printed as its base letter (``ń`` as ``n``).
The document is made in ReportLab's invariant mode: the same facts give the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Final

import qrcode
import qrcode.constants
import reportlab
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from familienkarte import i18n
from familienkarte.city import City
from familienkarte.errors import N_

CARD_WIDTH: Final = 85.6 * mm
CARD_HEIGHT: Final = 54 * mm
CARD_CORNER: Final = 3.18 * mm
# Where the card sits on the page: centred, its lower edge this far above the bottom of the page.
CARD_BOTTOM: Final = 30 * mm
CUT_MARK_GAP: Final = 2 * mm
CUT_MARK_LENGTH: Final = 6 * mm
QR_QUIET_ZONE: Final = 4  # modules, as the QR standard asks
QR_SIZE: Final = 36 * mm  # with the quiet zone
MARGIN_LEFT: Final = 25 * mm
MARGIN_RIGHT: Final = 20 * mm
# DIN 5008 form B: the address field of a window envelope.
ADDRESS_TOP: Final = 45 * mm + 17.7 * mm
FONT: Final = "FKSans"
FONT_BOLD: Final = "FKSans-Bold"
_FONT_FILES: Final = {FONT: "Vera.ttf", FONT_BOLD: "VeraBd.ttf"}
BLACK: Final = (0, 0, 0)
GREY: Final = (0.45, 0.45, 0.45)


@dataclass(frozen=True)
class ChildLine:
    first_name: str
    birth_date: dt.date


@dataclass(frozen=True)
class PrintedCardFacts:
    """Everything the letter and the card show. ``presentation`` is the text of the QR code."""

    city: City
    locale: str
    presentation: str
    formatted_number: str
    holders: Sequence[str]
    children: Sequence[ChildLine]
    valid_until: dt.date
    # The recipient's address, one line each: names, street and house number, postal code and town.
    address: Sequence[str]
    letter_date: dt.date


# Fonts ------------------------------------------------------------------------------------------------------


@functools.cache
def register_fonts() -> frozenset[int]:
    """Register the embedded fonts once; the code points both faces can draw."""
    folder = Path(reportlab.__file__).parent / "fonts"
    drawable: set[int] | None = None
    for name, filename in _FONT_FILES.items():
        font = TTFont(name, str(folder / filename))
        pdfmetrics.registerFont(font)
        points = set(font.face.charToGlyph)
        drawable = points if drawable is None else drawable & points
    return frozenset(drawable or ())


def printable(text: str) -> str:
    """``text`` with each character the fonts lack replaced by its base letter, or by ``?``."""
    drawable = register_fonts()
    out = []
    for char in text:
        if ord(char) in drawable or char in "\n":
            out.append(char)
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        out.append(base if base and all(ord(c) in drawable for c in base) else "?")
    return "".join(out)


def _fit(text: str, font: str, size: float, width: float) -> str:
    """Cut ``text`` with an ellipsis until it fits ``width`` (names on the card are never wrapped)."""
    if pdfmetrics.stringWidth(text, font, size) <= width:
        return text
    while text and pdfmetrics.stringWidth(text + "…", font, size) > width:
        text = text[:-1]
    return text.rstrip() + "…"


# QR ---------------------------------------------------------------------------------------------------------


def qr_matrix(text: str) -> list[list[bool]]:
    """The modules of the QR code at error correction Q, with its quiet zone; True is dark."""
    code = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_Q, border=QR_QUIET_ZONE)
    code.add_data(text)
    code.make(fit=True)
    return [list(map(bool, row)) for row in code.get_matrix()]


def _draw_qr(canvas: Canvas, text: str, x: float, y: float, size: float) -> None:
    """The QR code with its lower left corner (of the quiet zone) at (x, y): one rectangle per run of dark modules."""
    matrix = qr_matrix(text)
    module = size / len(matrix)
    canvas.saveState()
    canvas.setFillColorRGB(1, 1, 1)
    canvas.rect(x, y, size, size, stroke=0, fill=1)
    canvas.setFillColorRGB(*BLACK)
    path = canvas.beginPath()
    for row_index, row in enumerate(matrix):
        top = y + size - row_index * module
        col = 0
        while col < len(row):
            if not row[col]:
                col += 1
                continue
            start = col
            while col < len(row) and row[col]:
                col += 1
            path.rect(x + start * module, top - module, (col - start) * module, module)
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


# Drawing ----------------------------------------------------------------------------------------------------


def _text(canvas: Canvas, x: float, y: float, text: str, *, size: float, bold: bool = False) -> None:
    canvas.setFont(FONT_BOLD if bold else FONT, size)
    canvas.drawString(x, y, printable(text))


def _paragraph(canvas: Canvas, x: float, y: float, text: str, width: float, *, size: float = 10.5) -> float:
    """Draw wrapped text from the baseline y downwards; returns the y below the paragraph."""
    leading = size * 1.4
    canvas.setFont(FONT, size)
    for part in printable(text).split("\n"):
        for line in simpleSplit(part, FONT, size, width):
            canvas.drawString(x, y, line)
            y -= leading
    return y - leading * 0.5


def _cut_marks(canvas: Canvas, x: float, y: float) -> None:
    canvas.saveState()
    canvas.setLineWidth(0.4)
    canvas.setStrokeColorRGB(*BLACK)
    for cx, dx in ((x, -1), (x + CARD_WIDTH, 1)):
        for cy, dy in ((y, -1), (y + CARD_HEIGHT, 1)):
            # One horizontal and one vertical line per corner, both outside the card.
            canvas.line(cx + dx * CUT_MARK_GAP, cy, cx + dx * (CUT_MARK_GAP + CUT_MARK_LENGTH), cy)
            canvas.line(cx, cy + dy * CUT_MARK_GAP, cx, cy + dy * (CUT_MARK_GAP + CUT_MARK_LENGTH))
    canvas.restoreState()


def _card(canvas: Canvas, facts: PrintedCardFacts, x: float, y: float) -> None:
    """The card with its lower left corner at (x, y)."""
    _gettext = i18n.gettext
    canvas.saveState()
    canvas.setLineWidth(0.3)
    canvas.setStrokeColorRGB(0.7, 0.7, 0.7)
    canvas.roundRect(x, y, CARD_WIDTH, CARD_HEIGHT, CARD_CORNER, stroke=1, fill=0)
    canvas.restoreState()

    pad = 3.5 * mm
    qr_x = x + CARD_WIDTH - QR_SIZE - 1.5 * mm
    qr_y = y + (CARD_HEIGHT - QR_SIZE) / 2
    _draw_qr(canvas, facts.presentation, qr_x, qr_y, QR_SIZE)

    left = x + pad
    width = qr_x - left
    top = y + CARD_HEIGHT - pad
    title = _fit(printable(_gettext(N_("Family card of %(city)s"), city=facts.city.name)), FONT_BOLD, 8, width)
    canvas.setFont(FONT_BOLD, 8)
    canvas.drawString(left, top - 6, title)

    label_size, value_size = 5.5, 7.0
    line = top - 17
    _text(canvas, left, line, _gettext(N_("Card number")), size=label_size)
    line -= 10
    _text(canvas, left, line, facts.formatted_number, size=11, bold=True)

    line -= 10
    _text(canvas, left, line, _gettext(N_("Holders")), size=label_size)
    for holder in facts.holders:
        line -= 8
        canvas.setFont(FONT, value_size)
        canvas.drawString(left, line, _fit(printable(holder), FONT, value_size, width))

    if facts.children:
        line -= 9
        _text(canvas, left, line, _gettext(N_("Children")), size=label_size)
        children = ", ".join(
            _gettext(
                N_("%(name)s (born %(month)s)"),
                name=child.first_name,
                month=i18n.format_date(child.birth_date, "MM/yyyy"),
            )
            for child in facts.children
        )
        canvas.setFont(FONT, 6.2)
        lines = simpleSplit(printable(children), FONT, 6.2, width)
        for index, text in enumerate(lines[:3]):
            line -= 7.5
            canvas.drawString(left, line, _fit(text + ("…" if index == 2 and len(lines) > 3 else ""), FONT, 6.2, width))

    valid = _gettext(N_("Valid until %(date)s"), date=i18n.format_date(facts.valid_until, "long"))
    canvas.setFont(FONT_BOLD, 6.5)
    canvas.drawString(left, y + pad - 1, _fit(printable(valid), FONT_BOLD, 6.5, width))


def _letter(canvas: Canvas, facts: PrintedCardFacts) -> None:
    _gettext = i18n.gettext
    page_width, page_height = A4
    contact = facts.city.contact
    width = page_width - MARGIN_LEFT - MARGIN_RIGHT

    # The sender line above the address field, then the address itself.
    canvas.setFillColorRGB(*GREY)
    _text(canvas, MARGIN_LEFT, page_height - ADDRESS_TOP + 4 * mm, contact.name, size=7)
    canvas.setFillColorRGB(*BLACK)
    y = page_height - ADDRESS_TOP - 3 * mm
    for address_line in facts.address:
        _text(canvas, MARGIN_LEFT, y, address_line, size=10.5)
        y -= 14

    # The city's contact on the right, the date below it.
    right = page_width - MARGIN_RIGHT
    canvas.setFont(FONT_BOLD, 9)
    canvas.drawRightString(right, page_height - 25 * mm, printable(contact.name))
    canvas.setFont(FONT, 9)
    contact_y = page_height - 30 * mm
    for detail in (contact.email, contact.phone, contact.url):
        if detail:
            canvas.drawRightString(right, contact_y, printable(detail))
            contact_y -= 12
    canvas.drawRightString(
        right, page_height - ADDRESS_TOP - 3 * mm, printable(i18n.format_date(facts.letter_date, "long"))
    )

    y = page_height - 105 * mm
    _text(canvas, MARGIN_LEFT, y, _gettext(N_("Your printed family card")), size=13, bold=True)
    y -= 24
    paragraphs = [
        _gettext(N_("Hello,")),
        _gettext(
            N_(
                "here is your printed family card of %(city)s. Please cut it out along the marks. It works like the "
                "card on a phone: show it at the till of a partner and they scan the code."
            ),
            city=facts.city.name,
        ),
        _gettext(
            N_(
                "The printed card does not prove who you are. Partners may ask you for an identity document "
                "together with it."
            )
        ),
        _gettext(
            N_(
                "If you lose the printed card, please remove it on your card page or tell us: its code then stops "
                "working. Your phones and other printed cards keep working."
            )
        ),
        _gettext(
            N_("The card is valid until %(date)s. Card number: %(number)s."),
            date=i18n.format_date(facts.valid_until, "long"),
            number=facts.formatted_number,
        ),
        _gettext(N_("Kind regards,\n%(sender)s"), sender=contact.name),
    ]
    for text in paragraphs:
        y = _paragraph(canvas, MARGIN_LEFT, y, text, width)

    card_x = (page_width - CARD_WIDTH) / 2
    _cut_marks(canvas, card_x, CARD_BOTTOM)
    _card(canvas, facts, card_x, CARD_BOTTOM)
    canvas.setFillColorRGB(*GREY)
    canvas.setFont(FONT, 7)
    canvas.drawCentredString(
        page_width / 2,
        CARD_BOTTOM - CUT_MARK_GAP - CUT_MARK_LENGTH - 4 * mm,
        printable(_gettext(N_("Cut along the marks."))),
    )
    canvas.setFillColorRGB(*BLACK)


def render_printed_card(facts: PrintedCardFacts) -> bytes:
    """The PDF: one A4 page, the letter with the card on it, in the household's language."""
    register_fonts()
    buffer = BytesIO()
    with i18n.use_locale(facts.locale):
        canvas = Canvas(buffer, pagesize=A4, invariant=True, pageCompression=True)
        canvas.setTitle(printable(i18n.gettext(N_("Family card of %(city)s"), city=facts.city.name)))
        canvas.setAuthor(printable(facts.city.contact.name))
        canvas.setSubject(printable(i18n.gettext(N_("Your printed family card"))))
        canvas.setCreator("Familienkarte")
        _letter(canvas, facts)
        canvas.showPage()
        canvas.save()
    return buffer.getvalue()
