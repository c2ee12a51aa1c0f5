"""What the retention of raw facts keeps once it has deleted them (see :mod:`familienkarte.statistics.retention`)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base


class StatsRetainedDay(Base):
    """A local day whose raw facts the retention has begun to delete: its rollups are final and are never rebuilt.

    Written in the transaction of the first deletion, so a run killed half-way leaves the mark (and the day's
    rollups protected) with the rest of the day's facts to delete next time. The counts add up every deletion
    (redemptions kept because a usage limit or quota needs them are counted when the day is finished).
    ``horizon``: the first day kept when the deletion began.
    """

    __tablename__ = "stats_retained_days"

    day: Mapped[dt.date] = mapped_column(Date, primary_key=True)
    horizon: Mapped[dt.date] = mapped_column(Date)
    started_at: Mapped[dt.datetime]
    finished_at: Mapped[dt.datetime | None]
    redemptions: Mapped[int] = mapped_column(Integer, default=0)
    verification_events: Mapped[int] = mapped_column(Integer, default=0)
    redemptions_kept: Mapped[int] = mapped_column(Integer, default=0)


class StatsReachedCard(Base):
    """A card with a recorded redemption that the retention deleted: the programme-wide figure of families reached
    counts distinct cards over the whole programme, so it still counts this one. Only the number (pseudonymous, as
    in the redemptions): no time, place or benefit."""

    __tablename__ = "stats_reached_cards"

    card_number: Mapped[str] = mapped_column(String(32), primary_key=True)
