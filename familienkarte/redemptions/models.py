"""What happens at the till: redemptions of benefits, and a statistics record of every verification."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid, utcnow


class RedemptionStatus(StrEnum):
    RECORDED = "recorded"
    VOIDED = "voided"


class PresentationKind(StrEnum):
    """How the card reached the till: a phone's changing code, a printed card's code, or a number typed by hand."""

    PHONE = "phone"
    PRINTED = "printed"
    MANUAL = "manual"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class Redemption(TimestampMixin, Base):
    """One use of a benefit by one card at one location.

    The card is kept by its number (the credential's ``sub``, pseudonymous); ``card_id`` is resolved from it when
    the card is known here. ``client_nonce`` is the till's idempotency key, unique per partner: the same nonce
    again returns this record and records nothing new. ``occurred_at`` is the till's time of the redemption (the
    same as ``created_at`` online; earlier for a redemption uploaded later). A voided redemption stays for the
    record but no longer counts towards limits or quotas.

    A redemption made while the till was offline is ``offline``, with the time it reached the server
    (``uploaded_at``) and ``flags``: the codes of every rule it broke (``limit_reached``, ``revoked``, ...), for
    partners and staff to review. It was given, so it counts towards limits and quotas like any other.
    """

    __tablename__ = "redemptions"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(RedemptionStatus)})", name="status_known"),
        CheckConstraint(f"presentation IN ({_in(PresentationKind)})", name="presentation_known"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("(status = 'voided') = (voided_at IS NOT NULL)", name="voided_at_with_status"),
        UniqueConstraint("partner_id", "client_nonce"),
        # The per-card limit: this card's uses of this benefit in a period.
        Index("ix_redemptions_benefit_id_card_number_occurred_at", "benefit_id", "card_number", "occurred_at"),
        # The quota: every use of this benefit.
        Index("ix_redemptions_benefit_id_status", "benefit_id", "status"),
        # A partner's redemptions in a time range; on PostgreSQL with what the partner's statistics page counts, so
        # that it reads the index alone (a big partner's month: 0.3 s instead of 1.5 s at 10 million redemptions).
        Index(
            "ix_redemptions_partner_id_occurred_at",
            "partner_id",
            "occurred_at",
            postgresql_include=["status", "benefit_id", "location_id", "quantity", "card_number"],
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    benefit_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("benefits.id", ondelete="CASCADE"))
    card_number: Mapped[str] = mapped_column(String(32))
    card_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cards.id", ondelete="SET NULL"), index=True)
    quantity: Mapped[int] = mapped_column(default=1)
    client_nonce: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default=RedemptionStatus.RECORDED.value)
    presentation: Mapped[str] = mapped_column(String(10))
    recorded_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    voided_by_user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    voided_by_api_key_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("api_keys.id", ondelete="SET NULL"))
    voided_at: Mapped[dt.datetime | None]
    occurred_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    offline: Mapped[bool] = mapped_column(default=False)
    uploaded_at: Mapped[dt.datetime | None]
    # A JSON list of rule codes (the same on SQLite and PostgreSQL); empty when no rule was broken. Not indexed:
    # it is read with its redemption, never searched.
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)


class VerificationEvent(Base):
    """One verification at a till, for statistics: where, when and with which result. No card, no person."""

    __tablename__ = "verification_events"
    __table_args__ = (
        CheckConstraint(
            f"presentation IS NULL OR presentation IN ({_in(PresentationKind)})", name="presentation_known"
        ),
        # The partner's statistics page counts its verifications by reason from the index alone (PostgreSQL).
        Index("ix_verification_events_partner_id_at", "partner_id", "at", postgresql_include=["reason"]),
    )

    # SQLite's autoincrementing key must be INTEGER; millions a year need 64 bits on PostgreSQL.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"))
    location_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(24))
    # None for a text too garbled to tell.
    presentation: Mapped[str | None] = mapped_column(String(10))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
