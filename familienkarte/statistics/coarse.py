"""The coarse rollups: the day tables added up per area, and running totals per week for the top lists.

Both are built from the day tables (``StatsRedemptions``, ``StatsVerifications``), never from the raw facts, in
the transaction that rebuilds the days, and never incremented:

- The area tables (``StatsRedemptionsArea``, ``StatsVerificationsArea``): a day's rows per category (or reason)
  and district, rebuilt with the day. The dashboard's totals, time series and breakdowns read them when no partner
  is chosen (with a partner, the day table's rows of that partner are few).
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

A location without a district has ``NO_DISTRICT_KEY`` in these tables (a key column cannot be NULL).

The retention deletes raw facts of old days but keeps their day rows, so the coarse tables built from them stay
right, and their recounts (``*_recount``, for the reconciliation) read the day tables as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import (
    ColumnElement,
    Date,
    FromClause,
    Select,
    and_,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from familienkarte.credentials.fk1 import Reason
from familienkarte.db import is_postgresql
from familienkarte.statistics.models import (
    NO_DISTRICT_KEY,
    StatsBenefitWeeks,
    StatsPartnerFraudWeeks,
    StatsRedemptions,
    StatsRedemptionsArea,
    StatsVerifications,
    StatsVerificationsArea,
)

WEEK: Final = dt.timedelta(days=7)
# Up to this many weeks changed, their differences are added to the stored running totals; more, and the rows
# from the first of them on are written afresh (``rebuild_weeks``).
WEEKS_BY_DIFFERENCE: Final = 2


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

    def recount(self, rows: FromClause) -> Select[Any]:
        """``rows`` (with the columns of the day table) added up as the area table keeps them."""
        district = district_key(rows.c.district)
        return select(
            rows.c.day,
            rows.c[self.by],
            district.label("district"),
            *(func.sum(rows.c[name]).label(name) for name in self.measures),
        ).group_by(rows.c.day, rows.c[self.by], district)


REDEMPTIONS_AREA: Final = AreaTable(StatsRedemptionsArea, StatsRedemptions, "category", ("redemptions", "quantity"))
VERIFICATIONS_AREA: Final = AreaTable(StatsVerificationsArea, StatsVerifications, "reason", ("verifications",))
AREA_TABLES: Final = (REDEMPTIONS_AREA, VERIFICATIONS_AREA)


def _insert_area(session: Session, spec: AreaTable, rows: FromClause) -> None:
    query = spec.recount(rows)
    session.execute(insert(spec.table).from_select([column.name for column in query.selected_columns], query))


def rebuild_area_days(session: Session, first: dt.date, last: dt.date) -> None:
    """The area rows of the days ``first`` to ``last`` again from their rows in the day tables (rebuilt right
    before)."""
    for spec in AREA_TABLES:
        session.execute(delete(spec.table).where(spec.table.day >= first, spec.table.day <= last))
        rows = select(spec.source).where(spec.source.day >= first, spec.source.day <= last)
        _insert_area(session, spec, rows.subquery())


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


def _next_week(session: Session, week: Any) -> ColumnElement[Any]:
    if is_postgresql(session):
        return cast(week + literal(7), Date)
    return type_coerce(func.date(week, "+7 days"), Date)


def _week_grid(session: Session, first: dt.date, last: dt.date) -> Any:
    """Every Monday from ``first`` to ``last`` (a recursive CTE)."""
    grid = select(_date(session, first).label("week")).cte("week_grid", recursive=True)
    return grid.union_all(select(_next_week(session, grid.c.week)).where(grid.c.week < _date(session, last)))


def _rebuild_week_table(session: Session, spec: WeekTable, first_week: dt.date) -> None:
    table: Any = spec.table.__table__
    final_day = last_day(session, spec)
    final = monday(final_day) if final_day is not None else None
    stored = last_week(session, spec)
    start = first_week if stored is None else min(first_week, stored + WEEK)
    cut = start if final is None else min(start, final + WEEK)
    session.execute(delete(table).where(table.c.week >= cut))
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


def rewrite_weeks(session: Session, first_day: dt.date) -> None:
    """Every running total of ``first_day``'s week and of every later one written afresh from the day tables (the
    repair of the reconciliation: it does not trust the stored rows of those weeks)."""
    for spec in WEEK_TABLES:
        _rebuild_week_table(session, spec, monday(first_day))


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


def rebuild_all(session: Session, days: Sequence[dt.date] = ()) -> None:
    """Every coarse row again from the day tables (``days``: only those days' area rows and the weeks from the
    first of them)."""
    if days:
        for day in sorted(set(days)):
            rebuild_area_days(session, day, day)
        rebuild_weeks(session, days)
        return
    for area in AREA_TABLES:
        session.execute(delete(area.table))
        _insert_area(session, area, area.source.__table__)
    for spec in WEEK_TABLES:
        session.execute(delete(spec.table))
        first = _as_date(session.scalar(select(func.min(spec.source.day))))
        if first is not None:
            _rebuild_week_table(session, spec, monday(first))


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
    totals of later weeks are those of the last."""

    inner: tuple[dt.date, dt.date]
    outer: tuple[dt.date, dt.date]
    edges: tuple[tuple[dt.date, dt.date], ...]

    @property
    def weeks(self) -> set[dt.date]:
        return {*self.inner, *self.outer}


def bounds_of(session: Session, spec: WeekTable, start: dt.date, end: dt.date) -> Bounds | None:
    parts = split(start, end)
    stored = last_week(session, spec)
    if parts is None or stored is None:
        return None

    def clamp(pair: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
        return min(pair[0], stored), min(pair[1], stored)

    return Bounds(clamp(parts.inner), clamp(parts.outer), parts.edges)


def _difference(week: Any, value: Any, pair: tuple[dt.date, dt.date]) -> ColumnElement[Any]:
    """A row's share of the total between the running totals of ``pair``: its value at the later week less its
    value at the earlier one (no row: 0; the same week twice: 0)."""
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


def _edge_days(day: Any, bounds: Bounds) -> ColumnElement[bool]:
    return or_(*(and_(day >= first, day <= last) for first, last in bounds.edges))


def redemption_rows(
    session: Session,
    start: dt.date,
    end: dt.date,
    category: str | None,
    district: str | None,
    by: str,
    limit: int,
) -> FromClause | None:
    """Rows (benefit_id, partner_id, redemptions, quantity) that add up, per benefit (``by`` "benefit_id") or per
    partner ("partner_id"), to the exact figures of the range for every group that can be among the ``limit``
    largest (and only for such); None when a query of the day table is the better way."""
    weeks, days = StatsBenefitWeeks, StatsRedemptions
    bounds = bounds_of(session, BENEFIT_WEEKS, start, end)
    if bounds is None:
        return None
    week_conditions: list[ColumnElement[bool]] = []
    day_conditions: list[ColumnElement[bool]] = []
    if category is not None:
        week_conditions.append(weeks.category == category)
        day_conditions.append(days.category == category)
    if district is not None:
        week_conditions.append(weeks.district == district)
        day_conditions.append(days.district == district)
    group = getattr(weeks, by)
    ids = _candidates(session, group, weeks.week, weeks.cum_redemptions, bounds, week_conditions, limit)
    if ids is None:
        return None
    parts = [
        select(
            weeks.benefit_id,
            weeks.partner_id,
            _difference(weeks.week, weeks.cum_redemptions, bounds.inner).label("redemptions"),
            _difference(weeks.week, weeks.cum_quantity, bounds.inner).label("quantity"),
        ).where(weeks.week.in_(sorted(set(bounds.inner))), group.in_(ids), *week_conditions)
    ]
    if bounds.edges:
        parts.append(
            select(days.benefit_id, days.partner_id, days.redemptions, days.quantity).where(
                getattr(days, by).in_(ids), _edge_days(days.day, bounds), *day_conditions
            )
        )
    return union_all(*parts).subquery("counted_rows")


def fraud_rows(session: Session, start: dt.date, end: dt.date, district: str | None, limit: int) -> FromClause | None:
    """Rows (partner_id, verifications, stale, revoked, bad_signature, bad_proof) that add up per partner to the
    exact figures of the range for every partner that can be among the ``limit`` with the most flagged
    verifications; None when a query of the day table is the better way."""
    weeks, days = StatsPartnerFraudWeeks, StatsVerifications
    bounds = bounds_of(session, PARTNER_WEEKS, start, end)
    if bounds is None:
        return None
    week_conditions = [] if district is None else [weeks.district == district]
    day_conditions = [] if district is None else [days.district == district]
    flagged = weeks.cum_stale + weeks.cum_revoked + weeks.cum_bad_signature + weeks.cum_bad_proof
    ids = _candidates(session, weeks.partner_id, weeks.week, flagged, bounds, week_conditions, limit)
    if ids is None:
        return None
    names = ("verifications", "stale", "revoked", "bad_signature", "bad_proof")
    parts = [
        select(
            weeks.partner_id,
            *(_difference(weeks.week, getattr(weeks, f"cum_{name}"), bounds.inner).label(name) for name in names),
        ).where(weeks.week.in_(sorted(set(bounds.inner))), weeks.partner_id.in_(ids), *week_conditions)
    ]
    if bounds.edges:
        parts.append(
            select(
                days.partner_id,
                days.verifications,
                *(case((days.reason == reason, days.verifications), else_=0) for reason in FRAUD_MEASURES),
            ).where(days.partner_id.in_(ids), _edge_days(days.day, bounds), *day_conditions)
        )
    return union_all(*parts).subquery("counted_rows")


__all__ = [
    "AREA_TABLES",
    "BENEFIT_WEEKS",
    "MAX_CANDIDATES",
    "PARTNER_WEEKS",
    "REDEMPTIONS_AREA",
    "VERIFICATIONS_AREA",
    "WEEK_TABLES",
    "AreaTable",
    "WeekTable",
    "fraud_rows",
    "monday",
    "rebuild_all",
    "rebuild_area_days",
    "rebuild_weeks",
    "redemption_rows",
    "rewrite_weeks",
    "split",
    "stored_week",
    "week_recount",
    "week_start",
]
