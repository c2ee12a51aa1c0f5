"""The statistics' guarantees under faults, with real worker processes (``familienkarte worker``):

- a worker killed (SIGKILL) in the middle of a rollup,
- the broker (Redis) restarted while events flow,
- the relay stopped for an hour.

After recovery every rollup equals a recount from the raw facts, every event was handled, and each exactly once.
The facts are written as the services write them: the fact and its outbox event in one transaction.
"""

from __future__ import annotations

import datetime as dt
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from familienkarte.db import sync_url, utcnow
from familienkarte.events.models import ConsumedEvent, OutboxEvent, StatsDirty
from familienkarte.events.services import OUTBOX_TOPIC
from familienkarte.events.stats import consume_statistics
from familienkarte.outbox_wake import set_waker
from familienkarte.redemptions.models import Redemption, RedemptionStatus, VerificationEvent
from familienkarte.statistics.models import StatsRedemptions, StatsVerifications
from familienkarte.statistics.reconcile import compare_day, compare_month
from familienkarte.statistics.rollups import month_start
from tests.fault_servers import Broker, RedisServer, running_redis
from tests.helpers import Place, make_place
from tests.integration.test_statistics_rollups import KOELN, local, redemption, verification
from tests.workers_helpers import Worker, environment, send, started_workers, use_broker_of, wait_until
from workers import tasks_outbox
from workers.celery_app import OUTBOX_WAKER

Factory = Callable[[], Session]
TODAY = KOELN.today()
DAYS = [TODAY - dt.timedelta(days=back) for back in (0, 1, 3)]
FAMILY_CARDS = [f"A{n:08d}" for n in range(1, 8)]


@pytest.fixture
def place(db: Factory) -> Place:
    return make_place(db)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Worker]]:
    """Start workers for a test (each on the environment given); every one is stopped at the end."""
    yield from started_workers(tmp_path)


# --- facts and checks ---


def write_facts(db: Factory, place: Place, day: dt.date, n: int) -> None:
    """``n`` redemptions (one of them voided) and ``n`` verifications on ``day``, each with its event."""
    for i in range(n):
        redemption(db, place, FAMILY_CARDS[i % len(FAMILY_CARDS)], local(day, 8 + i % 10, i % 60), voided=i == 3)
        verification(db, place, "ok" if i % 4 else "revoked", local(day, 9 + i % 8, i % 60))


def events(db: Factory) -> list[OutboxEvent]:
    with db() as s:
        return list(s.scalars(select(OutboxEvent)))


def undone(db: Factory) -> int:
    with db() as s:
        return s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.done_at.is_(None))) or 0


def dirty_marks(db: Factory) -> list[str]:
    with db() as s:
        return list(s.scalars(select(StatsDirty.period)))


def consumed_per_event(db: Factory) -> dict[uuid.UUID, int]:
    with db() as s:
        rows = s.execute(select(ConsumedEvent.event_id, func.count()).group_by(ConsumedEvent.event_id)).all()
    return {row[0]: row[1] for row in rows}


def assert_rollups_equal_the_recount(db: Factory, days: list[dt.date]) -> None:
    with db() as s:
        for day in days:
            assert compare_day(s, KOELN, day) == [], day
        for month in sorted({month_start(day) for day in days}):
            assert compare_month(s, KOELN, month) == [], month
        assert compare_month(s, KOELN, None) == []
        # Nothing counted twice (nor lost): the sums of the rollups are the numbers of facts.
        recorded = s.scalar(
            select(func.count()).select_from(Redemption).where(Redemption.status == RedemptionStatus.RECORDED.value)
        )
        assert s.scalar(select(func.sum(StatsRedemptions.redemptions))) == recorded
        verifications = s.scalar(select(func.count()).select_from(VerificationEvent))
        assert s.scalar(select(func.sum(StatsVerifications.verifications))) == verifications
        assert recorded
        assert verifications


def assert_every_event_handled_once(db: Factory, expected: int) -> list[OutboxEvent]:
    found = events(db)
    assert len(found) == expected  # none lost: one event per fact written
    assert all(event.done_at is not None for event in found)
    consumed = consumed_per_event(db)
    assert set(consumed) == {event.id for event in found}
    assert set(consumed.values()) == {1}
    return found


def rebuild_on_the_worker(db: Factory) -> None:
    """What beat does every minute: the worker rebuilds the days and months marked dirty."""
    send("stats.rebuild_dirty")
    wait_until(lambda: not dirty_marks(db), timeout=60, what="the dirty days rebuilt by the worker")


# --- a worker killed in the middle of a rollup ---


def test_a_worker_killed_in_the_middle_of_a_rollup_leaves_nothing_half_counted(
    db: Factory, place: Place, migrated_db: str, tmp_path: Path, workers: Callable[[dict[str, str]], Worker]
) -> None:
    if not is_postgres(migrated_db):
        pytest.skip(
            "PostgreSQL only: the rollup is paused half-way by a table lock another connection holds; SQLite has one "
            "writer at a time, so a rebuild cannot be stopped between its writes from outside"
        )
    for day in DAYS:
        write_facts(db, place, day, 12)
    with db() as s, s.begin():
        pending = list(s.scalars(select(OutboxEvent.id)))
        consume_statistics(s, KOELN, pending, utcnow())
    marked = sorted(dirty_marks(db))
    assert marked

    env = environment(migrated_db, tmp_path / "worker")
    use_broker_of(env)
    locker = create_engine(sync_url(migrated_db))
    try:
        with locker.connect() as lock:
            # The rebuild writes the day rows first and the families reached last: it stops at the families.
            lock.execute(text("LOCK TABLE stats_families IN ACCESS EXCLUSIVE MODE"))
            started = lock.execute(text("SELECT clock_timestamp()")).scalar()
            worker = workers(env)
            send("stats.rebuild_dirty")

            def rebuild_waiting() -> Any:
                # This database's locks only (pg_locks shows the whole server's), of a session opened after the
                # worker started. In two full runs beside another test run, the test waited for a session that
                # outlived it while the worker's own had ended at once (the server's log): another one matched.
                return lock.execute(
                    text(
                        "SELECT waiting.pid FROM pg_locks waiting JOIN pg_class c ON c.oid = waiting.relation "
                        "JOIN pg_locks written ON written.pid = waiting.pid "
                        "JOIN pg_class w ON w.oid = written.relation "
                        "JOIN pg_stat_activity a ON a.pid = waiting.pid "
                        "WHERE c.relname = 'stats_families' AND NOT waiting.granted "
                        "AND waiting.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                        "AND a.backend_start > :started "
                        "AND w.relname = 'stats_redemptions' AND written.mode = 'RowExclusiveLock'"
                    ),
                    {"started": started},
                ).scalar()

            backend = wait_until(rebuild_waiting, timeout=60, what="the rollup to block half-way")
            worker.kill()
            lock.rollback()  # releases the table
            # The killed worker's database session ends and its half-done transaction is rolled back.
            wait_until(
                lambda: (
                    not lock.execute(text("SELECT 1 FROM pg_stat_activity WHERE pid = :pid"), {"pid": backend}).scalar()
                ),
                timeout=30,
                what="the killed worker's session to end",
            )
            lock.rollback()
    finally:
        locker.dispose()

    assert sorted(dirty_marks(db)) == marked  # nothing of the killed rebuild stayed
    with db() as s:
        assert s.scalar(select(func.count()).select_from(StatsRedemptions)) == 0

    workers(env)
    rebuild_on_the_worker(db)
    assert_rollups_equal_the_recount(db, DAYS)


# --- the broker restarted while events flow ---


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    yield from running_redis(tmp_path)


def test_redis_restarted_while_events_flow_loses_nothing_and_counts_nothing_twice(
    db: Factory,
    place: Place,
    migrated_db: str,
    tmp_path: Path,
    workers: Callable[[dict[str, str]], Worker],
    own_redis: RedisServer,
) -> None:
    env = environment(migrated_db, tmp_path / "worker", FK_REDIS_URL=own_redis.url, FK_REDIS_PREFIX="fkfault:")
    use_broker_of(env)
    previous = set_waker(OUTBOX_TOPIC, OUTBOX_WAKER)  # commits here wake the relay, as in the web
    try:
        worker = workers(env)
        wait_until(lambda: "ready" in worker.output(), timeout=60, what="the worker to start")
        # Events flow and are handled.
        write_facts(db, place, DAYS[0], 10)
        wait_until(lambda: not undone(db), timeout=60, what="the first events handled")

        # Messages are on their way when Redis goes: the worker is paused, the relay publishes, Redis dies.
        # Paused only when idle: a worker stopped inside a transaction would hold SQLite's write lock.
        broker = Broker(own_redis, "fkfault:")
        wait_until(lambda: broker.idle(tuple(worker.queues.split(","))), timeout=60, what="the worker idle")
        assert worker.process is not None
        worker.process.send_signal(signal.SIGSTOP)
        write_facts(db, place, DAYS[1], 10)
        tasks_outbox.relay()  # the relay's run, here: the events are published to Redis, not yet handled
        in_redis = {event.id for event in events(db) if event.published_at is not None and event.done_at is None}
        assert in_redis

        flowing = threading.Thread(target=write_facts, args=(db, place, DAYS[2], 10))
        flowing.start()  # events keep coming while Redis is down and comes back empty
        own_redis.kill()
        time.sleep(1)
        own_redis.start()
        worker.process.send_signal(signal.SIGCONT)
        flowing.join(60)
        assert not flowing.is_alive()

        # Beat's relay, with a short time to consider a message lost: the events whose messages died are
        # published again, those written while Redis was down for the first time.
        def relayed() -> bool:
            send("outbox.relay", republish_after_seconds=2)
            time.sleep(1)
            return not undone(db)

        wait_until(relayed, timeout=120, interval=0.5, what="every event handled after the restart")
        assert worker.alive(), worker.output()
    finally:
        set_waker(OUTBOX_TOPIC, previous)

    found = assert_every_event_handled_once(db, expected=2 * 30)
    again = {event.id for event in found if event.attempts > 1}
    assert in_redis <= again  # the lost messages were published again, and their events still counted once
    rebuild_on_the_worker(db)
    assert_rollups_equal_the_recount(db, DAYS)


# --- the relay stopped for an hour ---


def test_the_relay_stopped_for_an_hour_catches_up(
    db: Factory, place: Place, migrated_db: str, tmp_path: Path, workers: Callable[[dict[str, str]], Worker]
) -> None:
    for day in DAYS:
        write_facts(db, place, day, 15)
    hour_ago = utcnow() - dt.timedelta(hours=1)
    with db() as s, s.begin():
        # Written over the last hour while no relay ran; a third of them published an hour ago to a broker that
        # lost them (its message never arrived).
        s.execute(update(OutboxEvent).values(created_at=hour_ago))
        ids = list(s.scalars(select(OutboxEvent.id).order_by(OutboxEvent.id)))
        lost = ids[::3]
        s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(lost)).values(published_at=hour_ago, attempts=1))

    env = environment(migrated_db, tmp_path / "worker")
    use_broker_of(env)
    workers(env)  # a worker that starts runs the relay once at once, as beat does every 15 seconds
    wait_until(lambda: not undone(db), timeout=120, what="the backlog relayed and handled")

    found = assert_every_event_handled_once(db, expected=2 * 15 * len(DAYS))
    assert {event.id: event.attempts for event in found} == {event_id: 2 if event_id in lost else 1 for event_id in ids}
    rebuild_on_the_worker(db)
    assert_rollups_equal_the_recount(db, DAYS)
