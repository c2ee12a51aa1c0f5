"""The message as it goes out, the folder transport, the wake-up thread and the Celery routing."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import pytest

from familienkarte.mail.models import Email
from familienkarte.mail.sending import (
    DirectoryTransport,
    MailDeliveryFailed,
    compose,
    message_domain,
    transport_from_settings,
)
from familienkarte.outbox_wake import BackgroundWaker
from familienkarte.settings import Settings
from workers.celery_app import QUEUES, celery_config
from workers.schedule import BEAT_SCHEDULE


def _email(**fields: object) -> Email:
    values: dict[str, object] = {
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "to_address": "familie@example.org",
        "subject": "Ihre Familienkarte",
        "body_text": "Hallo Familie Schmitz,\n\nIhre Karte ist da.\n",
        "body_html": None,
        "created_at": dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC),
    }
    values.update(fields)
    return Email(**values)


def test_the_message_is_the_same_for_every_attempt_and_its_id_comes_from_the_email() -> None:
    email = _email()
    first = compose(email, "Stadt Köln <familienkarte@stadt.example>", "stadt.example")
    again = compose(email, "Stadt Köln <familienkarte@stadt.example>", "stadt.example")

    assert first.as_bytes() == again.as_bytes()
    assert first["Message-ID"] == "<12345678-1234-5678-1234-567812345678@stadt.example>"
    assert first["To"] == "familie@example.org"
    assert first["Subject"] == "Ihre Familienkarte"
    assert first["Auto-Submitted"] == "auto-generated"
    assert first.get_content_type() == "text/plain"
    assert "Schmitz" in first.get_content()


def test_an_html_body_goes_as_an_alternative_to_the_text() -> None:
    message = compose(_email(body_html="<p>Hallo</p>"), "a@stadt.example", "stadt.example")
    assert message.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in message.iter_parts()]
    assert parts == ["text/plain", "text/html"]


def test_the_message_id_domain_is_the_senders(tmp_path: Path) -> None:
    assert message_domain(Settings(mail_from="Familienkarte <karte@koeln.example>")) == "koeln.example"
    assert message_domain(Settings(mail_from="Familienkarte", base_url="https://karte.example")) == "karte.example"


def test_the_folder_transport_writes_one_file_per_email_and_a_repeat_overwrites_it(tmp_path: Path) -> None:
    transport = DirectoryTransport("a@stadt.example", "stadt.example", tmp_path / "mail")
    email = _email()
    transport.deliver(compose(email, transport.sender, transport.domain), email.id)
    transport.deliver(compose(email, transport.sender, transport.domain), email.id)

    files = list((tmp_path / "mail").iterdir())
    assert [f.name for f in files] == [f"{email.id}.eml"]
    assert b"Subject: Ihre Familienkarte" in files[0].read_bytes()


def test_the_folder_transport_reports_a_folder_it_cannot_write(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    transport = DirectoryTransport("a@stadt.example", "stadt.example", blocker / "mail")
    with pytest.raises(MailDeliveryFailed, match="Cannot write"):
        transport.deliver(compose(_email(), "a@stadt.example", "stadt.example"), _email().id)


def test_transport_from_settings_writes_to_the_mail_folder_by_default(tmp_path: Path) -> None:
    transport = transport_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(transport, DirectoryTransport)
    assert transport.directory == tmp_path / "mail"


def test_the_waker_publishes_on_its_own_thread_and_survives_a_failing_broker() -> None:
    calls: list[tuple[str, list[uuid.UUID]]] = []
    ids = [uuid.uuid4(), uuid.uuid4()]

    def publish(email_ids: Sequence[uuid.UUID]) -> None:
        calls.append((threading.current_thread().name, list(email_ids)))
        if len(calls) == 1:
            raise ConnectionError("broker down")

    waker = BackgroundWaker(publish, name="mail-waker")
    waker(ids[:1])
    waker.join()
    waker(ids[1:])
    waker.join()

    assert calls == [("mail-waker", ids[:1]), ("mail-waker", ids[1:])]


def test_the_waker_drops_wakeups_when_its_queue_is_full() -> None:
    release = threading.Event()
    seen: list[list[uuid.UUID]] = []

    def publish(email_ids: Sequence[uuid.UUID]) -> None:
        release.wait(5)
        seen.append(list(email_ids))

    waker = BackgroundWaker(publish, maxsize=1)
    for _ in range(5):
        waker([uuid.uuid4()])
    release.set()
    waker.join()
    # One taken by the thread, one waiting in the queue; the rest left to the outbox flush.
    assert 1 <= len(seen) <= 2


def test_each_task_prefix_has_its_queue_and_everything_else_goes_to_default(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    config = celery_config(Settings(data_dir=data_dir))
    assert [q.name for q in config["task_queues"]] == list(QUEUES)
    assert {q.name: q.routing_key for q in config["task_queues"]} == {name: name for name in QUEUES}
    assert config["task_routes"] == {
        "mail.*": {"queue": "mail"},
        "stats.*": {"queue": "stats"},
        "print.*": {"queue": "print"},
    }
    assert config["task_default_queue"] == "default"
    assert config["result_backend"] is None
    assert config["accept_content"] == ["json"]
    assert config["broker_url"] == f"sqla+sqlite:///{data_dir / 'broker.sqlite'}"
    assert config["beat_schedule_filename"] == str(data_dir / "celerybeat-schedule")
    # The embedded broker's folder exists before a worker or beat opens the file.
    assert data_dir.is_dir()


def test_redis_broker_keys_carry_the_deployment_prefix(tmp_path: Path) -> None:
    config = celery_config(Settings(data_dir=tmp_path, redis_url="redis://cache:6379/0", redis_prefix="koeln:"))
    assert config["broker_url"] == "redis://cache:6379/0"
    assert config["broker_transport_options"]["global_keyprefix"] == "koeln:"


def test_beat_flushes_the_outbox_every_30_seconds() -> None:
    entry = BEAT_SCHEDULE["mail.flush_outbox"]
    assert entry["task"] == "mail.flush_outbox"
    assert entry["schedule"] == 30.0
    assert entry["options"]["expires"] < entry["schedule"]
