"""The transactional outbox: domain events written with the change, a relay that hands them to the workers, and
idempotent consumers.

1. ``emit`` adds an :class:`OutboxEvent` to the caller's transaction: the event exists if and only if the change
   it reports was committed. After the commit the id goes to the waker of ``OUTBOX_TOPIC``, which queues the
   relay at once (best effort; familienkarte.outbox_wake).
2. The relay (``claim_for_publishing`` and ``messages``, run by the ``outbox.relay`` task every 15 seconds and when
   woken) takes the events not done, oldest first, that were never published or were published longer than
   ``republish_after`` ago, and publishes one message per consumer with their ids. A message that never arrives
   (the broker restarted and kept nothing, a worker died with it) leaves its events published but not done: the
   relay publishes them again. So an event is delivered at least once, whatever is down for a while.
3. ``consume`` makes the delivery count once: it locks the events, skips those this consumer already handled,
   runs the consumer's effect and records (consumer, event id) in the same transaction. A repeated or late
   message finds the record and changes nothing. An event is done when every consumer of its kind handled it.

Consumers do not depend on the order of events (the statistics consumer marks periods to rebuild from the raw
facts), so publishing in order of creation is about fairness, not correctness.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from familienkarte.db import is_postgresql, sqlite_write_lock, utcnow
from familienkarte.events.models import ConsumedEvent, OutboxEvent
from familienkarte.outbox_wake import wake_after_commit

log = logging.getLogger("familienkarte.events")

# The topic under which committed event ids are handed to the waker (familienkarte.outbox_wake).
OUTBOX_TOPIC: Final = "outbox"

REDEMPTION_RECORDED: Final = "redemption.recorded"
REDEMPTION_VOIDED: Final = "redemption.voided"
REDEMPTION_UPLOADED: Final = "redemption.uploaded"
VERIFICATIONS_RECORDED: Final = "verifications.recorded"
CARD_CHANGED: Final = "card.changed"

STATS_CONSUMER: Final = "stats"
# Who handles each kind of event, and the task that does it for each consumer.
CONSUMERS: Final[dict[str, tuple[str, ...]]] = {
    REDEMPTION_RECORDED: (STATS_CONSUMER,),
    REDEMPTION_VOIDED: (STATS_CONSUMER,),
    REDEMPTION_UPLOADED: (STATS_CONSUMER,),
    VERIFICATIONS_RECORDED: (STATS_CONSUMER,),
    CARD_CHANGED: (STATS_CONSUMER,),
}
CONSUMER_TASKS: Final[dict[str, str]] = {STATS_CONSUMER: "stats.consume_events"}

# A published event not done after this long lost its message: published again. Long enough that a queue with a
# backlog is not flooded with copies (each copy is harmless, only work).
REPUBLISH_AFTER: Final = dt.timedelta(minutes=5)
# Events per relay transaction, and ids per message.
RELAY_BATCH: Final = 1000
MESSAGE_SIZE: Final = 200
# Done events are kept this long (for inspection), then deleted by the relay with their consumer records.
KEEP_DONE: Final = dt.timedelta(days=7)


class UnknownEventKind(ValueError):
    pass


def emit(session: Session, kind: str, payload: dict[str, Any], *, now: dt.datetime | None = None) -> OutboxEvent:
    """Add an event to the caller's transaction; it is relayed only if that transaction commits."""
    if kind not in CONSUMERS:
        raise UnknownEventKind(kind)
    event = OutboxEvent(id=uuid.uuid4(), kind=kind, payload=payload, created_at=now or utcnow())
    session.add(event)
    wake_after_commit(session, OUTBOX_TOPIC, [event.id])
    return event


# --- the relay ---


def claim_for_publishing(
    session: Session,
    now: dt.datetime,
    *,
    republish_after: dt.timedelta = REPUBLISH_AFTER,
    limit: int = RELAY_BATCH,
) -> list[OutboxEvent]:
    """The events to publish now, oldest first, marked published (in the caller's transaction).

    On PostgreSQL the rows stay locked until the caller commits and rows locked by another relay or by a consumer
    are skipped: two relays never publish the same event at once, and an event being consumed is left alone.
    The caller publishes before it commits, so a broker that refuses leaves the events as they were.
    """
    due = or_(OutboxEvent.published_at.is_(None), OutboxEvent.published_at < now - republish_after)
    query = (
        select(OutboxEvent)
        .where(OutboxEvent.done_at.is_(None), due)
        .order_by(OutboxEvent.created_at, OutboxEvent.id)
        .limit(limit)
    )
    if is_postgresql(session):
        query = query.with_for_update(skip_locked=True)
    else:
        sqlite_write_lock(session, OutboxEvent)
    events = list(session.scalars(query))
    for event in events:
        if event.published_at is not None:
            log.info("event %s (%s) published again: not done since %s", event.id, event.kind, event.published_at)
        event.published_at = now
        event.attempts += 1
    session.flush()
    return events


def messages(events: Iterable[OutboxEvent], size: int = MESSAGE_SIZE) -> list[tuple[str, list[str]]]:
    """(task name, event ids) to publish for ``events``: per consumer, in the events' order, ``size`` ids at most."""
    per_task: dict[str, list[str]] = {}
    for event in events:
        for consumer in CONSUMERS.get(event.kind, ()):
            per_task.setdefault(CONSUMER_TASKS[consumer], []).append(str(event.id))
    return [(task, ids[i : i + size]) for task, ids in per_task.items() for i in range(0, len(ids), size)]


def purge_done(session: Session, now: dt.datetime, keep: dt.timedelta = KEEP_DONE) -> int:
    """Delete events done longer than ``keep`` ago (their consumer records go with them); returns how many."""
    old = select(OutboxEvent.id).where(OutboxEvent.done_at < now - keep).limit(RELAY_BATCH).scalar_subquery()
    result = session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(old)))
    return int(getattr(result, "rowcount", 0) or 0)


# --- consuming ---

Effect = Callable[[Session, Sequence[OutboxEvent]], None]


def consume(
    session: Session, consumer: str, event_ids: Iterable[uuid.UUID], effect: Effect, now: dt.datetime
) -> list[OutboxEvent]:
    """Run ``effect`` for the events of ``event_ids`` that ``consumer`` has not handled yet, record them as handled
    and mark done the events every consumer of their kind has handled, all in the caller's transaction. Returns
    the events handled now (none for a repeated message).

    The events are locked first (PostgreSQL: FOR UPDATE, in id order; SQLite: the write lock), so two deliveries
    of the same event wait for each other and the second finds it handled.
    """
    ids = sorted(set(event_ids))
    if not ids:
        return []
    if not is_postgresql(session):
        sqlite_write_lock(session, OutboxEvent)
    events = list(
        session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.id.in_(ids))
            .order_by(OutboxEvent.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    handled = set(
        session.scalars(
            select(ConsumedEvent.event_id).where(ConsumedEvent.consumer == consumer, ConsumedEvent.event_id.in_(ids))
        )
    )
    fresh = [event for event in events if event.id not in handled and consumer in CONSUMERS.get(event.kind, ())]
    if not fresh:
        return []
    effect(session, fresh)
    session.add_all([ConsumedEvent(consumer=consumer, event_id=event.id, consumed_at=now) for event in fresh])
    session.flush()
    rows = session.execute(
        select(ConsumedEvent.event_id, func.count())
        .where(ConsumedEvent.event_id.in_([event.id for event in fresh]))
        .group_by(ConsumedEvent.event_id)
    ).all()
    counts: dict[uuid.UUID, int] = {row[0]: row[1] for row in rows}
    for event in fresh:
        if counts.get(event.id, 0) >= len(CONSUMERS[event.kind]):
            event.done_at = now
    session.flush()
    return fresh
