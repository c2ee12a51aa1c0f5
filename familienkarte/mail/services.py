"""E-mail: queued in the transaction that causes it (the ``emails`` table is the outbox), sent by a worker."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.mail.models import Email


def queue_email(
    session: Session,
    *,
    to: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    dedupe_key: str | None = None,
) -> Email:
    """Add an e-mail to the caller's transaction; it is sent only if that transaction commits.

    With a ``dedupe_key``, asking again for the same e-mail returns the one already queued.
    """
    if dedupe_key is not None:
        existing = session.scalar(select(Email).where(Email.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    email = Email(to_address=to, subject=subject, body_text=body_text, body_html=body_html, dedupe_key=dedupe_key)
    session.add(email)
    session.flush()
    return email
