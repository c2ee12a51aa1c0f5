"""The outbox: events written with their change, the relay's claims, idempotent consumers, the statistics consumer,
and the places that emit (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.cards.models import Card, CardStatus
from familienkarte.city import load_city
from familienkarte.events import stats as stats_events
from familienkarte.events.models import ConsumedEvent, OutboxEvent, StatsDirty
from familienkarte.events.services import (
    CARD_CHANGED,
    OUTBOX_TOPIC,
    REDEMPTION_RECORDED,
    REDEMPTION_UPLOADED,
    REDEMPTION_VOIDED,
    REPUBLISH_AFTER,
    VERIFICATIONS_RECORDED,
    UnknownEventKind,
    claim_for_publishing,
    emit,
    messages,
    purge_done,
)
from familienkarte.events.stats import consume_statistics, dirty_periods
from familienkarte.outbox_wake import set_waker
from familienkarte.statistics.rollups import rebuild_dirty
from tests.helpers import bearer
from tests.integration.test_card_credentials import issue_family_card
from tests.integration.test_redemptions import benefit, redeem
from tests.integration.test_verifications import Till, make_till

KOELN = load_city("koeln")
NOW = dt.datetime(2026, 7, 5, 8, tzinfo=dt.UTC)
Factory = Callable[[], Session]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=dt.UTC)


@pytest.fixture
def till(db: Factory, make_user: Any) -> Till:
    return make_till(db, make_user)


def all_events(db: Factory, kind: str | None = None) -> list[OutboxEvent]:
    with db() as s:
        query = select(OutboxEvent).order_by(OutboxEvent.created_at, OutboxEvent.id)
        if kind is not None:
            query = query.where(OutboxEvent.kind == kind)
        return list(s.scalars(query))


def marks(db: Factory) -> list[str]:
    with db() as s:
        return list(s.scalars(select(StatsDirty.period).order_by(StatsDirty.period)))


def recorded(db: Factory, occurred_at: dt.datetime, now: dt.datetime = NOW) -> uuid.UUID:
    with db() as s, s.begin():
        return emit(s, REDEMPTION_RECORDED, {"occurred_at": occurred_at.isoformat()}, now=now).id


def consume(db: Factory, ids: list[uuid.UUID], now: dt.datetime = NOW) -> list[uuid.UUID]:
    with db() as s, s.begin():
        return [event.id for event in consume_statistics(s, KOELN, ids, now)]


# --- emitting ---


def test_an_event_exists_only_if_its_transaction_commits_and_wakes_the_relay_after_it(db: Factory) -> None:
    woken: list[Any] = []
    previous = set_waker(OUTBOX_TOPIC, woken.extend)
    try:
        with db() as s, s.begin():
            event = emit(s, REDEMPTION_RECORDED, {"occurred_at": NOW.isoformat()})
            s.flush()
            assert woken == []  # not before the commit
        assert woken == [event.id]

        with db() as s:
            s.begin()
            emit(s, REDEMPTION_VOIDED, {"occurred_at": NOW.isoformat()})
            s.flush()
            s.rollback()
        assert woken == [event.id]
        assert [(e.id, e.kind, e.published_at, e.done_at, e.attempts) for e in all_events(db)] == [
            (event.id, REDEMPTION_RECORDED, None, None, 0)
        ]
    finally:
        set_waker(OUTBOX_TOPIC, previous)


def test_an_unknown_kind_is_refused_and_nothing_is_written(db: Factory) -> None:
    with pytest.raises(UnknownEventKind), db() as s, s.begin():
        emit(s, "redemption.deleted", {})
    assert all_events(db) == []


# --- the relay ---


def test_the_relay_claims_due_events_oldest_first_and_again_only_when_not_done_in_time(db: Factory) -> None:
    first, second, third = (recorded(db, NOW, now=NOW - dt.timedelta(minutes=m)) for m in (3, 2, 1))

    with db() as s, s.begin():
        assert [e.id for e in claim_for_publishing(s, NOW)] == [first, second, third]
    assert [(e.published_at, e.attempts) for e in all_events(db)] == [(NOW, 1)] * 3
    with db() as s, s.begin():
        assert claim_for_publishing(s, NOW + dt.timedelta(minutes=1)) == []  # published, not yet overdue

    consume(db, [first])
    later = NOW + REPUBLISH_AFTER + dt.timedelta(seconds=1)
    with db() as s, s.begin():
        again = claim_for_publishing(s, later)
    assert [e.id for e in again] == [second, third]  # the done one never again
    assert {e.id: e.attempts for e in all_events(db)} == {first: 1, second: 2, third: 2}


def test_a_relay_batch_is_limited_and_the_rest_waits_for_the_next(db: Factory) -> None:
    ids = [recorded(db, NOW, now=NOW + dt.timedelta(seconds=n)) for n in range(5)]
    with db() as s, s.begin():
        assert [e.id for e in claim_for_publishing(s, NOW, limit=3)] == ids[:3]
    with db() as s, s.begin():
        assert [e.id for e in claim_for_publishing(s, NOW, limit=3)] == ids[3:]


def test_messages_go_to_the_consumers_task_in_order_and_in_bounded_batches() -> None:
    events = [OutboxEvent(id=uuid.uuid4(), kind=REDEMPTION_RECORDED, payload={}) for _ in range(5)]
    ids = [str(e.id) for e in events]
    assert messages(events, size=2) == [
        ("stats.consume_events", ids[0:2]),
        ("stats.consume_events", ids[2:4]),
        ("stats.consume_events", ids[4:5]),
    ]
    assert messages([]) == []


def test_events_done_a_week_ago_are_deleted_with_their_records(db: Factory) -> None:
    old, recent, open_ = (recorded(db, NOW, now=NOW - dt.timedelta(days=d)) for d in (9, 2, 9))
    consume(db, [old], now=NOW - dt.timedelta(days=8))
    consume(db, [recent], now=NOW - dt.timedelta(days=1))
    with db() as s, s.begin():
        assert purge_done(s, NOW) == 1
    assert {e.id for e in all_events(db)} == {recent, open_}
    with db() as s:
        assert list(s.scalars(select(ConsumedEvent.event_id))) == [recent]


# --- consuming ---


def test_a_redelivered_event_changes_nothing(db: Factory) -> None:
    one = recorded(db, utc(2026, 7, 1, 23, 30))  # 01:30 on 2 July in Köln
    two = recorded(db, utc(2026, 7, 3, 10))
    assert sorted(consume(db, [one, two, one])) == sorted([one, two])
    assert marks(db) == ["2026-07-02", "2026-07-03"]
    assert all(e.done_at == NOW for e in all_events(db))
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)  # clears the marks
    assert marks(db) == []

    assert consume(db, [two, one], now=NOW + dt.timedelta(minutes=1)) == []
    assert marks(db) == []  # nothing marked again: the day would not be rebuilt for nothing
    with db() as s:
        rows = s.execute(select(ConsumedEvent.event_id, func.count()).group_by(ConsumedEvent.event_id)).all()
    assert sorted((row[0], row[1]) for row in rows) == sorted([(one, 1), (two, 1)])
    assert consume(db, [uuid.uuid4()]) == []  # an event deleted meanwhile: nothing to do


def test_two_deliveries_at_the_same_time_handle_the_event_once(db: Factory) -> None:
    event_id = recorded(db, utc(2026, 7, 3, 10))
    results: list[list[uuid.UUID]] = []
    first = db()
    first.begin()
    results.append([e.id for e in consume_statistics(first, KOELN, [event_id], NOW)])

    second = threading.Thread(target=lambda: results.append(consume(db, [event_id])))
    second.start()
    second.join(0.5)
    assert second.is_alive()  # waits for the first delivery's transaction
    first.commit()
    first.close()
    second.join(10)
    assert results == [[event_id], []]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(ConsumedEvent)) == 1


def test_the_statistics_consumer_marks_the_local_days_and_months_touched() -> None:
    def event(kind: str, created: dt.datetime = NOW, **payload: Any) -> OutboxEvent:
        return OutboxEvent(id=uuid.uuid4(), kind=kind, payload=payload, created_at=created)

    assert dirty_periods(KOELN, [event(REDEMPTION_RECORDED, occurred_at=utc(2026, 7, 1, 21, 59).isoformat())]) == {
        "2026-07-01"
    }
    assert dirty_periods(KOELN, [event(REDEMPTION_UPLOADED, occurred_at=utc(2026, 7, 1, 22).isoformat())]) == {
        "2026-07-02"
    }
    # 22:00 to 23:00 UTC on 31 December is 23:00 to midnight in Köln (winter time); 23:00 UTC is the next day.
    hours = [utc(2025, 12, 31, 22).isoformat(), utc(2025, 12, 31, 23).isoformat()]
    assert dirty_periods(KOELN, [event(VERIFICATIONS_RECORDED, hours=hours)]) == {"2025-12-31", "2026-01-01"}
    changed = event(CARD_CHANGED, created=utc(2026, 6, 5), since=utc(2026, 3, 31, 23).isoformat())
    assert dirty_periods(KOELN, [changed]) == {"2026-04", "2026-05", "2026-06"}


def test_a_card_change_reaches_back_to_a_stopping_status_and_a_past_validity(db: Factory, make_user: Any) -> None:
    family = issue_family_card(db, make_user)
    issued = all_events(db, CARD_CHANGED)
    assert len(issued) == 1  # the card issued

    june = utc(2026, 6, 5, 12)
    with db() as s, s.begin():
        card = s.get(Card, family.card_id)
        assert card is not None
        stats_events.card_changed(card, june)  # an active card changes: only from now on
        card.status, card.status_changed_at = CardStatus.SUSPENDED.value, utc(2026, 3, 10)
        stats_events.card_changed(card, june)  # a suspended one: since it was suspended
        card.status = CardStatus.ACTIVE.value
        stats_events.card_changed(card, june, since=dt.date(2026, 1, 15))  # its validity extended from January
    since = {
        dt.datetime.fromisoformat(e.payload["since"]) for e in all_events(db, CARD_CHANGED) if e.created_at == june
    }
    # The day of the past validity, reached from UTC with a day to spare for the city's offset.
    assert since == {june, utc(2026, 3, 10), utc(2026, 1, 14)}


def test_rebuild_dirty_rebuilds_what_was_marked_and_clears_it(db: Factory) -> None:
    with db() as s, s.begin():
        rebuild_dirty(s, KOELN, NOW)  # the first run, which builds everything there is
    consume(db, [recorded(db, utc(2026, 7, 3, 10))])
    with db() as s, s.begin():
        stats_events.mark_dirty(s, ["2026-05"], NOW)
    assert marks(db) == ["2026-05", "2026-07-03"]
    with db() as s, s.begin():
        rebuilt = rebuild_dirty(s, KOELN, NOW + dt.timedelta(minutes=1))
    assert rebuilt.days == (dt.date(2026, 7, 3),)
    assert rebuilt.months == (dt.date(2026, 5, 1), dt.date(2026, 7, 1))
    assert marks(db) == []
    with db() as s, s.begin():
        assert rebuild_dirty(s, KOELN, NOW + dt.timedelta(minutes=2)).days == ()


# --- where events are emitted ---


def test_a_redemption_and_its_void_emit_one_event_each_and_a_replay_or_a_refusal_none(
    client: TestClient[Litestar], db: Factory, till: Till
) -> None:
    benefit_id = benefit(db, till, limit_count=1, limit_period="day")
    nonce = uuid.uuid4().hex
    first = redeem(client, till, benefit_id, card_number=till.number, client_nonce=nonce)
    redeem(client, till, benefit_id, card_number=till.number, client_nonce=nonce)  # replayed
    redeem(client, till, benefit_id, card_number=till.number, status=409)  # limit reached
    [event] = all_events(db, REDEMPTION_RECORDED)
    assert dt.datetime.fromisoformat(event.payload["occurred_at"]) == dt.datetime.fromisoformat(first["occurred_at"])

    url = f"/api/v1/redemptions/{first['id']}/void"
    for _ in range(2):
        assert client.post(url, json={"reason": "Wrong benefit"}, headers=bearer(till.token)).status_code == 200
    [voided] = all_events(db, REDEMPTION_VOIDED)
    assert voided.payload == event.payload
