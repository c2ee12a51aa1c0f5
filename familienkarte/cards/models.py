"""Households, their adults and children, applications and cards."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from familienkarte.db import Base, TimestampMixin, new_uuid, utcnow


class ApplicationStatus(StrEnum):
    SUBMITTED = "submitted"
    INFO_REQUESTED = "info_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class CardStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    REVOKED = "revoked"
    EXPIRED = "expired"


OPEN_STATUSES = frozenset({ApplicationStatus.SUBMITTED, ApplicationStatus.INFO_REQUESTED})
# A household with an application in one of these takes part (or is about to): a new application is a duplicate.
ACTIVE_STATUSES = OPEN_STATUSES | {ApplicationStatus.APPROVED}


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Household(TimestampMixin, Base):
    __tablename__ = "households"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    street: Mapped[str] = mapped_column(String(200))
    house_number: Mapped[str] = mapped_column(String(20))
    postal_code: Mapped[str] = mapped_column(String(5))
    city_name: Mapped[str] = mapped_column(String(100))
    district: Mapped[str] = mapped_column(String(100))
    # Postal code, street and house number normalised, for finding a second application for the same address.
    address_key: Mapped[str] = mapped_column(String(320), index=True)
    locale: Mapped[str] = mapped_column(String(16))
    tier_claimed: Mapped[bool] = mapped_column(default=False)
    tier_number: Mapped[str | None] = mapped_column(String(64))
    # Staff checked the tier number when approving: bit 0 of the credentials' entitlement flags (``e``).
    tier_approved: Mapped[bool] = mapped_column(default=False)
    # When the family last re-confirmed the household's facts to renew the card.
    confirmed_at: Mapped[dt.datetime | None]
    # When the family deleted their account: names, e-mail addresses, children and the street are gone; the
    # postal code and district stay for anonymous statistics.
    erased_at: Mapped[dt.datetime | None]
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    adults: Mapped[list[HouseholdAdult]] = relationship(
        back_populates="household", order_by="HouseholdAdult.position", cascade="all, delete-orphan"
    )
    children: Mapped[list[Child]] = relationship(
        back_populates="household", order_by="Child.position", cascade="all, delete-orphan"
    )


class HouseholdAdult(TimestampMixin, Base):
    __tablename__ = "household_adults"
    __table_args__ = (UniqueConstraint("household_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"))
    position: Mapped[int]
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(320), index=True)
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)

    household: Mapped[Household] = relationship(back_populates="adults")


class Child(TimestampMixin, Base):
    __tablename__ = "children"
    __table_args__ = (
        UniqueConstraint("household_id", "position"),
        CheckConstraint("(birth_date IS NULL) <> (expected_date IS NULL)", name="born_or_expected"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    first_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[dt.date | None] = mapped_column(Date)
    expected_date: Mapped[dt.date | None] = mapped_column(Date)
    has_disability: Mapped[bool] = mapped_column(default=False)

    household: Mapped[Household] = relationship(back_populates="children")


class Application(Base):
    __tablename__ = "applications"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(ApplicationStatus)})", name="status_known"),
        Index("ix_applications_status_submitted_at", "status", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), default=ApplicationStatus.SUBMITTED.value)
    submitted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    info_request: Mapped[str | None] = mapped_column(Text)
    # Reason codes of the eligibility rules that failed when the application was decided (empty when none did).
    refused_rules: Mapped[list[str]] = mapped_column(JSON, default=list)

    household: Mapped[Household] = relationship()


class Card(TimestampMixin, Base):
    __tablename__ = "cards"
    __table_args__ = (CheckConstraint(f"status IN ({_in(CardStatus)})", name="status_known"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("households.id", ondelete="CASCADE"), index=True)
    application_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("applications.id", ondelete="SET NULL"))
    number: Mapped[str] = mapped_column(String(9), unique=True)
    status: Mapped[str] = mapped_column(String(20), default=CardStatus.ACTIVE.value)
    valid_from: Mapped[dt.date] = mapped_column(Date)
    valid_until: Mapped[dt.date] = mapped_column(Date)
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The last change of ``status`` by staff, the system or the family, with the reason given (staff must give one).
    status_changed_at: Mapped[dt.datetime | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    # The expiry reminder went out for the current ``valid_until``; cleared when the card is renewed.
    reminder_sent_at: Mapped[dt.datetime | None]
