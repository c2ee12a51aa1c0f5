"""A worker killed (SIGKILL) in the middle of a task, one task of each queue, with real worker processes on a
redis-server of the test's own (the broker in production):

- ``mail``: ``mail.send`` while the SMTP server holds the message; the e-mail arrives once.
- ``print``: ``print.render_card`` while it waits for the print job's row; the card is made once.
- ``stats``: ``stats.rebuild_dirty`` half-way through a rebuild; the rollups equal a recount.
- ``default``: ``outbox.relay`` while it waits for the outbox; every event is handled once.

Every task is ``acks_late``: the killed worker never acknowledged the message, so the broker holds it as unacked
and gives it to a worker again once its visibility timeout has passed (2 hours; the test ages the message
instead of waiting). Besides, the periodic tasks reconcile from the database (the mail flush, the print sweep,
the relay and the dirty marks), and every task is idempotent, so the redelivered task and the reconciliation may
both run without anything happening twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from familienkarte.cards import printing
from familienkarte.cards.credential_models import PrintJob
from familienkarte.db import sync_url, utcnow
from familienkarte.events.models import OutboxEvent
from familienkarte.events.stats import consume_statistics
from familienkarte.mail.models import Email
from familienkarte.mail.services import queue_email
from tests.fault_servers import (
    Broker,
    RedisServer,
    own_redis_fixture,  # noqa: F401 (the fixture own_redis)
)
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import issue_family_card
from tests.integration.test_stats_faults import (  # noqa: F401 (place: a fixture)
    DAYS,
    assert_every_event_handled_once,
    assert_rollups_equal_the_recount,
    dirty_marks,
    is_postgres,
    place,
    undone,
    write_facts,
)
from tests.workers_helpers import (
    SmtpServer,
    Worker,
    environment,
    wait_until,
    workers_fixture,  # noqa: F401 (the fixture workers)
)
from workers.celery_app import QUEUES, celery_app

Factory = Callable[[], Session]
PREFIX = "fkkill:"
ALL_QUEUES = ",".join(QUEUES)
SENDER = "Familienkarte Köln <familienkarte@stadt.example>"


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def broker(own_redis: RedisServer) -> Broker:
    return Broker(own_redis, PREFIX)


@pytest.fixture
def worker_env(migrated_db: str, tmp_path: Path, own_redis: RedisServer) -> dict[str, str]:
    """The workers' environment: this run's database, our redis-server as the broker."""
    return environment(migrated_db, tmp_path / "worker", FK_REDIS_URL=own_redis.url, FK_REDIS_PREFIX=PREFIX)


def ready_worker(workers: Callable[..., Worker], env: dict[str, str], broker: Broker) -> Worker:
    """A worker on every queue, once it has started and done the tasks it queues at start.

    Those (the outbox relay, the mail flush) must be over first: a start-up relay that ran after a test's facts
    were written would hand them to a consumer, which a table held by the test would stop in turn, and this
    one-task worker would not take the task the test sends."""
    worker = workers(env, ALL_QUEUES)
    wait_until(
        lambda: "ready" in worker.output() and running(worker, "outbox.relay") and broker.idle(),
        timeout=120,
        what="the worker to start and do its start-up tasks",
    )
    return worker


def kill_and_restart(worker: Worker, broker: Broker, task: str, workers: Callable[..., Worker]) -> Worker:
    worker.kill()
    assert task in broker.unacked_tasks()  # held for redelivery, not lost
    broker.let_the_visibility_timeout_pass()
    return workers(worker.env, ALL_QUEUES)


def test_every_task_is_acknowledged_only_after_it_ran() -> None:
    """The list of tasks, by queue; each one is given again to a worker when the one running it dies."""
    celery_app.loader.import_default_modules()
    tasks = {name: task for name, task in celery_app.tasks.items() if not name.startswith("celery.")}
    by_queue: dict[str, set[str]] = {}
    for name in tasks:
        queue = celery_app.amqp.router.route({}, name)["queue"].name
        by_queue.setdefault(queue, set()).add(name)
    assert by_queue == {
        "mail": {"mail.send", "mail.flush_outbox"},
        "print": {"print.render_card", "print.render_queued"},
        "stats": {
            "stats.consume_events",
            "stats.rebuild_day",
            "stats.rebuild_dirty",
            "stats.reconcile",
            "stats.apply_retention",
            "stats.export",
            "stats.exports_housekeeping",
            "stats.send_partner_reports",
            "stats.send_partner_report",
        },
        "default": {
            "outbox.relay",
            "credentials.refresh_status_lists",
            "cards.send_expiry_reminders",
            "cards.expire_cards",
        },
    }
    assert [name for name, task in tasks.items() if not task.acks_late] == []


def test_a_worker_killed_while_sending_an_email_sends_it_once(
    db: Factory, worker_env: dict[str, str], broker: Broker, smtp: SmtpServer, workers: Callable[..., Worker]
) -> None:
    with db() as s, s.begin():
        email_id = queue_email(s, to="familie@example.org", subject="Ihre Familienkarte", body_text="Hallo!\n").id
    env = worker_env | {"FK_SMTP_HOST": "127.0.0.1", "FK_SMTP_PORT": str(smtp.port), "FK_MAIL_FROM": SENDER}
    smtp.slow_down(120)  # the server holds the message and does not answer
    worker = workers(env, ALL_QUEUES)  # its start-up flush queues the e-mail
    wait_until(lambda: smtp.arrived == 1, timeout=120, what="the e-mail to reach the SMTP server")

    worker = kill_and_restart(worker, broker, "mail.send", workers)
    smtp.slow_down(0)

    def sent() -> Any:
        with db() as s:
            return s.scalar(select(Email.sent_at).where(Email.id == email_id))

    wait_until(sent, timeout=120, what="the e-mail sent after the restart")
    wait_until(broker.idle, timeout=120, what="every message handled")
    # The held message died with the worker's connection; the redelivered task and the flush sent it once.
    assert [m.message["Message-ID"] for m in smtp.to("familie@example.org")] == [
        m.message["Message-ID"] for m in smtp.messages
    ]
    assert len(smtp.messages) == 1
    with db() as s:
        email = s.get(Email, email_id)
        assert email is not None
        assert email.attempts == 1  # the killed attempt was rolled back with its transaction
    assert worker.alive(), worker.output()


@contextmanager
def holding(database_url: str, table: str) -> Iterator[Callable[[], bool]]:
    """Hold ``table`` (PostgreSQL) or the database's write lock (SQLite); yields whether someone waits for it."""
    engine = create_engine(sync_url(database_url))
    try:
        with engine.connect() as conn:
            if is_postgres(database_url):
                conn.execute(text(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))

                def waiting() -> bool:
                    query = (
                        "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                        "WHERE c.relname = :table AND NOT l.granted"
                    )
                    return bool(conn.execute(text(query), {"table": table}).scalar())

            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

                def waiting() -> bool:
                    return True  # SQLite shows no waiters: the caller watches the worker instead

            yield waiting
            conn.rollback()
    finally:
        engine.dispose()


def running(worker: Worker, task: str, task_id: str = "") -> bool:
    return f"Task {task}[{task_id}" in worker.output()


def kill_while_waiting(
    worker: Worker, broker: Broker, task: str, table: str, workers: Callable[..., Worker], *args: Any
) -> Worker:
    """Send ``task`` while ``table`` is held, kill the worker once the task waits for it, start a new worker."""
    with holding(worker.env["FK_DATABASE_URL"], table) as waiting:
        # Sent only now: a task that finished before the table was held would leave another one waiting for it.
        # Watched by its id: an earlier run of the same task (woken by a commit) may show in the log as well.
        task_id = celery_app_send(worker.env, task, *args)
        wait_until(
            lambda: running(worker, task, task_id) and waiting(), timeout=120, what=f"{task} to wait for {table}"
        )
        worker.kill()
    assert task in broker.unacked_tasks()
    broker.let_the_visibility_timeout_pass()
    return workers(worker.env, ALL_QUEUES)


def test_a_worker_killed_while_making_a_printed_card_makes_it_once(
    db: Factory, make_user: Any, worker_env: dict[str, str], broker: Broker, workers: Callable[..., Worker]
) -> None:
    family = issue_family_card(db, make_user)
    worker = ready_worker(workers, worker_env, broker)
    with db() as s, s.begin():
        job_id = printing.order_printed_card(s, family.principal(), KOELN, utcnow())
    worker = kill_while_waiting(worker, broker, "print.render_card", "print_jobs", workers, str(job_id))

    def made() -> Any:
        with db() as s:
            return s.scalar(select(PrintJob.status).where(PrintJob.id == job_id)) == "ready"

    wait_until(made, timeout=120, what="the printed card made after the restart")
    wait_until(broker.idle, timeout=120, what="every message handled")
    with db() as s:
        job = s.get(PrintJob, job_id)
        assert job is not None
        assert job.attempts == 1  # the killed attempt was rolled back
        assert s.scalar(select(func.count()).select_from(PrintJob)) == 1
    assert worker.alive(), worker.output()


def test_a_worker_killed_half_way_through_a_rebuild_rebuilds_it_again(
    db: Factory,
    place: Any,  # noqa: F811
    worker_env: dict[str, str],
    broker: Broker,
    workers: Callable[..., Worker],
) -> None:
    for day in DAYS:
        write_facts(db, place, day, 12)
    with db() as s, s.begin():
        consume_statistics(s, KOELN, list(s.scalars(select(OutboxEvent.id))), utcnow())
    assert dirty_marks(db)
    worker = ready_worker(workers, worker_env, broker)
    # The rebuild writes the day rows first and the families reached last: it stops at the families.
    worker = kill_while_waiting(worker, broker, "stats.rebuild_dirty", "stats_families", workers)

    wait_until(lambda: not dirty_marks(db), timeout=120, what="the dirty days rebuilt after the restart")
    wait_until(broker.idle, timeout=120, what="every message handled")
    assert_rollups_equal_the_recount(db, DAYS)
    assert worker.alive(), worker.output()


def test_a_worker_killed_while_relaying_the_outbox_hands_every_event_on_once(
    db: Factory,
    place: Any,  # noqa: F811
    worker_env: dict[str, str],
    broker: Broker,
    workers: Callable[..., Worker],
) -> None:
    worker = ready_worker(workers, worker_env, broker)
    write_facts(db, place, DAYS[0], 10)
    worker = kill_while_waiting(worker, broker, "outbox.relay", "outbox_events", workers)

    wait_until(lambda: not undone(db), timeout=120, what="every event handled after the restart")
    wait_until(broker.idle, timeout=120, what="every message handled")
    assert_every_event_handled_once(db, expected=2 * 10)
    assert worker.alive(), worker.output()


def celery_app_send(env: dict[str, str], name: str, *args: Any) -> str:
    """Publish a task to the workers' broker from this process; returns its id."""
    from tests.workers_helpers import use_broker_of

    use_broker_of(env)
    return str(celery_app.send_task(name, args=list(args)).id)
