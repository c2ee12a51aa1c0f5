"""The statistics' events: emitted where redemptions, verifications and cards change; consumed by marking the local
days and months they touch as dirty (``StatsDirty``), which ``rebuild_dirty`` rebuilds from the raw facts.

The payloads carry only what locates the change in time: no card, no redemption, no person, so the outbox holds
nothing of a family (and needs nothing deleted when a family's data is).

- ``redemption.recorded`` / ``.voided`` / ``.uploaded``: ``{"occurred_at"}``: the local day of ``occurred_at``
  (and so its month and the programme's families reached).
- ``verifications.recorded``: ``{"hours": [...]}``: the UTC hours of a batch of verifications; their local days.
- ``card.changed``: ``{"since"}``: every local month from ``since`` to the month of the change. A status
  change can alter months before the current one (a card suspended in March and active again in June was not
  active in April and May by the old status, and is by the new one), so ``since`` is the earliest instant whose
  figures the change can alter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import Connection, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from familienkarte.cards.models import Card, CardStatus
from familienkarte.city import City
from familienkarte.db import is_postgresql, utcnow
from familienkarte.events.models import OutboxEvent, StatsDirty
from familienkarte.events.services import (
    CARD_CHANGED,
    CONSUMERS,
    REDEMPTION_RECORDED,
    REDEMPTION_UPLOADED,
    REDEMPTION_VOIDED,
    STATS_CONSUMER,
    VERIFICATIONS_RECORDED,
    consume,
    emit,
)
from familienkarte.redemptions.models import Redemption, VerificationEvent

if TYPE_CHECKING:
    import psycopg

# A card in one of these states does not count as active in the months after it changed to it.
_STOPPED = (CardStatus.REVOKED.value, CardStatus.SUSPENDED.value)


# --- emitting ---


def redemption_recorded(session: Session, row: Redemption) -> None:
    _redemption(session, REDEMPTION_UPLOADED if row.offline else REDEMPTION_RECORDED, row)


def redemption_voided(session: Session, row: Redemption) -> None:
    _redemption(session, REDEMPTION_VOIDED, row)


def _redemption(session: Session, kind: str, row: Redemption) -> None:
    emit(session, kind, {"occurred_at": row.occurred_at.isoformat()})


def _hour(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0).isoformat()


def verifications_recorded(session: Session, instants: Iterable[dt.datetime]) -> None:
    emit(session, VERIFICATIONS_RECORDED, {"hours": sorted({_hour(instant) for instant in instants})})


def write_verifications(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Insert verification events and their outbox event on ``connection``, in its transaction (the batched
    verification log writes on a connection of its own, not a session). No wake-up: verifications arrive in a
    steady stream at a till, and the relay's next tick (15 s) is soon enough for statistics."""
    if not rows:
        return
    if connection.dialect.driver == "psycopg":
        _copy_verifications(connection, rows)
    else:
        # One compiled statement for every batch (executemany), rather than a new multi-row VALUES per batch size.
        connection.execute(insert(VerificationEvent), list(rows))
    hours = sorted({_hour(row["at"]) for row in rows})
    connection.execute(
        insert(OutboxEvent).values(
            id=uuid.uuid4(), kind=VERIFICATIONS_RECORDED, payload={"hours": hours}, created_at=utcnow(), attempts=0
        )
    )


_COPY_COLUMNS: Final = ("partner_id", "location_id", "reason", "presentation", "at")


def _copy_verifications(connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    """PostgreSQL's COPY, in ``connection``'s transaction: a fifth of the CPU of an executemany per row, which the
    web process's writer thread otherwise takes from the tills' requests. A refused row (its partner or location
    deleted meanwhile) fails the whole COPY as an IntegrityError, like the INSERT would."""
    dbapi = cast("psycopg.Connection[Any]", connection.connection.dbapi_connection)
    columns = ", ".join(_COPY_COLUMNS)
    try:
        with dbapi.cursor() as cursor, cursor.copy(f"COPY verification_events ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(tuple(row[column] for column in _COPY_COLUMNS))
    except connection.dialect.loaded_dbapi.IntegrityError as exc:
        raise IntegrityError("COPY verification_events", None, exc) from exc


def card_changed(card: Card, now: dt.datetime, since: dt.datetime | dt.date | None = None) -> None:
    """A card (in a session) was issued or activated, or is about to change status or validity: call before changing
    the row, so that a status that stopped the card in earlier months is still seen. ``since``: an earlier instant
    or day the change touches (a validity that ended in the past and is extended)."""
    start = now
    if card.status in _STOPPED and card.status_changed_at is not None:
        start = min(start, card.status_changed_at)
    if since is not None:
        if not isinstance(since, dt.datetime):
            since = dt.datetime.combine(since, dt.time(0), tzinfo=dt.UTC) - dt.timedelta(days=1)
        start = min(start, since)
    session = object_session(card)
    if session is None:
        raise ValueError("card_changed needs a card in a session")
    emit(session, CARD_CHANGED, {"since": start.isoformat()}, now=now)


# --- consuming ---


def _instant(value: Any) -> dt.datetime:
    instant = dt.datetime.fromisoformat(str(value))
    return instant.replace(tzinfo=dt.UTC) if instant.tzinfo is None else instant


def _months(first: dt.date, last: dt.date) -> list[dt.date]:
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def dirty_periods(city: City, events: Iterable[OutboxEvent]) -> set[str]:
    """The days ("2026-07-01") and months ("2026-07") the events touch."""
    zone = city.timezone
    periods: set[str] = set()
    for event in events:
        if event.kind in (REDEMPTION_RECORDED, REDEMPTION_VOIDED, REDEMPTION_UPLOADED):
            periods.add(_instant(event.payload["occurred_at"]).astimezone(zone).date().isoformat())
        elif event.kind == VERIFICATIONS_RECORDED:
            for hour in event.payload["hours"]:
                start = _instant(hour)
                # An hour of UTC spans two local days in a zone whose offset is not whole hours.
                for instant in (start, start + dt.timedelta(minutes=59, seconds=59)):
                    periods.add(instant.astimezone(zone).date().isoformat())
        elif event.kind == CARD_CHANGED:
            first = _instant(event.payload["since"]).astimezone(zone).date()
            last = max(first, event.created_at.astimezone(zone).date())
            periods.update(month.strftime("%Y-%m") for month in _months(first, last))
    return periods


def mark_dirty(session: Session, periods: Iterable[str], now: dt.datetime) -> None:
    """Mark ``periods`` for rebuilding (an upsert, in sorted order so that concurrent consumers cannot deadlock)."""
    ordered = sorted(set(periods))
    if not ordered:
        return
    rows = [{"period": period, "marked_at": now} for period in ordered]
    if is_postgresql(session):
        pg = pg_insert(StatsDirty).values(rows)
        session.execute(pg.on_conflict_do_update(index_elements=["period"], set_={"marked_at": pg.excluded.marked_at}))
    else:
        lite = sqlite_insert(StatsDirty).values(rows)
        session.execute(
            lite.on_conflict_do_update(index_elements=["period"], set_={"marked_at": lite.excluded.marked_at})
        )


def statistics_effect(city: City, now: dt.datetime) -> Any:
    """The statistics consumer's effect for :func:`familienkarte.events.services.consume`."""

    def effect(session: Session, events: Sequence[OutboxEvent]) -> None:
        mark_dirty(session, dirty_periods(city, events), now)

    return effect


def consume_statistics(
    session: Session, city: City, event_ids: Iterable[uuid.UUID], now: dt.datetime
) -> list[OutboxEvent]:
    """Handle a delivery of events for the statistics: mark what they touch dirty, once per event."""
    return consume(session, STATS_CONSUMER, event_ids, statistics_effect(city, now), now)


def consume_pending_statistics(session: Session, city: City, now: dt.datetime) -> list[OutboxEvent]:
    """Handle every statistics event not yet handled, in the caller's transaction: the nightly reconciliation does
    this first, so that a fact whose event is still on its way is not reported as a difference. A delivery of the
    same events later finds them handled and changes nothing."""
    kinds = [kind for kind, consumers in CONSUMERS.items() if STATS_CONSUMER in consumers]
    pending = session.scalars(select(OutboxEvent.id).where(OutboxEvent.done_at.is_(None), OutboxEvent.kind.in_(kinds)))
    return consume_statistics(session, city, list(pending), now)
