"""The coarse rollups: the day tables added up per area, and running totals per week for the top lists.

Both are built from the day tables (``StatsRedemptions``, ``StatsVerifications``), never from the raw facts, in
the transaction that rebuilds the days, and never incremented:

- The area tables (``StatsRedemptionsArea``, ``StatsVerificationsArea``): a day's rows per category (or reason)
  and district, rebuilt with the day, and the same per week (``StatsRedemptionsAreaWeeks``,
  ``StatsVerificationsAreaWeeks``), rebuilt from them with the day's week. The dashboard's totals, time series and
  breakdowns read a range's whole weeks from the week rows and its other days from the day rows (``area_rows``)
  when no partner is chosen (with a partner, the day table's rows of that partner are few).
- The week tables (``StatsBenefitWeeks``, ``StatsPartnerFraudWeeks``): per key (benefit, partner, category,
  district; or partner, district) the running total up to the end of every week, Monday to Sunday, from the key's
  first week with facts to the last week of the day table. The total of the whole weeks of a range is the
  difference of two rows per key. A day rebuilt changes the running totals of its week and of every later one.

How a day's rebuild keeps the week tables (``rebuild_weeks``): rewriting every later week of every key costs time
in proportion to the weeks after the day (seconds for a day months back), so only the rows that change are
touched. Per key, the week's total is counted afresh from the (rebuilt) day rows of the whole week and compared
with the total the week table holds for it (its row of the week less its row of the week before); the difference,
for the keys where there is one, is added to the key's rows of that week and of every later week (one ``UPDATE ...
FROM``), keys new in the week get their rows from the week up to their first stored one (one ``INSERT ...
SELECT``), and rows left at zero (a key whose only facts were removed) are deleted. Weeks after the last stored one
are built (and weeks after the day table's last week deleted) as before, from the last stored row per key. When
more than ``WEEKS_BY_DIFFERENCE`` weeks changed (a run of days rebuilt together), the rows from the first of them on
are written afresh instead: every later row changes anyway.

This adds a difference where the house rule is "rebuilt, not incremented". It stays safe because the difference
is itself rebuilt (the week's new total from the day rows against the stored one, not a count of events applied),
it lives in the same transaction as the day's rows, and the nightly reconciliation recounts the week tables of its
days from the day tables (``week_recount``; a wrong running total carries into every later week, the recent ones
included) and repairs a difference with ``rewrite_weeks``, which writes every row from a week on afresh.

The kept largest week totals (``StatsWeekTops``, ``rebuild_tops``): per week, list (benefits and partners by
redemptions, partners by flagged verifications) and scope (no filter, a category, a district), the ``TOPS_KEPT``
groups with the largest totals of the week, from the week tables' differences of two running totals, rewritten for
the weeks whose totals changed in the same transaction. The top lists read their candidates there first
(``_top_candidates``, a threshold algorithm over the range's weeks): a few hundred rows instead of the running
totals of every key. The exact figures of the candidates are then the difference of two running totals for the
whole weeks plus the edge days from the day table; an edge with fewer days of its week with facts outside the range
than inside is read as its whole week less those days (``exact_of``): the range up to today reads no day rows for
its last week.

A location without a district has ``NO_DISTRICT_KEY`` in these tables (a key column cannot be NULL).

The retention deletes raw facts of old days but keeps their day rows, so the coarse tables built from them stay
right, and their recounts (``*_recount``, for the reconciliation) read the day tables as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Final

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Date,
    FromClause,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit
from familienkarte.credentials.fk1 import Reason
from familienkarte.db import is_postgresql
from familienkarte.statistics.models import (
    ANY_SCOPE,
    NO_DISTRICT_KEY,
    StatsBenefitWeeks,
    StatsPartnerFraudWeeks,
    StatsRedemptions,
    StatsRedemptionsArea,
    StatsRedemptionsAreaWeeks,
    StatsVerifications,
    StatsVerificationsArea,
    StatsVerificationsAreaWeeks,
    StatsWeekTops,
)

WEEK: Final = dt.timedelta(days=7)
# Up to this many weeks changed, their differences are added to the stored running totals; more, and the rows
# from the first of them on are written afresh (``rebuild_weeks``).
WEEKS_BY_DIFFERENCE: Final = 2
# Running totals written for more weeks than this in one statement (a first build's weeks after all its days, a
# repair from weeks back) are followed by ANALYZE of their table before the kept top lists are counted from them:
# planned on the table's statistics from before (empty, in a first build), that count took over ten minutes
# instead of about one (measured at 10 million redemptions).
ANALYZE_AFTER_WEEKS: Final = 12


def monday(day: dt.date) -> dt.date:
    """The Monday of ``day``'s week."""
    return day - dt.timedelta(days=day.weekday())


def week_start(session: Session, day: Any) -> ColumnElement[Any]:
    """The Monday of ``day``'s week, as an SQL date."""
    if is_postgresql(session):
        return cast(func.date_trunc("week", day), Date)
    return type_coerce(func.date(day, "-6 days", "weekday 1"), Date)


def district_key(column: Any) -> ColumnElement[Any]:
    return func.coalesce(column, literal(NO_DISTRICT_KEY))


# --- the area tables ---


@dataclass(frozen=True)
class AreaTable:
    """A table of a day table's rows added up per day, ``by`` (category or reason) and district."""

    table: Any
    source: Any
    by: str
    measures: tuple[str, ...]
    # The same added up per week (``week``: its Monday).
    weeks: Any

    def recount(self, rows: FromClause) -> Select[Any]:
        """``rows`` (with the columns of the day table) added up as the area table keeps them."""
        district = district_key(rows.c.district)
        return select(
            rows.c.day,
            rows.c[self.by],
            district.label("district"),
            *(func.sum(rows.c[name]).label(name) for name in self.measures),
        ).group_by(rows.c.day, rows.c[self.by], district)


REDEMPTIONS_AREA: Final = AreaTable(
    StatsRedemptionsArea, StatsRedemptions, "category", ("redemptions", "quantity"), StatsRedemptionsAreaWeeks
)
VERIFICATIONS_AREA: Final = AreaTable(
    StatsVerificationsArea, StatsVerifications, "reason", ("verifications",), StatsVerificationsAreaWeeks
)
AREA_TABLES: Final = (REDEMPTIONS_AREA, VERIFICATIONS_AREA)


def _insert_area(session: Session, spec: AreaTable, rows: FromClause) -> None:
    query = spec.recount(rows)
    session.execute(insert(spec.table).from_select([column.name for column in query.selected_columns], query))


def _area_weeks_of(session: Session, spec: AreaTable, rows: FromClause) -> Select[Any]:
    """``rows`` (with the columns of the area table) added up per week, as the area weeks table keeps them."""
    week = week_start(session, rows.c.day)
    return select(
        week.label("week"),
        rows.c[spec.by],
        rows.c.district,
        *(func.sum(rows.c[name]).label(name) for name in spec.measures),
    ).group_by(week, rows.c[spec.by], rows.c.district)


def _rebuild_area_weeks(session: Session, spec: AreaTable, first: dt.date | None, last: dt.date | None) -> None:
    """The area weeks rows of the weeks ``first`` to ``last`` (Mondays; None: every week) again from the area
    table (its rows of those weeks written right before)."""
    weeks: Any = spec.weeks.__table__
    days: Any = spec.table.__table__
    removed, counted = [], []
    if first is not None:
        removed.append(weeks.c.week >= first)
        counted.append(days.c.day >= first)
    if last is not None:
        removed.append(weeks.c.week <= last)
        counted.append(days.c.day < last + WEEK)
    session.execute(delete(weeks).where(*removed))
    query = _area_weeks_of(session, spec, select(days).where(*counted).subquery("area_days"))
    session.execute(insert(weeks).from_select([column.name for column in query.selected_columns], query))


def rebuild_area_days(session: Session, first: dt.date, last: dt.date, *, weeks: bool = True) -> None:
    """The area rows of the days ``first`` to ``last`` again from their rows in the day tables (rebuilt right
    before), and (``weeks``) the area weeks rows of their weeks."""
    for spec in AREA_TABLES:
        session.execute(delete(spec.table).where(spec.table.day >= first, spec.table.day <= last))
        rows = select(spec.source).where(spec.source.day >= first, spec.source.day <= last)
        _insert_area(session, spec, rows.subquery())
        if weeks:
            _rebuild_area_weeks(session, spec, monday(first), monday(last))


def rebuild_area_weeks(session: Session, first: dt.date | None, last: dt.date | None) -> None:
    """The area weeks rows of the weeks of ``first`` to ``last`` (None: from the first, to the last week there is)
    again from the area tables (their rows of those days written before)."""
    for spec in AREA_TABLES:
        _rebuild_area_weeks(session, spec, _monday_of(first), _monday_of(last))


def _monday_of(day: dt.date | None) -> dt.date | None:
    return monday(day) if day is not None else None


def build_area_weeks(session: Session) -> None:
    """Every area weeks row from the area tables as they stand (a new table, filled for the days built before)."""
    rebuild_area_weeks(session, None, None)


def area_week_recount(session: Session, spec: AreaTable, week: dt.date) -> Select[Any]:
    """The area weeks rows of ``week`` counted afresh from the day table (the reconciliation's recount)."""
    days = select(spec.source).where(spec.source.day >= week, spec.source.day < week + WEEK).subquery("days")
    return _area_weeks_of(session, spec, spec.recount(days).subquery("area_days"))


def stored_area_week(spec: AreaTable, week: dt.date) -> Select[Any]:
    table = spec.weeks.__table__
    return select(table).where(table.c.week == week)


def area_rows(
    session: Session,
    spec: AreaTable,
    start: dt.date,
    end: dt.date,
    category: str | None,
    district: str | None,
    *,
    weeks: bool = True,
) -> FromClause:
    """Rows (day, ``by``, district, measures) that add up to the area figures of ``start`` to ``end`` in
    ``category`` and ``district`` (None: any): the area weeks rows of the range's whole weeks (``day``: the week's
    Monday) and the area rows of its other days; with ``weeks`` False, the area rows of every day."""
    days: Any = spec.table.__table__
    names = ("day", spec.by, "district", *spec.measures)

    def matching(table: Any) -> list[ColumnElement[bool]]:
        return _scope(table.c, category, district)

    parts = split(start, end) if weeks else None
    if parts is None:
        return (
            select(*(days.c[name] for name in names))
            .where(days.c.day >= start, days.c.day <= end, *matching(days))
            .subquery("area_rows")
        )
    table: Any = spec.weeks.__table__
    whole = [
        select(table.c.week.label("day"), *(table.c[name] for name in names[1:])).where(
            table.c.week > parts.inner[0], table.c.week <= parts.inner[1], *matching(table)
        )
    ]
    if parts.edges:
        whole.append(
            select(*(days.c[name] for name in names)).where(_on_days(days.c.day, parts.edges), *matching(days))
        )
    return union_all(*whole).subquery("area_rows")


# --- the week tables ---


@dataclass(frozen=True)
class WeekTable:
    """A table of running totals per week: its day table, its key and its measures (SQL over the day table)."""

    table: Any
    source: Any
    keys: tuple[str, ...]
    measures: tuple[str, ...]

    def key_columns(self) -> list[ColumnElement[Any]]:
        source = self.source.__table__.c
        return [
            district_key(source.district).label(name) if name == "district" else source[name].label(name)
            for name in self.keys
        ]

    def measure_columns(self) -> list[ColumnElement[Any]]:
        source = self.source.__table__.c
        if self.source is StatsRedemptions:
            return [source.redemptions, source.quantity]
        return [source.verifications] + [
            case((source.reason == reason, source.verifications), else_=0) for reason in FRAUD_MEASURES
        ]


FRAUD_MEASURES: Final = (Reason.STALE.value, Reason.REVOKED.value, Reason.BAD_SIGNATURE.value, Reason.BAD_PROOF.value)
# The running totals' and the dashboard's names of those measures, in the same order.
FRAUD_COLUMNS: Final = ("stale", "revoked", "bad_signature", "bad_proof")

BENEFIT_WEEKS: Final = WeekTable(
    StatsBenefitWeeks,
    StatsRedemptions,
    ("benefit_id", "partner_id", "category", "district"),
    ("cum_redemptions", "cum_quantity"),
)
PARTNER_WEEKS: Final = WeekTable(
    StatsPartnerFraudWeeks,
    StatsVerifications,
    ("partner_id", "district"),
    ("cum_verifications", "cum_stale", "cum_revoked", "cum_bad_signature", "cum_bad_proof"),
)
WEEK_TABLES: Final = (BENEFIT_WEEKS, PARTNER_WEEKS)


def _as_date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def last_day(session: Session, spec: WeekTable) -> dt.date | None:
    """The latest day of the week table's day table."""
    return _as_date(session.scalar(select(func.max(spec.source.day))))


def last_week(session: Session, spec: WeekTable) -> dt.date | None:
    """The latest week of the week table (the last week of its day table, when they agree)."""
    return _as_date(session.scalar(select(func.max(spec.table.week))))


def _date(session: Session, value: dt.date) -> ColumnElement[Any]:
    """A date as an SQL value (SQLite keeps dates as ISO text: a CAST to DATE would make it a number)."""
    if is_postgresql(session):
        return cast(literal(value, Date), Date)
    return literal(value, Date)


def _weeks_later(session: Session, week: Any, weeks: int) -> ColumnElement[Any]:
    """The Monday ``weeks`` weeks after ``week`` (before it, for a negative number)."""
    if is_postgresql(session):
        return cast(week + literal(7 * weeks), Date)
    return type_coerce(func.date(week, f"{7 * weeks:+d} days"), Date)


def _week_grid(session: Session, first: dt.date, last: dt.date) -> Any:
    """Every Monday from ``first`` to ``last`` (a recursive CTE)."""
    grid = select(_date(session, first).label("week")).cte("week_grid", recursive=True)
    return grid.union_all(select(_weeks_later(session, grid.c.week, 1)).where(grid.c.week < _date(session, last)))


def _rebuild_week_table(session: Session, spec: WeekTable, first_week: dt.date, *, tops: bool = True) -> None:
    table: Any = spec.table.__table__
    final_day = last_day(session, spec)
    final = monday(final_day) if final_day is not None else None
    stored = last_week(session, spec)
    start = first_week if stored is None else min(first_week, stored + WEEK)
    cut = start if final is None else min(start, final + WEEK)
    session.execute(delete(table).where(table.c.week >= cut))
    if tops:
        _delete_tops(session, spec, cut)
    if final is None or start > final:
        return
    source: Any = spec.source.__table__
    week = week_start(session, source.c.day)
    keys = spec.key_columns()
    sums = (
        select(
            week.label("week"),
            *keys,
            *(func.sum(value).label(name) for value, name in zip(spec.measure_columns(), spec.measures, strict=True)),
        )
        .where(source.c.day >= start)
        .group_by(week, *(key.element for key in keys))
        .subquery("sums")
    )
    base = (
        select(*(table.c[name] for name in spec.keys), *(table.c[name] for name in spec.measures))
        .where(table.c.week == start - WEEK)
        .subquery("base")
    )
    firsts = union_all(
        select(*(base.c[name] for name in spec.keys), _date(session, start).label("first")),
        select(*(sums.c[name] for name in spec.keys), sums.c.week.label("first")),
    ).subquery("firsts")
    key_rows = (
        select(*(firsts.c[name] for name in spec.keys), func.min(firsts.c.first).label("first"))
        .group_by(*(firsts.c[name] for name in spec.keys))
        .subquery("key_rows")
    )
    grid = _week_grid(session, start, final)

    def same_key(other: Any) -> ColumnElement[bool]:
        return and_(*(other.c[name] == key_rows.c[name] for name in spec.keys))

    partition = [key_rows.c[name] for name in spec.keys]
    running = [
        (
            func.coalesce(base.c[name], 0)
            + func.sum(func.coalesce(sums.c[name], 0)).over(partition_by=partition, order_by=grid.c.week)
        ).label(name)
        for name in spec.measures
    ]
    query = (
        select(grid.c.week, *partition, *running)
        .select_from(key_rows)
        .join(grid, grid.c.week >= key_rows.c.first)
        .outerjoin(sums, and_(same_key(sums), sums.c.week == grid.c.week))
        .outerjoin(base, same_key(base))
    )
    session.execute(insert(table).from_select(["week", *spec.keys, *spec.measures], query))
    if is_postgresql(session) and (final - start) > ANALYZE_AFTER_WEEKS * WEEK:
        session.execute(text(f"ANALYZE {table.name}"))
    if tops:
        rebuild_tops(session, spec, start, final)


def rewrite_weeks(session: Session, first_day: dt.date) -> None:
    """Every running total of ``first_day``'s week and of every later one written afresh from the day tables (the
    repair of the reconciliation: it does not trust the stored rows of those weeks), and the area weeks rows of
    those weeks."""
    for spec in WEEK_TABLES:
        _rebuild_week_table(session, spec, monday(first_day))
    rebuild_area_weeks(session, first_day, None)


def _same_key(spec: WeekTable, one: Any, other: Any) -> ColumnElement[bool]:
    return and_(*(one.c[name] == other.c[name] for name in spec.keys))


def _week_difference(session: Session, spec: WeekTable, week: dt.date) -> Any:
    """Per key whose total of ``week`` in the day table differs from the one the week table holds: the difference
    of each measure (the day table's total less the stored one)."""
    source: Any = spec.source.__table__
    stored: Any = spec.table.__table__.alias("stored")
    counted = select(
        *spec.key_columns(),
        *(value.label(name) for value, name in zip(spec.measure_columns(), spec.measures, strict=True)),
    ).where(source.c.day >= week, source.c.day < week + WEEK)
    held = select(*(stored.c[name] for name in spec.keys), *(-stored.c[name] for name in spec.measures)).where(
        stored.c.week == week
    )
    # The week table is dense: a key with a row in the week before has one in the week.
    before = select(*(stored.c[name] for name in spec.keys), *(stored.c[name] for name in spec.measures)).where(
        stored.c.week == week - WEEK
    )
    parts = union_all(counted, held, before).subquery("parts")
    sums = [func.sum(parts.c[name]) for name in spec.measures]
    keys = [parts.c[name] for name in spec.keys]
    return (
        select(*keys, *(value.label(name) for value, name in zip(sums, spec.measures, strict=True)))
        .group_by(*keys)
        .having(or_(*(value != 0 for value in sums)))
        .subquery("difference")
    )


def _add_week_difference(session: Session, spec: WeekTable, week: dt.date, stored_last: dt.date) -> None:
    """Bring the running totals of ``week`` and of every later week (up to ``stored_last``) to the day table's
    total of ``week``, touching only the keys whose total changed."""
    table: Any = spec.table.__table__
    difference = _week_difference(session, spec, week)
    session.execute(
        update(table)
        .where(table.c.week >= week, _same_key(spec, table, difference))
        .values({name: table.c[name] + difference.c[name] for name in spec.measures})
    )
    # Keys without a row in the week (none before it either): rows from the week to the key's first stored one.
    grid = _week_grid(session, week, stored_last)
    stored: Any = table.alias("stored")
    fresh = _week_difference(session, spec, week)
    new_key = ~exists().where(stored.c.week == week, _same_key(spec, stored, fresh))
    missing = ~exists().where(stored.c.week == grid.c.week, _same_key(spec, stored, fresh))
    rows = (
        select(grid.c.week, *(fresh.c[name] for name in spec.keys), *(fresh.c[name] for name in spec.measures))
        .select_from(fresh)
        .join(grid, grid.c.week >= _date(session, week))
        .where(new_key, missing)
    )
    session.execute(insert(table).from_select(["week", *spec.keys, *spec.measures], rows))
    # A key whose facts up to a week were all removed has nothing to total there: no row, as a build from scratch.
    first = table.c[spec.measures[0]]
    emptied = select(func.count()).where(table.c.week == week, first == 0)
    if session.scalar(emptied):
        zero: Any = table.alias("zero")
        session.execute(
            delete(table).where(
                table.c.week >= week,
                first == 0,
                exists().where(zero.c.week == week, zero.c[spec.measures[0]] == 0, _same_key(spec, zero, table)),
            )
        )


def _update_week_table(session: Session, spec: WeekTable, weeks: Sequence[dt.date]) -> None:
    stored = last_week(session, spec)
    if stored is None:
        first = _as_date(session.scalar(select(func.min(spec.source.day))))
        if first is not None:
            _rebuild_week_table(session, spec, monday(first))
        return
    final_day = last_day(session, spec)
    if final_day is None:
        session.execute(delete(spec.table))
        _delete_tops(session, spec)
        return
    final = monday(final_day)
    # Weeks after the stored ones are built below; weeks after the day table's last one are deleted there.
    changed = [week for week in weeks if week <= min(stored, final)]
    if len(changed) > WEEKS_BY_DIFFERENCE:
        # Many weeks (a run of days, a backfill): every later row changes anyway, one rewrite is cheaper.
        _rebuild_week_table(session, spec, changed[0])
        return
    for week in changed:
        _add_week_difference(session, spec, week, stored)
        # Only the week's own totals changed (every later running total by the same difference).
        rebuild_tops(session, spec, week, week)
    # The weeks after the last stored one (from its rows), or none after the day table's last week.
    _rebuild_week_table(session, spec, stored + WEEK)


def rebuild_weeks(session: Session, days: Iterable[dt.date]) -> None:
    """The running totals after the day rows of ``days`` were rebuilt (in this transaction): the weeks of those
    days and every later week, only for the keys whose totals changed (see the module's docstring)."""
    weeks = sorted({monday(day) for day in days})
    if not weeks:
        return
    for spec in WEEK_TABLES:
        _update_week_table(session, spec, weeks)


def week_recount(session: Session, spec: WeekTable, week: dt.date) -> Select[Any]:
    """The rows of ``week`` counted afresh from the day table: each key's totals up to the week's Sunday (no rows
    for a week after the day table's last week)."""
    source = spec.source.__table__
    keys = spec.key_columns()
    final_day = last_day(session, spec)
    query = (
        select(
            _date(session, week).label("week"),
            *keys,
            *(func.sum(value).label(name) for value, name in zip(spec.measure_columns(), spec.measures, strict=True)),
        )
        .where(source.c.day < week + WEEK)
        .group_by(*(key.element for key in keys))
    )
    if final_day is None or week > monday(final_day):
        return query.where(literal(False))
    return query


def stored_week(spec: WeekTable, week: dt.date) -> Select[Any]:
    table = spec.table.__table__
    return select(table).where(table.c.week == week)


def rebuild_all(session: Session, days: Sequence[dt.date] = (), *, newer: bool = True) -> None:
    """Every coarse row again from the day tables (``days``: only those days' area rows and the weeks from the
    first of them; ``newer`` False: only the tables of revision 0014, for a schema without the later ones)."""
    if days:
        for day in sorted(set(days)):
            rebuild_area_days(session, day, day)
        rebuild_weeks(session, days)
        return
    for area in AREA_TABLES:
        session.execute(delete(area.table))
        _insert_area(session, area, area.source.__table__)
        if newer:
            _rebuild_area_weeks(session, area, None, None)
    for spec in WEEK_TABLES:
        session.execute(delete(spec.table))
        if newer:
            _delete_tops(session, spec)
        first = _as_date(session.scalar(select(func.min(spec.source.day))))
        if first is not None:
            _rebuild_week_table(session, spec, monday(first), tops=newer)


# --- the largest week totals ---

# Groups kept per week, list and scope in ``StatsWeekTops``. The dashboard's lists (10 and 20 long) find their
# candidates there when the kept groups of the range's weeks settle them (``_top_candidates``), else they scan the
# week tables' bounds.
TOPS_KEPT: Final = 50


@dataclass(frozen=True)
class Board:
    """A list of ``StatsWeekTops``: its week table, the key column it ranks (``group``), and the scopes it is kept
    for (each the key columns a list is narrowed by; () for none)."""

    name: str
    spec: WeekTable
    group: str
    scopes: tuple[tuple[str, ...], ...]

    def scope_of(self, category: str | None, district: str | None) -> tuple[str, ...] | None:
        """The scope of a list narrowed to ``category`` and ``district`` (None: either); None if not kept."""
        scope = tuple(name for name, value in (("category", category), ("district", district)) if value is not None)
        return scope if scope in self.scopes else None


# Lists narrowed to a category and a district at once are not kept: their keys are few, the bounds of each are
# read instead (and the ranking of so many small lists cost a day's rebuild more than the others together).
BENEFITS_BOARD: Final = Board("benefits", BENEFIT_WEEKS, "benefit_id", ((), ("category",), ("district",)))
PARTNERS_BOARD: Final = Board("partners", BENEFIT_WEEKS, "partner_id", ((), ("category",), ("district",)))
FRAUD_BOARD: Final = Board("fraud", PARTNER_WEEKS, "partner_id", ((), ("district",)))
BOARDS: Final = (BENEFITS_BOARD, PARTNERS_BOARD, FRAUD_BOARD)


def _boards_of(spec: WeekTable) -> list[Board]:
    return [board for board in BOARDS if board.spec is spec]


def _ranked_measure(spec: WeekTable, columns: Any) -> ColumnElement[Any]:
    """What the week table's lists rank, over its running totals: redemptions, or the flagged verifications."""
    if spec is PARTNER_WEEKS:
        flagged: ColumnElement[Any] = (
            columns.cum_stale + columns.cum_revoked + columns.cum_bad_signature + columns.cum_bad_proof
        )
        return flagged
    redemptions: ColumnElement[Any] = columns.cum_redemptions
    return redemptions


def _stored_week_totals(session: Session, spec: WeekTable, first: dt.date, last: dt.date) -> Any:
    """Per key and week from ``first`` to ``last``: the week's total of the ranked measure (the week's running
    total less the week before's)."""
    table: Any = spec.table.__table__
    now, before = table.alias("now"), table.alias("before")
    value = _ranked_measure(spec, now.c) - func.coalesce(_ranked_measure(spec, before.c), 0)
    return (
        select(now.c.week, *(now.c[name] for name in spec.keys), value.label("value"))
        .outerjoin(before, and_(before.c.week == _weeks_later(session, now.c.week, -1), _same_key(spec, before, now)))
        .where(now.c.week >= _date(session, first), now.c.week <= _date(session, last))
        # Read once per list and scope: a CTE, computed once.
        .cte("week_totals")
    )


def _counted_week_totals(session: Session, spec: WeekTable, week: dt.date) -> Any:
    """The same for one week, counted from the day table (the reconciliation's recount)."""
    source: Any = spec.source.__table__
    # The ranked measure over the day table's columns that add up to the running totals.
    measure = _ranked_measure(spec, SimpleNamespace(**dict(zip(spec.measures, spec.measure_columns(), strict=True))))
    keys = spec.key_columns()
    return (
        select(_date(session, week).label("week"), *keys, func.sum(measure).label("value"))
        .where(source.c.day >= week, source.c.day < week + WEEK)
        .group_by(*(key.element for key in keys))
        .cte("week_totals")
    )


def _tops_query(boards: Sequence[Board], totals: Any) -> CompoundSelect[Any]:
    """The rows of ``StatsWeekTops`` for ``boards`` from per key week totals: each scope's groups added up, the
    ``TOPS_KEPT`` largest (ties by id) of every week, list and scope.

    Each scope is ranked on its own, over its own key columns only: one ranking of all of them sorted every row by
    the list's name and the scope's texts as well, which took most of the time."""
    parts = []
    names = ("board", "week", "category", "district", "group_id", "value")
    for board in boards:
        group = totals.c[board.group]
        for scope in board.scopes:
            keys = [totals.c.week, *(totals.c[name] for name in scope)]
            # An integer, not PostgreSQL's numeric sum: the ranking sorts by it.
            value = cast(func.sum(totals.c.value), BigInteger)
            place = func.row_number().over(partition_by=keys, order_by=[value.desc(), group])
            ranked = (
                select(
                    literal(board.name).label("board"),
                    totals.c.week,
                    (totals.c.category if "category" in scope else literal(ANY_SCOPE)).label("category"),
                    (totals.c.district if "district" in scope else literal(ANY_SCOPE)).label("district"),
                    group.label("group_id"),
                    value.label("value"),
                    place.label("place"),
                )
                .group_by(*keys, group)
                .having(value > 0)
                .subquery()
            )
            parts.append(select(*(ranked.c[name] for name in names)).where(ranked.c.place <= TOPS_KEPT))
    return union_all(*parts)


def _delete_tops(session: Session, spec: WeekTable, first: dt.date | None = None, last: dt.date | None = None) -> None:
    table: Any = StatsWeekTops.__table__
    conditions = [table.c.board.in_([board.name for board in _boards_of(spec)])]
    if first is not None:
        conditions.append(table.c.week >= first)
    if last is not None:
        conditions.append(table.c.week <= last)
    session.execute(delete(table).where(*conditions))


def rebuild_tops(session: Session, spec: WeekTable, first: dt.date, last: dt.date) -> None:
    """The kept largest week totals of the week table's lists for the weeks ``first`` to ``last`` again from its
    running totals (written right before, in this transaction)."""
    _delete_tops(session, spec, first, last)
    query = _tops_query(_boards_of(spec), _stored_week_totals(session, spec, first, last))
    session.execute(insert(StatsWeekTops).from_select(list(query.selected_columns.keys()), query))


def build_tops(session: Session) -> None:
    """Every kept largest week total from the week tables as they stand (a new table, filled for the weeks built
    before it)."""
    for spec in WEEK_TABLES:
        table: Any = spec.table.__table__
        first, last = session.execute(select(func.min(table.c.week), func.max(table.c.week))).one()
        _delete_tops(session, spec)
        if first is not None:
            rebuild_tops(session, spec, _as_date(first) or first, _as_date(last) or last)


def tops_recount(session: Session, spec: WeekTable, week: dt.date) -> CompoundSelect[Any]:
    """The kept largest week totals of ``week`` counted afresh from the day table."""
    return _tops_query(_boards_of(spec), _counted_week_totals(session, spec, week))


def stored_tops(spec: WeekTable, week: dt.date) -> Select[Any]:
    table = StatsWeekTops.__table__
    return select(table).where(table.c.week == week, table.c.board.in_([board.name for board in _boards_of(spec)]))


# --- exact top lists by bounds ---

# Above this many candidates the day table's query is as good (a short or nearly empty range).
MAX_CANDIDATES: Final = 2000
DAY: Final = dt.timedelta(days=1)


@dataclass(frozen=True)
class Split:
    """A range [start, end] as whole weeks and edge days.

    ``inner``: the weeks (Mondays) whose running totals give the whole weeks inside the range (the week before the
    first, the last); ``outer``: the same for the weeks that cover the range; ``edges``: the days of the range
    outside its whole weeks, as inclusive ranges (at most 6 days each)."""

    inner: tuple[dt.date, dt.date]
    outer: tuple[dt.date, dt.date]
    edges: tuple[tuple[dt.date, dt.date], ...]


def split(start: dt.date, end: dt.date) -> Split | None:
    """``start`` to ``end`` split into whole weeks and edge days; None when no whole week lies inside."""
    first = start if start.weekday() == 0 else monday(start) + WEEK
    last = monday(end) if end.weekday() == 6 else monday(end) - WEEK
    if first > last:
        return None
    edges = []
    if start < first:
        edges.append((start, first - DAY))
    if end > last + WEEK - DAY:
        edges.append((last + WEEK, end))
    return Split((first - WEEK, last), (monday(start) - WEEK, monday(end)), tuple(edges))


@dataclass(frozen=True)
class Bounds:
    """The weeks of a ``Split`` clamped to the last week stored: a week table has no rows after it, and the running
    totals of later weeks are those of the last. ``stored``: that week; ``final``: the day table's last day."""

    inner: tuple[dt.date, dt.date]
    outer: tuple[dt.date, dt.date]
    edges: tuple[tuple[dt.date, dt.date], ...]
    stored: dt.date
    final: dt.date

    @property
    def weeks(self) -> set[dt.date]:
        return {*self.inner, *self.outer}


# A group's kept week total: (week, group, value).
Kept = tuple[dt.date, Any, int]

# The top lists' statements, built once per shape (which filters, how many edge ranges) with their values as bound
# parameters: building and keying a statement of this size took longer than PostgreSQL took to answer it.
_BUILT: dict[tuple[Any, ...], Any] = {}


def _built(key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
    found = _BUILT.get(key)
    if found is None:
        found = _BUILT[key] = build()
    return found


def _bounds_query(spec: WeekTable, board: Board | None) -> Select[Any]:
    """The last week stored and the day table's last day; with ``board``, joined to its kept week totals of the
    weeks ``:weeks`` in the scope ``:category``, ``:district`` (``ANY_SCOPE`` for either)."""
    stored_week = select(func.max(spec.table.week)).scalar_subquery()
    last_day = select(func.max(spec.source.day)).scalar_subquery()
    bounds_row = select(stored_week.label("stored"), last_day.label("final")).subquery("bounds")
    if board is None:
        return select(bounds_row.c.stored, bounds_row.c.final)
    # Core columns: plain rows, no ORM loading of a few hundred of them.
    tops: Any = StatsWeekTops.__table__
    on = and_(
        tops.c.board == board.name,
        tops.c.week.in_(bindparam("weeks", expanding=True)),
        tops.c.category == bindparam("category"),
        tops.c.district == bindparam("district"),
    )
    query = select(bounds_row.c.stored, bounds_row.c.final, tops.c.week, tops.c.group_id, tops.c.value)
    return query.select_from(bounds_row.outerjoin(tops, on))


def bounds_of(
    session: Session,
    spec: WeekTable,
    start: dt.date,
    end: dt.date,
    board: Board | None = None,
    scope: tuple[str | None, str | None] = (None, None),
) -> tuple[Bounds | None, list[Kept] | None]:
    """The range's ``Bounds`` (None without a whole week, or with nothing stored), and with a ``board`` whose
    lists are kept for ``scope`` (category, district) the kept week totals of the weeks that cover the range (else
    None): in one round trip."""
    parts = split(start, end)
    if parts is None:
        return None, None
    category, district = scope
    kept_here = board is not None and board.scope_of(category, district) is not None
    query = _built(
        ("bounds", spec.table, board.name if board is not None and kept_here else None),
        lambda: _bounds_query(spec, board if kept_here else None),
    )
    params = {
        "weeks": _weeks_between(parts.outer),
        "category": category or ANY_SCOPE,
        "district": district or ANY_SCOPE,
    }
    rows = session.execute(query, params if kept_here else {}).all()
    stored, final = _as_date(rows[0][0]), _as_date(rows[0][1])
    if stored is None or final is None:
        return None, None

    def clamp(pair: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
        return min(pair[0], stored), min(pair[1], stored)

    bounds = Bounds(clamp(parts.inner), clamp(parts.outer), parts.edges, stored, final)
    if not kept_here:
        return bounds, None
    covered = set(_weeks_between(bounds.outer))
    kept = [
        (week, row[3], int(row[4]))
        for row in rows
        if row[2] is not None and (week := _as_date(row[2]) or row[2]) in covered
    ]
    return bounds, kept


@dataclass(frozen=True)
class Exact:
    """How a range's exact figures are read: the difference of the running totals of ``pair``, plus the day rows
    of the days ``plus``, less those of the days ``minus`` (inclusive ranges)."""

    pair: tuple[dt.date, dt.date]
    plus: tuple[tuple[dt.date, dt.date], ...]
    minus: tuple[tuple[dt.date, dt.date], ...]


def _length(days: tuple[dt.date, dt.date]) -> int:
    return (days[1] - days[0]).days + 1


def exact_of(bounds: Bounds) -> Exact:
    """The whole weeks inside the range from the running totals; each edge from the day rows of its days, or, when
    fewer days of its week with facts lie outside the range than inside, as its whole week less those days. The
    range up to today is the common case: the days of its last week after today have no facts yet, and the edge
    is its week's running total alone."""
    low, high = bounds.inner
    plus: list[tuple[dt.date, dt.date]] = []
    minus: list[tuple[dt.date, dt.date]] = []
    for first, last in bounds.edges:
        week = monday(first)
        others = [(week, first - DAY), (last + DAY, week + WEEK - DAY)]
        with_facts = [(one, min(other, bounds.final)) for one, other in others if one <= min(other, bounds.final)]
        if sum(map(_length, with_facts)) >= _length((first, last)):
            plus.append((first, last))
            continue
        minus += with_facts
        if week <= low:
            low = week - WEEK
        else:
            high = week
    return Exact((min(low, bounds.stored), min(high, bounds.stored)), tuple(plus), tuple(minus))


def _difference(week: Any, value: Any, pair: tuple[Any, Any]) -> ColumnElement[Any]:
    """A row's share of the total between the running totals of ``pair`` (dates or bound parameters): its value at
    the later week less its value at the earlier one (no row: 0; the same week twice: 0)."""
    return case((week == pair[1], value), else_=0) - case((week == pair[0], value), else_=0)


def _candidates(
    session: Session,
    group: Any,
    week: Any,
    measure: Any,
    bounds: Bounds,
    conditions: Sequence[ColumnElement[bool]],
    limit: int,
) -> list[Any] | None:
    """The groups that can be among the ``limit`` largest by ``measure`` (only groups with more than 0 count):
    those whose upper bound reaches the ``limit``-th largest lower bound. None: too many to be worth it."""
    found = (
        select(
            group.label("id"),
            func.sum(_difference(week, measure, bounds.inner)).label("lower"),
            func.sum(_difference(week, measure, bounds.outer)).label("upper"),
        )
        .where(week.in_(sorted(bounds.weeks)), *conditions)
        .group_by(group)
        # Read twice below: a CTE, computed once.
        .cte("bounds")
    )
    threshold = (
        select(found.c.lower).order_by(found.c.lower.desc()).limit(1).offset(max(limit, 1) - 1).scalar_subquery()
    )
    query = (
        select(found.c.id)
        .where(found.c.upper > 0, found.c.upper >= func.coalesce(threshold, 0))
        .limit(MAX_CANDIDATES + 1)
    )
    ids = list(session.scalars(query))
    return None if len(ids) > MAX_CANDIDATES else ids


def _weeks_between(pair: tuple[dt.date, dt.date]) -> list[dt.date]:
    """The weeks whose totals make up the difference of the running totals of ``pair``: after the first, up to
    the second."""
    weeks, week = [], pair[0] + WEEK
    while week <= pair[1]:
        weeks.append(week)
        week += WEEK
    return weeks


def _top_candidates(bounds: Bounds, exact: Exact, kept: list[Kept] | None, limit: int) -> list[Any] | None:
    """The groups that can be among the ``limit`` largest, from the kept largest week totals of the range's
    weeks alone (a threshold algorithm); None when those do not settle it.

    A group not kept in a week's list has at most the list's smallest kept total there (nothing, when the list
    holds fewer than ``TOPS_KEPT``): a group kept in none has at most the sum of these over the weeks that cover
    the range. A kept group has at least its kept totals of the weeks counted whole in the range's figure
    (``exact``, see ``exact_of``: its whole weeks, and the week of an edge with no days with facts outside it). When the
    ``limit``-th largest of these lower bounds exceeds that sum, no group outside the lists can reach the top, and
    the candidates are the kept groups whose upper bound reaches it."""
    if kept is None:
        return None
    outer = _weeks_between(bounds.outer)
    inner = set(_weeks_between(exact.pair)) - {monday(first) for first, _last in exact.minus}
    if not outer:
        return []
    counts: dict[dt.date, int] = dict.fromkeys(outer, 0)
    smallest: dict[dt.date, int] = {}
    for week, _group, value in kept:
        counts[week] += 1
        smallest[week] = min(value, smallest.get(week, value))
    floors = {week: smallest[week] if count >= TOPS_KEPT else 0 for week, count in counts.items()}
    outside = sum(floors.values())
    # Per group: its kept totals of the weeks counted whole (lower bound); its kept totals less the floors of the
    # weeks it is kept in, so that the upper bound is that plus the floors of every week.
    lower: dict[Any, int] = {}
    above: dict[Any, int] = {}
    for week, group, value in kept:
        lower[group] = lower.get(group, 0) + (value if week in inner else 0)
        above[group] = above.get(group, 0) + value - floors[week]
    lowers = sorted(lower.values(), reverse=True)
    threshold = lowers[limit - 1] if len(lowers) >= max(limit, 1) else 0
    if outside > 0 and threshold <= outside:
        return None
    return [group for group, extra in above.items() if outside + extra >= threshold]


def _on_days(day: Any, ranges: Sequence[tuple[Any, Any]]) -> ColumnElement[bool]:
    return or_(*(and_(day >= first, day <= last) for first, last in ranges))


def _range_params(name: str, count: int) -> list[tuple[Any, Any]]:
    """``count`` ranges of days as bound parameters ``{name}{i}_first``, ``{name}{i}_last``."""
    return [(bindparam(f"{name}{i}_first"), bindparam(f"{name}{i}_last")) for i in range(count)]


def _exact_params(exact: Exact, ids: list[Any]) -> dict[str, Any]:
    """The values of the bound parameters of a statement built for ``exact``'s shape."""
    params: dict[str, Any] = {"low": exact.pair[0], "high": exact.pair[1], "ids": ids}
    for name, ranges in (("plus", exact.plus), ("minus", exact.minus)):
        for i, (first, last) in enumerate(ranges):
            params[f"{name}{i}_first"], params[f"{name}{i}_last"] = first, last
    return params


def _scope(table: Any, category: Any, district: Any) -> list[ColumnElement[bool]]:
    """The conditions of a category and a district (values or bound parameters; None: any) on a table."""
    conditions = [] if category is None else [table.category == category]
    return conditions if district is None else [*conditions, table.district == district]


def _bound_scope(table: Any, category: bool, district: bool) -> list[ColumnElement[bool]]:
    """The same with the bound parameters ``:category`` and ``:district``, for those that apply."""
    return _scope(table, bindparam("category") if category else None, bindparam("district") if district else None)


def redemption_rows(
    session: Session,
    start: dt.date,
    end: dt.date,
    category: str | None,
    district: str | None,
    by: str,
    limit: int,
) -> tuple[FromClause, dict[str, Any]] | None:
    """Rows (benefit_id, partner_id, redemptions, quantity) that add up, per benefit (``by`` "benefit_id") or per
    partner ("partner_id"), to the exact figures of the range for every group that can be among the ``limit``
    largest (and only for such), and the values of their bound parameters; None when a query of the day table is
    the better way."""
    weeks = StatsBenefitWeeks
    board = BENEFITS_BOARD if by == "benefit_id" else PARTNERS_BOARD
    bounds, kept = bounds_of(session, BENEFIT_WEEKS, start, end, board, (category, district))
    if bounds is None:
        return None
    exact = exact_of(bounds)
    ids = _top_candidates(bounds, exact, kept, limit)
    if ids is None:
        conditions = _scope(weeks, category, district)
        ids = _candidates(session, getattr(weeks, by), weeks.week, weeks.cum_redemptions, bounds, conditions, limit)
    if ids is None:
        return None
    shape = (by, category is not None, district is not None, len(exact.plus), len(exact.minus))
    rows = _built(("redemption_rows", *shape), lambda: _redemption_rows_query(*shape))
    return rows, {**_exact_params(exact, ids), "category": category, "district": district}


def _redemption_rows_query(by: str, category: bool, district: bool, plus: int, minus: int) -> FromClause:
    """``redemption_rows``'s statement for its shape: which filters apply, how many ranges of days are added and
    taken away."""
    weeks, days = StatsBenefitWeeks, StatsRedemptions
    ids: Any = bindparam("ids", expanding=True)
    pair: tuple[Any, Any] = (bindparam("low"), bindparam("high"))
    week_conditions = _bound_scope(weeks, category, district)
    if by == "partner_id":
        # The week table's key leads with the week and the benefit: the partners' rows are found by their
        # benefits (a benefit belongs to one partner for good), not by reading every row of the weeks.
        week_conditions.append(weeks.benefit_id.in_(select(Benefit.id).where(Benefit.partner_id.in_(ids))))
    parts = [
        select(
            weeks.benefit_id,
            weeks.partner_id,
            _difference(weeks.week, weeks.cum_redemptions, pair).label("redemptions"),
            _difference(weeks.week, weeks.cum_quantity, pair).label("quantity"),
        ).where(weeks.week.in_(pair), getattr(weeks, by).in_(ids), *week_conditions)
    ]
    for name, count, sign in (("plus", plus, 1), ("minus", minus, -1)):
        if count:
            parts.append(
                select(days.benefit_id, days.partner_id, sign * days.redemptions, sign * days.quantity).where(
                    getattr(days, by).in_(ids),
                    _on_days(days.day, _range_params(name, count)),
                    *_bound_scope(days, category, district),
                )
            )
    return union_all(*parts).subquery("counted_rows")


FRAUD_NAMES: Final = ("verifications", *FRAUD_COLUMNS)


def fraud_rows(
    session: Session, start: dt.date, end: dt.date, district: str | None, limit: int
) -> tuple[FromClause, dict[str, Any]] | None:
    """Rows (partner_id, verifications, stale, revoked, bad_signature, bad_proof) that add up per partner to the
    exact figures of the range for every partner that can be among the ``limit`` with the most flagged
    verifications, and the values of their bound parameters; None when a query of the day table is the better
    way."""
    weeks = StatsPartnerFraudWeeks
    bounds, kept = bounds_of(session, PARTNER_WEEKS, start, end, FRAUD_BOARD, (None, district))
    if bounds is None:
        return None
    exact = exact_of(bounds)
    ids = _top_candidates(bounds, exact, kept, limit)
    if ids is None:
        flagged = _ranked_measure(PARTNER_WEEKS, weeks)
        ids = _candidates(session, weeks.partner_id, weeks.week, flagged, bounds, _scope(weeks, None, district), limit)
    if ids is None:
        return None
    shape = (district is not None, len(exact.plus), len(exact.minus))
    rows = _built(("fraud_rows", *shape), lambda: _fraud_rows_query(*shape))
    return rows, {**_exact_params(exact, ids), "district": district}


def _fraud_rows_query(district: bool, plus: int, minus: int) -> FromClause:
    """``fraud_rows``'s statement for its shape, as ``_redemption_rows_query``."""
    weeks, days = StatsPartnerFraudWeeks, StatsVerifications
    ids: Any = bindparam("ids", expanding=True)
    pair: tuple[Any, Any] = (bindparam("low"), bindparam("high"))
    parts = [
        select(
            weeks.partner_id,
            *(_difference(weeks.week, getattr(weeks, f"cum_{name}"), pair).label(name) for name in FRAUD_NAMES),
        ).where(weeks.week.in_(pair), weeks.partner_id.in_(ids), *_bound_scope(weeks, False, district))
    ]
    for name, count, sign in (("plus", plus, 1), ("minus", minus, -1)):
        if count:
            parts.append(
                select(
                    days.partner_id,
                    sign * days.verifications,
                    *(sign * case((days.reason == reason, days.verifications), else_=0) for reason in FRAUD_MEASURES),
                ).where(
                    days.partner_id.in_(ids),
                    _on_days(days.day, _range_params(name, count)),
                    *_bound_scope(days, False, district),
                )
            )
    return union_all(*parts).subquery("counted_rows")


__all__ = [
    "AREA_TABLES",
    "BENEFIT_WEEKS",
    "BOARDS",
    "MAX_CANDIDATES",
    "PARTNER_WEEKS",
    "REDEMPTIONS_AREA",
    "TOPS_KEPT",
    "VERIFICATIONS_AREA",
    "WEEK_TABLES",
    "AreaTable",
    "WeekTable",
    "build_tops",
    "exact_of",
    "fraud_rows",
    "monday",
    "rebuild_all",
    "rebuild_area_days",
    "rebuild_tops",
    "rebuild_weeks",
    "redemption_rows",
    "rewrite_weeks",
    "split",
    "stored_area_week",
    "stored_tops",
    "stored_week",
    "tops_recount",
    "week_recount",
    "week_start",
]
