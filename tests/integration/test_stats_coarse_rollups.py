"""The coarse rollups (area and week tables) follow the raw facts through rebuild_dirty, rebuild_day and the
reconciliation (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from familienkarte.redemptions.models import Redemption
from familienkarte.statistics import coarse
from familienkarte.statistics import dashboard as board
from familienkarte.statistics.models import (
    NO_DISTRICT_KEY,
    StatsBenefitWeeks,
    StatsPartnerFraudWeeks,
    StatsRedemptionsArea,
    StatsRedemptionsAreaWeeks,
    StatsVerificationsArea,
    StatsVerificationsAreaWeeks,
    StatsWeekTops,
)
from familienkarte.statistics.reconcile import compare_day, compare_week, reconcile
from familienkarte.statistics.rollups import rebuild_day
from tests.helpers import Place, make_place
from tests.integration.test_statistics_rollups import (
    DAY,
    KOELN,
    NOW,
    day_facts,
    dirty,
    local,
    redemption,
    rows,
    verification,
)

# DAY (Thursday 2026-07-02) lies in the week of Monday 2026-06-29; NOW's reconciliation covers 2026-06-27 to
# 2026-07-04, in the weeks of 2026-06-22 and 2026-06-29.
WEEK = dt.date(2026, 6, 29)
WEEK_BEFORE = dt.date(2026, 6, 22)


@pytest.fixture
def place(db: Callable[[], Session]) -> Place:
    return make_place(db)


def all_equal_to_recount(db: Callable[[], Session], days: list[dt.date]) -> None:
    with db() as s:
        for day in days:
            assert compare_day(s, KOELN, day) == [], day
        for week in sorted({coarse.monday(day) for day in days}):
            assert compare_week(s, week) == [], week


def test_rebuild_dirty_builds_the_area_and_week_rows_of_the_days(db: Callable[[], Session], place: Place) -> None:
    day_facts(db, place)
    dirty(db, NOW)

    before = DAY - dt.timedelta(days=1)
    assert rows(db, StatsRedemptionsArea) == [
        (before, "culture", "Innenstadt", 1, 1),
        (DAY, "culture", "Innenstadt", 3, 4),
        (DAY, "sport", NO_DISTRICT_KEY, 1, 1),
    ]
    assert rows(db, StatsVerificationsArea) == [
        (DAY, "expired", NO_DISTRICT_KEY, 1),
        (DAY, "ok", "Innenstadt", 3),
        (DAY, "revoked", "Innenstadt", 1),
    ]
    assert set(rows(db, StatsBenefitWeeks)) == {
        (WEEK, place.culture, place.partner_id, "culture", "Innenstadt", 4, 5),
        (WEEK, place.sport, place.partner_id, "sport", NO_DISTRICT_KEY, 1, 1),
    }
    assert rows(db, StatsPartnerFraudWeeks) == [
        (WEEK, place.partner_id, NO_DISTRICT_KEY, 1, 0, 0, 0, 0),
        (WEEK, place.partner_id, "Innenstadt", 4, 0, 1, 0, 0),
    ]
    all_equal_to_recount(db, [before, DAY])


def test_a_late_upload_in_an_earlier_week_rewrites_the_running_totals_after_it(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    late = dt.date(2026, 6, 24)
    uploaded = NOW + dt.timedelta(minutes=10)
    redemption(db, place, "F00000006", local(late, 17), created_at=uploaded, offline=True, quantity=3)
    verification(db, place, "stale", local(late, 17))

    assert dirty(db, uploaded + dt.timedelta(minutes=5)).days == (late,)

    culture = [row for row in rows(db, StatsBenefitWeeks) if row[1] == place.culture]
    # A row for the week of the upload and the running total in the week after it.
    assert [(row[0], row[5], row[6]) for row in culture] == [(WEEK_BEFORE, 1, 3), (WEEK, 5, 8)]
    fraud = [row for row in rows(db, StatsPartnerFraudWeeks) if row[2] == "Innenstadt"]
    assert [(row[0], row[3], row[4]) for row in fraud] == [(WEEK_BEFORE, 1, 1), (WEEK, 5, 1)]
    all_equal_to_recount(db, [late, DAY - dt.timedelta(days=1), DAY])
    with db() as s, s.begin():
        assert reconcile(s, KOELN, uploaded + dt.timedelta(minutes=6)).differences == ()


def test_rebuild_day_keeps_the_week_tables_up(db: Callable[[], Session], place: Place) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    redemption(db, place, "G00000007", local(DAY, 18))
    with db() as s, s.begin():
        assert rebuild_day(s, KOELN, DAY, NOW).days == (DAY,)
    culture = [row for row in rows(db, StatsBenefitWeeks) if row[1] == place.culture]
    assert [(row[0], row[5]) for row in culture] == [(WEEK, 5)]
    all_equal_to_recount(db, [DAY])


def test_the_reconciliation_reports_and_repairs_an_edited_week_row(db: Callable[[], Session], place: Place) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    with db() as s, s.begin():
        s.execute(
            update(StatsBenefitWeeks).where(StatsBenefitWeeks.benefit_id == place.culture).values(cum_quantity=99)
        )
        s.execute(update(StatsRedemptionsArea).where(StatsRedemptionsArea.category == "sport").values(redemptions=7))

    with db() as s, s.begin():
        found = reconcile(s, KOELN, NOW, repair=True)
    assert sorted(difference.table for difference in found.differences) == [
        "stats_benefit_weeks",
        "stats_redemptions_area",
    ]
    week_row = next(d for d in found.differences if d.table == "stats_benefit_weeks")
    assert week_row.expected is not None
    assert week_row.expected["cum_quantity"] == 5
    assert week_row.stored is not None
    assert week_row.stored["cum_quantity"] == 99
    assert found.repaired
    with db() as s, s.begin():
        assert reconcile(s, KOELN, NOW).differences == ()


def test_the_reconciliation_reports_and_repairs_edited_kept_lists_and_area_weeks(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    with db() as s, s.begin():
        assert s.scalar(select(func.count()).select_from(StatsWeekTops).where(StatsWeekTops.week == WEEK))
        s.execute(update(StatsWeekTops).where(StatsWeekTops.week == WEEK).values(value=StatsWeekTops.value + 40))
        s.execute(
            update(StatsVerificationsAreaWeeks)
            .where(StatsVerificationsAreaWeeks.week == WEEK)
            .values(verifications=1000)
        )
        before = rows(db, StatsRedemptionsAreaWeeks)
        s.execute(delete(StatsRedemptionsAreaWeeks).where(StatsRedemptionsAreaWeeks.week == WEEK))

    with db() as s, s.begin():
        found = reconcile(s, KOELN, NOW, repair=True)
    assert {difference.table for difference in found.differences} == {
        "stats_week_tops",
        "stats_verifications_area_weeks",
        "stats_redemptions_area_weeks",
    }
    assert found.repaired
    with db() as s, s.begin():
        assert reconcile(s, KOELN, NOW).differences == ()
    assert rows(db, StatsRedemptionsAreaWeeks) == before


def test_the_dashboard_over_the_coarse_tables_answers_as_over_the_day_tables(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    redemption(db, place, "H00000008", local(dt.date(2026, 6, 23), 10), quantity=2)
    verification(db, place, "bad_proof", local(dt.date(2026, 6, 20), 10))
    dirty(db, NOW)
    with db() as s:
        for start, end in ((dt.date(2026, 6, 20), DAY), (WEEK_BEFORE, dt.date(2026, 7, 5)), (DAY, DAY)):
            for district in (None, "Innenstadt"):
                filters = board.Filters(start=start, end=end, district=district)
                fast = board.dashboard(s, filters)
                assert fast == board.Dashboard(
                    filters=filters,
                    charts=fast.charts,
                    totals=board.totals(s, filters, fine=True),
                    over_time=board.redemptions_over_time(s, filters, fine=True),
                    by_category=board.redemptions_by_category(s, filters, fine=True),
                    by_district=board.redemptions_by_district(s, filters, fine=True),
                    top_benefits=board.top_benefits(s, filters, fine=True),
                    top_partners=board.top_partners(s, filters, fine=True),
                    cards=fast.cards,
                    families=fast.families,
                    reasons=board.verifications_by_reason(s, filters, fine=True),
                    fraud=board.fraud_signals(s, filters, fine=True),
                )
        whole = board.Filters(start=WEEK_BEFORE, end=dt.date(2026, 7, 5))
        assert [row.redemptions for row in board.top_benefits(s, whole)] == [5, 1]
        assert [(row.flagged, row.verifications) for row in board.fraud_signals(s, whole)] == [(1, 5)]


def week_tables(db: Callable[[], Session]) -> list[list[tuple[object, ...]]]:
    return [rows(db, StatsBenefitWeeks), rows(db, StatsPartnerFraudWeeks)]


def test_rebuilding_a_day_weeks_back_with_changed_facts_gives_the_week_tables_of_a_build_from_scratch(
    db: Callable[[], Session], place: Place
) -> None:
    early, middle = dt.date(2026, 6, 3), dt.date(2026, 6, 17)
    first_week = coarse.monday(early)
    weeks = [first_week + n * coarse.WEEK for n in range(5)]
    assert weeks[-1] == WEEK
    # The sport benefit's only redemption at the outskirts before DAY's week.
    sport = redemption(db, place, "J00000001", local(early, 10), benefit=place.sport, location=place.outskirts)
    redemption(db, place, "J00000002", local(early, 11))
    redemption(db, place, "J00000003", local(middle, 11), quantity=2)
    verification(db, place, "ok", local(early, 10))
    day_facts(db, place)
    dirty(db, NOW)
    sport_rows = [row for row in rows(db, StatsBenefitWeeks) if row[1] == place.sport]
    assert [(row[0], row[5]) for row in sport_rows] == [(week, 1) for week in weeks[:-1]] + [(WEEK, 2)]

    # Weeks later the facts of that day change: the sport redemption voided, a culture redemption and a stale
    # check at the outskirts added (keys the day had not had).
    with db() as s, s.begin():
        s.execute(update(Redemption).where(Redemption.id == sport).values(status="voided", voided_at=NOW))
    redemption(db, place, "J00000004", local(early, 12), location=place.outskirts, quantity=3)
    verification(db, place, "stale", local(early, 12), location=place.outskirts)
    with db() as s, s.begin():
        assert rebuild_day(s, KOELN, early, NOW).days == (early,)

    benefit_weeks = rows(db, StatsBenefitWeeks)
    # The sport key's weeks before its first remaining redemption are gone; the new key has every week since.
    assert [(row[0], row[5], row[6]) for row in benefit_weeks if row[1] == place.sport] == [(WEEK, 1, 1)]
    assert [(row[0], row[5], row[6]) for row in benefit_weeks if row[1] == place.culture and not row[4]] == [
        (week, 1, 3) for week in weeks
    ]
    assert [(row[0], row[5], row[6]) for row in benefit_weeks if row[4] == "Innenstadt"] == [
        (weeks[0], 1, 1),
        (weeks[1], 1, 1),
        (weeks[2], 2, 3),
        (weeks[3], 2, 3),
        (WEEK, 6, 8),
    ]
    assert [(row[0], row[3], row[4]) for row in rows(db, StatsPartnerFraudWeeks) if not row[2]] == [
        *((week, 1, 1) for week in weeks[:-1]),
        (WEEK, 2, 1),
    ]
    maintained = week_tables(db)
    with db() as s, s.begin():
        coarse.rebuild_all(s)
    assert week_tables(db) == maintained
    all_equal_to_recount(db, [early, middle, DAY])
