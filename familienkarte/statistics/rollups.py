"""Rebuilding the rollups from the raw facts: a day, a month, and the days whose facts changed since their build.

Rebuilt, never incremented: a rebuild deletes the rows of its day (or month) and inserts them again with one
``INSERT ... SELECT ... GROUP BY`` per table, in the caller's transaction. A rebuild that dies half-way leaves the
previous build; a repeated one gives the same rows. Rebuilds are serialised with each other (``serialise``).

Days and hours are the city's. A day is the range of instants [local midnight, next local midnight), computed in
Python (23 or 25 hours on the days the clocks change), so both databases select the same facts. The local hour:

- PostgreSQL converts in SQL: ``EXTRACT(hour FROM timezone(:zone, occurred_at))`` (``AT TIME ZONE``).
- SQLite has no time zones in SQL. A day has at most one change of the UTC offset, so it splits into at most two
  ranges of one fixed offset each (``day_segments``); the hour is ``strftime('%H', occurred_at, '+120 minutes')``
  with the range's offset, chosen by a ``CASE`` on the instant. One ``GROUP BY`` over the whole day keeps the two
  occurrences of the repeated hour in autumn in one bucket, as on PostgreSQL.

Months need no hours: their ranges are computed the same way and only filter.

Runs of days. A rebuild of many days (the first build, ``familienkarte stats rebuild --from --to``, a backfill
after an import) counts consecutive days together, up to ``RUN_DAYS`` of them with one ``INSERT ... SELECT`` per
table, the local day computed in SQL like the hour (``timezone(:zone, occurred_at)::date``): about half the time
of the same days rebuilt one by one. PostgreSQL only: SQLite rebuilds day by day, its local hours being worked
out per day.

What was built when is kept (``StatsBuild``, one row per day and per month). ``rebuild_dirty`` (every minute)
rebuilds the days and months marked dirty (``StatsDirty``) by the statistics consumer of the outbox
(familienkarte.events): redemptions recorded, uploaded late from an offline till or voided, verifications, cards
issued, activated or changed. Events reach it at least once whatever was down, and a mark is cleared only by the
rebuild that read it, so no change is missed; the timestamp scan of the facts that did this before is gone. What
no event reports is still found by time: a location's district or a benefit's category changed (the recent days)
and a household moved (its cards' months). The very first run, with no record of an earlier one, builds every
day and month with facts.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Final, TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Date,
    Integer,
    Select,
    String,
    and_,
    case,
    cast,
    delete,
    distinct,
    extract,
    func,
    insert,
    literal,
    not_,
    select,
    text,
    tuple_,
    union,
    union_all,
)
from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit
from familienkarte.cards.credential_models import CardCredential, CredentialKind
from familienkarte.cards.models import Card, CardStatus, Household
from familienkarte.city import City
from familienkarte.db import UTCDateTime, is_postgresql, serialise
from familienkarte.events.models import StatsDirty
from familienkarte.events.stats import mark_dirty
from familienkarte.partners.models import Location
from familienkarte.redemptions.models import Redemption, RedemptionStatus, VerificationEvent
from familienkarte.statistics.coarse import monday, rebuild_area_days, rebuild_area_weeks, rebuild_weeks, rewrite_weeks
from familienkarte.statistics.models import (
    PROGRAMME,
    StatsBenefitWeeks,
    StatsBuild,
    StatsCards,
    StatsFamilies,
    StatsPartnerFraudWeeks,
    StatsPartnerMonthBuild,
    StatsPartnerMonthReasons,
    StatsPartnerMonths,
    StatsRedemptions,
    StatsRedemptionsArea,
    StatsRedemptionsAreaWeeks,
    StatsScan,
    StatsVerifications,
    StatsVerificationsArea,
    StatsVerificationsAreaWeeks,
    StatsWeekTops,
)
from familienkarte.statistics.retention_models import StatsReachedCard, StatsRetainedDay

log = logging.getLogger("familienkarte.statistics")

# A SELECT of any number of columns.
Recount: TypeAlias = Select[*tuple[Any, ...]]

# One lock for every rebuild and search: they are short, and the build records and month rows are shared.
STATS_LOCK: Final = 0x464B_0010
# A fact written by a transaction that was still open when a build read the day may carry a time a little before
# the build's: facts this much older than a build still make its day dirty.
SETTLE: Final = dt.timedelta(minutes=2)
# Today, yesterday and the 7 days before: rebuilt when a location or benefit changes.
RECENT_DAYS: Final = 9
# The longest run of days rebuilt with one statement per table (PostgreSQL). At 10 million redemptions a run of
# a month rolled up about 48,500 raw events a second, day by day about 25,500 (bench/results/stats.md).
RUN_DAYS: Final = 31
# A rebuild of at least this many days brings the planner's statistics of the rollup tables up to date.
ANALYZE_AFTER_DAYS: Final = 7
# The mark (``StatsDirty``) of weekly running totals and kept top lists waiting for a rebuild from a Monday on:
# "W20260706". ``rebuild_range`` sets it while it counts runs of days on several connections at once.
WEEKS_MARK: Final = "W"
# The tables counted per day, and those counted per week from them.
DAY_ROLLUP_TABLES: Final = (StatsRedemptions, StatsVerifications, StatsRedemptionsArea, StatsVerificationsArea)
WEEK_ROLLUP_TABLES: Final = (
    StatsRedemptionsAreaWeeks,
    StatsVerificationsAreaWeeks,
    StatsBenefitWeeks,
    StatsPartnerFraudWeeks,
    StatsWeekTops,
)
ROLLUP_TABLES: Final = (*DAY_ROLLUP_TABLES, *WEEK_ROLLUP_TABLES)
ONE_DAY: Final = dt.timedelta(days=1)
# Weeks of a month in a partner's figures: the first day of each (the last week runs to the end of the month). Every
# week lies inside its month (calendar weeks would cross into the neighbouring months and invite differencing).
WEEK_FIRST_DAYS: Final = (1, 8, 15, 22, 29)


@dataclass(frozen=True)
class Segment:
    """A range of instants [start, end) of one fixed UTC offset."""

    start: dt.datetime
    end: dt.datetime
    offset: dt.timedelta


def local_midnight(day: dt.date, zone: ZoneInfo) -> dt.datetime:
    """The instant (UTC) the local day begins."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone).astimezone(dt.UTC)


def day_range(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The day's instants [start, end) in UTC: 24 hours, or 23 and 25 on the days the clocks change."""
    return days_range(day, day, zone)


def days_range(first: dt.date, last: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The instants [start, end) of the days ``first`` to ``last``."""
    return local_midnight(first, zone), local_midnight(last + ONE_DAY, zone)


def days_from(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from ``first`` to ``last``, both included."""
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def month_range(month: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    return local_midnight(month, zone), local_midnight(next_month(month), zone)


def _offset(instant: dt.datetime, zone: ZoneInfo) -> dt.timedelta:
    offset = instant.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def day_segments(day: dt.date, zone: ZoneInfo) -> list[Segment]:
    """The day's range split where the UTC offset changes: one segment, or two on the days the clocks change."""
    start, end = day_range(day, zone)
    first, last = _offset(start, zone), _offset(end - dt.timedelta(microseconds=1), zone)
    if first == last:
        return [Segment(start, end, first)]
    # Offsets change on a whole second: search the first second of the new offset.
    low, high = 0, int((end - start).total_seconds())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(start + dt.timedelta(seconds=middle), zone) == first:
            low = middle
        else:
            high = middle
    switch = start + dt.timedelta(seconds=high)
    return [Segment(start, switch, first), Segment(switch, end, last)]


def local_day(instant: dt.datetime, zone: ZoneInfo) -> dt.date:
    return instant.astimezone(zone).date()


def _sqlite_hour(column: Any, offset: dt.timedelta) -> ColumnElement[Any]:
    minutes = int(offset.total_seconds() // 60)
    return cast(func.strftime("%H", column, f"{minutes:+d} minutes"), Integer)


def local_hour(session: Session, column: Any, day: dt.date, zone: ZoneInfo) -> ColumnElement[Any]:
    """The local hour (0-23) of ``column``, an instant of ``day``, as an SQL expression."""
    if is_postgresql(session):
        return cast(extract("hour", func.timezone(zone.key, column)), Integer)
    segments = day_segments(day, zone)
    if len(segments) == 1:
        return _sqlite_hour(column, segments[0].offset)
    switch = literal(segments[1].start, UTCDateTime())
    return case(
        (column < switch, _sqlite_hour(column, segments[0].offset)), else_=_sqlite_hour(column, segments[1].offset)
    )


def _within(column: Any, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def local_date(session: Session, column: Any, first: dt.date, last: dt.date, zone: ZoneInfo) -> ColumnElement[Any]:
    """The local day of ``column``, an instant of the days ``first`` to ``last``: the day itself for one day, the
    date of ``timezone(:zone, column)`` for a run of days (PostgreSQL only: SQLite rebuilds day by day)."""
    if first == last:
        return literal(first, Date)
    if not is_postgresql(session):
        raise ValueError("a run of several days is counted on PostgreSQL only")
    return cast(func.timezone(zone.key, column), Date)


# --- the recounts: each a SELECT whose columns are those of its table, used to rebuild and to reconcile ---


def _run_day(local: ColumnElement[Any], first: dt.date, last: dt.date) -> list[ColumnElement[Any]]:
    """The day to group by: none for a single day (a constant), the local date for a run of days."""
    return [] if first == last else [local]


def redemptions_recount(session: Session, city: City, day: dt.date, last: dt.date | None = None) -> Recount:
    """The rows of ``day`` (or of the days ``day`` to ``last``) of ``StatsRedemptions``, counted from the facts."""
    last = day if last is None else last
    start, end = days_range(day, last, city.timezone)
    hour = local_hour(session, Redemption.occurred_at, day, city.timezone).label("hour")
    local = local_date(session, Redemption.occurred_at, day, last, city.timezone)
    return (
        select(
            local.label("day"),
            hour,
            Redemption.partner_id,
            Redemption.location_id,
            Redemption.benefit_id,
            Benefit.category,
            Location.district,
            func.count().label("redemptions"),
            func.sum(Redemption.quantity).label("quantity"),
            func.count(distinct(Redemption.card_number)).label("cards"),
        )
        .join(Benefit, Benefit.id == Redemption.benefit_id)
        .join(Location, Location.id == Redemption.location_id)
        .where(
            _within(Redemption.occurred_at, start, end),
            Redemption.status == RedemptionStatus.RECORDED.value,
        )
        .group_by(
            *_run_day(local, day, last),
            hour,
            Redemption.partner_id,
            Redemption.location_id,
            Redemption.benefit_id,
            Benefit.category,
            Location.district,
        )
    )


def verifications_recount(session: Session, city: City, day: dt.date, last: dt.date | None = None) -> Recount:
    """The rows of ``day`` (or of the days ``day`` to ``last``) of ``StatsVerifications``, counted from the facts."""
    last = day if last is None else last
    start, end = days_range(day, last, city.timezone)
    hour = local_hour(session, VerificationEvent.at, day, city.timezone).label("hour")
    local = local_date(session, VerificationEvent.at, day, last, city.timezone)
    return (
        select(
            local.label("day"),
            hour,
            VerificationEvent.partner_id,
            VerificationEvent.location_id,
            VerificationEvent.reason,
            Location.district,
            func.count().label("verifications"),
        )
        .join(Location, Location.id == VerificationEvent.location_id)
        .where(_within(VerificationEvent.at, start, end))
        .group_by(
            *_run_day(local, day, last),
            hour,
            VerificationEvent.partner_id,
            VerificationEvent.location_id,
            VerificationEvent.reason,
            Location.district,
        )
        # In the order of the table's primary key: rows inserted in index order touch each index page once (about a
        # quarter less time for a month's rows than in the hash aggregate's order, in one measurement).
        .order_by(
            *_run_day(local, day, last),
            hour,
            VerificationEvent.partner_id,
            VerificationEvent.location_id,
            VerificationEvent.reason,
        )
    )


def cards_recount(city: City, month: dt.date) -> Recount:
    """Cards issued, activated, revoked and active per family district in the month, each counted in one branch of
    a ``UNION ALL`` and summed per district."""
    start, end = month_range(month, city.timezone)
    last_day = next_month(month) - dt.timedelta(days=1)
    zero = literal(0, Integer)
    one = literal(1, Integer)

    def branch(issued: Any, activated: Any, revoked: Any, active: Any) -> Recount:
        return select(
            Household.district.label("district"),
            issued.label("issued"),
            activated.label("activated"),
            revoked.label("revoked"),
            active.label("active"),
        ).join(Card, Card.household_id == Household.id)

    first_phone = (
        select(CardCredential.card_id, func.min(CardCredential.created_at).label("activated_at"))
        .where(CardCredential.kind == CredentialKind.PHONE.value)
        .group_by(CardCredential.card_id)
        .subquery()
    )
    stopped = Card.status.in_((CardStatus.REVOKED.value, CardStatus.SUSPENDED.value))
    parts = union_all(
        branch(one, zero, zero, zero).where(_within(Card.issued_at, start, end)),
        branch(zero, one, zero, zero)
        .join(first_phone, first_phone.c.card_id == Card.id)
        .where(_within(first_phone.c.activated_at, start, end)),
        branch(zero, zero, one, zero).where(
            Card.status == CardStatus.REVOKED.value,
            _within(func.coalesce(Card.status_changed_at, Card.issued_at), start, end),
        ),
        branch(zero, zero, zero, one).where(
            Card.issued_at < end,
            Card.valid_from <= last_day,
            Card.valid_until >= month,
            not_(and_(stopped, func.coalesce(Card.status_changed_at, Card.issued_at) < start)),
        ),
    ).subquery()
    return select(
        literal(month, Date).label("month"),
        parts.c.district,
        func.sum(parts.c.issued).label("issued"),
        func.sum(parts.c.activated).label("activated"),
        func.sum(parts.c.revoked).label("revoked"),
        func.sum(parts.c.active).label("active"),
    ).group_by(parts.c.district)


def recorded_card_numbers(session: Session) -> Select[Any]:
    """The distinct card numbers of recorded redemptions. On PostgreSQL by skipping through the partial index of
    recorded card numbers from one number to the next (a recursive query: one index descent per card instead of a
    sort of every redemption, seconds instead of tens of seconds at 10 million)."""
    recorded = Redemption.status == RedemptionStatus.RECORDED.value
    if not is_postgresql(session):
        return select(Redemption.card_number).where(recorded).distinct()
    first = select(Redemption.card_number).where(recorded).order_by(Redemption.card_number).limit(1)
    seen = first.cte("seen", recursive=True)
    later = Redemption.__table__.alias("later")
    following = (
        select(later.c.card_number)
        .where(later.c.status == RedemptionStatus.RECORDED.value, later.c.card_number > seen.c.card_number)
        .order_by(later.c.card_number)
        .limit(1)
        .scalar_subquery()
    )
    seen = seen.union_all(select(following).where(seen.c.card_number.is_not(None)))
    return select(seen.c.card_number).where(seen.c.card_number.is_not(None))


def families_recount(session: Session, city: City, month: dt.date | None) -> Recount:
    """Distinct cards with a recorded redemption in the month, or in the whole programme (``month`` None); no row
    when there are none (as no row of a day's table means none there).

    The programme counts as well the cards whose redemptions the retention deleted (``StatsReachedCard``)."""
    if month is None:
        cards = union(recorded_card_numbers(session), select(StatsReachedCard.card_number)).subquery()
        programme = select(literal(PROGRAMME, String).label("period"), func.count().label("families")).select_from(
            cards
        )
        reached = programme.subquery()
        return select(reached.c.period, reached.c.families).where(reached.c.families > 0)
    query = select(
        literal(month.strftime("%Y-%m"), String).label("period"),
        func.count(distinct(Redemption.card_number)).label("families"),
    ).where(Redemption.status == RedemptionStatus.RECORDED.value)
    start, end = month_range(month, city.timezone)
    query = query.where(_within(Redemption.occurred_at, start, end))
    counted = query.subquery()
    return select(counted.c.period, counted.c.families).where(counted.c.families > 0)


# --- a partner's past months ---


def month_week(month: dt.date, zone: ZoneInfo) -> ColumnElement[Any]:
    """The week of the month (1-5) of a redemption, by the instants its weeks begin in the city."""
    # In a February of 28 days the fifth week begins on 1 March: no instant of the month falls in it.
    starts = [local_midnight(month + dt.timedelta(days=day - 1), zone) for day in WEEK_FIRST_DAYS[1:]]
    whens = [(Redemption.occurred_at < start, literal(index + 1)) for index, start in enumerate(starts)]
    return case(*whens, else_=literal(len(WEEK_FIRST_DAYS)))


def card_counts(session: Session, card: Any, quantity: Any) -> tuple[Any, Any, Any]:
    """The redemptions, their quantity and their distinct cards of a group.

    On PostgreSQL the distinct card numbers are compared byte by byte (``COLLATE "C"``): the same cards as with the
    database's language collation, in half the time (a big partner's month is tens of thousands of numbers)."""
    if is_postgresql(session):
        card = card.collate("C")
    return func.count(), func.coalesce(func.sum(quantity), 0), func.count(distinct(card))


def partner_month_recount(
    session: Session,
    zone: ZoneInfo,
    month: dt.date,
    partner_id: uuid.UUID | None = None,
    *,
    grouping_sets: bool | None = None,
) -> Recount | CompoundSelect[*tuple[Any, ...]]:
    """The rows of ``StatsPartnerMonths`` for ``month``, counted from every partner's recorded redemptions of it (or
    from one partner's: the partner page counts the current month so).

    With grouping sets (PostgreSQL's default) the four groupings are one statement, ``GROUP BY GROUPING SETS
    ((partner, benefit), (partner, location), (partner, week), (partner))``: one scan of the month's rows and three
    sorts, the total riding on the benefits' sort (at 10 million redemptions a month of 560,000 took 1.2 s, against
    2.2 s for one statement per grouping). Without (SQLite's, which has none): one ``SELECT ... GROUP BY`` per
    grouping, put together with ``UNION ALL``; both give the same rows. Every column a set groups by is never NULL,
    so the first one not NULL is the row's item.
    """
    start, end = month_range(month, zone)
    conditions = [Redemption.status == RedemptionStatus.RECORDED.value, _within(Redemption.occurred_at, start, end)]
    if partner_id is not None:
        conditions.append(Redemption.partner_id == partner_id)
    rows = (
        select(
            Redemption.partner_id.label("partner_id"),
            Redemption.benefit_id.label("benefit_id"),
            Redemption.location_id.label("location_id"),
            month_week(month, zone).label("week"),
            Redemption.card_number.label("card"),
            Redemption.quantity.label("quantity"),
        )
        .where(*conditions)
        .subquery("month_rows")
    )
    keys = {"benefit": rows.c.benefit_id, "location": rows.c.location_id, "week": rows.c.week}
    counts = [
        count.label(name)
        for count, name in zip(
            card_counts(session, rows.c.card, rows.c.quantity), ("redemptions", "quantity", "cards"), strict=True
        )
    ]

    def counted(grouping: Any, item: Any) -> Recount:
        return select(
            literal(month, Date).label("month"),
            rows.c.partner_id,
            grouping.label("grouping"),
            item.label("item"),
            *counts,
        )

    if is_postgresql(session) if grouping_sets is None else grouping_sets:
        # GROUPING(benefit, location, week): one bit per column, the first the highest, set when the set leaves the
        # column out.
        sets = func.grouping(*keys.values())
        grouping = case(
            (sets == 0b011, literal("benefit")),
            (sets == 0b101, literal("location")),
            (sets == 0b110, literal("week")),
            else_=literal("total"),
        )
        item = func.coalesce(*(cast(key, String) for key in keys.values()), literal(""))
        return counted(grouping, item).group_by(
            func.grouping_sets(*(tuple_(rows.c.partner_id, key) for key in keys.values()), tuple_(rows.c.partner_id))
        )
    parts = [
        counted(literal(name, String), cast(key, String)).group_by(rows.c.partner_id, key) for name, key in keys.items()
    ]
    total = counted(literal("total", String), literal("", String)).group_by(rows.c.partner_id)
    return union_all(*parts, total)


def partner_month_reasons_recount(zone: ZoneInfo, month: dt.date, partner_id: uuid.UUID | None = None) -> Recount:
    """The rows of ``StatsPartnerMonthReasons`` for ``month`` (of one partner, or all), from the verification
    events."""
    start, end = month_range(month, zone)
    conditions = [_within(VerificationEvent.at, start, end)]
    if partner_id is not None:
        conditions.append(VerificationEvent.partner_id == partner_id)
    return (
        select(
            literal(month, Date).label("month"),
            VerificationEvent.partner_id,
            VerificationEvent.reason,
            func.count().label("verifications"),
        )
        .where(*conditions)
        .group_by(VerificationEvent.partner_id, VerificationEvent.reason)
    )


def _rebuild_partner_month(session: Session, city: City, month: dt.date, now: dt.datetime) -> None:
    session.execute(delete(StatsPartnerMonths).where(StatsPartnerMonths.month == month))
    session.execute(delete(StatsPartnerMonthReasons).where(StatsPartnerMonthReasons.month == month))
    recount = partner_month_recount(session, city.timezone, month)
    session.execute(insert(StatsPartnerMonths).from_select([c.name for c in recount.selected_columns], recount))
    reasons = partner_month_reasons_recount(city.timezone, month)
    session.execute(insert(StatsPartnerMonthReasons).from_select([c.name for c in reasons.selected_columns], reasons))
    build = session.get(StatsPartnerMonthBuild, month)
    if build is None:
        session.add(StatsPartnerMonthBuild(month=month, built_at=now))
    else:
        build.built_at = now
    session.flush()


# --- rebuilding ---


def _begin_rebuild(session: Session) -> None:
    """Serialise with every other rebuild. On PostgreSQL, no JIT compilation for the rest of the transaction: a
    rebuild's statements each take milliseconds to a few hundred, and the planner's cost estimates of the larger
    ones (the week tables) pass the JIT threshold, which then compiles for longer than the statement runs."""
    serialise(session, STATS_LOCK, StatsBuild)
    if is_postgresql(session):
        session.execute(text("SET LOCAL jit = off"))


def _record_builds(session: Session, periods: Sequence[str], now: dt.datetime) -> None:
    found = session.scalars(select(StatsBuild).where(StatsBuild.period.in_(periods)))
    stored = {build.period: build for build in found}
    for period in periods:
        build = stored.get(period)
        if build is None:
            session.add(StatsBuild(period=period, built_at=now))
        else:
            build.built_at = now
    session.flush()


def day_runs(session: Session, days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """``days`` as runs of consecutive days (first, last), each rebuilt with one statement per table: at most
    ``RUN_DAYS`` long and within one calendar month on PostgreSQL, single days on SQLite (its local hours are worked
    out per day).

    Within one month, because a run's rebuild recounts the months of its days as well: a run across two months
    recounted both, and a rebuild of many runs (``familienkarte stats rebuild --from --to``) every month twice."""
    limit = RUN_DAYS if is_postgresql(session) else 1
    runs: list[tuple[dt.date, dt.date]] = []
    for day in sorted(set(days)):
        if runs and day - runs[-1][1] == ONE_DAY and (day - runs[-1][0]).days < limit and day.day != 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _rebuild_days(
    session: Session, city: City, first: dt.date, last: dt.date, now: dt.datetime, *, area_weeks: bool = True
) -> None:
    """The day tables' and area tables' rows of the days ``first`` to ``last``, deleted and counted again (and the
    area weeks of those days unless ``area_weeks`` is False)."""
    session.execute(delete(StatsRedemptions).where(StatsRedemptions.day >= first, StatsRedemptions.day <= last))
    session.execute(delete(StatsVerifications).where(StatsVerifications.day >= first, StatsVerifications.day <= last))
    for table, recount in (
        (StatsRedemptions, redemptions_recount(session, city, first, last)),
        (StatsVerifications, verifications_recount(session, city, first, last)),
    ):
        columns = [column.name for column in recount.selected_columns]
        session.execute(insert(table).from_select(columns, recount))
    rebuild_area_days(session, first, last, weeks=area_weeks)
    _record_builds(session, [day.isoformat() for day in days_from(first, last)], now)


def _rebuild_families(session: Session, city: City, month: dt.date | None) -> None:
    recount = families_recount(session, city, month)
    period = PROGRAMME if month is None else month.strftime("%Y-%m")
    session.execute(delete(StatsFamilies).where(StatsFamilies.period == period))
    session.execute(insert(StatsFamilies).from_select(["period", "families"], recount))


def _rebuild_month(session: Session, city: City, month: dt.date, now: dt.datetime, families: bool = True) -> None:
    session.execute(delete(StatsCards).where(StatsCards.month == month))
    recount = cards_recount(city, month)
    session.execute(insert(StatsCards).from_select([column.name for column in recount.selected_columns], recount))
    if families:
        _rebuild_families(session, city, month)
        if next_month(month) <= city.today(now):
            # Over: the partners' figures of the month are counted once here, and again only when its facts change.
            _rebuild_partner_month(session, city, month, now)
    _record_builds(session, [month.strftime("%Y-%m")], now)


def retained_days(session: Session, days: Iterable[dt.date]) -> set[dt.date]:
    """The days among ``days`` whose raw facts the retention has begun to delete: their rollups are final."""
    wanted = sorted(set(days))
    found: set[dt.date] = set()
    for at in range(0, len(wanted), 500):
        chunk = wanted[at : at + 500]
        found |= set(session.scalars(select(StatsRetainedDay.day).where(StatsRetainedDay.day.in_(chunk))))
    return found


def retained_months(session: Session, months: Iterable[dt.date]) -> set[dt.date]:
    """The months among ``months`` with a day whose raw facts the retention has begun to delete: their families
    reached are final (the cards are not raw facts of the retention and are still recounted)."""
    wanted = sorted({month_start(month) for month in months})
    if not wanted:
        return set()
    days = session.scalars(
        select(StatsRetainedDay.day).where(
            StatsRetainedDay.day >= wanted[0], StatsRetainedDay.day < next_month(wanted[-1])
        )
    )
    return {month_start(day) for day in days} & set(wanted)


@dataclass(frozen=True)
class Rebuilt:
    days: tuple[dt.date, ...]
    months: tuple[dt.date, ...]
    # Days asked for but not rebuilt: the retention deleted their raw facts, their rollups stay as they were.
    retained: tuple[dt.date, ...] = ()


def _keep_retained(session: Session, days: tuple[dt.date, ...]) -> tuple[tuple[dt.date, ...], tuple[dt.date, ...]]:
    """``days`` split into those to rebuild and those whose raw facts the retention deleted (a rebuild would wipe
    their rollups)."""
    retained = retained_days(session, days)
    if retained:
        log.warning(
            "not rebuilding %d day(s) whose raw facts were deleted by the retention",
            len(retained),
            extra={"days": [day.isoformat() for day in sorted(retained)]},
        )
    return tuple(day for day in days if day not in retained), tuple(sorted(retained))


def rebuild(
    session: Session,
    city: City,
    days: Iterable[dt.date],
    now: dt.datetime,
    months: Iterable[dt.date] = (),
    weeks: Iterable[dt.date] = (),
) -> Rebuilt:
    """Rebuild the rollups of ``days``, of their months and of ``months``, and the programme-wide figure; every
    weekly figure from the earliest of ``weeks`` on written afresh as well (a ``rebuild_range`` that did not finish:
    the stored running totals of those weeks are not to be trusted).

    The months' and the programme's distinct counts scan their whole range of facts: this is for the search for
    changed days and the reconciliation, which batch them, rather than for every single day.
    """
    _begin_rebuild(session)
    day_list, retained = _keep_retained(session, tuple(sorted(set(days))))
    month_list = tuple(sorted({month_start(day) for day in day_list} | {month_start(month) for month in months}))
    final_months = retained_months(session, month_list)
    week_list = sorted({monday(week) for week in weeks})
    for first, last in day_runs(session, day_list):
        _rebuild_days(session, city, first, last, now)
    rebuild_weeks(session, day_list)
    if week_list:
        rewrite_weeks(session, week_list[0])
    for month in month_list:
        _rebuild_month(session, city, month, now, families=month not in final_months)
    if day_list or month_list or week_list:
        _rebuild_families(session, city, None)
    if len(day_list) >= ANALYZE_AFTER_DAYS and is_postgresql(session):
        # Many rows written (a first build, a run of a backfill): the planner's statistics of the rollup tables are
        # brought up to date at once (they count this transaction's rows). Autovacuum would do it a minute or so
        # later; until then the next run's statements were planned for nearly empty tables, and a week table's
        # update took minutes instead of a second.
        _analyze(session)
    return Rebuilt(day_list, month_list, retained)


def rebuild_day(session: Session, city: City, day: dt.date, now: dt.datetime) -> Rebuilt:
    """Rebuild one day's rollups: its redemptions and verifications per hour.

    The month tables are not touched: they are recounted from the raw facts as well, never from the day rows, so
    they stay right and follow any change of the facts with ``rebuild_dirty``.
    """
    _begin_rebuild(session)
    days, retained = _keep_retained(session, (day,))
    for kept in days:
        _rebuild_days(session, city, kept, kept, now)
    rebuild_weeks(session, days)
    return Rebuilt(days, (), retained)


# --- many days: a first build, a backfill ---


def weeks_mark(week: dt.date) -> str:
    """The ``StatsDirty`` period saying that the weekly figures from ``week``'s Monday on wait for a rebuild."""
    return f"{WEEKS_MARK}{monday(week):%Y%m%d}"


def _week_of_mark(period: str) -> dt.date:
    digits = period[len(WEEKS_MARK) :]
    return dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))


def rebuild_range(
    factory: Callable[[], Session],
    city: City,
    first: dt.date,
    last: dt.date,
    now: dt.datetime,
    *,
    jobs: int = 1,
    progress: Callable[[dt.date, dt.date], None] | None = None,
) -> Rebuilt:
    """Every day from ``first`` to ``last`` with their months (a first build, a backfill after an import), in runs
    of days (``day_runs``), each in a transaction of its own; ``progress`` is called with each run done.

    One job (and always on SQLite): each run is a ``rebuild`` with its weeks, months and the programme-wide figure.

    Several jobs (PostgreSQL): the runs' days and months are counted on ``jobs`` connections at once, then the
    weekly figures and the programme-wide one once for all of them. This transaction holds the rebuilds' lock
    throughout, so no other rebuild runs in between. The days, months and the weeks from the first day's Monday on
    are first marked dirty in a transaction of their own; each run clears its marks with its rows, the weeks' mark
    goes with the weeks. If the build stops half-way, ``rebuild_dirty`` finishes what the marks say, so the weekly
    figures never stay behind the days.
    """
    with factory() as session:
        runs = day_runs(session, days_from(first, last))
        parallel = jobs > 1 and len(runs) > 1 and is_postgresql(session)
    if not parallel:
        return _rebuild_runs_one_by_one(factory, city, runs, now, progress)
    with factory() as session, session.begin():
        _begin_rebuild(session)
        day_list, retained = _keep_retained(session, tuple(days_from(first, last)))
        if not day_list:
            return Rebuilt((), (), retained)
        months = tuple(sorted({month_start(day) for day in day_list}))
        final_months = retained_months(session, months)
        with factory() as marking, marking.begin():
            periods = [day.isoformat() for day in day_list] + [month.strftime("%Y-%m") for month in months]
            mark_dirty(marking, [*periods, weeks_mark(day_list[0])], now)
        _count_runs_at_once(factory, city, day_runs(session, day_list), final_months, now, jobs, progress)
        if len(day_list) >= ANALYZE_AFTER_DAYS:
            _analyze(session, DAY_ROLLUP_TABLES)
        rebuild_weeks(session, day_list)
        rebuild_area_weeks(session, day_list[0], day_list[-1])
        _rebuild_families(session, city, None)
        session.execute(delete(StatsDirty).where(StatsDirty.period == weeks_mark(day_list[0])))
        if len(day_list) >= ANALYZE_AFTER_DAYS:
            _analyze(session, WEEK_ROLLUP_TABLES)
    return Rebuilt(day_list, months, retained)


def _rebuild_runs_one_by_one(
    factory: Callable[[], Session],
    city: City,
    runs: Sequence[tuple[dt.date, dt.date]],
    now: dt.datetime,
    progress: Callable[[dt.date, dt.date], None] | None,
) -> Rebuilt:
    built: list[dt.date] = []
    months: set[dt.date] = set()
    retained: list[dt.date] = []
    for start, end in runs:
        with factory() as session, session.begin():
            part = rebuild(session, city, days_from(start, end), now)
        built += part.days
        months |= set(part.months)
        retained += part.retained
        if progress is not None:
            progress(start, end)
    return Rebuilt(tuple(built), tuple(sorted(months)), tuple(retained))


def _count_runs_at_once(
    factory: Callable[[], Session],
    city: City,
    runs: Sequence[tuple[dt.date, dt.date]],
    final_months: set[dt.date],
    now: dt.datetime,
    jobs: int,
    progress: Callable[[dt.date, dt.date], None] | None,
) -> None:
    """The days and months of ``runs`` on ``jobs`` connections; a month is counted with its first run. The first
    failure stops the runs not begun and is raised; the runs done stay (their marks cleared with them)."""
    counted: set[dt.date] = set()
    tasks = []
    for start, end in runs:
        month = month_start(start)
        tasks.append((start, end, None if month in counted else month))
        counted.add(month)
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="stats-rebuild") as pool:
        futures = {
            pool.submit(_count_run, factory, city, start, end, month, month not in final_months, now): (start, end)
            for start, end, month in tasks
        }
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                if future.exception() is not None:
                    for waiting in pending:
                        waiting.cancel()
                    future.result()
                if progress is not None:
                    progress(*futures[future])


def _count_run(
    factory: Callable[[], Session],
    city: City,
    first: dt.date,
    last: dt.date,
    month: dt.date | None,
    families: bool,
    now: dt.datetime,
) -> None:
    """One run's day rows and area rows (not their weeks) and its ``month``'s rows, and their dirty marks cleared,
    in a transaction of its own (``rebuild_range``'s transaction holds the rebuilds' lock meanwhile). The marks are
    locked first: a change marked while this runs waits, and its new mark stays for ``rebuild_dirty``."""
    periods = [day.isoformat() for day in days_from(first, last)]
    if month is not None:
        periods.append(month.strftime("%Y-%m"))
    with factory() as session, session.begin():
        session.execute(text("SET LOCAL jit = off"))
        session.execute(select(StatsDirty.period).where(StatsDirty.period.in_(periods)).with_for_update())
        _rebuild_days(session, city, first, last, now, area_weeks=False)
        if month is not None:
            _rebuild_month(session, city, month, now, families=families)
        session.execute(delete(StatsDirty).where(StatsDirty.period.in_(periods)))


def _analyze(session: Session, tables: Sequence[Any] = ROLLUP_TABLES) -> None:
    session.execute(text(f"ANALYZE {', '.join(table.__tablename__ for table in tables)}"))


# --- finding what changed ---


def _utc_hour(session: Session, column: Any) -> ColumnElement[Any]:
    if is_postgresql(session):
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:00:00", column)


def _as_instant(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _changed_hours(session: Session, occurred: Any, changed: Any, since: dt.datetime | None) -> list[tuple[Any, Any]]:
    """(UTC hour of ``occurred``, latest ``changed``) of the facts changed after ``since``, one row per hour."""
    hour = _utc_hour(session, occurred).label("hour")
    query = select(hour, func.max(changed)).where(changed.is_not(None)).group_by(hour)
    if since is not None:
        query = query.where(changed > since)
    return [(row[0], row[1]) for row in session.execute(query)]


def _days_of_hour(hour: Any, zone: ZoneInfo) -> set[dt.date]:
    start = _as_instant(hour)
    # An hour of UTC may span two local days in a zone whose offset is not whole hours.
    return {local_day(start, zone), local_day(start + dt.timedelta(minutes=59, seconds=59), zone)}


def _changed_days(
    session: Session, city: City, since: dt.datetime | None, verification_id: int | None
) -> dict[dt.date, dt.datetime | None]:
    """Each local day with facts changed after ``since`` (or verifications after ``verification_id``): the latest
    change, or None when unknown (a verification has no time of recording). Only the first run of ``rebuild_dirty``
    asks (for everything); after it the outbox reports changed facts."""
    zone = city.timezone
    latest: dict[dt.date, dt.datetime | None] = {}

    def note(day: dt.date, changed: dt.datetime | None) -> None:
        if day not in latest:
            latest[day] = changed
        else:
            old = latest[day]
            latest[day] = None if old is None or changed is None else max(old, changed)

    # A new redemption (online, or an offline one uploaded: its created_at is its uploaded_at), a void: each
    # changes the day the redemption occurred.
    for changed in (Redemption.created_at, Redemption.voided_at):
        for hour, when in _changed_hours(session, Redemption.occurred_at, changed, since):
            for day in _days_of_hour(hour, zone):
                note(day, _as_instant(when))
    hour = _utc_hour(session, VerificationEvent.at).label("hour")
    query = select(hour).group_by(hour)
    if verification_id is not None:
        query = query.where(VerificationEvent.id > verification_id)
    for (value,) in session.execute(query):
        for day in _days_of_hour(value, zone):
            note(day, None)
    return latest


def _changed_months(session: Session, city: City, since: dt.datetime | None, now: dt.datetime) -> set[dt.date]:
    """The months of card facts changed after ``since`` (None: all): issued, status changed, a phone activated.
    Only the first run of ``rebuild_dirty`` asks; after it the outbox reports card changes."""
    times: list[dt.datetime] = []
    for column in (Card.created_at, Card.issued_at, Card.status_changed_at, CardCredential.created_at):
        query = select(func.min(column), func.max(column)).where(column.is_not(None))
        if since is not None:
            query = query.where(column > since)
        low, high = session.execute(query).one()
        times += [_as_instant(value) for value in (low, high) if value is not None]
    if not times:
        return set()
    first = month_start(local_day(min(times), city.timezone))
    last = month_start(local_day(min(max(times), now), city.timezone))
    months = set()
    while first <= last:
        months.add(first)
        first = next_month(first)
    return months


def _places_changed(session: Session, since: dt.datetime) -> bool:
    for column in (Location.updated_at, Benefit.updated_at):
        if session.scalar(select(column).where(column > since).limit(1)) is not None:
            return True
    return False


def _moved_months(session: Session, city: City, since: dt.datetime, now: dt.datetime) -> set[dt.date]:
    """Every month since the first of its cards was issued, for households changed after ``since`` (cards count by
    the household's current district)."""
    moved = (
        select(func.min(Card.issued_at), func.max(Household.updated_at))
        .join(Household, Household.id == Card.household_id)
        .where(Household.updated_at > since)
    )
    low, high = session.execute(moved).one()
    if low is None or high is None:
        return set()
    first = month_start(local_day(_as_instant(low), city.timezone))
    last = month_start(local_day(min(_as_instant(high), now), city.timezone))
    months = set()
    while first <= last:
        months.add(first)
        first = next_month(first)
    return months


def _month_to_close(session: Session, city: City, now: dt.datetime) -> set[dt.date]:
    """The month before the current one when it was built while it ran and has not been since it ended: its
    partners' figures are counted once it is over (``_rebuild_partner_month``), even when no fact of it changes."""
    previous = month_start(month_start(city.today(now)) - ONE_DAY)
    if session.get(StatsBuild, previous.strftime("%Y-%m")) is None:
        return set()
    if session.get(StatsPartnerMonthBuild, previous) is not None or previous in retained_months(session, [previous]):
        return set()
    return {previous}


def rebuild_dirty(session: Session, city: City, now: dt.datetime) -> Rebuilt:
    """Rebuild the days and months marked dirty by the outbox's statistics consumer, the recent days after a
    location or benefit changed and the months of households that moved; clear the marks read.

    The marks are locked (PostgreSQL) while their periods are rebuilt: a consumer marking one of them again waits,
    and its mark, made after this rebuild read the facts, stays for the next run.
    """
    _begin_rebuild(session)
    marked = list(session.scalars(select(StatsDirty.period).order_by(StatsDirty.period).with_for_update()))
    days = [dt.date.fromisoformat(period) for period in marked if len(period) == 10]
    months = {dt.date.fromisoformat(f"{period}-01") for period in marked if len(period) == 7}
    weeks = [_week_of_mark(period) for period in marked if period.startswith(WEEKS_MARK)]
    scan = session.get(StatsScan, 1)
    if scan is None:
        # The first run (a new installation, or the first since the outbox): everything there are facts for.
        days += list(_changed_days(session, city, None, None))
        months |= _changed_months(session, city, None, now)
    else:
        since = scan.scanned_at - SETTLE
        if _places_changed(session, since):
            # A location's district or a benefit's category is copied into the day rows: the recent days (those
            # the reconciliation looks at, and today) take the change; older days keep what they were built with.
            today = city.today(now)
            days += [today - dt.timedelta(days=back) for back in range(RECENT_DAYS)]
        months |= _moved_months(session, city, since, now)
    months |= _month_to_close(session, city, now)
    result = rebuild(session, city, days, now, months, weeks)
    if marked:
        session.execute(delete(StatsDirty).where(StatsDirty.period.in_(marked)))
    if scan is None:
        session.add(StatsScan(id=1, scanned_at=now))
    else:
        scan.scanned_at = now
    session.flush()
    if result.days or result.months:
        log.info(
            "rebuilt statistics of %d day(s) and %d month(s)",
            len(result.days),
            len(result.months),
            extra={"days": [day.isoformat() for day in result.days]},
        )
    return result


__all__ = [
    "Rebuilt",
    "Segment",
    "cards_recount",
    "day_range",
    "day_runs",
    "day_segments",
    "days_from",
    "days_range",
    "families_recount",
    "local_date",
    "local_hour",
    "rebuild",
    "rebuild_day",
    "rebuild_dirty",
    "rebuild_range",
    "recorded_card_numbers",
    "redemptions_recount",
    "retained_days",
    "retained_months",
    "verifications_recount",
]
