"""Partners (organisations that offer benefits and verify cards) and their locations."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Float, ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid, utcnow


class PartnerStatus(StrEnum):
    # Registered, the owner's e-mail address not yet confirmed: not in the staff queue.
    UNCONFIRMED = "unconfirmed"
    PENDING = "pending"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUSPENDED = "suspended"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Partner(TimestampMixin, Base):
    """An organisation that offers benefits and verifies cards.

    Texts that families read in their language (``description``) are JSON objects from language code to text;
    German (``de``) is always present for an approved partner.
    """

    __tablename__ = "partners"
    __table_args__ = (CheckConstraint(f"status IN ({_in(PartnerStatus)})", name="status_known"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default=PartnerStatus.PENDING.value)
    # A code of familienkarte.partners.vocabulary.LEGAL_FORMS.
    legal_form: Mapped[str | None] = mapped_column(String(32))
    website: Mapped[str | None] = mapped_column(String(300))
    # A code of familienkarte.partners.vocabulary.CATEGORIES.
    category: Mapped[str | None] = mapped_column(String(32))
    description: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    contact_email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(50))
    # The logo as re-encoded by the service (never the uploaded bytes), with its media type.
    logo: Mapped[bytes | None] = mapped_column(LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(String(20))
    logo_updated_at: Mapped[dt.datetime | None]
    terms_version: Mapped[str | None] = mapped_column(String(20))
    terms_accepted_at: Mapped[dt.datetime | None]
    # The last decision of staff (or the owner's confirmation), with the reason the partner reads.
    status_reason: Mapped[str | None] = mapped_column(Text)
    status_changed_at: Mapped[dt.datetime | None]
    # Who decided (no foreign key: users already refer to partners, and the audit log holds the full record).
    status_changed_by_id: Mapped[uuid.UUID | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Location(TimestampMixin, Base):
    """A place where a partner serves families.

    ``opening_hours`` maps weekday codes (``mon`` ... ``sun``) to a list of ``["HH:MM", "HH:MM"]`` intervals;
    a weekday that is missing is closed. ``accessibility`` holds flags (codes of
    familienkarte.partners.vocabulary.ACCESSIBILITY_FEATURES); ``accessibility_note`` and ``hours_note`` are
    texts per language like the partner's description.
    """

    __tablename__ = "locations"
    __table_args__ = (
        CheckConstraint("latitude IS NULL OR (latitude BETWEEN -90 AND 90)", name="latitude_range"),
        CheckConstraint("longitude IS NULL OR (longitude BETWEEN -180 AND 180)", name="longitude_range"),
        CheckConstraint("(latitude IS NULL) = (longitude IS NULL)", name="coordinates_both_or_none"),
        Index("ix_locations_district", "district"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    street: Mapped[str | None] = mapped_column(String(200))
    house_number: Mapped[str | None] = mapped_column(String(20))
    postal_code: Mapped[str | None] = mapped_column(String(5))
    district: Mapped[str | None] = mapped_column(String(100))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    hours_note: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    accessibility: Mapped[list[str]] = mapped_column(JSON, default=list)
    accessibility_note: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    phone: Mapped[str | None] = mapped_column(String(50))
    # A location a partner closed stays for the records of what was redeemed there, but is not shown.
    is_active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TransitStop(Base):
    """A public transport stop from an imported GTFS ``stops.txt`` (``familienkarte transit import``)."""

    __tablename__ = "transit_stops"
    __table_args__ = (Index("ix_transit_stops_latitude_longitude", "latitude", "longitude"),)

    stop_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    imported_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
