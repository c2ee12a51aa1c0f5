"""Retention: the raw facts of the days before the horizon go once their rollups are final, and the rollups stay.

SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL. The facts are written straight into the tables with the
times each case needs; Köln keeps them 24 months, so on NOW the horizon is 5 July 2024.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from click.testing import CliRunner
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit, benefit_locations
from familienkarte.city import load_city
from familienkarte.cli import main
from familienkarte.db import utcnow
from familienkarte.events.models import StatsDirty
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions import services
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.settings import Settings
from familienkarte.statistics.models import (
    PROGRAMME,
    StatsCards,
    StatsFamilies,
    StatsRedemptions,
    StatsVerifications,
)
from familienkarte.statistics.reconcile import reconcile
from familienkarte.statistics.retention import (
    AUDIT_ACTION,
    NOT_BUILT,
    REBUILD_PENDING,
    ROLLUPS_DIFFER,
    DayRetention,
    HeldDay,
    apply_retention,
    retention_horizon,
)
from familienkarte.statistics.retention_models import StatsReachedCard, StatsRetainedDay
from familienkarte.statistics.rollups import rebuild, rebuild_day
from tests.conftest import BASE_URL
from tests.helpers import cli_env, make_test_settings
from tests.integration.test_card_credentials import now as real_now
from tests.integration.test_verifications import Till, make_till
from tests.workers_helpers import wait_until
from workers import tasks_stats
from workers.celery_app import celery_app, configure

KOELN = load_city("koeln")
BERLIN = KOELN.timezone
NOW = dt.datetime(2026, 7, 5, 8, tzinfo=dt.UTC)
HORIZON = dt.date(2024, 7, 5)
OLD = dt.date(2024, 7, 2)
OLDER = dt.date(2024, 6, 20)
RECENT = dt.date(2024, 7, 10)  # after the horizon: kept
ROLLUPS = (StatsRedemptions, StatsVerifications, StatsFamilies, StatsCards)


def local(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=BERLIN).astimezone(dt.UTC)


@dataclass(frozen=True)
class Place:
    partner_id: uuid.UUID
    location_id: uuid.UUID
    culture: uuid.UUID  # no limit
    once: uuid.UUID  # once ever per card
    quota: uuid.UUID  # 100 tickets in all


@pytest.fixture
def place(db: Callable[[], Session]) -> Place:
    with db() as s, s.begin():
        partner = Partner(name="Zoo Köln", status="approved")
        s.add(partner)
        s.flush()
        since = {
            "created_at": dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
            "updated_at": dt.datetime(2024, 1, 5, tzinfo=dt.UTC),
        }
        location = Location(partner_id=partner.id, name="Zoo", district="Innenstadt", **since)
        culture = Benefit(partner_id=partner.id, category="culture", kind="free_entry", status="published", **since)
        once = Benefit(
            partner_id=partner.id,
            category="culture",
            kind="voucher",
            status="published",
            limit_count=1,
            limit_period="ever",
            **since,
        )
        quota = Benefit(
            partner_id=partner.id, category="sport", kind="free_entry", status="published", total_quota=100, **since
        )
        s.add_all([location, culture, once, quota])
        s.flush()
        return Place(partner.id, location.id, culture.id, once.id, quota.id)


def redemption(
    db: Callable[[], Session],
    place: Place,
    card: str,
    occurred_at: dt.datetime,
    *,
    benefit: uuid.UUID | None = None,
    created_at: dt.datetime | None = None,
    voided: bool = False,
    quantity: int = 1,
) -> None:
    created = created_at or occurred_at
    with db() as s, s.begin():
        s.add(
            Redemption(
                partner_id=place.partner_id,
                location_id=place.location_id,
                benefit_id=benefit or place.culture,
                card_number=card,
                quantity=quantity,
                client_nonce=uuid.uuid4().hex,
                presentation="phone",
                occurred_at=occurred_at,
                created_at=created,
                offline=created != occurred_at,
                uploaded_at=created if created != occurred_at else None,
                status="voided" if voided else "recorded",
                voided_at=created if voided else None,
            )
        )


def verification(db: Callable[[], Session], place: Place, reason: str, at: dt.datetime) -> None:
    with db() as s, s.begin():
        s.add(VerificationEvent(partner_id=place.partner_id, location_id=place.location_id, reason=reason, at=at))


def rows(db: Callable[[], Session], table: Any) -> list[tuple[Any, ...]]:
    with db() as s:
        found = [tuple(row) for row in s.execute(select(*table.__table__.columns))]
    return sorted(found, key=repr)


def snapshot(db: Callable[[], Session]) -> list[list[tuple[Any, ...]]]:
    return [rows(db, table) for table in ROLLUPS]


def build(db: Callable[[], Session], days: list[dt.date], now: dt.datetime = NOW) -> None:
    """Rebuild the days, their months and the programme-wide figure."""
    with db() as s, s.begin():
        rebuild(s, KOELN, days, now)


@contextmanager
def transaction(db: Callable[[], Session]) -> Iterator[Session]:
    with db() as session, session.begin():
        yield session


def transactions(db: Callable[[], Session]) -> Callable[[], Any]:
    return lambda: transaction(db)


def cards_left(db: Callable[[], Session]) -> list[tuple[dt.date, str]]:
    with db() as s:
        found = s.execute(select(Redemption.occurred_at, Redemption.card_number)).all()
    return sorted((at.astimezone(BERLIN).date(), card) for at, card in found)


def verifications_left(db: Callable[[], Session]) -> list[dt.date]:
    with db() as s:
        return sorted(at.astimezone(BERLIN).date() for at in s.scalars(select(VerificationEvent.at)))


def audit(db: Callable[[], Session]) -> list[AuditEntry]:
    with db() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == AUDIT_ACTION).order_by(AuditEntry.id)))


def facts(db: Callable[[], Session], place: Place) -> None:
    """Two old days (one in June) and a recent one, with a voided use and uses a limit or quota still counts."""
    redemption(db, place, "A00000001", local(OLD, 9), quantity=2)
    redemption(db, place, "A00000001", local(OLD, 10))
    redemption(db, place, "B00000002", local(OLD, 11), voided=True)
    redemption(db, place, "C00000003", local(OLD, 12), benefit=place.once)
    redemption(db, place, "D00000004", local(OLD, 13), benefit=place.quota, quantity=3)
    for reason in ("ok", "ok", "revoked"):
        verification(db, place, reason, local(OLD, 9))
    redemption(db, place, "E00000005", local(OLDER, 15))
    redemption(db, place, "A00000001", local(RECENT, 9))
    verification(db, place, "ok", local(RECENT, 9))


def test_final_days_before_the_horizon_lose_their_raw_facts_and_their_rollups_stay(
    db: Callable[[], Session], place: Place
) -> None:
    facts(db, place)
    build(db, [OLDER, OLD, RECENT])
    before = snapshot(db)
    assert dict(rows(db, StatsFamilies))[PROGRAMME] == 4  # A, C, D, E (B's only use was voided)

    report = apply_retention(transactions(db), KOELN, NOW)

    assert report.horizon == HORIZON
    assert report.days == (DayRetention(OLDER, 1, 0, 0), DayRetention(OLD, 3, 3, 2))
    assert report.held == ()
    assert report.complete
    # Left: the uses the "once ever" limit and the quota still count, and everything after the horizon.
    assert cards_left(db) == [(OLD, "C00000003"), (OLD, "D00000004"), (RECENT, "A00000001")]
    assert verifications_left(db) == [RECENT]
    assert snapshot(db) == before
    with db() as s:
        assert set(s.scalars(select(StatsReachedCard.card_number))) == {"A00000001", "E00000005"}
        marks = {mark.day: mark for mark in s.scalars(select(StatsRetainedDay))}
    assert set(marks) == {OLDER, OLD}
    assert (marks[OLD].redemptions, marks[OLD].verification_events, marks[OLD].redemptions_kept) == (3, 3, 2)
    assert marks[OLD].horizon == HORIZON
    assert marks[OLD].finished_at == NOW

    # Rebuilding everything afterwards (what a moved household or a repair does) changes none of the figures.
    with db() as s, s.begin():
        rebuilt = rebuild(s, KOELN, [OLDER, OLD, RECENT], NOW + dt.timedelta(hours=1))
    assert rebuilt.days == (RECENT,)
    assert rebuilt.retained == (OLDER, OLD)
    assert snapshot(db) == before

    entries = audit(db)
    assert [(entry.object_type, entry.object_id, entry.actor_role) for entry in entries] == [
        ("statistics_day", OLDER.isoformat(), "system"),
        ("statistics_day", OLD.isoformat(), "system"),
    ]
    assert entries[1].details == {
        "horizon": HORIZON.isoformat(),
        "retention_months": 24,
        "redemptions": 3,
        "verification_events": 3,
        "redemptions_kept": 2,
    }


def test_a_second_run_deletes_nothing_more_and_writes_no_audit_entry(db: Callable[[], Session], place: Place) -> None:
    facts(db, place)
    build(db, [OLDER, OLD, RECENT])
    first = apply_retention(transactions(db), KOELN, NOW)
    left, before = cards_left(db), snapshot(db)

    again = apply_retention(transactions(db), KOELN, NOW + dt.timedelta(hours=2))

    assert first.redemptions == 4
    assert again.days == ()
    assert again.held == ()
    assert cards_left(db) == left
    assert snapshot(db) == before
    assert len(audit(db)) == 2


def test_days_whose_rollups_are_not_final_keep_their_facts_until_they_are(
    db: Callable[[], Session], place: Place
) -> None:
    uploaded, marked, unbuilt, late_check = (dt.date(2024, 7, day) for day in (4, 1, 2, 3))
    for day in (uploaded, marked, unbuilt, late_check, OLDER):
        redemption(db, place, "A00000001", local(day, 9))
    build(db, [uploaded, marked, late_check])
    with db() as s, s.begin():
        rebuild_day(s, KOELN, OLDER, NOW)  # the day, but not its month (June)
        s.add(StatsDirty(period=marked.isoformat(), marked_at=NOW))
    # An offline till uploads a use of 4 July after the day was built.
    redemption(db, place, "L00000009", local(uploaded, 17), created_at=NOW + dt.timedelta(minutes=10))
    # A verification of 3 July arrives after its day was built (verifications have no time of recording).
    verification(db, place, "ok", local(late_check, 17))

    report = apply_retention(transactions(db), KOELN, NOW + dt.timedelta(minutes=20))

    # June was never built as a month: it is built from its facts (all still there) before its day goes.
    assert report.days == (DayRetention(OLDER, 1, 0, 0),)
    assert dict(rows(db, StatsFamilies))["2024-06"] == 1
    assert set(report.held) == {
        HeldDay(marked, REBUILD_PENDING),
        HeldDay(unbuilt, NOT_BUILT),
        HeldDay(late_check, ROLLUPS_DIFFER),
        HeldDay(uploaded, REBUILD_PENDING),
    }
    assert len(cards_left(db)) == 5
    assert verifications_left(db) == [late_check]
    assert [entry.object_id for entry in audit(db)] == [OLDER.isoformat()]

    # Once rebuilt (what the worker does within minutes), they go.
    later = NOW + dt.timedelta(hours=1)
    build(db, [uploaded, marked, unbuilt, late_check], later)
    with db() as s, s.begin():
        s.query(StatsDirty).delete()
    before = snapshot(db)
    report = apply_retention(transactions(db), KOELN, later + dt.timedelta(minutes=5))
    assert [day.day for day in report.days] == [marked, unbuilt, late_check, uploaded]
    assert report.held == ()
    assert cards_left(db) == []
    assert verifications_left(db) == []
    assert snapshot(db) == before


def test_the_batches_are_bounded_and_a_run_stopped_half_way_resumes(db: Callable[[], Session], place: Place) -> None:
    for minute in range(5):
        redemption(db, place, f"A0000000{minute}", local(OLD, 9, minute))
    for _ in range(4):
        verification(db, place, "ok", local(OLD, 9))
    build(db, [OLD])
    before = snapshot(db)
    opened: list[int] = []

    class Stopped(Exception):
        pass

    @contextmanager
    def dies_in_the_second_batch() -> Iterator[Session]:
        opened.append(1)
        with transaction(db) as session:
            yield session
            if len(opened) == 3:  # the search, the first batch, then the second: killed before its commit
                raise Stopped

    with pytest.raises(Stopped):
        apply_retention(dies_in_the_second_batch, KOELN, NOW, batch=2)

    # The first batch is in, whole: 2 rows of each table, counted on the day's mark; the second left no trace.
    assert len(cards_left(db)) == 3
    assert len(verifications_left(db)) == 2
    with db() as s:
        mark = s.get(StatsRetainedDay, OLD)
        assert mark is not None
        assert (mark.redemptions, mark.verification_events, mark.finished_at) == (2, 2, None)
    assert audit(db) == []
    # The day's rollups are protected from the first deletion on.
    with db() as s, s.begin():
        assert rebuild_day(s, KOELN, OLD, NOW).retained == (OLD,)
    assert snapshot(db) == before

    report = apply_retention(transactions(db), KOELN, NOW, batch=2)

    # 2 verifications and 2 redemptions fill the first batch; the last redemption comes in a second one.
    assert report.days == (DayRetention(OLD, 3, 2, 0),)
    assert cards_left(db) == []
    assert verifications_left(db) == []
    assert snapshot(db) == before
    [entry] = audit(db)
    assert (entry.details["redemptions"], entry.details["verification_events"]) == (5, 4)


def test_a_batch_as_large_as_what_is_left_finishes_the_day_in_the_next_transaction(
    db: Callable[[], Session], place: Place
) -> None:
    for minute in range(4):
        redemption(db, place, f"A0000000{minute}", local(OLD, 9, minute))
    build(db, [OLD])
    opened: list[int] = []

    @contextmanager
    def counted() -> Iterator[Session]:
        opened.append(1)
        with transaction(db) as session:
            yield session

    report = apply_retention(counted, KOELN, NOW, batch=2)

    assert report.days == (DayRetention(OLD, 4, 0, 0),)
    assert len(opened) == 1 + 3  # the search; 2, 2, and an empty batch that finds the day done
    assert len(audit(db)) == 1


def test_a_run_out_of_time_stops_between_batches_and_the_next_one_goes_on(
    db: Callable[[], Session], place: Place
) -> None:
    facts(db, place)
    build(db, [OLDER, OLD, RECENT])
    left = cards_left(db)

    stopped = apply_retention(transactions(db), KOELN, NOW, budget=dt.timedelta(0))

    assert not stopped.complete
    assert stopped.days == ()
    assert cards_left(db) == left
    finished = apply_retention(transactions(db), KOELN, NOW, budget=dt.timedelta(minutes=5))
    assert finished.complete
    assert [day.day for day in finished.days] == [OLDER, OLD]


def test_rebuilding_or_reconciling_a_retained_day_leaves_its_rollups(db: Callable[[], Session], place: Place) -> None:
    facts(db, place)
    build(db, [OLDER, OLD, RECENT])
    before = snapshot(db)
    apply_retention(transactions(db), KOELN, NOW)

    with db() as s, s.begin():
        rebuilt = rebuild_day(s, KOELN, OLD, NOW)
    assert (rebuilt.days, rebuilt.retained) == ((), (OLD,))
    with db() as s, s.begin():
        rebuild(s, KOELN, [OLD], NOW, months=[OLDER])
    assert snapshot(db) == before
    # The nightly reconciliation of the days before 5 July 2024 (as if run then) finds nothing to repair.
    with db() as s, s.begin():
        found = reconcile(s, KOELN, local(OLD + dt.timedelta(days=3), 4), repair=True)
    assert found.differences == ()
    assert [rows(db, table) for table in (StatsRedemptions, StatsVerifications)] == before[:2]
    assert dict(rows(db, StatsFamilies)) == dict(before[2])


def test_a_once_ever_limit_and_a_quota_still_hold_after_the_horizon(db: Callable[[], Session], make_user: Any) -> None:
    till: Till = make_till(db, make_user)
    now = real_now()
    long_ago = now - dt.timedelta(days=800)  # before the horizon, 24 months back
    day = long_ago.astimezone(BERLIN).date()
    with db() as s, s.begin():
        since = {"created_at": long_ago - dt.timedelta(days=30), "updated_at": long_ago - dt.timedelta(days=30)}
        common = {"partner_id": till.partner_id, "category": "culture", "status": "published", **since}
        once = Benefit(kind="voucher", limit_count=1, limit_period="ever", **common)
        monthly = Benefit(kind="free_entry", limit_count=1, limit_period="month", **common)
        quota = Benefit(kind="free_entry", total_quota=1, **common)
        s.add_all([once, monthly, quota])
        s.flush()
        benefits = (once.id, monthly.id, quota.id)
        s.execute(insert(benefit_locations), [{"benefit_id": b, "location_id": till.location_id} for b in benefits])
        for benefit_id, card in zip(benefits, (till.number, till.number, "Q00000001"), strict=True):
            s.add(
                Redemption(
                    partner_id=till.partner_id,
                    location_id=till.location_id,
                    benefit_id=benefit_id,
                    card_number=card,
                    client_nonce=uuid.uuid4().hex,
                    presentation="manual",
                    occurred_at=long_ago,
                    created_at=long_ago,
                )
            )
    build(db, [day], now)

    report = apply_retention(transactions(db), KOELN, now)

    assert report.days == (DayRetention(day, 1, 0, 2),)  # the monthly use went; the two others stay
    with db() as s:
        left = set(s.scalars(select(Redemption.benefit_id)))
        assert left == {benefits[0], benefits[2]}
        quota_benefit = s.get(Benefit, benefits[2])
        assert quota_benefit is not None
        assert services.quota_left(s, quota_benefit) == 0
    with db() as s, s.begin(), pytest.raises(services.LimitReached):
        services.redeem(
            s,
            till.principal,
            KOELN,
            card_number=till.number,
            benefit_id=benefits[0],
            location_id=till.location_id,
            client_nonce=uuid.uuid4().hex,
            now=now,
        )


def test_the_command_line_shows_then_applies_the_retention(
    db: Callable[[], Session], place: Place, migrated_db: str, tmp_path: Path
) -> None:
    now = utcnow()
    horizon = retention_horizon(KOELN, now)
    old, unbuilt = horizon - dt.timedelta(days=10), horizon - dt.timedelta(days=5)
    redemption(db, place, "A00000001", local(old, 9))
    redemption(db, place, "B00000002", local(old, 10))
    verification(db, place, "ok", local(old, 9))
    redemption(db, place, "C00000003", local(unbuilt, 9))
    build(db, [old], now)
    env = cli_env(tmp_path, migrated_db)
    runner = CliRunner()

    shown = runner.invoke(main, ["stats", "retention", "--dry-run"], env=env)

    assert shown.exit_code == 0, shown.output
    assert f"Retention 24 months: raw facts before {horizon.isoformat()}" in shown.stdout
    assert (
        f"Would delete 2 redemptions and 1 verification event of 1 day ({old.isoformat()} to {old.isoformat()}); "
        "would keep 0 redemptions" in shown.stdout
    )
    assert f"{unbuilt.isoformat()} kept for now: its statistics were never built; run: familienkarte stats " in (
        shown.stdout
    )
    assert len(cards_left(db)) == 3

    applied = runner.invoke(main, ["stats", "retention"], env=env)

    assert applied.exit_code == 0, applied.output
    assert "Deleted 2 redemptions and 1 verification event of 1 day" in applied.stdout
    assert cards_left(db) == [(unbuilt, "C00000003")]

    rebuilt = runner.invoke(main, ["stats", "rebuild", "--day", old.isoformat()], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert f"their statistics are final: {old.isoformat()}." in rebuilt.stdout
    with db() as s:
        assert s.scalar(select(func.sum(StatsRedemptions.redemptions))) == 2


@pytest.fixture
def worker_settings(migrated_db: str, tmp_path: Path) -> Settings:
    settings = make_test_settings(tmp_path / "worker", migrated_db, FK_BASE_URL=BASE_URL)
    configure(settings, configure_logs=False)
    return settings


def test_the_retention_task_runs_on_a_real_worker(
    db: Callable[[], Session], place: Place, worker_settings: Settings
) -> None:
    now = utcnow()
    old = retention_horizon(KOELN, now) - dt.timedelta(days=3)
    redemption(db, place, "A00000001", local(old, 9))
    verification(db, place, "ok", local(old, 9))
    build(db, [old], now)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
        tasks_stats.apply_retention.delay()
        wait_until(lambda: not cards_left(db) and not verifications_left(db), what="the old facts deleted")
        wait_until(lambda: audit(db), what="the audit entry")
    assert rows(db, StatsRedemptions)[0][7] == 1
