"""E-mail through a real Celery worker to a real SMTP server.

The worker runs in this process (``celery.contrib.testing.worker.start_worker``) on the embedded SQLite broker,
or on Redis when FK_REDIS_URL is set; the SMTP server is aiosmtpd on a free port of 127.0.0.1.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from sqlalchemy.orm import Session

from familienkarte.mail.models import Email
from familienkarte.mail.sending import SmtpTransport, message_domain, transport_from_settings
from familienkarte.mail.services import MAIL_TOPIC, queue_email, send_email
from familienkarte.outbox_wake import set_waker
from familienkarte.settings import Settings
from tests.helpers import make_test_settings
from tests.workers_helpers import SmtpServer, free_port, wait_until
from workers import tasks
from workers.celery_app import MAIL_WAKER, celery_app, configure

SENDER = "Familienkarte Köln <familienkarte@stadt.example>"


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def _settings(data_dir: Path, database_url: str, **extra: str) -> Settings:
    return make_test_settings(data_dir, database_url, FK_MAIL_FROM=SENDER, **extra)


@pytest.fixture(scope="module")
def smtp_settings(migrated_db: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer) -> Settings:
    return _settings(
        tmp_path_factory.mktemp("worker"), migrated_db, FK_SMTP_HOST="127.0.0.1", FK_SMTP_PORT=str(smtp.port)
    )


class Finished:
    """The ids of the tasks the worker has finished (successfully or not), from Celery's own signal."""

    def __init__(self) -> None:
        self.ids: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, task_id: str | None = None, **_: Any) -> None:
        with self._lock:
            self.ids.add(str(task_id))

    def has(self, *task_ids: str) -> bool:
        with self._lock:
            return set(task_ids) <= self.ids


@pytest.fixture(scope="module")
def finished() -> Iterator[Finished]:
    tracker = Finished()
    task_postrun.connect(tracker, weak=False)
    yield tracker
    task_postrun.disconnect(tracker)


@pytest.fixture(scope="module")
def worker(smtp_settings: Settings, finished: Finished) -> Iterator[Any]:
    configure(smtp_settings, configure_logs=False)
    with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30) as w:
        yield w


@pytest.fixture
def task_settings(monkeypatch: pytest.MonkeyPatch, smtp_settings: Settings, smtp: SmtpServer) -> Settings:
    """The settings the worker's tasks read; a test may swap them (another mail server, a mail folder)."""
    smtp.clear()
    monkeypatch.setattr(tasks, "current_settings", lambda: smtp_settings)
    return smtp_settings


def _queue(db: Callable[[], Session], to: str = "familie@example.org", subject: str = "Ihr Anmeldelink") -> uuid.UUID:
    with db() as session, session.begin():
        email_id = queue_email(session, to=to, subject=subject, body_text="Hallo!\n").id
    return email_id


def _email(db: Callable[[], Session], email_id: uuid.UUID) -> Email:
    with db() as session:
        row = session.get(Email, email_id)
        assert row is not None
        return row


def test_flush_sends_what_was_queued_while_no_worker_ran(
    db: Callable[[], Session], smtp: SmtpServer, task_settings: Settings, request: pytest.FixtureRequest
) -> None:
    first = _queue(db, "a@example.org")
    second = _queue(db, "b@example.org")
    # An e-mail whose delivery failed before belongs to its task's retries, not to the flush.
    with db() as session, session.begin():
        failed = queue_email(session, to="c@example.org", subject="x", body_text="x")
        failed.attempts, failed.last_error = 1, "SMTP 127.0.0.1:1: refused"
    request.getfixturevalue("worker")
    assert smtp.messages == []

    tasks.flush_outbox.delay()

    wait_until(lambda: len(smtp.messages) == 2, what="both e-mails")
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["a@example.org", "b@example.org"]
    wait_until(lambda: _email(db, first).sent_at and _email(db, second).sent_at, what="sent_at")
    assert _email(db, failed.id).sent_at is None


def test_mail_send_twice_delivers_exactly_once(
    db: Callable[[], Session], smtp: SmtpServer, worker: Any, finished: Finished, task_settings: Settings
) -> None:
    email_id = _queue(db, "familie@example.org", "Ihr Anmeldelink")

    runs = [tasks.send_mail.delay(str(email_id)).id, tasks.send_mail.delay(str(email_id)).id]

    wait_until(lambda: finished.has(*runs), what="both mail.send runs")
    assert len(smtp.messages) == 1
    received = smtp.messages[0]
    assert received.rcpt_tos == ["familie@example.org"]
    assert received.message["Subject"] == "Ihr Anmeldelink"
    assert received.message["From"] == SENDER
    # The Message-ID comes from the e-mail's id: a receiver can recognise a repeated delivery.
    assert received.message["Message-ID"] == f"<{email_id}@stadt.example>"
    row = _email(db, email_id)
    assert row.sent_at is not None
    assert row.attempts == 1


def test_directory_transport_writes_one_eml_per_email(
    db: Callable[[], Session],
    worker: Any,
    finished: Finished,
    monkeypatch: pytest.MonkeyPatch,
    migrated_db: str,
    tmp_path: Path,
) -> None:
    settings = _settings(tmp_path / "data", migrated_db, FK_MAIL_DIR=str(tmp_path / "mail"))
    monkeypatch.setattr(tasks, "current_settings", lambda: settings)
    email_id = _queue(db, "familie@example.org", "Willkommen")

    runs = [tasks.send_mail.delay(str(email_id)).id, tasks.send_mail.delay(str(email_id)).id]

    wait_until(lambda: finished.has(*runs), what="both mail.send runs")
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == [f"{email_id}.eml"]
    text = files[0].read_text()
    assert "Subject: Willkommen" in text
    assert f"Message-ID: <{email_id}@stadt.example>" in text


def test_failing_smtp_server_records_the_attempt_and_a_later_send_delivers(
    db: Callable[[], Session],
    smtp: SmtpServer,
    worker: Any,
    monkeypatch: pytest.MonkeyPatch,
    task_settings: Settings,
    migrated_db: str,
    tmp_path: Path,
) -> None:
    closed = free_port()
    down = _settings(tmp_path, migrated_db, FK_SMTP_HOST="127.0.0.1", FK_SMTP_PORT=str(closed))
    monkeypatch.setattr(tasks, "current_settings", lambda: down)
    email_id = _queue(db)

    tasks.send_mail.delay(str(email_id))

    wait_until(lambda: _email(db, email_id).last_error, what="the failed attempt")
    row = _email(db, email_id)
    assert row.sent_at is None
    assert row.attempts >= 1
    assert f"127.0.0.1:{closed}" in (row.last_error or "")

    # The mail server is back: the next run delivers it, once.
    monkeypatch.setattr(tasks, "current_settings", lambda: task_settings)
    tasks.send_mail.delay(str(email_id))
    wait_until(lambda: _email(db, email_id).sent_at, what="delivery after the outage")
    assert len(smtp.to("familie@example.org")) == 1


def test_commit_wakes_the_worker_without_waiting_for_the_flush(
    db: Callable[[], Session], smtp: SmtpServer, worker: Any, task_settings: Settings
) -> None:
    previous = set_waker(MAIL_TOPIC, MAIL_WAKER)
    try:
        email_id = _queue(db, "sofort@example.org")
        wait_until(lambda: smtp.to("sofort@example.org"), timeout=10, what="the woken delivery")
    finally:
        set_waker(MAIL_TOPIC, previous)
    wait_until(lambda: _email(db, email_id).sent_at, what="sent_at")


def test_a_rolled_back_email_wakes_nobody(db: Callable[[], Session]) -> None:
    woken: list[uuid.UUID] = []
    previous = set_waker(MAIL_TOPIC, woken.extend)
    try:
        with db() as session:
            with session.begin():
                kept = queue_email(session, to="a@example.org", subject="kept", body_text="x").id
            session.begin()
            queue_email(session, to="b@example.org", subject="dropped", body_text="x")
            session.rollback()
    finally:
        set_waker(MAIL_TOPIC, previous)
    assert woken == [kept]


def test_concurrent_sends_of_one_email_deliver_it_once(
    db: Callable[[], Session], smtp: SmtpServer, smtp_settings: Settings
) -> None:
    smtp.clear()
    email_id = _queue(db, "parallel@example.org")
    transport = SmtpTransport(SENDER, message_domain(smtp_settings), "127.0.0.1", smtp.port)
    # Slow enough that the second send starts while the first one still holds the row.
    smtp.slow_down(0.5)
    results: list[str] = []

    def send() -> None:
        with db() as session, session.begin():
            results.append(send_email(session, email_id, transport).status)

    try:
        threads = [threading.Thread(target=send) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        smtp.slow_down(0)
    assert sorted(results) == ["already_sent", "sent"]
    assert len(smtp.to("parallel@example.org")) == 1
    assert _email(db, email_id).attempts == 1


def test_transport_follows_the_settings(tmp_path: Path, migrated_db: str) -> None:
    with_dir = _settings(tmp_path, migrated_db)
    with_smtp = _settings(tmp_path, migrated_db, FK_SMTP_HOST="mail.example", FK_SMTP_PORT="2525")
    assert type(transport_from_settings(with_dir)).__name__ == "DirectoryTransport"
    smtp_transport = transport_from_settings(with_smtp)
    assert isinstance(smtp_transport, SmtpTransport)
    assert (smtp_transport.host, smtp_transport.port) == ("mail.example", 2525)
