"""The partner's monthly report as a PDF: the figures of the statistics page as tables, for filing and printing.

Pure: it takes the figures (:class:`familienkarte.statistics.partner_view.PartnerStatistics`, already suppressed
and labelled in the reader's language) and returns bytes. A hidden figure is printed as the marker (``< 5``),
never as a number. The fonts are those of the printed card (:mod:`familienkarte.cards.pdf`, embedded Bitstream
Vera); the document is made in ReportLab's invariant mode, so the same figures give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from io import BytesIO
from typing import Any, Final
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from familienkarte import i18n
from familienkarte.cards.pdf import FONT, FONT_BOLD, printable, register_fonts
from familienkarte.city import City
from familienkarte.errors import N_
from familienkarte.statistics.dashboard import month_label, number
from familienkarte.statistics.partner_view import Listing, PartnerStatistics, marker
from familienkarte.statistics.suppression import Shown, Suppressed

MARGIN: Final = 20 * mm
HEADER_GREY: Final = colors.Color(0.9, 0.9, 0.9)
RULE_GREY: Final = colors.Color(0.6, 0.6, 0.6)

_BODY: Final = ParagraphStyle("body", fontName=FONT, fontSize=10, leading=14, spaceAfter=6)
_SMALL: Final = ParagraphStyle("small", parent=_BODY, fontSize=8.5, leading=12)
_TITLE: Final = ParagraphStyle("title", fontName=FONT_BOLD, fontSize=16, leading=20, spaceAfter=4)
_HEADING: Final = ParagraphStyle("heading", fontName=FONT_BOLD, fontSize=12, leading=16, spaceBefore=10, spaceAfter=4)
_CELL: Final = ParagraphStyle("cell", fontName=FONT, fontSize=9.5, leading=12)
_CELL_BOLD: Final = ParagraphStyle("cell-bold", parent=_CELL, fontName=FONT_BOLD)
_HEAD_NUMBER: Final = ParagraphStyle("head-number", parent=_CELL_BOLD, alignment=TA_RIGHT)


def shown(value: Shown) -> str:
    """A figure as printed: the number in the reader's way of writing, or the marker for a hidden one."""
    if isinstance(value, Suppressed):
        return marker(value.threshold)
    return number(value)


def _text(text: str) -> str:
    """Text for a Paragraph (which reads a little markup): characters the fonts lack replaced, markup escaped."""
    return escape(printable(text))


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], footer: Sequence[str] | None) -> Table:
    """A table of a label column and number columns, the header and total row set off."""
    width = A4[0] - 2 * MARGIN
    label_width = width - 2 * 32 * mm if len(header) == 3 else width - 32 * mm
    widths = [label_width] + [32 * mm] * (len(header) - 1)
    data: list[list[Any]] = [
        [Paragraph(_text(cell), _HEAD_NUMBER if index else _CELL_BOLD) for index, cell in enumerate(header)]
    ]
    # Labels are Paragraphs (they wrap, and read markup: escaped); figures are plain strings, drawn as they are.
    data += [[Paragraph(_text(row[0]), _CELL), *(printable(cell) for cell in row[1:])] for row in rows]
    if footer is not None:
        data.append([Paragraph(_text(footer[0]), _CELL_BOLD), *(printable(cell) for cell in footer[1:])])
    style = [
        ("FONT", (0, 0), (-1, -1), FONT, 9.5),
        ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_GREY),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, RULE_GREY),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE_GREY),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]
    if footer is not None:
        style += [("FONT", (1, -1), (-1, -1), FONT_BOLD, 9.5), ("LINEABOVE", (0, -1), (-1, -1), 0.8, colors.black)]
    table = Table(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle(style))
    return table


def _listing(title: str, heading: str, listing: Listing, empty: str | None) -> list[Any]:
    gettext = i18n.gettext
    parts: list[Any] = [Paragraph(_text(title), _HEADING)]
    if not listing.rows and empty is not None:
        return [*parts, Paragraph(_text(empty), _BODY)]
    rows = [[row.label, shown(row.redemptions), shown(row.quantity)] for row in listing.rows]
    total = [listing.total.label, shown(listing.total.redemptions), shown(listing.total.quantity)]
    parts.append(_table([heading, gettext(N_("Redemptions")), gettext(N_("Quantity"))], rows, total))
    if listing.hidden:
        parts.append(Spacer(1, 2 * mm))
        parts.append(Paragraph(_text(suppression_note(listing.threshold)), _SMALL))
    return [KeepTogether(parts)]


def suppression_note(threshold: int) -> str:
    return i18n.gettext(
        N_(
            "%(marker)s: hidden to protect the privacy of families. A figure about fewer than %(n)s different "
            "family cards is not shown, nor any figure from which it could be worked out."
        ),
        marker=marker(threshold),
        n=threshold,
    )


def period_line(stats: PartnerStatistics) -> str:
    if stats.complete:
        return i18n.gettext(N_("Figures for %(month)s."), month=month_label(stats.month))
    return i18n.gettext(
        N_("Figures for %(month)s up to %(day)s."), month=month_label(stats.month), day=i18n.format_date(stats.until)
    )


def render_partner_report(stats: PartnerStatistics, city: City, locale: str) -> bytes:
    """The PDF of one month's figures, in ``locale`` (the figures' labels must be in the same language)."""
    register_fonts()
    buffer = BytesIO()
    with i18n.use_locale(locale):
        gettext = i18n.gettext
        title = gettext(N_("Monthly report of %(partner)s"), partner=stats.partner_name)
        story: list[Any] = [
            Paragraph(_text(gettext(N_("Family card of %(city)s"), city=city.name)), _SMALL),
            Paragraph(_text(title), _TITLE),
            Paragraph(_text(period_line(stats)), _BODY),
            Paragraph(
                _text(
                    gettext(
                        N_(
                            "How families used your benefits: redemptions at your locations in this month. Only "
                            "your own benefits and locations are counted; the figures contain no card numbers or "
                            "names."
                        )
                    )
                ),
                _BODY,
            ),
            Paragraph(
                _text(
                    gettext(
                        N_("Quantity: people or items, as entered at the till. Cancelled redemptions are not counted.")
                    )
                ),
                _SMALL,
            ),
        ]
        story += _listing(
            gettext(N_("Redemptions per benefit")),
            gettext(N_("Benefit")),
            stats.by_benefit,
            gettext(N_("You have no published benefits yet.")),
        )
        story += _listing(
            gettext(N_("Redemptions per location")),
            gettext(N_("Location")),
            stats.by_location,
            gettext(N_("You have no active locations.")),
        )
        story += _listing(gettext(N_("Redemptions per week of the month")), gettext(N_("Days")), stats.by_week, None)

        checks: list[Any] = [Paragraph(_text(gettext(N_("Card checks at your locations"))), _HEADING)]
        if stats.verifications:
            checks.append(
                _table(
                    [gettext(N_("Result")), gettext(N_("Checks"))],
                    [[row.label, number(row.count)] for row in stats.verifications],
                    [gettext(N_("Total")), number(stats.verifications_total)],
                )
            )
        else:
            checks.append(Paragraph(_text(gettext(N_("No card checks in this month."))), _BODY))
        story.append(KeepTogether(checks))

        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN,
            title=printable(title),
            author=printable(city.contact.name),
            subject=printable(period_line(stats)),
            creator="Familienkarte",
            lang=locale,
            invariant=1,
        )
        document.build(story)
    return buffer.getvalue()
