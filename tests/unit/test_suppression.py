"""Small-number suppression: no shown figure describes 1 to threshold-1 cards, and no hidden one can be computed."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from familienkarte.statistics.suppression import (
    DEFAULT_THRESHOLD,
    Figure,
    FigureList,
    Shown,
    Suppressed,
    SuppressedList,
    SuppressedTable,
    Table,
    format_suppressed,
    is_small,
    suppress_list,
    suppress_table,
)

HIDDEN = Suppressed(DEFAULT_THRESHOLD)


def f(value: int, cards: int | None = None) -> Figure:
    """A figure; by default every counted thing belongs to a different card."""
    return Figure(value, value if cards is None else cards)


def additive_table(cells: Sequence[Sequence[Figure]], row_cards: Sequence[int] | None = None) -> Table:
    """A table whose totals are the sums of its cells; totals describe as many cards as their cells together."""
    rows = [sum(figure.value for figure in row) for row in cells]
    columns = [sum(row[c].value for row in cells) for c in range(len(cells[0]))]
    row_card_counts = row_cards or [sum(figure.cards for figure in row) for row in cells]
    return Table(
        cells,
        [Figure(value, cards) for value, cards in zip(rows, row_card_counts, strict=True)],
        [Figure(value, sum(row[c].cards for row in cells)) for c, value in enumerate(columns)],
        Figure(sum(rows), sum(row_card_counts)),
    )


# --- Examples: lists ---------------------------------------------------------------------------------------------


def test_a_small_item_in_a_list_hides_the_next_smallest_item_too() -> None:
    # Redemptions per benefit: 40 redemptions by 3 cards must not be shown, and 12 (the smallest other) goes with it,
    # or 40 = 170 - 12 - 18 - 100 could be computed from the total.
    shown = suppress_list(FigureList([f(40, 3), f(18), f(12), f(100, 50)], f(170, 70)))
    assert shown == SuppressedList(items=(HIDDEN, 18, HIDDEN, 100), total=170, threshold=DEFAULT_THRESHOLD)


def test_two_small_items_protect_each_other() -> None:
    shown = suppress_list(FigureList([f(4), f(30), f(2), f(50)], f(86)))
    assert shown.items == (HIDDEN, 30, HIDDEN, 50)
    assert shown.total == 86


def test_a_list_without_small_items_is_shown_whole() -> None:
    shown = suppress_list(FigureList([f(5), f(0), f(70, 12)], f(75, 17)))
    assert shown.items == (5, 0, 70)
    assert shown.total == 75


def test_zeros_are_shown_and_not_chosen_as_complements() -> None:
    # A true zero says that nothing happened; hiding it next to the small item would reveal the small item's value
    # as an upper bound, so the 30 is hidden instead.
    shown = suppress_list(FigureList([f(0), f(3), f(0), f(30), f(45)], f(78)))
    assert shown.items == (0, HIDDEN, 0, HIDDEN, 45)
    assert shown.total == 78


def test_a_total_describing_too_few_cards_is_hidden_with_its_items() -> None:
    # Nine redemptions by four cards in all: every non-zero item describes fewer than five cards as well.
    shown = suppress_list(FigureList([f(6, 3), f(0), f(3, 2)], f(9, 4)))
    assert shown.items == (HIDDEN, 0, HIDDEN)
    assert shown.total == HIDDEN


def test_a_small_item_whose_only_partner_is_the_total_hides_the_total() -> None:
    # Distinct cards are not additive: 3 cards used one benefit, 40 cards used either. The total is the only
    # complement left.
    shown = suppress_list(FigureList([f(3), f(0)], f(40)))
    assert shown.items == (HIDDEN, 0)
    assert shown.total == HIDDEN


def test_an_empty_list_shows_its_total() -> None:
    assert suppress_list(FigureList([], f(0))) == SuppressedList(items=(), total=0, threshold=DEFAULT_THRESHOLD)


# --- Examples: tables --------------------------------------------------------------------------------------------


def test_a_small_cell_in_a_3x3_table_hides_more_in_its_row_and_its_column() -> None:
    table = additive_table(
        [
            [f(40, 3), f(10), f(20)],
            [f(12), f(30), f(25)],
            [f(50), f(60), f(70)],
        ]
    )
    shown = suppress_table(table)
    # The cheapest rectangle through the small cell: 10 in its row, 12 in its column, 30 closing the cycle.
    assert shown.cells == (
        (HIDDEN, HIDDEN, 20),
        (HIDDEN, HIDDEN, 25),
        (50, 60, 70),
    )
    assert shown.row_totals == (70, 67, 180)
    assert shown.column_totals == (102, 100, 115)
    assert shown.grand_total == 317
    assert sum(isinstance(cell, Suppressed) for cell in shown.cells[0]) >= 2
    assert sum(isinstance(row[0], Suppressed) for row in shown.cells) >= 2


def test_a_row_total_describing_too_few_cards_is_hidden_and_protected_by_another_row_total() -> None:
    table = additive_table(
        [
            [f(2), f(0), f(1)],
            [f(30), f(40), f(50)],
            [f(60), f(70), f(80)],
        ]
    )
    shown = suppress_table(table)
    assert shown.row_totals[0] == HIDDEN
    assert shown.cells[0] == (HIDDEN, 0, HIDDEN)
    # Row totals add up to the grand total: a second row total is hidden (the smaller one), not the grand total.
    assert shown.row_totals[1:] == (HIDDEN, 210)
    assert shown.grand_total == 333
    assert_nothing_can_be_computed(table, shown)


def test_a_grand_total_describing_too_few_cards_hides_the_whole_table_except_zeros() -> None:
    table = additive_table([[f(1), f(0)], [f(0), f(2)]])
    shown = suppress_table(table)
    assert shown.cells == ((HIDDEN, 0), (0, HIDDEN))
    assert shown.row_totals == (HIDDEN, HIDDEN)
    assert shown.column_totals == (HIDDEN, HIDDEN)
    assert shown.grand_total == HIDDEN


def test_a_table_of_zeros_is_shown() -> None:
    table = additive_table([[f(0), f(0)], [f(0), f(0)]])
    shown = suppress_table(table)
    assert shown.cells == ((0, 0), (0, 0))
    assert (shown.row_totals, shown.column_totals, shown.grand_total) == ((0, 0), (0, 0), 0)


def test_a_figure_derivable_only_by_combining_rows_and_columns_is_protected() -> None:
    # Two 2x2 blocks of small cells joined by one small cell at (1, 2): every row and column holds zero or at least
    # two hidden cells, yet the joining cell equals (row 0 + row 1 totals) - (column 0 + column 1 totals) minus the
    # shown cells of those rows and columns. Counting hidden cells per line is not enough; the cycle rule is.
    small = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3), (1, 2)}
    cells = [[f(3) if (r, c) in small else f(20 + 5 * r + c) for c in range(5)] for r in range(5)]
    table = additive_table(cells)
    only_small = set_hidden(table, {("cell", r, c) for r, c in small})
    assert ("cell", 1, 2) in computable(table, only_small)
    shown = suppress_table(table)
    hidden = {("cell", r, c) for r, row in enumerate(shown.cells) for c, cell in enumerate(row) if cell == HIDDEN}
    assert hidden > {("cell", r, c) for r, c in small}
    assert_nothing_can_be_computed(table, shown)


def test_a_one_column_table_hides_the_row_totals_with_the_cells() -> None:
    table = additive_table([[f(3)], [f(30)], [f(40)]])
    shown = suppress_table(table)
    assert shown.cells == ((HIDDEN,), (HIDDEN,), (40,))
    assert shown.row_totals == (HIDDEN, HIDDEN, 40)
    assert shown.column_totals == (73,)
    assert_nothing_can_be_computed(table, shown)


# --- Threshold, marker, bad input -------------------------------------------------------------------------------


def test_the_threshold_is_a_parameter() -> None:
    figures = FigureList([f(7), f(9), f(30)], f(46))
    assert suppress_list(figures).items == (7, 9, 30)
    assert suppress_list(figures, threshold=10).items == (Suppressed(10), Suppressed(10), 30)
    assert suppress_list(FigureList([f(1), f(2)], f(3)), threshold=1).items == (1, 2)
    assert is_small(f(4))
    assert not is_small(f(5))
    assert not is_small(f(0))


def test_the_marker_renders_the_threshold() -> None:
    assert format_suppressed(5) == "< 5"
    assert format_suppressed(10) == "< 10"
    assert str(Suppressed(7)) == "< 7"
    shown = suppress_list(FigureList([f(3), f(40)], f(43)), threshold=8)
    assert [str(item) for item in shown.items] == ["< 8", "< 8"]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Figure(-1, 0), "Figure.value must not be negative"),
        (lambda: Figure(3, -1), "Figure.cards must not be negative"),
        (lambda: Figure(5, 0), "a figure is zero exactly when it describes no card"),
        (lambda: Figure(0, 2), "a figure is zero exactly when it describes no card"),
        (lambda: Table([[f(1), f(2)], [f(3)]], [f(3), f(3)], [f(4), f(2)], f(6)), "cells row 1 has 1 entries"),
        (lambda: Table([[f(1)]], [f(1), f(1)], [f(1)], f(1)), "row_totals has 2 entries, expected 1"),
        (lambda: suppress_list(FigureList([f(1)], f(1)), threshold=0), "threshold must be at least 1"),
    ],
)
def test_bad_input_is_refused_naming_the_field(build: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Figure(True, 1), "Figure.value must be an int"),
        (lambda: Figure(2, 1.5), "Figure.cards must be an int"),  # type: ignore[arg-type]
        (lambda: FigureList([3], f(3)), "items must hold Figure objects"),  # type: ignore[list-item]
        (lambda: Table([[f(1)]], [f(1)], [f(1)], 1), "grand_total must hold Figure objects"),  # type: ignore[arg-type]
        (lambda: suppress_table(additive_table([[f(1)]]), threshold="5"), "threshold must be an int"),  # type: ignore[arg-type]
    ],
)
def test_input_of_the_wrong_type_is_refused(build: Callable[[], object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        build()


# --- Properties --------------------------------------------------------------------------------------------------

Entry = tuple[str, int, int]  # ("cell", row, column), ("row", row, 0), ("column", 0, column), ("grand", 0, 0)


def entries(table: Table) -> Iterator[tuple[Entry, Figure]]:
    for r, row in enumerate(table.cells):
        for c, figure in enumerate(row):
            yield ("cell", r, c), figure
    for r, figure in enumerate(table.row_totals):
        yield ("row", r, 0), figure
    for c, figure in enumerate(table.column_totals):
        yield ("column", 0, c), figure
    yield ("grand", 0, 0), table.grand_total


def shown_entries(shown: SuppressedTable) -> dict[Entry, Shown]:
    result: dict[Entry, Shown] = {}
    for r, row in enumerate(shown.cells):
        for c, cell in enumerate(row):
            result["cell", r, c] = cell
    for r, total in enumerate(shown.row_totals):
        result["row", r, 0] = total
    for c, total in enumerate(shown.column_totals):
        result["column", 0, c] = total
    result["grand", 0, 0] = shown.grand_total
    return result


def set_hidden(table: Table, hidden: set[Entry]) -> SuppressedTable:
    """The table shown with exactly the given entries hidden (to check the oracle itself)."""
    marker = Suppressed(DEFAULT_THRESHOLD)
    pick = {key: (marker if key in hidden else figure.value) for key, figure in entries(table)}
    rows, columns = len(table.row_totals), len(table.column_totals)
    return SuppressedTable(
        cells=tuple(tuple(pick["cell", r, c] for c in range(columns)) for r in range(rows)),
        row_totals=tuple(pick["row", r, 0] for r in range(rows)),
        column_totals=tuple(pick["column", 0, c] for c in range(columns)),
        grand_total=pick["grand", 0, 0],
        threshold=DEFAULT_THRESHOLD,
    )


def table_lines(rows: int, columns: int) -> list[tuple[list[Entry], Entry]]:
    """Every equation of a table as (the entries that add up, their total)."""
    lines: list[tuple[list[Entry], Entry]] = []
    for r in range(rows):
        lines.append(([("cell", r, c) for c in range(columns)], ("row", r, 0)))
    for c in range(columns):
        lines.append(([("cell", r, c) for r in range(rows)], ("column", 0, c)))
    lines.append(([("row", r, 0) for r in range(rows)], ("grand", 0, 0)))
    lines.append(([("column", 0, c) for c in range(columns)], ("grand", 0, 0)))
    return lines


def rank(matrix: list[list[Fraction]]) -> int:
    rows = [row[:] for row in matrix]
    found = 0
    width = len(rows[0]) if rows else 0
    for column in range(width):
        pivot = next((i for i in range(found, len(rows)) if rows[i][column] != 0), None)
        if pivot is None:
            continue
        rows[found], rows[pivot] = rows[pivot], rows[found]
        for i in range(len(rows)):
            if i != found and rows[i][column] != 0:
                factor = rows[i][column] / rows[found][column]
                rows[i] = [a - factor * b for a, b in zip(rows[i], rows[found], strict=True)]
        found += 1
    return found


def computable(table: Table, shown: SuppressedTable) -> set[Entry]:
    """Hidden entries whose value follows exactly from the shown ones by adding and subtracting rows and columns.

    Written from the equations directly (linear algebra over the rationals), independent of the graph the module uses:
    a hidden entry is computable iff its unit vector lies in the row space of the equations restricted to the hidden
    entries.
    """
    visible = shown_entries(shown)
    unknown = sorted(key for key, value in visible.items() if isinstance(value, Suppressed))
    if not unknown:
        return set()
    position = {key: index for index, key in enumerate(unknown)}
    equations: list[list[Fraction]] = []
    for parts, total in table_lines(len(table.row_totals), len(table.column_totals)):
        row = [Fraction(0)] * len(unknown)
        for key in parts:
            if key in position:
                row[position[key]] += 1
        if total in position:
            row[position[total]] -= 1
        if any(row):
            equations.append(row)
    base = rank(equations)
    result: set[Entry] = set()
    for key, index in position.items():
        unit = [Fraction(int(i == index)) for i in range(len(unknown))]
        if rank([*equations, unit]) == base:
            result.add(key)
    return result


def assert_nothing_can_be_computed(table: Table, shown: SuppressedTable) -> None:
    assert computable(table, shown) == set()


@st.composite
def figures_of(draw: st.DrawFn, max_cards: int = 14) -> Figure:
    cards = draw(st.one_of(st.just(0), st.integers(1, 4), st.integers(5, max_cards)))
    return Figure(0, 0) if cards == 0 else Figure(cards + draw(st.integers(0, 30)), cards)


def total_of(draw: st.DrawFn, parts: Sequence[Figure]) -> Figure:
    """An additive total: its value is the sum, its cards between the most of one part and all parts together."""
    value = sum(part.value for part in parts)
    if value == 0:
        return Figure(0, 0)
    cards = draw(st.integers(max(part.cards for part in parts), sum(part.cards for part in parts)))
    return Figure(value, cards)


@st.composite
def tables(draw: st.DrawFn) -> Table:
    rows, columns = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    cells = [[draw(figures_of()) for _ in range(columns)] for _ in range(rows)]
    row_totals = [total_of(draw, row) for row in cells]
    column_totals = [total_of(draw, [row[c] for row in cells]) for c in range(columns)]
    value = sum(total.value for total in row_totals)
    if value == 0:
        grand = Figure(0, 0)
    else:
        most = max(total.cards for total in [*row_totals, *column_totals])
        grand = Figure(value, draw(st.integers(most, max(most, sum(fig.cards for row in cells for fig in row)))))
    return Table(cells, row_totals, column_totals, grand)


@st.composite
def figure_lists(draw: st.DrawFn) -> FigureList:
    items = draw(st.lists(figures_of(), max_size=8))
    if draw(st.booleans()) or not items:
        return FigureList(items, total_of(draw, items) if items else Figure(0, 0))
    # Totals that are not sums (distinct cards overall against distinct cards per item).
    return FigureList(items, draw(figures_of(max_cards=40)))


thresholds = st.one_of(st.just(DEFAULT_THRESHOLD), st.integers(1, 9))
properties = settings(max_examples=300, deadline=None)


@properties
@given(tables(), thresholds)
def test_no_shown_table_figure_describes_too_few_cards(table: Table, threshold: int) -> None:
    visible = shown_entries(suppress_table(table, threshold))
    for key, figure in entries(table):
        if 0 < figure.cards < threshold:
            assert visible[key] == Suppressed(threshold), key


@properties
@given(tables(), thresholds)
def test_shown_table_values_are_the_input_values(table: Table, threshold: int) -> None:
    visible = shown_entries(suppress_table(table, threshold))
    for key, figure in entries(table):
        assert visible[key] in (figure.value, Suppressed(threshold)), key


@properties
@given(tables(), thresholds)
def test_every_line_with_a_shown_total_has_no_or_at_least_two_hidden_figures(table: Table, threshold: int) -> None:
    visible = shown_entries(suppress_table(table, threshold))
    for parts, total in table_lines(len(table.row_totals), len(table.column_totals)):
        if visible[total] != Suppressed(threshold):
            hidden = sum(visible[key] == Suppressed(threshold) for key in parts)
            assert hidden != 1, (parts, total)


@properties
@given(tables(), thresholds)
def test_no_hidden_table_figure_can_be_computed_from_the_shown_ones(table: Table, threshold: int) -> None:
    assert_nothing_can_be_computed(table, suppress_table(table, threshold))


@properties
@given(tables(), thresholds)
def test_a_table_without_small_figures_is_shown_whole(table: Table, threshold: int) -> None:
    if any(is_small(figure, threshold) for _, figure in entries(table)):
        return
    visible = shown_entries(suppress_table(table, threshold))
    assert visible == {key: figure.value for key, figure in entries(table)}


@properties
@given(figure_lists(), thresholds)
def test_list_suppression_rules(figures: FigureList, threshold: int) -> None:
    shown = suppress_list(figures, threshold)
    marker = Suppressed(threshold)
    pairs = [*zip(figures.items, shown.items, strict=True), (figures.total, shown.total)]
    for figure, visible in pairs:
        # Small figures are hidden; the others show their own value or the marker.
        assert visible == marker if 0 < figure.cards < threshold else visible in (figure.value, marker)
    hidden = sum(visible == marker for _, visible in pairs)
    # One equation (items add up to the total): a single hidden entry would follow from it.
    assert hidden != 1
    if not any(is_small(figure, threshold) for figure, _ in pairs):
        assert hidden == 0
