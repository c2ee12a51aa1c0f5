"""Retention: raw redemptions and verifications older than the city's ``retention_months`` are deleted once the
rollups that count them are final.

The horizon is the local day ``retention_months`` calendar months before today: the facts of the days before it
go. The city's data-protection officer decides the period, so it is in the city file (``City.retention_months``,
at least 13 months: a usage limit per calendar year looks back up to a year, late uploads and the reconciliation
up to 8 days).

A day before the horizon is final, and its facts may go, when (checked under the statistics lock, in the
transaction of its first deletion):

- it has a build and no dirty mark (no rebuild is waiting);
- its build is newer (by ``SETTLE``) than every change of its redemptions: recorded, uploaded late, voided;
- its rollups add up to its raw facts (uses, tickets, verifications): a verification has no time of recording, so
  one that arrived after the build is seen only this way.

Its month (cards, families reached) must be built, with no dirty mark and after every change of the month's
redemptions, before the first of its days goes; from then on the month's families reached are final. A month
that is not is rebuilt right there, in the same transaction: its facts are all still there, and no change would
come to so old a month to have the worker rebuild it.

The day is marked (``StatsRetainedDay``) in the transaction of its first deletion. From then on no rebuild and no
reconciliation touches its rollups (``rollups.retained_days``), and a run killed half-way resumes the day without
asking again. Deletions go in batches of at most ``BATCH`` rows per table and transaction, each adding its counts
to the day's mark; the transaction that finishes a day writes an audit entry (system actor) with the day's counts
and the horizon, for a clerk to justify the deletion.

Kept: recorded redemptions of benefits limited per card "once ever" or with a total quota. "Ever" has no start:
the limit check (``redemptions.services.uses_left``) counts every use of the card since the programme began, and
the quota (``quota_left``) every ticket given, so deleting one would allow a second "once ever" use or a ticket
beyond the quota. They stay whole, card number included, as long as the benefit exists: the rule needs the card,
and one place counting uses keeps the limit check as it is. Voided ones count for nothing and go.

Families reached programme-wide are distinct cards since the start: the numbers of the cards whose redemptions
go are kept in ``StatsReachedCard`` (the number only), so that figure does not shrink.
"""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, delete, exists, func, insert, not_, or_, select
from sqlalchemy.orm import Session

from familienkarte.audit.services import record
from familienkarte.benefits.models import Benefit, LimitPeriod
from familienkarte.city import City
from familienkarte.db import is_postgresql, serialise
from familienkarte.events.models import StatsDirty
from familienkarte.redemptions.models import Redemption, RedemptionStatus, VerificationEvent
from familienkarte.statistics.models import StatsBuild, StatsRedemptions, StatsVerifications
from familienkarte.statistics.retention_models import StatsReachedCard, StatsRetainedDay
from familienkarte.statistics.rollups import (
    SETTLE,
    STATS_LOCK,
    day_range,
    local_day,
    local_midnight,
    month_range,
    month_start,
    rebuild,
    retained_months,
)

log = logging.getLogger("familienkarte.statistics")

# Rows of one table deleted in one transaction.
BATCH: Final = 5000
AUDIT_ACTION: Final = "statistics.raw_facts_deleted"

# Why a day before the horizon keeps its facts for now.
NOT_BUILT: Final = "not_built"
REBUILD_PENDING: Final = "rebuild_pending"
ROLLUPS_DIFFER: Final = "rollups_differ"
# Held until someone rebuilds (a pending rebuild waits for the worker).
NEEDS_SOMEONE: Final = frozenset({NOT_BUILT, ROLLUPS_DIFFER})

# Opens one transaction (committed when the block ends) and hands its session.
Transaction = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class DayRetention:
    """What went (or would go, in a dry run) of one day, and the redemptions kept for a limit or quota."""

    day: dt.date
    redemptions: int
    verification_events: int
    redemptions_kept: int


@dataclass(frozen=True)
class HeldDay:
    """A day before the horizon whose facts stay for now (``reason``: one of the codes above)."""

    day: dt.date
    reason: str


@dataclass(frozen=True)
class RetentionReport:
    horizon: dt.date
    months: int
    dry_run: bool
    days: tuple[DayRetention, ...]
    held: tuple[HeldDay, ...]
    # False when the run stopped at its time budget with days left: the next run goes on.
    complete: bool = True

    @property
    def redemptions(self) -> int:
        return sum(day.redemptions for day in self.days)

    @property
    def verification_events(self) -> int:
        return sum(day.verification_events for day in self.days)

    @property
    def redemptions_kept(self) -> int:
        return sum(day.redemptions_kept for day in self.days)


def retention_horizon(city: City, now: dt.datetime) -> dt.date:
    """The first local day whose facts are kept: ``retention_months`` calendar months before today (the last day
    of the month when that month is shorter)."""
    today = city.today(now)
    year, month = divmod(today.year * 12 + today.month - 1 - city.retention_months, 12)
    return dt.date(year, month + 1, min(today.day, calendar.monthrange(year, month + 1)[1]))


def _needed() -> ColumnElement[bool]:
    """The redemptions a usage limit "once ever" or a quota still counts."""
    limited = select(Benefit.id).where(
        or_(Benefit.limit_period == LimitPeriod.EVER.value, Benefit.total_quota.is_not(None))
    )
    return and_(Redemption.status == RedemptionStatus.RECORDED.value, Redemption.benefit_id.in_(limited))


def _within(column: Any, start: dt.datetime, end: dt.datetime) -> ColumnElement[bool]:
    return and_(column >= start, column < end)


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _hours(session: Session, column: Any, *where: ColumnElement[bool]) -> list[dt.datetime]:
    """The UTC hours with rows matching ``where``, grouped in the database (a few rows per day)."""
    if is_postgresql(session):
        hour = func.date_trunc("hour", func.timezone("UTC", column)).label("hour")
    else:
        hour = func.strftime("%Y-%m-%d %H:00:00", column).label("hour")
    return [_instant(value) for value in session.scalars(select(hour).where(*where).group_by(hour))]


def _candidate_days(session: Session, city: City, horizon: dt.date) -> list[dt.date]:
    """The local days before ``horizon`` with facts that may go."""
    start = local_midnight(horizon, city.timezone)
    hours = _hours(session, Redemption.occurred_at, Redemption.occurred_at < start, not_(_needed()))
    hours += _hours(session, VerificationEvent.at, VerificationEvent.at < start)
    days: set[dt.date] = set()
    for hour in hours:
        # An hour of UTC may span two local days in a zone whose offset is not whole hours.
        for instant in (hour, hour + dt.timedelta(minutes=59, seconds=59)):
            days.add(local_day(instant, city.timezone))
    return sorted(day for day in days if day < horizon)


def _latest_change(session: Session, start: dt.datetime, end: dt.datetime) -> dt.datetime | None:
    created, voided = session.execute(
        select(func.max(Redemption.created_at), func.max(Redemption.voided_at)).where(
            _within(Redemption.occurred_at, start, end)
        )
    ).one()
    changes = [_instant(value) for value in (created, voided) if value is not None]
    return max(changes) if changes else None


def _stale(built: StatsBuild, latest: dt.datetime | None) -> bool:
    return latest is not None and built.built_at - SETTLE <= latest


def _rollups_add_up(session: Session, day: dt.date, start: dt.datetime, end: dt.datetime) -> bool:
    recorded = session.execute(
        select(func.count(), func.coalesce(func.sum(Redemption.quantity), 0)).where(
            _within(Redemption.occurred_at, start, end), Redemption.status == RedemptionStatus.RECORDED.value
        )
    ).one()
    rolled = session.execute(
        select(
            func.coalesce(func.sum(StatsRedemptions.redemptions), 0),
            func.coalesce(func.sum(StatsRedemptions.quantity), 0),
        ).where(StatsRedemptions.day == day)
    ).one()
    verified = session.scalar(select(func.count()).where(_within(VerificationEvent.at, start, end)))
    rolled_verified = session.scalar(
        select(func.coalesce(func.sum(StatsVerifications.verifications), 0)).where(StatsVerifications.day == day)
    )
    return (int(recorded[0]), int(recorded[1]), int(verified or 0)) == (
        int(rolled[0]),
        int(rolled[1]),
        int(rolled_verified or 0),
    )


def why_held(session: Session, city: City, day: dt.date) -> str | None:
    """Why the facts of ``day`` must stay for now (a reason code), or None when its rollups are final."""
    period = day.isoformat()
    if session.get(StatsDirty, period) is not None:
        return REBUILD_PENDING
    built = session.get(StatsBuild, period)
    if built is None:
        return NOT_BUILT
    start, end = day_range(day, city.timezone)
    if _stale(built, _latest_change(session, start, end)):
        return REBUILD_PENDING
    if not _rollups_add_up(session, day, start, end):
        return ROLLUPS_DIFFER
    return None


def _month_outdated(session: Session, city: City, month: dt.date) -> bool:
    """The month's rollups were not built after the latest change of its facts, and none of its days went yet."""
    if retained_months(session, [month]):
        return False  # its families reached are final since its first day went
    period = month.strftime("%Y-%m")
    if session.get(StatsDirty, period) is not None:
        return True
    built = session.get(StatsBuild, period)
    return built is None or _stale(built, _latest_change(session, *month_range(month, city.timezone)))


def _count(session: Session, query: Any) -> int:
    return int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)


def _preview(session: Session, city: City, day: dt.date) -> DayRetention:
    start, end = day_range(day, city.timezone)
    within = _within(Redemption.occurred_at, start, end)
    return DayRetention(
        day,
        redemptions=_count(session, select(Redemption.id).where(within, not_(_needed()))),
        verification_events=_count(
            session, select(VerificationEvent.id).where(_within(VerificationEvent.at, start, end))
        ),
        redemptions_kept=_count(session, select(Redemption.id).where(within, _needed())),
    )


@dataclass(frozen=True)
class _Batch:
    held: str | None
    redemptions: int = 0
    verification_events: int = 0
    redemptions_kept: int = 0
    done: bool = False


def _delete_batch(session: Session, city: City, day: dt.date, horizon: dt.date, now: dt.datetime, batch: int) -> _Batch:
    """One transaction's worth of the day: check (first time) and mark it, delete at most ``batch`` rows of each
    table, and when nothing is left finish the day with its audit entry."""
    serialise(session, STATS_LOCK, StatsBuild)
    mark = session.get(StatsRetainedDay, day)
    if mark is None:
        held = why_held(session, city, day)
        if held is not None:
            return _Batch(held)
        if _month_outdated(session, city, month_start(day)):
            rebuild(session, city, [], now, months=[day])
        mark = StatsRetainedDay(
            day=day,
            horizon=horizon,
            started_at=now,
            redemptions=0,
            verification_events=0,
            redemptions_kept=0,
        )
        session.add(mark)
    else:
        # Resumed after a run was stopped, or rows kept before are no longer needed (a limit was changed).
        mark.finished_at = None
    start, end = day_range(day, city.timezone)
    events: Sequence[int] = session.scalars(
        select(VerificationEvent.id).where(_within(VerificationEvent.at, start, end)).limit(batch)
    ).all()
    if events:
        session.execute(delete(VerificationEvent).where(VerificationEvent.id.in_(events)))
    within = _within(Redemption.occurred_at, start, end)
    uses = session.scalars(select(Redemption.id).where(within, not_(_needed())).limit(batch)).all()
    if uses:
        # Programme-wide families reached keep counting the card.
        known = exists().where(StatsReachedCard.card_number == Redemption.card_number)
        reached = (
            select(Redemption.card_number)
            .where(Redemption.id.in_(uses), Redemption.status == RedemptionStatus.RECORDED.value, not_(known))
            .distinct()
        )
        session.execute(insert(StatsReachedCard).from_select(["card_number"], reached))
        session.execute(delete(Redemption).where(Redemption.id.in_(uses)))
    mark.verification_events += len(events)
    mark.redemptions += len(uses)
    done = len(events) < batch and len(uses) < batch
    kept = 0
    if done:
        kept = _count(session, select(Redemption.id).where(within, _needed()))
        mark.finished_at = now
        mark.redemptions_kept = kept
        record(
            session,
            None,
            AUDIT_ACTION,
            "statistics_day",
            day.isoformat(),
            details={
                "horizon": mark.horizon.isoformat(),
                "retention_months": city.retention_months,
                "redemptions": mark.redemptions,
                "verification_events": mark.verification_events,
                "redemptions_kept": kept,
            },
        )
    session.flush()
    return _Batch(None, len(uses), len(events), kept, done)


def apply_retention(
    transaction: Transaction,
    city: City,
    now: dt.datetime,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    budget: dt.timedelta | None = None,
) -> RetentionReport:
    """Delete the raw facts of the days before the horizon whose rollups are final, a batch per transaction
    (``transaction`` opens each); with ``dry_run`` only say what would go. Idempotent: a second run finds nothing.

    ``budget``: no new batch after this much time (a task's time limit); the report then says it is not complete.
    """
    if batch < 1:
        raise ValueError("batch must be at least 1")
    deadline = None if budget is None else time.monotonic() + budget.total_seconds()
    horizon = retention_horizon(city, now)
    with transaction() as session:
        days = _candidate_days(session, city, horizon)
        if dry_run:
            previews: list[DayRetention] = []
            held: list[HeldDay] = []
            for day in days:
                reason = None if session.get(StatsRetainedDay, day) else why_held(session, city, day)
                if reason is None:
                    previews.append(_preview(session, city, day))
                else:
                    held.append(HeldDay(day, reason))
            return RetentionReport(horizon, city.retention_months, True, tuple(previews), tuple(held))
    done_days: list[DayRetention] = []
    held_days: list[HeldDay] = []
    complete = True
    for day in days:
        deleted = DayRetention(day, 0, 0, 0)
        while True:
            if deadline is not None and time.monotonic() > deadline:
                complete = False
                break
            with transaction() as session:
                step = _delete_batch(session, city, day, horizon, now, batch)
            if step.held is not None:
                held_days.append(HeldDay(day, step.held))
                break
            deleted = DayRetention(
                day,
                deleted.redemptions + step.redemptions,
                deleted.verification_events + step.verification_events,
                step.redemptions_kept,
            )
            if step.done:
                break
        if deleted.redemptions or deleted.verification_events or deleted.redemptions_kept:
            done_days.append(deleted)
        if not complete:
            break
    report = RetentionReport(horizon, city.retention_months, False, tuple(done_days), tuple(held_days), complete)
    if report.days or report.held:
        log.info(
            "retention before %s: deleted %d redemption(s) and %d verification event(s) of %d day(s), kept %d "
            "redemption(s) for limits and quotas; %d day(s) not final yet",
            horizon.isoformat(),
            report.redemptions,
            report.verification_events,
            len(report.days),
            report.redemptions_kept,
            len(report.held),
            extra={"held": {held.day.isoformat(): held.reason for held in report.held}},
        )
    stuck = [held for held in report.held if held.reason in NEEDS_SOMEONE]
    if stuck:
        # The worker rebuilds what is waiting by itself; these need someone to run a rebuild.
        log.warning(
            "%d day(s) before the retention horizon keep their raw facts until their statistics are rebuilt",
            len(stuck),
            extra={"held": {held.day.isoformat(): held.reason for held in stuck}},
        )
    return report


__all__ = [
    "BATCH",
    "DayRetention",
    "HeldDay",
    "RetentionReport",
    "apply_retention",
    "retention_horizon",
    "why_held",
]
