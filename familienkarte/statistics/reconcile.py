"""The nightly reconciliation: recount yesterday and the 7 days before from the raw facts and compare row by row.

There must be no difference. The days whose facts changed since the last search are rebuilt first (as the
frequent ``rebuild_dirty`` would), so what is left is a real fault: a change the search missed, a row edited by
hand, a rebuild that went wrong. Every difference is logged and returned; with ``repair`` the days and months
that differ are rebuilt afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import CompoundSelect, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session

from familienkarte.city import City
from familienkarte.db import Base
from familienkarte.events.stats import consume_pending_statistics
from familienkarte.statistics.coarse import (
    AREA_TABLES,
    REDEMPTIONS_AREA,
    VERIFICATIONS_AREA,
    WEEK_TABLES,
    area_week_recount,
    monday,
    rewrite_weeks,
    stored_area_week,
    stored_tops,
    stored_week,
    tops_recount,
    week_recount,
)
from familienkarte.statistics.models import (
    PROGRAMME,
    StatsCards,
    StatsFamilies,
    StatsPartnerMonthBuild,
    StatsPartnerMonthReasons,
    StatsPartnerMonths,
    StatsRedemptions,
    StatsRedemptionsArea,
    StatsVerifications,
    StatsVerificationsArea,
    StatsWeekTops,
)
from familienkarte.statistics.rollups import (
    Recount,
    cards_recount,
    families_recount,
    month_start,
    partner_month_reasons_recount,
    partner_month_recount,
    rebuild,
    rebuild_dirty,
    redemptions_recount,
    retained_days,
    retained_months,
    verifications_recount,
)

log = logging.getLogger("familienkarte.statistics")

# Yesterday and the 7 days before it.
DAYS_BACK: Final = 8
# The tables the week tables are built from.
DAY_TABLES: Final = (StatsRedemptions.__tablename__, StatsVerifications.__tablename__)


@dataclass(frozen=True)
class Difference:
    """One row that differs: ``expected`` from the raw facts, ``stored`` in the rollup (None: no such row)."""

    table: str
    key: tuple[Any, ...]
    expected: dict[str, Any] | None
    stored: dict[str, Any] | None


@dataclass(frozen=True)
class Reconciliation:
    days: tuple[dt.date, ...]
    months: tuple[dt.date, ...]
    differences: tuple[Difference, ...]
    repaired: bool


def _plain(value: Any) -> Any:
    return int(value) if isinstance(value, Decimal) else value


def _keyed(table: type[Base], rows: Iterable[Any]) -> dict[tuple[Any, ...], dict[str, Any]]:
    key_names = [column.name for column in sa_inspect(table).primary_key]
    keyed = {}
    for row in rows:
        values = {name: _plain(value) for name, value in row._mapping.items()}
        keyed[tuple(values[name] for name in key_names)] = values
    return keyed


def _compare(
    session: Session, table: type[Base], recount: Recount | CompoundSelect[*tuple[Any, ...]], stored: Recount
) -> list[Difference]:
    names = [column.name for column in recount.selected_columns]
    expected = _keyed(table, session.execute(recount))
    found = _keyed(table, session.execute(stored.with_only_columns(*(table.__table__.c[name] for name in names))))
    return [
        Difference(table.__tablename__, key, expected.get(key), found.get(key))
        for key in sorted(expected.keys() | found.keys(), key=repr)
        if expected.get(key) != found.get(key)
    ]


def compare_day(session: Session, city: City, day: dt.date) -> list[Difference]:
    """The day's rows and its area rows, each against a recount from the raw facts."""
    redemptions = redemptions_recount(session, city, day)
    verifications = verifications_recount(session, city, day)
    return _compare(
        session, StatsRedemptions, redemptions, select(StatsRedemptions).where(StatsRedemptions.day == day),
    ) + _compare(
        session, StatsVerifications, verifications, select(StatsVerifications).where(StatsVerifications.day == day),
    ) + _compare(
        session, StatsRedemptionsArea, REDEMPTIONS_AREA.recount(redemptions.subquery()),
        select(StatsRedemptionsArea).where(StatsRedemptionsArea.day == day),
    ) + _compare(
        session, StatsVerificationsArea, VERIFICATIONS_AREA.recount(verifications.subquery()),
        select(StatsVerificationsArea).where(StatsVerificationsArea.day == day),
    )  # fmt: skip


def compare_week(session: Session, week: dt.date) -> list[Difference]:
    """The running totals of ``week`` (a Monday) against a recount from the day tables (the raw facts of days the
    retention went through are gone; their day rows stay and are final)."""
    differences: list[Difference] = []
    for spec in WEEK_TABLES:
        differences += _compare(session, spec.table, week_recount(session, spec, week), stored_week(spec, week))
        differences += _compare(session, StatsWeekTops, tops_recount(session, spec, week), stored_tops(spec, week))
    for area in AREA_TABLES:
        recount = area_week_recount(session, area, week)
        differences += _compare(session, area.weeks, recount, stored_area_week(area, week))
    return differences


def compare_month(session: Session, city: City, month: dt.date | None, families: bool = True) -> list[Difference]:
    """The month's cards and families reached (``month`` None: the programme-wide families reached; ``families``
    False: the cards only)."""
    period = PROGRAMME if month is None else month.strftime("%Y-%m")
    differences: list[Difference] = []
    if families:
        differences += _compare(
            session,
            StatsFamilies,
            families_recount(session, city, month),
            select(StatsFamilies).where(StatsFamilies.period == period),
        )
    if month is not None:
        differences += _compare(
            session, StatsCards, cards_recount(city, month), select(StatsCards).where(StatsCards.month == month)
        )
    if month is not None and families and session.get(StatsPartnerMonthBuild, month) is not None:
        differences += compare_partner_month(session, city, month)
    return differences


def compare_partner_month(session: Session, city: City, month: dt.date) -> list[Difference]:
    """A counted past month's partner figures (``StatsPartnerMonths``, ``StatsPartnerMonthReasons``) against a
    recount from the raw facts."""
    stored = select(StatsPartnerMonths).where(StatsPartnerMonths.month == month)
    differences = _compare(session, StatsPartnerMonths, partner_month_recount(session, city.timezone, month), stored)
    reasons = select(StatsPartnerMonthReasons).where(StatsPartnerMonthReasons.month == month)
    return differences + _compare(
        session, StatsPartnerMonthReasons, partner_month_reasons_recount(city.timezone, month), reasons
    )


def reconcile(session: Session, city: City, now: dt.datetime, *, repair: bool = False) -> Reconciliation:
    """Compare yesterday and the 7 days before (and their months, and the programme) with the raw facts."""
    consume_pending_statistics(session, city, now)
    rebuild_dirty(session, city, now)
    yesterday = city.today(now) - dt.timedelta(days=1)
    days = tuple(yesterday - dt.timedelta(days=back) for back in range(DAYS_BACK))
    months = tuple(sorted({month_start(day) for day in days}))
    # The retention deleted the raw facts of these: there is nothing left to compare their final rollups with.
    retained = retained_days(session, days)
    final_months = retained_months(session, months)
    differences: list[Difference] = []
    wrong_days: set[dt.date] = set()
    wrong_months: set[dt.date] = set()
    for day in days:
        if day in retained:
            continue
        found = compare_day(session, city, day)
        differences += found
        if found:
            wrong_days.add(day)
    # The week tables are built from the day tables: compared with them once these agree with the raw facts (a
    # wrong day row is repaired with its day, and its weeks with it).
    wrong_weeks: list[dt.date] = []
    if not any(difference.table in DAY_TABLES for difference in differences):
        for week in sorted({monday(day) for day in days}):
            found = compare_week(session, week)
            differences += found
            if found:
                wrong_weeks.append(week)
    for month in months:
        found = compare_month(session, city, month, families=month not in final_months)
        differences += found
        if found:
            wrong_months.add(month)
    differences += compare_month(session, city, None)
    for difference in differences:
        log.error(
            "statistics differ from the raw facts in %s %s: expected %s, stored %s",
            difference.table,
            difference.key,
            difference.expected,
            difference.stored,
        )
    repaired = bool(repair and differences)
    if repaired:
        rebuild(session, city, wrong_days, now, wrong_months or months)
        if wrong_weeks:
            rewrite_weeks(session, wrong_weeks[0])
    log.info("reconciled statistics of %s to %s: %d difference(s)", days[-1], days[0], len(differences))
    return Reconciliation(days, months, tuple(differences), repaired)
