"""The credentials issued for a card: one row per phone activation or printed card, each with its status entry."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid


class CredentialKind(StrEnum):
    PHONE = "phone"
    PRINTED = "printed"


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    SUSPENDED = "suspended"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{v.value}'" for v in values)


class CardCredential(TimestampMixin, Base):
    """One FK1 credential of a card (CREDENTIAL.md).

    A phone credential belongs to the adult who activated it and carries that phone's public key (``device_key``,
    the ``k`` claim); a printed one has neither. ``(status_list_id, status_index)`` is the credential's own entry
    in a status list, so one lost phone is revoked without touching the others. ``kid`` and ``exp`` are those of
    the latest signing (a renewal signs again with the same key material of the phone and the same entry).
    """

    __tablename__ = "card_credentials"
    __table_args__ = (
        UniqueConstraint("status_list_id", "status_index"),
        CheckConstraint(f"kind IN ({_in(CredentialKind)})", name="kind_known"),
        CheckConstraint(f"status IN ({_in(CredentialStatus)})", name="status_known"),
        CheckConstraint("(kind = 'phone') = (device_key IS NOT NULL)", name="device_key_iff_phone"),
        Index("ix_card_credentials_adult_id_status", "adult_id", "status"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), index=True)
    adult_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("household_adults.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10))
    # base64url of the 33-byte compressed P-256 point: 44 characters.
    device_key: Mapped[str | None] = mapped_column(String(44))
    device_name: Mapped[str | None] = mapped_column(String(60))
    status_list_id: Mapped[int]
    status_index: Mapped[int]
    kid: Mapped[str] = mapped_column(String(8))
    exp: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(20), default=CredentialStatus.ACTIVE.value)
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
