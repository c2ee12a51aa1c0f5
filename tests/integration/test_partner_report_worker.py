"""The monthly report through a real Celery worker to a real SMTP server: beat's task fans out per partner, each
owner gets one e-mail with its HTML part and the PDF, and a second run sends nothing.

The worker runs in this process (``start_worker``) on the embedded SQLite broker, or on Redis when FK_REDIS_URL is
set; the SMTP server is aiosmtpd on a free port of 127.0.0.1.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest
from celery.contrib.testing.worker import start_worker
from celery.signals import task_postrun
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.mail.models import Email
from familienkarte.mail.services import MAIL_TOPIC
from familienkarte.outbox_wake import set_waker
from familienkarte.settings import Settings
from tests.helpers import make_test_settings
from tests.integration.test_partner_report import MONTH, make_owner, shop_with_month
from tests.workers_helpers import SmtpServer, wait_until
from workers import tasks_reports
from workers.celery_app import MAIL_WAKER, celery_app, configure

Factory = Callable[[], Session]
SENDER = "Familienkarte Köln <familienkarte@stadt.example>"
PER_PARTNER = "stats.send_partner_report"


class Runs:
    """How often each task has finished in the worker, from Celery's own signal."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, task: Any = None, **_: Any) -> None:
        with self._lock:
            self.counts[task.name] = self.counts.get(task.name, 0) + 1

    def of(self, name: str) -> int:
        with self._lock:
            return self.counts.get(name, 0)


@pytest.fixture(scope="module")
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    tracker = Runs()
    task_postrun.connect(tracker, weak=False)
    yield tracker
    task_postrun.disconnect(tracker)


@pytest.fixture(scope="module")
def worker(
    migrated_db: str, tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer, runs: Runs
) -> Iterator[Settings]:
    settings = make_test_settings(
        Path(tmp_path_factory.mktemp("report-worker")),
        migrated_db,
        FK_MAIL_FROM=SENDER,
        FK_SMTP_HOST="127.0.0.1",
        FK_SMTP_PORT=str(smtp.port),
        FK_BASE_URL="https://familienkarte.example",
    )
    configure(settings, configure_logs=False)
    # As in `familienkarte worker`: an e-mail committed by a task is handed to mail.send at once.
    previous = set_waker(MAIL_TOPIC, MAIL_WAKER)
    try:
        with start_worker(celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            yield settings
    finally:
        set_waker(MAIL_TOPIC, previous)


def pdf_text(content: bytes) -> str:
    document = pdfium.PdfDocument(content)
    return "\n".join(document[index].get_textpage().get_text_range() for index in range(len(document)))


def test_beats_run_delivers_one_report_per_owner_with_html_and_pdf_and_a_second_run_nothing(
    db: Factory, smtp: SmtpServer, worker: Settings, runs: Runs
) -> None:
    smtp.clear()
    zoo = shop_with_month(db, "Zoo", "Zoo entry", 6)
    theatre = shop_with_month(db, "Theatre", "Theatre seat", 8)
    make_owner(db, zoo, "zoo-de@example.org", "de")
    make_owner(db, zoo, "zoo-en@example.org", "en")
    make_owner(db, zoo, "zoo-cashier@example.org", "en", role=Role.CASHIER.value)
    make_owner(db, theatre, "theatre@example.org", "en")
    before = runs.of(PER_PARTNER)

    # What beat queues on the first of the month.
    tasks_reports.send_partner_reports.delay()

    wait_until(lambda: len(smtp.messages) >= 3, timeout=60, what="three reports at the SMTP server")
    by_owner = {received.rcpt_tos[0]: received.message for received in smtp.messages}
    assert sorted(by_owner) == ["theatre@example.org", "zoo-de@example.org", "zoo-en@example.org"]
    for address, message in by_owner.items():
        assert message.get_content_type() == "multipart/mixed", address
        html = message.get_body(("html",))
        assert html is not None
        assert "<table" in html.get_content()
        [pdf] = list(message.iter_attachments())
        assert pdf.get_content_type() == "application/pdf"
        assert pdf.get_filename() == f"familienkarte-{MONTH:%Y-%m}.pdf"
        content = pdf.get_payload(decode=True)
        assert isinstance(content, bytes)
        text = pdf_text(content)
        assert ("Theatre seat" in text) == (address == "theatre@example.org")
        assert ("Zoo entry" in text) == address.startswith("zoo-")
    assert by_owner["zoo-de@example.org"]["Content-Language"] == "de"
    assert by_owner["zoo-en@example.org"]["Content-Language"] == "en"
    assert runs.of(PER_PARTNER) == before + 2

    # A second run (a repeated beat, a redelivered message): both partners run again, nothing is sent.
    tasks_reports.send_partner_reports.delay()
    wait_until(lambda: runs.of(PER_PARTNER) == before + 4, timeout=60, what="the second run of both partners")
    wait_until(lambda: not _unsent(db), what="every e-mail sent")
    assert len(smtp.messages) == 3
    with db() as session:
        assert session.scalar(select(func.count()).select_from(Email)) == 3


def _unsent(db: Factory) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(Email).where(Email.sent_at.is_(None))) or 0
