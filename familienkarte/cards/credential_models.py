"""The credentials issued for a card: one row per phone activation or printed card, each with its status entry."""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, new_uuid, utcnow


class CredentialKind(StrEnum):
    PHONE = "phone"
    PRINTED = "printed"


class CredentialStatus(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    SUSPENDED = "suspended"


class PrintJobStatus(StrEnum):
    QUEUED = "queued"
    READY = "ready"
    FAILED = "failed"


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


class PrintJob(TimestampMixin, Base):
    """An order of a printed card: queued by the family or staff, rendered to a PDF by a worker (queue ``print``).

    The worker issues the printed credential (``credential_id``) and stores the PDF (a credit-card sized card and
    an A4 letter) in ``pdf``; the family or staff download it while the credential is active.
    """

    __tablename__ = "print_jobs"
    __table_args__ = (CheckConstraint(f"status IN ({_in(PrintJobStatus)})", name="status_known"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    card_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cards.id", ondelete="CASCADE"), index=True)
    credential_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("card_credentials.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(20), default=PrintJobStatus.QUEUED.value)
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # True when staff ordered it (the letter goes out by post), False when the family did (they download it).
    by_staff: Mapped[bool] = mapped_column(default=False)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ready_at: Mapped[dt.datetime | None]
