"""Small-number suppression: no figure shown to partners or in exports describes fewer than a threshold of cards.

The rule (privacy rule of the statistics): a figure that describes 1 to ``threshold - 1`` distinct cards is never
shown (primary suppression), and enough further figures are hidden that no hidden figure can be worked out from the
shown figures and totals by adding and subtracting (complementary suppression). What is hidden is shown as a
:class:`Suppressed` marker, rendered as ``"< 5"`` (with the threshold in it) by :func:`format_suppressed`; the
templates and exports translate it through gettext. The marker deliberately does not say whether a figure was hidden
because it is small or to protect a small one: telling the two apart would point at the small figure.

This is a pure library: the dashboards, exports and partner pages build a :class:`FigureList` (a list with its total,
e.g. redemptions per benefit) or a :class:`Table` (rows x columns with row, column and grand totals) from the rollups,
call :func:`suppress_list` or :func:`suppress_table`, and render the result. Every figure carries its value (e.g. 40
redemptions) and the number of distinct cards it describes (e.g. 3): the threshold applies to the cards, so those 40
redemptions are hidden.

Decisions
- Zero is shown. A figure describing no card at all (value 0, cards 0) is a true (structural) zero: it says that
  nothing happened, not something about a family, and statistical offices show such zeros. Zeros are chosen as
  complements only when every other way to protect a figure needs one: a hidden zero next to a hidden small figure
  lets a reader take the row total minus the shown cells as an upper bound that equals the small figure.
- Totals follow the same rule: a total describing fewer cards than the threshold is hidden. Totals are hidden as
  complements only when no path of non-zero cells can protect a figure, and the grand total last.
- Complements are chosen by cost, compared in this order: the fewest zeros, the fewest grand totals, the fewest other
  totals, the smallest sum of values (so the smallest other cells are hidden first).

How complementary suppression works
A table with its totals is a set of equations: every row's cells add up to the row total, every column's cells to the
column total, the row totals and the column totals each add up to the grand total. These equations form a bipartite
graph (one node per row plus one for the line of column totals, one node per column plus one for the column of row
totals; every cell and total is an edge). A hidden figure can be computed exactly from the shown ones if and only if
its edge is a bridge of the graph of hidden edges, i.e. lies on no cycle of hidden figures. So after primary
suppression, for every hidden figure that is a bridge, the cheapest path of further figures closing a cycle through
it is hidden too, until no hidden figure is a bridge. This is stronger than "no row or column with exactly one hidden
figure": it also covers figures that could be derived by combining several rows and columns. A list with its total is
the special case of a single equation: it needs zero or at least two hidden entries.

Limits (what this does not protect against)
- Linking several published tables: a figure hidden in one table may be derivable from another table, from the same
  table for an overlapping period (differencing, e.g. this month minus the first three weeks), or from an earlier
  version of the same table. The dashboards and exports should publish a small, consistent set of tables built from
  the same rollups (same periods, same categories) and suppress each of them completely.
- Bounds: shown figures and the knowledge that counts are not negative still bound a hidden figure (a hidden figure
  is never larger than its shown row total minus the shown cells). Only exact disclosure is prevented.
- Totals are treated as the sums of their cells. For figures that do not add up (e.g. distinct cards per benefit
  against distinct cards overall) subtraction gives no exact value anyway; the protection is then conservative.
- The distinct-card counts themselves must never be shown: they are the input of the rule, not a published figure.
- Knowledge from outside the statistics (a partner knows its own customers) is not taken into account: a partner
  who knows that it served exactly 3 families in a week learns nothing new from a hidden figure, but could learn
  about others from a shown total if it can subtract its own share. Partner views should therefore show only
  figures about the partner's own benefits, or totals over many partners.

The threshold is a parameter of every function (``DEFAULT_THRESHOLD`` = 5); the city setting that chooses it is wired
by the callers.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, TypeAlias

DEFAULT_THRESHOLD: Final = 5


@dataclass(frozen=True, slots=True)
class Figure:
    """One figure of a view or export: its value and the number of distinct cards it describes."""

    value: int
    cards: int

    def __post_init__(self) -> None:
        for name in ("value", "cards"):
            number = getattr(self, name)
            if isinstance(number, bool) or not isinstance(number, int):
                raise TypeError(f"Figure.{name} must be an int, got {number!r}")
            if number < 0:
                raise ValueError(f"Figure.{name} must not be negative, got {number}")
        if (self.value == 0) != (self.cards == 0):
            raise ValueError(
                f"Figure describes {self.cards} cards with value {self.value}: "
                "a figure is zero exactly when it describes no card"
            )


@dataclass(frozen=True, slots=True)
class Suppressed:
    """The marker shown instead of a hidden figure; rendered as ``"< threshold"`` by :func:`format_suppressed`."""

    threshold: int

    def __str__(self) -> str:
        return format_suppressed(self.threshold)


Shown: TypeAlias = int | Suppressed
"""What a view shows for one figure: the value, or the marker."""


def format_suppressed(threshold: int) -> str:
    """The marker's text, e.g. ``"< 5"``; the templates pass it through gettext."""
    return f"< {threshold}"


@dataclass(frozen=True, slots=True)
class FigureList:
    """A list of figures with its total, e.g. redemptions per benefit. The caller keeps the labels in the same order."""

    items: tuple[Figure, ...]
    total: Figure

    def __init__(self, items: Sequence[Figure], total: Figure) -> None:
        object.__setattr__(self, "items", tuple(items))
        object.__setattr__(self, "total", total)
        _check_figures("items", self.items)
        _check_figures("total", (self.total,))


@dataclass(frozen=True, slots=True)
class Table:
    """Rows x columns of figures with row totals, column totals and a grand total.

    ``cells[r][c]`` is the figure of row ``r`` and column ``c``; ``row_totals[r]`` and ``column_totals[c]`` are the
    totals of row ``r`` and column ``c``. The caller keeps the row and column labels in the same order.
    """

    cells: tuple[tuple[Figure, ...], ...]
    row_totals: tuple[Figure, ...]
    column_totals: tuple[Figure, ...]
    grand_total: Figure

    def __init__(
        self,
        cells: Sequence[Sequence[Figure]],
        row_totals: Sequence[Figure],
        column_totals: Sequence[Figure],
        grand_total: Figure,
    ) -> None:
        object.__setattr__(self, "cells", tuple(tuple(row) for row in cells))
        object.__setattr__(self, "row_totals", tuple(row_totals))
        object.__setattr__(self, "column_totals", tuple(column_totals))
        object.__setattr__(self, "grand_total", grand_total)
        width = len(self.column_totals)
        for index, row in enumerate(self.cells):
            if len(row) != width:
                raise ValueError(f"cells row {index} has {len(row)} entries, expected {width} (one per column total)")
            _check_figures(f"cells row {index}", row)
        if len(self.row_totals) != len(self.cells):
            raise ValueError(
                f"row_totals has {len(self.row_totals)} entries, expected {len(self.cells)} (one per row of cells)"
            )
        _check_figures("row_totals", self.row_totals)
        _check_figures("column_totals", self.column_totals)
        _check_figures("grand_total", (self.grand_total,))


@dataclass(frozen=True, slots=True)
class SuppressedList:
    """What a list view shows: each item and the total as a value or the marker."""

    items: tuple[Shown, ...]
    total: Shown
    threshold: int


@dataclass(frozen=True, slots=True)
class SuppressedTable:
    """What a table view shows: each cell and total as a value or the marker."""

    cells: tuple[tuple[Shown, ...], ...]
    row_totals: tuple[Shown, ...]
    column_totals: tuple[Shown, ...]
    grand_total: Shown
    threshold: int


def is_small(figure: Figure, threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Whether a figure describes 1 to ``threshold - 1`` distinct cards (primary suppression)."""
    return 0 < figure.cards < threshold


def suppress_list(figures: FigureList, threshold: int = DEFAULT_THRESHOLD) -> SuppressedList:
    """Hide the small figures of a list and enough others that none can be computed from the total."""
    _check_threshold(threshold)
    entries = [*figures.items, figures.total]
    # One equation (items - total = 0): every figure is an edge between the same two nodes.
    kinds = [_CELL] * len(figures.items) + [_GRAND]
    hidden = _suppress(entries, [(0, 1)] * len(entries), kinds, 2, threshold)
    shown = [_show(figure, index in hidden, threshold) for index, figure in enumerate(entries)]
    return SuppressedList(items=tuple(shown[:-1]), total=shown[-1], threshold=threshold)


def suppress_table(table: Table, threshold: int = DEFAULT_THRESHOLD) -> SuppressedTable:
    """Hide the small figures of a table and enough others that none can be computed from rows, columns and totals."""
    _check_threshold(threshold)
    rows, columns = len(table.row_totals), len(table.column_totals)
    # Nodes: rows 0..rows-1, the line of column totals (rows), columns rows+1..rows+columns, the column of row
    # totals (rows+columns+1). Every figure is an edge between the two equations it appears in.
    totals_line, totals_column = rows, rows + columns + 1
    entries: list[Figure] = []
    ends: list[tuple[int, int]] = []
    kinds: list[int] = []
    for r, row in enumerate(table.cells):
        for c, figure in enumerate(row):
            entries.append(figure)
            ends.append((r, rows + 1 + c))
            kinds.append(_CELL)
    for r, figure in enumerate(table.row_totals):
        entries.append(figure)
        ends.append((r, totals_column))
        kinds.append(_TOTAL)
    for c, figure in enumerate(table.column_totals):
        entries.append(figure)
        ends.append((totals_line, rows + 1 + c))
        kinds.append(_TOTAL)
    entries.append(table.grand_total)
    ends.append((totals_line, totals_column))
    kinds.append(_GRAND)

    hidden = _suppress(entries, ends, kinds, rows + columns + 2, threshold)
    shown = [_show(figure, index in hidden, threshold) for index, figure in enumerate(entries)]
    cells = tuple(tuple(shown[r * columns : (r + 1) * columns]) for r in range(rows))
    start = rows * columns
    return SuppressedTable(
        cells=cells,
        row_totals=tuple(shown[start : start + rows]),
        column_totals=tuple(shown[start + rows : start + rows + columns]),
        grand_total=shown[-1],
        threshold=threshold,
    )


# Kinds of figures, in the order they are avoided as complements.
_CELL, _TOTAL, _GRAND = 0, 1, 2

# A path cost: (zeros, grand totals, other totals, sum of values plus one per figure), compared in this order.
_Cost: TypeAlias = tuple[int, int, int, int]
_FREE: Final[_Cost] = (0, 0, 0, 0)


def _check_threshold(threshold: int) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, int):
        raise TypeError(f"threshold must be an int, got {threshold!r}")
    if threshold < 1:
        raise ValueError(f"threshold must be at least 1, got {threshold}")


def _check_figures(field: str, figures: Sequence[object]) -> None:
    for figure in figures:
        if not isinstance(figure, Figure):
            raise TypeError(f"{field} must hold Figure objects, got {figure!r}")


def _show(figure: Figure, hidden: bool, threshold: int) -> Shown:
    return Suppressed(threshold) if hidden else figure.value


def _cost(figure: Figure, kind: int) -> _Cost:
    return (int(figure.value == 0), int(kind == _GRAND), int(kind == _TOTAL), figure.value + 1)


def _suppress(
    entries: Sequence[Figure], ends: Sequence[tuple[int, int]], kinds: Sequence[int], nodes: int, threshold: int
) -> set[int]:
    """The indexes of the entries to hide: the small ones, then complements until no hidden entry is a bridge."""
    hidden = {index for index, figure in enumerate(entries) if is_small(figure, threshold)}
    while True:
        bridges = _bridges(nodes, [(index, *ends[index]) for index in sorted(hidden)])
        if not bridges:
            return hidden
        bridge = min(bridges)
        path = _cheapest_path(entries, ends, kinds, nodes, hidden, bridge)
        if path is None:
            # Nothing else lies between the two equations: the figure appears in no other equation with another
            # figure, so there is nothing to subtract it from (only possible for totals that are not sums).
            return hidden
        hidden.update(path)
        # A hidden entry on a cycle is never a bridge again, so every round removes at least one bridge for good.


def _cheapest_path(
    entries: Sequence[Figure],
    ends: Sequence[tuple[int, int]],
    kinds: Sequence[int],
    nodes: int,
    hidden: set[int],
    bridge: int,
) -> list[int] | None:
    """The entries not yet hidden on the cheapest path between the bridge's ends that avoids the bridge itself."""
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(nodes)]
    for index, (a, b) in enumerate(ends):
        if index != bridge:
            adjacency[a].append((b, index))
            adjacency[b].append((a, index))
    source, target = ends[bridge]
    best: dict[int, _Cost] = {source: _FREE}
    via: dict[int, tuple[int, int]] = {}
    queue: list[tuple[_Cost, int]] = [(_FREE, source)]
    while queue:
        cost, node = heapq.heappop(queue)
        if cost > best[node]:
            continue
        if node == target:
            break
        for neighbour, index in adjacency[node]:
            step = _FREE if index in hidden else _cost(entries[index], kinds[index])
            candidate = (cost[0] + step[0], cost[1] + step[1], cost[2] + step[2], cost[3] + step[3])
            if neighbour not in best or candidate < best[neighbour]:
                best[neighbour] = candidate
                via[neighbour] = (node, index)
                heapq.heappush(queue, (candidate, neighbour))
    if target not in best:
        return None
    path: list[int] = []
    node = target
    while node != source:
        node, index = via[node]
        if index not in hidden:
            path.append(index)
    return path


def _bridges(nodes: int, edges: Sequence[tuple[int, int, int]]) -> set[int]:
    """The ids of the edges ``(id, a, b)`` of a multigraph that lie on no cycle (iterative Tarjan)."""
    adjacency: list[list[tuple[int, int]]] = [[] for _ in range(nodes)]
    for edge, a, b in edges:
        adjacency[a].append((b, edge))
        adjacency[b].append((a, edge))
    order = [-1] * nodes
    low = [0] * nodes
    counter = 0
    found: set[int] = set()
    for root in range(nodes):
        if order[root] != -1 or not adjacency[root]:
            continue
        order[root] = low[root] = counter
        counter += 1
        # Frames: (node, the edge it was reached by, position in its adjacency list).
        stack: list[tuple[int, int, int]] = [(root, -1, 0)]
        while stack:
            node, parent_edge, position = stack[-1]
            if position < len(adjacency[node]):
                stack[-1] = (node, parent_edge, position + 1)
                neighbour, edge = adjacency[node][position]
                if edge == parent_edge:
                    continue
                if order[neighbour] == -1:
                    order[neighbour] = low[neighbour] = counter
                    counter += 1
                    stack.append((neighbour, edge, 0))
                else:
                    low[node] = min(low[node], order[neighbour])
                continue
            stack.pop()
            if stack:
                parent = stack[-1][0]
                low[parent] = min(low[parent], low[node])
                if low[node] > order[parent]:
                    found.add(parent_edge)
    return found
