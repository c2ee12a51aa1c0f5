"""The coarse rollups: the day tables added up per area, and running totals per week for the top lists.

Both are built from the day tables (``StatsRedemptions``, ``StatsVerifications``), never from the raw facts, in
the transaction that rebuilds the days, and never incremented:

- The area tables (``StatsRedemptionsArea``, ``StatsVerificationsArea``): a day's rows per category (or reason)
  and district, rebuilt with the day. The dashboard's totals, time series and breakdowns read them when no partner
  is chosen (with a partner, the day table's rows of that partner are few).
- The week tables (``StatsBenefitWeeks``, ``StatsPartnerFraudWeeks``): per key (benefit, partner, category,
  district; or partner, district) the running total up to the end of every week, Monday to Sunday, from the key's
  first week with facts to the last week of the day table. The total of the whole weeks of a range is the
  difference of two rows per key. A day rebuilt changes the running totals of its week and of every later one:
  ``rebuild_weeks`` rewrites them from the earliest week touched with one ``INSERT ... SELECT`` and a window sum,
  starting from the (unchanged) rows of the week before.

A location without a district has ``NO_DISTRICT_KEY`` in these tables (a key column cannot be NULL).

The retention deletes raw facts of old days but keeps their day rows, so the coarse tables built from them stay
right, and their recounts (``*_recount``, for the reconciliation) read the day tables as well.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
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
    func,
    insert,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
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


def redemptions_area(rows: FromClause) -> Select[Any]:
    """``rows`` (the columns of ``StatsRedemptions``) added up per day, category and district."""
    district = district_key(rows.c.district)
    return select(
        rows.c.day,
        rows.c.category,
        district.label("district"),
        func.sum(rows.c.redemptions).label("redemptions"),
        func.sum(rows.c.quantity).label("quantity"),
    ).group_by(rows.c.day, rows.c.category, district)


def verifications_area(rows: FromClause) -> Select[Any]:
    """``rows`` (the columns of ``StatsVerifications``) added up per day, reason and district."""
    district = district_key(rows.c.district)
    return select(
        rows.c.day,
        rows.c.reason,
        district.label("district"),
        func.sum(rows.c.verifications).label("verifications"),
    ).group_by(rows.c.day, rows.c.reason, district)


def _day_rows(table: Any, day: dt.date) -> FromClause:
    return select(table).where(table.day == day).subquery()


def rebuild_area_day(session: Session, day: dt.date) -> None:
    """The area rows of ``day`` again from its rows in the day tables (rebuilt right before)."""
    for area, source, recount in (
        (StatsRedemptionsArea, StatsRedemptions, redemptions_area),
        (StatsVerificationsArea, StatsVerifications, verifications_area),
    ):
        session.execute(delete(area).where(area.day == day))
        query = recount(_day_rows(source, day))
        session.execute(insert(area).from_select([column.name for column in query.selected_columns], query))


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


def rebuild_weeks(session: Session, first_day: dt.date) -> None:
    """The running totals of ``first_day``'s week and every later one again from the day tables (rebuilt before,
    in this transaction): after any change of the day rows on or after ``first_day``."""
    for spec in WEEK_TABLES:
        _rebuild_week_table(session, spec, monday(first_day))


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
            rebuild_area_day(session, day)
        rebuild_weeks(session, min(days))
        return
    for area, source, recount in (
        (StatsRedemptionsArea, StatsRedemptions, redemptions_area),
        (StatsVerificationsArea, StatsVerifications, verifications_area),
    ):
        session.execute(delete(area))
        query = recount(source.__table__)
        session.execute(insert(area).from_select([column.name for column in query.selected_columns], query))
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
    "BENEFIT_WEEKS",
    "MAX_CANDIDATES",
    "PARTNER_WEEKS",
    "WEEK_TABLES",
    "WeekTable",
    "fraud_rows",
    "monday",
    "rebuild_all",
    "rebuild_area_day",
    "rebuild_weeks",
    "redemption_rows",
    "redemptions_area",
    "split",
    "stored_week",
    "verifications_area",
    "week_recount",
    "week_start",
]
