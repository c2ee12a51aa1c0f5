"""The outbox of domain events, the record of which consumer handled which event, and the statistics' dirty periods."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, new_uuid, utcnow


class OutboxEvent(Base):
    """A domain event, written in the transaction of the change it reports (see :mod:`familienkarte.events`).

    ``published_at``: last handed to the broker by the relay. ``done_at``: every consumer of its kind handled it.
    ``attempts``: how often the relay published it (more than once only when a message was lost or late).
    """

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_done_at_created_at", "done_at", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]
    done_at: Mapped[dt.datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)


class ConsumedEvent(Base):
    """One consumer handled one event: inserted in the transaction of the consumer's effect, so a redelivered event
    finds its row and changes nothing."""

    __tablename__ = "outbox_consumed"

    consumer: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    consumed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StatsDirty(Base):
    """A local day ("2026-07-01") or month ("2026-07") whose statistics' facts changed since its last rebuild.

    Marked by the statistics consumer of the outbox, cleared by ``rebuild_dirty`` in the transaction that rebuilds it.
    """

    __tablename__ = "stats_dirty"

    period: Mapped[str] = mapped_column(String(10), primary_key=True)
    marked_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
