"""Export rules without a database: the formula neutraliser, the CSV and XLSX files, and the suppression of the
partner-and-benefit hierarchy and of lists (properties over random small tables)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from familienkarte import i18n
from familienkarte.spreadsheets import neutralise
from familienkarte.statistics.export_render import (
    CSV_BOM,
    Hidden,
    Share,
    Sheet,
    render_csv,
    render_xlsx,
    sheet_name,
)
from familienkarte.statistics.exports import (
    Counted,
    HierarchyCounted,
    PartnerCounted,
    suppress_counted,
    suppress_hierarchy,
)
from familienkarte.statistics.partner_view import CardGroup
from tests.unit.test_suppression import rank

# --- the neutraliser ---


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ("=1+1", "'=1+1"),
        ('=HYPERLINK("http://evil.example","Zoo")', '\'=HYPERLINK("http://evil.example","Zoo")'),
        ("+49 221 123", "'+49 221 123"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1:A2)", "'@SUM(A1:A2)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
    ],
)
def test_a_text_a_spreadsheet_would_run_gets_an_apostrophe(text: str, safe: str) -> None:
    assert neutralise(text) == safe


@pytest.mark.parametrize("text", ["Zoo Köln", "", "< 5", "1=1", "a-b", "'=quoted already", "Bad (Porz)"])
def test_other_texts_stay_as_they_are(text: str) -> None:
    assert neutralise(text) == text


SHEET = Sheet(
    title="Redemptions by partner",
    about=[("From", "2026-07-01"), ("Partner", "=cmd|' /C calc'!A0")],
    header=["Partner", "Redemptions", "Share"],
    rows=[
        ["-Minus GmbH", 12, Share(0.571)],
        ["@Zoo", Hidden("< 5"), None],
        ["Bad\x07 Porz", -3, Share(0.0)],
    ],
    notes=["Figures describing fewer than 5 families are hidden."],
)


def test_csv_states_title_filters_and_notes_then_header_and_rows() -> None:
    content = render_csv(SHEET)
    text = content.decode("utf-8")
    assert text.startswith(CSV_BOM)
    assert "\r\n" in text
    lines = list(csv.reader(io.StringIO(text.removeprefix(CSV_BOM))))
    assert lines == [
        ["Redemptions by partner"],
        ["From", "2026-07-01"],
        ["Partner", "'=cmd|' /C calc'!A0"],
        ["Figures describing fewer than 5 families are hidden."],
        [],
        ["Partner", "Redemptions", "Share"],
        ["'-Minus GmbH", "12", "0.5710"],
        ["'@Zoo", "< 5", ""],
        ["Bad\x07 Porz", "-3", "0.0000"],
    ]


def test_xlsx_keeps_numbers_as_numbers_and_every_text_as_inert_text() -> None:
    book = load_workbook(io.BytesIO(render_xlsx(SHEET)))
    sheet = book.active
    assert sheet is not None
    assert sheet.title == "Redemptions by partner"
    rows = list(sheet.iter_rows())
    values = [[cell.value for cell in row] for row in rows]
    assert values[0][0] == "Redemptions by partner"
    assert values[2][:2] == ["Partner", "'=cmd|' /C calc'!A0"]
    header = values.index(["Partner", "Redemptions", "Share"])
    assert values[header + 1 :] == [["'-Minus GmbH", 12, 0.571], ["'@Zoo", "< 5", None], ["Bad Porz", -3, 0.0]]
    # Numbers are number cells, the share formatted as a percentage; no cell is a formula.
    first = rows[header + 1]
    assert first[1].data_type == "n"
    assert first[2].number_format == "0.0%"
    assert all(cell.data_type != "f" for row in rows for cell in row)
    assert all(cell.font.bold for cell in rows[header])
    assert sheet.freeze_panes == f"A{header + 2}"


def test_a_sheet_name_drops_what_excel_forbids_and_is_at_most_31_characters() -> None:
    assert sheet_name("Redemptions by district of the partner's location") == "Redemptions by district of the "
    assert sheet_name("a/b[c]") == "a b c"
    assert sheet_name("   ") == "Export"


# --- suppression of the lists and of the hierarchy ---

MARK = Hidden("< 5")


def g(redemptions: int, cards: int | None = None) -> CardGroup:
    return CardGroup(redemptions, redemptions * 2, redemptions if cards is None else cards)


def test_a_list_shows_its_rows_by_size_and_hidden_ones_last_by_name() -> None:
    counted = Counted([("Bath", g(9, 6)), ("Zoo", g(3, 2)), ("Museum", g(20, 12)), ("Aquarium", g(8, 7))], g(40, 25))
    with i18n.use_locale("en"):
        rows, total = suppress_counted(counted, 5, keep_order=False)
    shown = [[cell.text if isinstance(cell, Hidden) else cell for cell in row] for row in rows]
    # The zoo (2 cards) is hidden with the smallest other row, the aquarium; both come last, by name.
    assert shown == [["Museum", 20, 40], ["Bath", 9, 18], ["Aquarium", "< 5", "< 5"], ["Zoo", "< 5", "< 5"]]
    assert total == ["Total", 40, 80]


def test_a_list_in_time_order_keeps_its_order() -> None:
    counted = Counted([("2026-07-01", g(3, 2)), ("2026-07-02", g(9, 6)), ("2026-07-03", g(0, 0))], g(12, 8))
    rows, _total = suppress_counted(counted, 5, keep_order=True)
    assert [row[0] for row in rows] == ["2026-07-01", "2026-07-02", "2026-07-03"]
    assert rows[2][1:] == [0, 0]


@st.composite
def hierarchies(draw: st.DrawFn) -> HierarchyCounted:
    """1 to 4 partners with 1 to 4 benefits each; cards per benefit 0 to 12, partners' and total's cards between the
    most of their parts and all of them (families use several benefits)."""
    partners = []
    for index in range(draw(st.integers(1, 4))):
        benefits = []
        for b in range(draw(st.integers(1, 4))):
            cards = draw(st.one_of(st.just(0), st.integers(1, 4), st.integers(5, 12)))
            benefits.append((f"B{index}.{b}", g(0, 0) if cards == 0 else g(cards + draw(st.integers(0, 9)), cards)))
        partners.append(PartnerCounted(f"P{index}", _sum(draw, [group for _title, group in benefits]), benefits))
    return HierarchyCounted(partners, _sum(draw, [partner.group for partner in partners]))


def _sum(draw: st.DrawFn, parts: Sequence[CardGroup]) -> CardGroup:
    value = sum(part.redemptions for part in parts)
    if value == 0:
        return g(0, 0)
    cards = draw(st.integers(max(part.cards for part in parts), sum(part.cards for part in parts)))
    return CardGroup(value, sum(part.quantity for part in parts), cards)


def _entries(counted: HierarchyCounted) -> tuple[list[CardGroup], list[tuple[list[int], int]], dict[object, int]]:
    """Every figure (index), every equation (parts, total), and where each key's figure is."""
    figures: list[CardGroup] = []
    equations: list[tuple[list[int], int]] = []
    where: dict[object, int] = {}
    partner_rows = []
    for p, partner in enumerate(counted.partners):
        where[p] = len(figures)
        partner_rows.append(len(figures))
        figures.append(partner.group)
        members = []
        for b, (_title, group) in enumerate(partner.benefits):
            where[p, b] = len(figures)
            members.append(len(figures))
            figures.append(group)
        equations.append((members, where[p]))
    where["total"] = len(figures)
    figures.append(counted.total)
    equations.append((partner_rows, where["total"]))
    return figures, equations, where


def derivable(hidden: set[int], equations: list[tuple[list[int], int]]) -> set[int]:
    unknown = sorted(hidden)
    if not unknown:
        return set()
    position = {row: index for index, row in enumerate(unknown)}
    matrix = []
    for parts, total in equations:
        line = [Fraction(0)] * len(unknown)
        for part in parts:
            if part in position:
                line[position[part]] += 1
        if total in position:
            line[position[total]] -= 1
        if any(line):
            matrix.append(line)
    base = rank(matrix) if matrix else 0
    return {
        row
        for row, index in position.items()
        if rank([*matrix, [Fraction(int(i == index)) for i in range(len(unknown))]]) == base
    }


@settings(max_examples=300, deadline=None)
@given(hierarchies(), st.integers(2, 8))
def test_no_hierarchy_figure_shown_describes_too_few_cards_and_no_hidden_one_can_be_worked_out(
    counted: HierarchyCounted, threshold: int
) -> None:
    decided = suppress_hierarchy(counted, threshold)
    figures, equations, where = _entries(counted)
    hidden = {where[p] for p in decided.partners} | {where[key] for key in decided.benefits}
    if decided.total:
        hidden.add(where["total"])
    for index, figure in enumerate(figures):
        if 0 < figure.cards < threshold:
            assert index in hidden, (index, figure)
    assert derivable(hidden, equations) == set()
    # The total is the same figure in every redemptions export: hidden exactly when it is small itself.
    assert decided.total == (0 < counted.total.cards < threshold)
