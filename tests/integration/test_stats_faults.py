"""The statistics' guarantees under faults, with real worker processes (``familienkarte worker``):

- a worker killed (SIGKILL) in the middle of a rollup,
- the broker (Redis) restarted while events flow,
- the relay stopped for an hour.

After recovery every rollup equals a recount from the raw facts, every event was handled, and each exactly once.
The facts are written as the services write them: the fact and its outbox event in one transaction.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import create_engine, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit
from familienkarte.db import sync_url, utcnow
from familienkarte.events.models import ConsumedEvent, OutboxEvent, StatsDirty
from familienkarte.events.services import OUTBOX_TOPIC
from familienkarte.events.stats import consume_statistics
from familienkarte.outbox_wake import set_waker
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption, RedemptionStatus, VerificationEvent
from familienkarte.settings import load_settings
from familienkarte.statistics.models import StatsRedemptions, StatsVerifications
from familienkarte.statistics.reconcile import compare_day, compare_month
from familienkarte.statistics.rollups import month_start
from tests.integration.test_statistics_rollups import KOELN, Place, local, redemption, utc, verification
from tests.workers_helpers import free_port, wait_until
from workers import tasks_outbox
from workers.celery_app import OUTBOX_WAKER, celery_app, configure

Factory = Callable[[], Session]
TODAY = KOELN.today()
DAYS = [TODAY - dt.timedelta(days=back) for back in (0, 1, 3)]
FAMILY_CARDS = [f"A{n:08d}" for n in range(1, 8)]
WORKER = [str(Path(sys.executable).with_name("familienkarte")), "worker", "--pool", "solo", "-Q", "default,stats"]


@pytest.fixture
def place(db: Factory) -> Place:
    with db() as s, s.begin():
        partner = Partner(name="Zoo Köln", status="approved")
        s.add(partner)
        s.flush()
        since = {"created_at": utc(2026, 1, 5), "updated_at": utc(2026, 1, 5)}
        centre = Location(partner_id=partner.id, name="Zoo", district="Innenstadt", **since)
        outskirts = Location(partner_id=partner.id, name="Zoo Außenstelle", **since)
        culture = Benefit(partner_id=partner.id, category="culture", kind="free_entry", status="published", **since)
        sport = Benefit(partner_id=partner.id, category="sport", kind="free_entry", status="published", **since)
        s.add_all([centre, outskirts, culture, sport])
        s.flush()
        return Place(partner.id, centre.id, outskirts.id, culture.id, sport.id)


def is_postgres(url: str) -> bool:
    return make_url(url).get_backend_name() == "postgresql"


# --- a worker process of the test's own ---


class Worker:
    """``familienkarte worker`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(WORKER, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        return self

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


def environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("FK_") and key != "PYTEST_CURRENT_TEST"
    }
    env |= {
        "FK_ENV": "test",
        "FK_DATA_DIR": str(data_dir),
        "FK_DATABASE_URL": database_url,
        "FK_LOG_FORMAT": "text",
        "FK_LOG_LEVEL": "INFO",
        "FK_CITY": "koeln",
    }
    if os.environ.get("FK_REDIS_URL"):
        env["FK_REDIS_URL"] = os.environ["FK_REDIS_URL"]
        env["FK_REDIS_PREFIX"] = f"fktest:{uuid.uuid4().hex[:12]}:"
    return env | extra


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Callable[[dict[str, str]], Worker]]:
    """Start workers for a test (each on the environment given); every one is stopped at the end."""
    started: list[Worker] = []

    def start(env: dict[str, str]) -> Worker:
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def use_broker_of(env: dict[str, str]) -> None:
    """Publish from this process to the workers' broker."""
    configure(load_settings({key: value for key, value in env.items() if key.startswith("FK_")}), configure_logs=False)


def send(name: str, **kwargs: Any) -> None:
    celery_app.send_task(name, kwargs=kwargs)


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
            worker = workers(env)
            send("stats.rebuild_dirty")

            def rebuild_waiting() -> Any:
                return lock.execute(
                    text(
                        "SELECT waiting.pid FROM pg_locks waiting JOIN pg_class c ON c.oid = waiting.relation "
                        "JOIN pg_locks written ON written.pid = waiting.pid "
                        "JOIN pg_class w ON w.oid = written.relation "
                        "WHERE c.relname = 'stats_families' AND NOT waiting.granted "
                        "AND w.relname = 'stats_redemptions' AND written.mode = 'RowExclusiveLock'"
                    )
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


class RedisServer:
    """A redis-server of the test's own on a free port, keeping nothing on disk (as ours in production)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(command, cwd=self.folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), timeout=10, what="redis-server to start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


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
