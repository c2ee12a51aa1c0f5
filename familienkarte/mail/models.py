from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import ForeignKey, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from familienkarte.db import Base, TimestampMixin, new_uuid


class Email(TimestampMixin, Base):
    """An e-mail to send: written in the transaction that causes it, sent by a worker (outbox)."""

    __tablename__ = "emails"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    to_address: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str | None] = mapped_column(Text)
    # The language the e-mail is written in (the locale active when it was queued): the HTML part's lang and dir.
    locale: Mapped[str | None] = mapped_column(String(16))
    # The same key is never queued twice, whoever asks again.
    dedupe_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    sent_at: Mapped[dt.datetime | None] = mapped_column(index=True)

    attachments: Mapped[list[EmailAttachment]] = relationship(
        order_by="EmailAttachment.position", cascade="all, delete-orphan", passive_deletes=True
    )


class EmailAttachment(Base):
    """A file sent with an e-mail, stored with it so that every attempt sends the same bytes."""

    __tablename__ = "email_attachments"
    __table_args__ = (UniqueConstraint("email_id", "position"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("emails.id", ondelete="CASCADE"))
    # The order in which the files are attached.
    position: Mapped[int]
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes] = mapped_column(LargeBinary)
