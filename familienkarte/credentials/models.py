"""Tables of the credentials domain: the issuer's signing keys and the status lists."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.db import Base, TimestampMixin, utcnow


class IssuerKeyRecord(TimestampMixin, Base):
    """An ES256 (P-256) issuer key. The private half is stored only encrypted (``familienkarte.secretbox``).

    ``active`` is true for the one key that signs, and NULL for every other: the unique constraint lets at most
    one key be active, on SQLite as on PostgreSQL (NULLs are never equal to each other).
    ``last_exp`` is the latest ``exp`` of anything the key signed; the key stays published until then.
    """

    __tablename__ = "issuer_keys"
    __table_args__ = (
        CheckConstraint("active IS NULL OR active", name="active_true_or_null"),
        CheckConstraint("(active IS NULL) = (retired_at IS NOT NULL)", name="retired_iff_not_active"),
    )

    kid: Mapped[str] = mapped_column(String(8), primary_key=True)
    # The uncompressed SEC1 point (65 bytes): public, stored in clear.
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool | None] = mapped_column(unique=True)
    activated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    retired_at: Mapped[dt.datetime | None]
    last_exp: Mapped[dt.datetime | None]


class StatusListRecord(TimestampMixin, Base):
    """One status list (draft-ietf-oauth-status-list): 2 bits per entry, and its last signed token.

    Ids are given out in order from 1 (``l`` in a credential; 1 is left out of the QR code). ``allocated``
    entries have been handed out; the n-th one is at a position chosen by a keyed permutation of the list's
    indexes under ``index_key``, so an index does not tell when a credential was issued.
    ``version`` counts the changes of ``bits``; the cached token shows ``token_version``. They differ while a
    change is not yet in the token: the list is dirty.
    """

    __tablename__ = "status_lists"
    __table_args__ = (
        CheckConstraint("id >= 1", name="id_positive"),
        CheckConstraint("allocated >= 0 AND allocated <= size", name="allocated_within_size"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    size: Mapped[int]
    bits: Mapped[bytes] = mapped_column(LargeBinary)
    allocated: Mapped[int] = mapped_column(default=0)
    index_key: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    token: Mapped[str | None] = mapped_column(Text)
    token_version: Mapped[int | None]
    token_iat: Mapped[dt.datetime | None]
    token_exp: Mapped[dt.datetime | None]
