"""The statistics rollups, rebuilt from the raw facts (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL).

The facts are written straight into the tables with the times each case needs; the rollups are computed by the
database (PostgreSQL converts with AT TIME ZONE, SQLite with fixed offsets per range), and the expected numbers
below are the same for both.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from click.testing import CliRunner
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.models import Card, Household
from familienkarte.city import load_city
from familienkarte.cli import main
from familienkarte.db import is_postgresql, utcnow
from familienkarte.events import stats as stats_events
from familienkarte.events.models import OutboxEvent
from familienkarte.events.services import REDEMPTION_VOIDED, emit
from familienkarte.events.stats import consume_statistics
from familienkarte.partners.models import Location
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.settings import Settings
from familienkarte.statistics.models import (
    PROGRAMME,
    StatsBuild,
    StatsCards,
    StatsFamilies,
    StatsRedemptions,
    StatsRedemptionsArea,
    StatsRedemptionsAreaWeeks,
    StatsVerifications,
    StatsVerificationsArea,
    StatsVerificationsAreaWeeks,
)
from familienkarte.statistics.reconcile import reconcile
from familienkarte.statistics.retention_models import StatsReachedCard
from familienkarte.statistics.rollups import (
    Rebuilt,
    day_runs,
    rebuild,
    rebuild_day,
    rebuild_dirty,
    recorded_card_numbers,
)
from tests.conftest import BASE_URL
from tests.helpers import Place, cli_env, make_place, make_test_settings
from tests.workers_helpers import wait_until
from workers import tasks_outbox, tasks_stats
from workers.celery_app import celery_app, configure

KOELN = load_city("koeln")
BERLIN = KOELN.timezone
DAY = dt.date(2026, 7, 2)
JULY = dt.date(2026, 7, 1)
# "Now" for the services: the third day after DAY, in the morning.
NOW = dt.datetime(2026, 7, 5, 8, tzinfo=dt.UTC)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in Köln, as the aware UTC datetime stored."""
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN).astimezone(dt.UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def place(db: Callable[[], Session]) -> Place:
    return make_place(db)


def redemption(
    db: Callable[[], Session],
    place: Place,
    card: str,
    occurred_at: dt.datetime,
    *,
    quantity: int = 1,
    benefit: uuid.UUID | None = None,
    location: uuid.UUID | None = None,
    created_at: dt.datetime | None = None,
    voided: bool = False,
    offline: bool = False,
) -> uuid.UUID:
    created = created_at or occurred_at
    with db() as s, s.begin():
        row = Redemption(
            partner_id=place.partner_id,
            location_id=location or place.centre,
            benefit_id=benefit or place.culture,
            card_number=card,
            quantity=quantity,
            client_nonce=uuid.uuid4().hex,
            presentation="phone",
            occurred_at=occurred_at,
            created_at=created,
            offline=offline,
            uploaded_at=created if offline else None,
            status="voided" if voided else "recorded",
            voided_at=created if voided else None,
        )
        s.add(row)
        s.flush()
        stats_events.redemption_recorded(s, row)
        return row.id


def verification(
    db: Callable[[], Session], place: Place, reason: str, at: dt.datetime, location: uuid.UUID | None = None
) -> None:
    with db() as s, s.begin():
        s.add(
            VerificationEvent(partner_id=place.partner_id, location_id=location or place.centre, reason=reason, at=at)
        )
        stats_events.verifications_recorded(s, [at])


def day_facts(db: Callable[[], Session], place: Place) -> None:
    """A mixed day: repeated cards, quantities, a voided redemption, one at 23:30 UTC the evening before."""
    redemption(db, place, "A00000001", local(DAY, 8, 15), quantity=2)
    redemption(db, place, "A00000001", local(DAY, 8, 40))
    redemption(db, place, "B00000002", local(DAY, 8, 50))
    redemption(db, place, "C00000003", local(DAY, 8, 55), voided=True)
    # 23:30 UTC on the day before is 01:30 on DAY in Köln (summer time).
    redemption(db, place, "A00000001", utc(2026, 7, 1, 23, 30), benefit=place.sport, location=place.outskirts)
    # 23:30 in Köln the day before: not DAY.
    redemption(db, place, "D00000004", local(DAY - dt.timedelta(days=1), 23, 30))
    for reason in ("ok", "ok", "ok", "revoked"):
        verification(db, place, reason, local(DAY, 8, 20))
    verification(db, place, "expired", local(DAY, 14, 5), place.outskirts)


def rows(db: Callable[[], Session], table: Any, *where: Any) -> list[tuple[Any, ...]]:
    columns = list(table.__table__.columns)
    with db() as s:
        found = [tuple(row) for row in s.execute(select(*columns).where(*where))]
    return sorted(found, key=lambda row: tuple((value is None, value if value is not None else 0) for value in row))


def build(db: Callable[[], Session], day: dt.date, now: dt.datetime = NOW) -> Rebuilt:
    """Rebuild the day, its month and the programme-wide figure."""
    with db() as s, s.begin():
        return rebuild(s, KOELN, [day], now)


def dirty(db: Callable[[], Session], now: dt.datetime) -> Rebuilt:
    """What the workers do: the statistics consumer takes the pending events, then the dirty periods are rebuilt."""
    with db() as s, s.begin():
        pending = s.scalars(select(OutboxEvent.id).where(OutboxEvent.done_at.is_(None))).all()
        consume_statistics(s, KOELN, pending, now)
    with db() as s, s.begin():
        return rebuild_dirty(s, KOELN, now)


def test_a_days_redemptions_count_recorded_uses_sum_quantities_and_count_distinct_cards(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    build(db, DAY)

    assert rows(db, StatsRedemptions, StatsRedemptions.day == DAY) == [
        (DAY, 1, place.partner_id, place.outskirts, place.sport, "sport", None, 1, 1, 1),
        (DAY, 8, place.partner_id, place.centre, place.culture, "culture", "Innenstadt", 3, 4, 2),
    ]
    assert rows(db, StatsRedemptions, StatsRedemptions.day != DAY) == []  # the day before was not built


def test_verifications_are_counted_by_reason_hour_and_location(db: Callable[[], Session], place: Place) -> None:
    day_facts(db, place)
    build(db, DAY)

    assert {(r[1], r[3], r[4], r[5], r[6]) for r in rows(db, StatsVerifications)} == {
        (8, place.centre, "ok", "Innenstadt", 3),
        (8, place.centre, "revoked", "Innenstadt", 1),
        (14, place.outskirts, "expired", None, 1),
    }


def test_families_reached_are_distinct_cards_per_month_and_programme_wide_never_summed(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    redemption(db, place, "A00000001", local(dt.date(2026, 8, 3), 10))
    redemption(db, place, "E00000005", local(dt.date(2026, 8, 3), 10))
    build(db, DAY)
    build(db, dt.date(2026, 8, 3))

    # July: A, B and D (C's only redemption was voided); August: A and E; the programme: A, B, D and E.
    assert dict(rows(db, StatsFamilies)) == {"2026-07": 3, "2026-08": 2, PROGRAMME: 4}


def card(
    db: Callable[[], Session],
    district: str,
    number: str,
    issued_at: dt.datetime,
    *,
    status: str = "active",
    changed_at: dt.datetime | None = None,
    phone_at: dt.datetime | None = None,
) -> None:
    valid_from = issued_at.astimezone(BERLIN).date()
    with db() as s, s.begin():
        household = Household(
            street="Domkloster",
            house_number="4",
            postal_code="50667",
            city_name="Köln",
            district=district,
            address_key=f"50667|domkloster|{number}",
            locale="de",
            created_at=issued_at,
            updated_at=issued_at,
        )
        s.add(household)
        s.flush()
        row = Card(
            household_id=household.id,
            number=number,
            status=status,
            valid_from=valid_from,
            valid_until=valid_from.replace(year=valid_from.year + 1) - dt.timedelta(days=1),
            issued_at=issued_at,
            created_at=issued_at,
            status_changed_at=changed_at,
        )
        s.add(row)
        s.flush()
        if phone_at is not None:
            s.add(
                CardCredential(
                    card_id=row.id,
                    kind="phone",
                    device_key="A" * 44,
                    status_list_id=1,
                    status_index=int(number[1:]),
                    kid="k1",
                    exp=phone_at + dt.timedelta(days=30),
                    created_at=phone_at,
                )
            )


def card_facts(db: Callable[[], Session]) -> None:
    # Issued at 00:30 on 1 July in Köln (22:30 UTC on 30 June), its phone activated in July.
    card(db, "Innenstadt", "K00000001", local(JULY, 0, 30), phone_at=local(dt.date(2026, 7, 3), 9))
    # Issued in June, revoked in July: active in July (not revoked before it began), revoked in July.
    card(db, "Innenstadt", "K00000002", local(dt.date(2026, 6, 10), 9), status="revoked", changed_at=local(JULY, 12))
    # Suspended in June: active in June, not in July.
    card(
        db,
        "Porz",
        "K00000003",
        local(dt.date(2026, 5, 2), 9),
        status="suspended",
        changed_at=local(dt.date(2026, 6, 15), 9),
    )
    # Issued in July, its phone activated in August.
    card(db, "Porz", "K00000004", local(dt.date(2026, 7, 15), 9), phone_at=local(dt.date(2026, 8, 2), 9))


def test_cards_are_counted_by_family_district_and_local_month(db: Callable[[], Session], place: Place) -> None:
    card_facts(db)
    build(db, DAY)
    build(db, dt.date(2026, 6, 20))
    build(db, dt.date(2026, 8, 20))

    cards = {(month, district): counts for month, district, *counts in rows(db, StatsCards)}
    # issued, activated, revoked, active
    assert cards == {
        (dt.date(2026, 6, 1), "Innenstadt"): [1, 0, 0, 1],
        (dt.date(2026, 6, 1), "Porz"): [0, 0, 0, 1],
        (JULY, "Innenstadt"): [1, 1, 1, 2],
        (JULY, "Porz"): [1, 0, 0, 1],
        (dt.date(2026, 8, 1), "Innenstadt"): [0, 0, 0, 1],
        (dt.date(2026, 8, 1), "Porz"): [0, 1, 0, 1],
    }


def test_rebuilding_a_day_twice_gives_the_same_rows_and_drops_what_no_longer_counts(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    build(db, DAY)
    first = [rows(db, table) for table in (StatsRedemptions, StatsVerifications, StatsFamilies, StatsCards)]
    build(db, DAY)
    assert [rows(db, table) for table in (StatsRedemptions, StatsVerifications, StatsFamilies, StatsCards)] == first

    with db() as s, s.begin():
        s.execute(delete(Redemption).where(Redemption.location_id == place.outskirts))
    with db() as s, s.begin():
        assert rebuild_day(s, KOELN, DAY, NOW).days == (DAY,)
    assert [row[1] for row in rows(db, StatsRedemptions)] == [8]
    # rebuild_day keeps to the day's tables (the month's families still count the deleted redemption's card).
    assert rows(db, StatsFamilies) == first[2]


def test_the_days_the_clocks_change_bucket_by_local_hour(db: Callable[[], Session], place: Place) -> None:
    autumn, spring = dt.date(2026, 10, 25), dt.date(2026, 3, 29)
    # 02:30 summer time and 02:30 winter time: the same local hour, one bucket, two cards.
    redemption(db, place, "A00000001", utc(2026, 10, 25, 0, 30))
    redemption(db, place, "B00000002", utc(2026, 10, 25, 1, 30))
    redemption(db, place, "A00000001", utc(2026, 10, 25, 22, 59))  # 23:59 winter time: still the 25th
    redemption(db, place, "A00000001", utc(2026, 10, 25, 23, 0))  # 00:00 on the 26th
    # Spring: 01:30 winter time, then 03:30 summer time (there is no 02:xx).
    redemption(db, place, "A00000001", utc(2026, 3, 29, 0, 30))
    redemption(db, place, "A00000001", utc(2026, 3, 29, 1, 30))
    build(db, autumn)
    build(db, spring)

    assert [(r[0], r[1], r[7], r[9]) for r in rows(db, StatsRedemptions)] == [
        (spring, 1, 1, 1),
        (spring, 3, 1, 1),
        (autumn, 2, 2, 2),
        (autumn, 23, 1, 1),
    ]


def test_a_late_offline_upload_and_a_void_are_picked_up_by_rebuild_dirty(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    first = dirty(db, NOW)
    assert {DAY - dt.timedelta(days=1), DAY} <= set(first.days)
    assert dirty(db, NOW + dt.timedelta(minutes=5)).days == ()  # nothing changed since

    # The till was offline yesterday; the upload arrives today.
    yesterday = KOELN.today(NOW) - dt.timedelta(days=1)
    uploaded = NOW + dt.timedelta(minutes=10)
    redemption(db, place, "F00000006", local(yesterday, 17), created_at=uploaded, offline=True, quantity=3)
    verification(db, place, "ok", local(yesterday, 17))
    picked = dirty(db, uploaded + dt.timedelta(minutes=5))
    assert picked.days == (yesterday,)
    assert [(r[1], r[7], r[8], r[9]) for r in rows(db, StatsRedemptions, StatsRedemptions.day == yesterday)] == [
        (17, 1, 3, 1)
    ]
    assert [(r[1], r[6]) for r in rows(db, StatsVerifications, StatsVerifications.day == yesterday)] == [(17, 1)]
    assert dict(rows(db, StatsFamilies))["2026-07"] == 4

    # A void of a redemption of DAY, three days later.
    voided_at = uploaded + dt.timedelta(minutes=20)
    with db() as s, s.begin():
        s.execute(
            update(Redemption)
            .where(Redemption.card_number == "B00000002")
            .values(status="voided", voided_at=voided_at, void_reason="mistake")
        )
        emit(s, REDEMPTION_VOIDED, {"occurred_at": local(DAY, 8, 50).isoformat()})
    assert dirty(db, voided_at + dt.timedelta(minutes=5)).days == (DAY,)
    assert [(r[1], r[7], r[8], r[9]) for r in rows(db, StatsRedemptions, StatsRedemptions.day == DAY)] == [
        (1, 1, 1, 1),
        (8, 2, 3, 1),
    ]
    with db() as s:
        built = s.get(StatsBuild, DAY.isoformat())
        assert built is not None
        assert built.built_at == voided_at + dt.timedelta(minutes=5)
    assert dirty(db, voided_at + dt.timedelta(minutes=30)).days == ()


def test_a_locations_new_district_re_rolls_the_recent_days_and_a_move_the_households_months(
    db: Callable[[], Session], place: Place
) -> None:
    yesterday = KOELN.today(NOW) - dt.timedelta(days=1)
    redemption(db, place, "A00000001", local(yesterday, 11))
    card(db, "Innenstadt", "K00000001", local(dt.date(2026, 6, 10), 9))
    dirty(db, NOW)
    changed_at = NOW + dt.timedelta(minutes=10)
    with db() as s, s.begin():
        s.execute(update(Location).where(Location.id == place.centre).values(district="Nippes", updated_at=changed_at))
        s.execute(update(Household).values(district="Porz", updated_at=changed_at))

    rebuilt = dirty(db, changed_at + dt.timedelta(minutes=5))

    assert yesterday in rebuilt.days
    assert rebuilt.months == (dt.date(2026, 6, 1), JULY)
    assert [r[6] for r in rows(db, StatsRedemptions)] == ["Nippes"]
    assert {(r[0], r[1]) for r in rows(db, StatsCards)} == {(dt.date(2026, 6, 1), "Porz"), (JULY, "Porz")}
    with db() as s, s.begin():
        assert reconcile(s, KOELN, changed_at + dt.timedelta(minutes=6)).differences == ()


def test_reconciliation_reports_an_edited_row_and_nothing_after_a_rebuild(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    with db() as s, s.begin():
        assert reconcile(s, KOELN, NOW).differences == ()  # the first search built everything
    with db() as s, s.begin():
        s.execute(update(StatsRedemptions).where(StatsRedemptions.hour == 8).values(redemptions=99))
        s.execute(delete(StatsFamilies).where(StatsFamilies.period == PROGRAMME))

    with db() as s, s.begin():
        found = reconcile(s, KOELN, NOW)
    assert not found.repaired
    assert len(found.days) == 8
    assert found.days[0] == KOELN.today(NOW) - dt.timedelta(days=1)
    by_table = {difference.table: difference for difference in found.differences}
    assert set(by_table) == {"stats_redemptions", "stats_families"}
    edited = by_table["stats_redemptions"]
    assert edited.key == (DAY, 8, place.partner_id, place.centre, place.culture)
    assert edited.expected is not None
    assert edited.expected["redemptions"] == 3
    assert edited.stored is not None
    assert edited.stored["redemptions"] == 99
    assert by_table["stats_families"].stored is None

    build(db, DAY)
    with db() as s, s.begin():
        assert reconcile(s, KOELN, NOW).differences == ()


def test_reconciliation_handles_events_still_on_their_way_before_comparing(
    db: Callable[[], Session], place: Place
) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    # Recorded with its event a moment before the nightly run; the relay has not delivered the event yet.
    redemption(db, place, "E00000005", local(DAY, 9, 10))
    assert len(pending_events(db)) == 1

    with db() as s, s.begin():
        found = reconcile(s, KOELN, NOW)
    assert found.differences == ()
    assert pending_events(db) == []
    assert sum(r[7] for r in rows(db, StatsRedemptions, StatsRedemptions.day == DAY)) == 5


def test_reconciliation_with_repair_rebuilds_what_differs(db: Callable[[], Session], place: Place) -> None:
    day_facts(db, place)
    dirty(db, NOW)
    with db() as s, s.begin():
        s.execute(delete(StatsVerifications).where(StatsVerifications.reason == "revoked"))
    with db() as s, s.begin():
        found = reconcile(s, KOELN, NOW, repair=True)
    assert [d.table for d in found.differences] == ["stats_verifications"]
    assert found.repaired
    with db() as s, s.begin():
        assert reconcile(s, KOELN, NOW).differences == ()


def test_the_command_line_rebuilds_a_day_and_reconciles(
    db: Callable[[], Session], place: Place, migrated_db: str, tmp_path: Path
) -> None:
    redemption(db, place, "A00000001", local(DAY, 10))
    env = cli_env(tmp_path, migrated_db)
    runner = CliRunner()

    built = runner.invoke(main, ["stats", "rebuild", "--day", DAY.isoformat()], env=env)
    assert built.exit_code == 0, built.output
    assert f"1 day ({DAY.isoformat()})" in built.stdout
    assert [r[7] for r in rows(db, StatsRedemptions)] == [1]

    bad = runner.invoke(main, ["stats", "rebuild", "--day", "2026-13-01"], env=env)
    assert bad.exit_code == 2
    assert "--day" in bad.output
    assert "2026-13-01" in bad.output

    reconciled = runner.invoke(main, ["stats", "reconcile"], env=env)
    assert reconciled.exit_code == 0, reconciled.output
    assert "0 differences" in reconciled.stderr


def test_the_command_line_rebuilds_a_range_of_days_and_refuses_a_wrong_one(
    db: Callable[[], Session], place: Place, migrated_db: str, tmp_path: Path
) -> None:
    redemption(db, place, "A00000001", local(DAY, 10))
    redemption(db, place, "B00000002", local(dt.date(2026, 8, 3), 10))
    env = cli_env(tmp_path, migrated_db)
    runner = CliRunner()

    built = runner.invoke(main, ["stats", "rebuild", "--from", "2026-06-30", "--to", "2026-08-03"], env=env)
    assert built.exit_code == 0, built.output
    assert "35 days (2026-06-30 to 2026-08-03) and 3 months" in built.stdout
    assert [(r[0], r[7]) for r in rows(db, StatsRedemptions)] == [(DAY, 1), (dt.date(2026, 8, 3), 1)]
    assert dict(rows(db, StatsFamilies)) == {"2026-07": 1, "2026-08": 1, PROGRAMME: 2}
    with db() as s:
        assert s.get(StatsBuild, "2026-06-30") is not None
        assert s.get(StatsBuild, "2026-08-03") is not None

    for arguments, named in (
        (["--from", "2026-07-01"], "--from and --to go together"),
        (["--to", "2026-07-01"], "--from and --to go together"),
        (["--day", "2026-07-01", "--from", "2026-07-01", "--to", "2026-07-02"], "not both"),
        (["--from", "2026-07-02", "--to", "2026-07-01"], "2026-07-02 is after 2026-07-01"),
        (["--from", "2026-07-32", "--to", "2026-08-01"], "2026-07-32"),
    ):
        refused = runner.invoke(main, ["stats", "rebuild", *arguments], env=env)
        assert refused.exit_code == 2, (arguments, refused.output)
        assert named in refused.output, refused.output


def pending_events(db: Callable[[], Session]) -> list[uuid.UUID]:
    with db() as s:
        return list(s.scalars(select(OutboxEvent.id).where(OutboxEvent.done_at.is_(None))))


@pytest.fixture
def worker_settings(migrated_db: str, tmp_path: Path) -> Settings:
    settings = make_test_settings(tmp_path / "worker", migrated_db, FK_BASE_URL=BASE_URL)
    configure(settings, configure_logs=False)
    return settings


def test_the_stats_tasks_run_on_a_real_worker(
    db: Callable[[], Session], place: Place, worker_settings: Settings
) -> None:
    yesterday = KOELN.today() - dt.timedelta(days=1)
    redemption(db, place, "A00000001", local(yesterday, 0, 5))
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        tasks_stats.rebuild_day.delay(yesterday.isoformat())
        wait_until(lambda: rows(db, StatsRedemptions, StatsRedemptions.day == yesterday), what="the day's rollups")
        # Uploaded now from an offline till.
        redemption(db, place, "B00000002", local(yesterday, 0, 10), created_at=utcnow(), offline=True)
        tasks_outbox.relay.delay()
        wait_until(lambda: not pending_events(db), what="the events consumed")
        tasks_stats.rebuild_dirty.delay()
        wait_until(
            lambda: [r[9] for r in rows(db, StatsRedemptions, StatsRedemptions.day == yesterday)] == [2],
            what="the changed day rebuilt",
        )
        with db() as s, s.begin():
            s.execute(update(StatsRedemptions).values(quantity=50))
        tasks_stats.reconcile.delay()
        wait_until(lambda: [r[8] for r in rows(db, StatsRedemptions)] == [2], what="the reconciliation's repair")


def test_days_are_rebuilt_in_runs_of_consecutive_days_on_postgresql_and_one_by_one_on_sqlite(
    db: Callable[[], Session],
) -> None:
    days = [dt.date(2026, 7, 1) + dt.timedelta(days=n) for n in range(40)] + [dt.date(2026, 9, 1)]
    with db() as s:
        runs = day_runs(s, reversed(days))
        postgresql = is_postgresql(s)
    if postgresql:
        assert runs == [
            (dt.date(2026, 7, 1), dt.date(2026, 7, 31)),
            (dt.date(2026, 8, 1), dt.date(2026, 8, 9)),
            (dt.date(2026, 9, 1), dt.date(2026, 9, 1)),
        ]
    else:
        assert runs == [(day, day) for day in days]


def test_a_run_of_days_ends_with_its_month_on_postgresql(db: Callable[[], Session]) -> None:
    """A run's rebuild recounts the months of its days: a run within one month recounts one."""
    days = [dt.date(2026, 1, 20) + dt.timedelta(days=n) for n in range(75)]
    with db() as s:
        runs = day_runs(s, days)
        postgresql = is_postgresql(s)
    if postgresql:
        assert runs == [
            (dt.date(2026, 1, 20), dt.date(2026, 1, 31)),
            (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
            (dt.date(2026, 3, 1), dt.date(2026, 3, 31)),
            (dt.date(2026, 4, 1), dt.date(2026, 4, 4)),
        ]
    else:
        assert len(runs) == len(days)


def test_a_run_of_days_across_the_clock_change_gives_the_rows_of_its_days_built_one_by_one(
    db: Callable[[], Session], place: Place
) -> None:
    days = [dt.date(2026, 10, 20) + dt.timedelta(days=n) for n in range(15)]
    for number, day in enumerate(days):
        redemption(db, place, f"A{number:08d}", local(day, 0, 10))  # just after local midnight
        redemption(db, place, f"B{number:08d}", local(day, 23, 50), quantity=2, location=place.outskirts)
        redemption(db, place, f"C{number:08d}", local(day, 12), benefit=place.sport, voided=number % 3 == 0)
        verification(db, place, "ok", local(day, 0, 5))
        verification(db, place, "stale", local(day, 23, 55), place.outskirts)
    redemption(db, place, "D00000001", utc(2026, 10, 25, 0, 30))  # 02:30 summer time
    redemption(db, place, "D00000002", utc(2026, 10, 25, 1, 30))  # 02:30 winter time: the same bucket
    tables = (
        StatsRedemptions,
        StatsVerifications,
        StatsRedemptionsArea,
        StatsVerificationsArea,
        StatsRedemptionsAreaWeeks,
        StatsVerificationsAreaWeeks,
        StatsFamilies,
    )

    with db() as s, s.begin():
        rebuild(s, KOELN, days, NOW)
    together = [rows(db, table) for table in tables]
    with db() as s, s.begin():
        for table in tables:
            s.execute(delete(table))
    for day in days:
        build(db, day)

    assert [rows(db, table) for table in tables] == together
    assert len(together[0]) == 15 * 3 - 5 + 1  # five voided; the two 02:30 in one bucket
    assert {row[0] for row in together[0]} == set(days)
    with db() as s:
        assert reconcile(s, KOELN, NOW.replace(year=2026, month=11, day=4)).differences == ()


def test_families_reached_programme_wide_count_each_recorded_card_once_and_the_retained_ones(
    db: Callable[[], Session], place: Place
) -> None:
    for number, card_number in enumerate(["A00000001", "A00000001", "B00000002", "C00000003", "B00000002"]):
        redemption(db, place, card_number, local(DAY, 9, number))
    redemption(db, place, "D00000004", local(DAY, 10), voided=True)
    with db() as s, s.begin():
        s.add(StatsReachedCard(card_number="E00000005"))  # its redemptions deleted by the retention
        s.add(StatsReachedCard(card_number="A00000001"))  # still has redemptions as well
    build(db, DAY)

    with db() as s:
        assert sorted(s.scalars(recorded_card_numbers(s))) == ["A00000001", "B00000002", "C00000003"]
    assert dict(rows(db, StatsFamilies))[PROGRAMME] == 4
