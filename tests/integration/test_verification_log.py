"""Verification statistics are written in batches outside the request (familienkarte.redemptions.verification_log)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from familienkarte.events.models import OutboxEvent
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import VerificationEvent
from familienkarte.redemptions.verification_log import VerificationLog, VerificationRecord
from familienkarte.runtime import Runtime
from tests.conftest import BASE_URL
from tests.helpers import bearer
from tests.integration.test_verifications import Till, make_till, phone_code, signed

T0 = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)


def events(db: Callable[[], Session]) -> list[VerificationEvent]:
    with db() as s:
        return list(s.scalars(select(VerificationEvent).order_by(VerificationEvent.id)))


def replace_log(app: Litestar, **options: Any) -> VerificationLog:
    """Give the app a log of its own; by default one that writes only when flushed (no background write)."""
    runtime: Runtime = app.state["fk"]
    runtime.verification_log.close()
    options = {"interval": 3600.0, "batch_size": 10_000, **options}
    runtime.verification_log = VerificationLog.for_database(runtime.settings.effective_database_url, **options)
    return runtime.verification_log


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


@contextmanager
def refusing(engine: Engine) -> Iterator[dict[str, bool]]:
    """While ``state["down"]`` is true, every statement on ``engine`` fails as with a database that went away."""
    state = {"down": True}

    def refuse(*_args: Any) -> None:
        if state["down"]:
            raise OperationalError("INSERT", {}, Exception("connection refused"))

    event.listen(engine, "before_cursor_execute", refuse)
    try:
        yield state
    finally:
        event.remove(engine, "before_cursor_execute", refuse)


@dataclass(frozen=True)
class Place:
    partner_id: uuid.UUID
    location_id: uuid.UUID


@pytest.fixture
def place(db: Callable[[], Session], make_partner: Callable[..., Partner]) -> Place:
    partner = make_partner()
    with db() as s:
        location_id = s.scalar(select(Location.id).where(Location.partner_id == partner.id))
    assert location_id is not None
    return Place(partner.id, location_id)


def record_for(place: Place, reason: str = "ok", at: dt.datetime = T0) -> VerificationRecord:
    return VerificationRecord(place.partner_id, place.location_id, reason, "phone", at)


def test_a_verification_is_written_only_when_flushed_without_the_card(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    log = replace_log(client.app)
    before = dt.datetime.now(dt.UTC)
    response = client.post(
        "/api/v1/verifications",
        json={"text": phone_code(db, till), "location_id": str(till.location_id)},
        headers=bearer(till.token),
    )
    assert response.status_code == 200, response.text
    assert response.json()["valid"] is True
    # The request wrote nothing for statistics; the event waits in the process.
    assert events(db) == []
    assert log.pending == 1
    assert log.flush() == 1
    (row,) = events(db)
    assert (row.partner_id, row.location_id, row.reason, row.presentation) == (
        till.partner_id,
        till.location_id,
        "ok",
        "phone",
    )
    assert before <= row.at <= dt.datetime.now(dt.UTC)
    assert till.number not in {str(value) for value in (row.partner_id, row.location_id, row.reason, row.presentation)}
    assert log.pending == 0
    assert log.flush() == 0
    assert len(events(db)) == 1


def test_concurrent_verifications_are_each_written_once_by_the_flusher(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    # Several batches, written by the background thread as they fill and every 0.1 s.
    log = replace_log(client.app, interval=0.1, batch_size=7)
    text = signed(db, till.number)
    body = {"text": text, "location_id": str(till.location_id)}

    def scan(_: int) -> int:
        return client.post("/api/v1/verifications", json=body, headers=bearer(till.token)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(scan, range(40)))
    assert statuses == [200] * 40
    log.close()
    rows = events(db)
    assert len(rows) == 40
    assert {(row.reason, row.presentation) for row in rows} == {("ok", "printed")}


def test_events_stay_held_while_the_database_refuses_and_are_written_later(
    db: Callable[[], Session], migrated_db: str, place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    log = VerificationLog.for_database(migrated_db)
    try:
        with refusing(log.engine) as state:
            log.record(record_for(place, "ok"))
            log.record(record_for(place, "stale"))
            with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
                assert log.flush() == 0
            assert "cannot write 2 events" in caplog.text
            assert log.pending == 2
            assert events(db) == []
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
                assert log.flush() == 0
            assert caplog.text == ""  # said once per outage
            state["down"] = False
            log.record(record_for(place, "revoked"))
            with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
                assert log.flush() == 3
            assert "takes them again" in caplog.text
        assert [row.reason for row in events(db)] == ["ok", "stale", "revoked"]
        assert log.pending == 0
    finally:
        log.close()


def test_above_the_cap_the_oldest_are_dropped_with_a_warning(
    db: Callable[[], Session], migrated_db: str, place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    log = VerificationLog.for_database(migrated_db, interval=3600.0, max_pending=3)
    try:
        with refusing(log.engine) as state:
            for minute in range(5):
                log.record(record_for(place, at=T0 + dt.timedelta(minutes=minute)))
            assert log.pending == 3
            with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
                log.flush()
            assert "2 events dropped" in caplog.text
            state["down"] = False
            caplog.clear()
            with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
                assert log.flush() == 3
            # Reported once, not again.
            assert "dropped" not in caplog.text
        assert [row.at for row in events(db)] == [T0 + dt.timedelta(minutes=m) for m in (2, 3, 4)]
    finally:
        log.close()


def test_a_large_backlog_is_written_in_several_batches(
    db: Callable[[], Session], migrated_db: str, place: Place
) -> None:
    log = VerificationLog.for_database(migrated_db, interval=3600.0, batch_size=4)
    try:
        for second in range(10):
            log.record(record_for(place, at=T0 + dt.timedelta(seconds=second)))
        assert log.flush() == 10
        assert len(events(db)) == 10
        with db() as s:  # 4 + 4 + 2 rows, each batch in a transaction of its own with its outbox event
            assert s.scalar(select(func.count()).select_from(OutboxEvent)) == 3
    finally:
        log.close()


def test_events_recorded_during_a_flush_wait_for_the_next_one(
    db: Callable[[], Session], migrated_db: str, place: Place
) -> None:
    """A steady stream of scans must not keep the flusher writing a transaction for every few events."""
    log = VerificationLog.for_database(migrated_db, interval=3600.0, batch_size=10_000)
    arriving = iter(range(100))

    def scan_meanwhile(*_args: Any) -> None:
        # Another till's scan arrives while each batch is written.
        second = next(arriving, None)
        if second is not None:
            log.record(record_for(place, at=T0 + dt.timedelta(minutes=1, seconds=second)))

    try:
        for second in range(5):
            log.record(record_for(place, at=T0 + dt.timedelta(seconds=second)))
        event.listen(log.engine, "before_cursor_execute", scan_meanwhile)
        try:
            assert log.flush() == 5  # what was held when called, not what came in meanwhile
        finally:
            event.remove(log.engine, "before_cursor_execute", scan_meanwhile)
        assert len(events(db)) == 5
        assert log.pending > 0
        held = log.pending
        assert log.flush() == held
        assert log.pending == 0
    finally:
        log.close()


def test_shutdown_writes_what_is_held(app: Litestar, db: Callable[[], Session], till: Till) -> None:
    with TestClient(app, base_url=BASE_URL) as client:
        log = replace_log(client.app)
        for _ in range(3):
            response = client.post(
                "/api/v1/verifications",
                json={"text": "not a code", "location_id": str(till.location_id)},
                headers=bearer(till.token),
            )
            assert response.json()["reason"] == "malformed"
        assert log.pending == 3
        assert events(db) == []
    rows = events(db)
    assert [(row.reason, row.presentation) for row in rows] == [("malformed", None)] * 3
    assert log.pending == 0


def test_a_closed_log_starts_no_thread_and_writes_on_flush(
    db: Callable[[], Session], migrated_db: str, place: Place
) -> None:
    log = VerificationLog.for_database(migrated_db)
    log.close()
    log.record(record_for(place))
    assert not any(thread.name == "verification-log" and thread.is_alive() for thread in threading.enumerate())
    assert log.flush() == 1
    assert len(events(db)) == 1


def test_an_event_the_database_refuses_does_not_hold_back_the_others(
    db: Callable[[], Session], migrated_db: str, place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    log = VerificationLog.for_database(migrated_db, interval=3600.0)
    gone = Place(uuid.uuid4(), uuid.uuid4())  # a partner deleted between the verification and the write
    try:
        log.record(record_for(place, at=T0))
        log.record(record_for(gone, at=T0 + dt.timedelta(seconds=1)))
        log.record(record_for(place, at=T0 + dt.timedelta(seconds=2)))
        with caplog.at_level(logging.WARNING, logger="familienkarte.redemptions.verification_log"):
            assert log.flush() == 2
        assert "1 events refused" in caplog.text
        assert log.pending == 0
        assert [row.at for row in events(db)] == [T0, T0 + dt.timedelta(seconds=2)]
    finally:
        log.close()
