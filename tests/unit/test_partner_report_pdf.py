"""The monthly report's PDF: the figures it is given, hidden ones as the marker, in the reader's language."""

from __future__ import annotations

import datetime as dt

import pypdfium2 as pdfium

from familienkarte import i18n
from familienkarte.city import load_city
from familienkarte.statistics.partner_report_pdf import render_partner_report
from familienkarte.statistics.partner_view import Listing, PartnerStatistics, ReasonRow, Row
from familienkarte.statistics.suppression import Suppressed

KOELN = load_city("koeln")
HIDDEN = Suppressed(5)


def statistics(partner: str = "Zoo Köln", benefits: int = 2) -> PartnerStatistics:
    total = Row("Total", 1234, 1500)
    benefit_rows = [Row("Free entry", 1227, 1490), Row("Feeding tour", HIDDEN, HIDDEN)]
    benefit_rows += [Row(f"Benefit {n}", HIDDEN, HIDDEN) for n in range(benefits - 2)]
    return PartnerStatistics(
        partner_name=partner,
        month=dt.date(2026, 7, 1),
        until=dt.date(2026, 7, 31),
        complete=True,
        by_benefit=Listing("by-benefit", benefit_rows, total, 5),
        by_location=Listing("by-location", [Row("Main gate", 1234, 1500)], total, 5),
        by_week=Listing("by-week", [Row("1 Jul to 7 Jul", 617, 750), Row("8 Jul to 14 Jul", 617, 750)], total, 5),
        verifications=[ReasonRow("ok", "Valid", 1300), ReasonRow("revoked", "Revoked", 7)],
        threshold=5,
    )


def pages(pdf: bytes) -> list[str]:
    document = pdfium.PdfDocument(pdf)
    return [document[index].get_textpage().get_text_range() for index in range(len(document))]


def test_the_pdf_holds_the_figures_and_the_marker_for_hidden_ones() -> None:
    [text] = pages(render_partner_report(statistics(), KOELN, "en"))

    assert "Monthly report of Zoo Köln" in text
    assert "Family card of Köln" in text
    assert "Figures for July 2026." in text
    for figure in ("1,227", "1,490", "1,234", "1,500", "617", "750", "1,300"):
        assert figure in text, figure
    assert "Feeding tour" in text
    assert text.count("< 5") >= 3  # two cells and the note
    assert "hidden to protect the privacy of families" in text
    assert "Valid" in text
    assert "Revoked" in text


def test_the_pdf_is_in_the_readers_language() -> None:
    with i18n.use_locale("de"):
        figures = statistics()
    [text] = pages(render_partner_report(figures, KOELN, "de"))

    assert "1.227" in text
    assert "Einlösungen" in text
    assert "Juli 2026" in text


def test_the_same_figures_give_the_same_bytes() -> None:
    assert render_partner_report(statistics(), KOELN, "en") == render_partner_report(statistics(), KOELN, "en")


def test_a_name_with_markup_is_printed_as_it_is() -> None:
    [text] = pages(render_partner_report(statistics("Café <b>&</b> Co"), KOELN, "en"))
    assert "Café <b>&</b> Co" in text


def test_a_long_list_continues_on_further_pages() -> None:
    texts = pages(render_partner_report(statistics(benefits=80), KOELN, "en"))
    assert len(texts) >= 2
    every = "".join(texts)
    assert "Benefit 0" in every
    assert "Benefit 77" in every
    # The column heads are repeated on the next page.
    assert every.count("Benefit Redemptions Quantity") >= 2
    assert "No card checks" not in "".join(texts)


def test_a_month_without_checks_says_so() -> None:
    from dataclasses import replace

    [text] = pages(render_partner_report(replace(statistics(), verifications=[]), KOELN, "en"))
    assert "No card checks in this month." in text
