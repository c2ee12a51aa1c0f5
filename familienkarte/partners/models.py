from __future__ import annotations

import uuid

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid


class Partner(TimestampMixin, Base):
    """An organisation that offers benefits and verifies cards."""

    __tablename__ = "partners"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    # pending, approved, rejected, suspended
    status: Mapped[str] = mapped_column(String(20), default="pending")


class Location(TimestampMixin, Base):
    """A place where a partner serves families."""

    __tablename__ = "locations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
