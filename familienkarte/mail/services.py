"""E-mail: queued in the transaction that causes it (the ``emails`` table is the outbox), sent by a worker.

Delivery path:

1. ``queue_email`` adds the row to the caller's transaction. Nothing leaves the process before that commits.
2. After the commit, the ids are handed to the waker installed for ``MAIL_TOPIC`` (familienkarte.outbox_wake),
   which publishes a ``mail.send`` task from a background thread: the request never waits for the broker, and a
   broker that is down only costs the immediate delivery. Without a waker (tests, a bare ``uvicorn``) nothing is
   published.
3. ``mail.flush_outbox`` runs every 30 seconds (beat) and once when a worker starts, and queues ``mail.send``
   for every e-mail that was never attempted. So an e-mail queued while the worker or the broker was down is
   sent within 30 seconds of both being back, and nothing depends on the wake-up arriving.
4. ``send_email`` is idempotent: the row is locked, an e-mail with ``sent_at`` set is never sent again, and the
   Message-ID derived from the id lets a receiver drop the one duplicate that a crash between the SMTP
   hand-over and the commit could cause.

Failed attempts are counted in ``attempts`` with the reason in ``last_error``; the ``mail.send`` task retries
them with backoff, a finite number of times.

Every e-mail records the language it was written in (the locale active when it is queued, unless the caller names
one); ``familienkarte.mail.sending.compose`` sends it as plain text and HTML in that language. Files given as
``attachments`` are stored with the e-mail and attached to every attempt.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.db import utcnow
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.mail.sending import MailDeliveryFailed, MailTransport, compose
from familienkarte.outbox_wake import wake_after_commit

log = logging.getLogger("familienkarte.mail")

# The topic under which committed e-mail ids are handed to the waker (familienkarte.outbox_wake).
MAIL_TOPIC = "mail"
LAST_ERROR_LENGTH = 500


# A media type as MIME writes it: "application/pdf", "text/csv".
_CONTENT_TYPE = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*$")
FILENAME_LENGTH = 200


@dataclass(frozen=True)
class Attachment:
    """A file to send with an e-mail."""

    filename: str
    content_type: str
    content: bytes

    def __post_init__(self) -> None:
        # The caller is code, not a person: a wrong file is a programming error, refused before anything is stored.
        name = self.filename
        if not name.strip() or len(name) > FILENAME_LENGTH or any(c in name for c in "/\\\r\n\0"):
            raise ValueError(f"attachment filename {name!r}: 1 to {FILENAME_LENGTH} characters, no path or line break")
        if not _CONTENT_TYPE.match(self.content_type):
            raise ValueError(f"attachment content type {self.content_type!r}: expected type/subtype")


def queue_email(
    session: Session,
    *,
    to: str,
    subject: str,
    body_text: str,
    body_html: str | None = None,
    dedupe_key: str | None = None,
    attachments: Sequence[Attachment] = (),
    locale: str | None = None,
) -> Email:
    """Add an e-mail to the caller's transaction; it is sent only if that transaction commits.

    ``locale`` is the language the subject and text are written in; by default the locale active now (callers
    write their texts under ``i18n.use_locale`` of the recipient). With a ``dedupe_key``, asking again for the
    same e-mail returns the one already queued (and stores no attachment again).
    """
    if dedupe_key is not None:
        existing = session.scalar(select(Email).where(Email.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    email = Email(
        to_address=to,
        subject=subject,
        body_text=body_text,
        body_html=body_html,
        locale=locale or i18n.current_locale(),
        dedupe_key=dedupe_key,
        attachments=[
            EmailAttachment(
                position=index, filename=file.filename, content_type=file.content_type, content=file.content
            )
            for index, file in enumerate(attachments)
        ],
    )
    session.add(email)
    session.flush()
    wake_after_commit(session, MAIL_TOPIC, [email.id])
    return email


def is_queued(session: Session, dedupe_key: str) -> bool:
    """Whether an e-mail with this key was queued already (sent or not)."""
    return session.scalar(select(Email.id).where(Email.dedupe_key == dedupe_key)) is not None


SendStatus = Literal["sent", "already_sent", "already_attempted", "missing", "failed"]


@dataclass(frozen=True)
class SendResult:
    status: SendStatus
    error: str | None = None


def send_email(
    session: Session, email_id: uuid.UUID, transport: MailTransport, *, only_if_unattempted: bool = False
) -> SendResult:
    """Send one queued e-mail, at most once; record the attempt. Runs inside the caller's transaction.

    ``only_if_unattempted`` is for the outbox flush and the wake-up: several of those may be queued for the
    same new e-mail, and only the first may count as an attempt; the others find it attempted and stop.

    The first statement is the UPDATE that counts the attempt, restricted to unsent rows: on PostgreSQL it locks
    the row (as SELECT ... FOR UPDATE would), on SQLite it takes the database's write lock. A concurrent
    ``send_email`` for the same id therefore waits until this transaction ends and then finds ``sent_at`` set.
    The lock is held while the transport talks to the server; the SMTP timeout bounds that.

    A failed delivery is not an exception here: it is recorded (``attempts``, ``last_error``) and returned, so
    that the caller commits the record and then decides whether to retry.
    """
    claim = update(Email).where(Email.id == email_id, Email.sent_at.is_(None))
    if only_if_unattempted:
        claim = claim.where(Email.attempts == 0)
    claimed = cast(
        CursorResult[Any],
        session.execute(claim.values(attempts=Email.attempts + 1).execution_options(synchronize_session=False)),
    )
    if claimed.rowcount == 0:
        row = session.execute(select(Email.sent_at).where(Email.id == email_id)).first()
        if row is None:
            return SendResult("missing")
        return SendResult("already_sent" if row.sent_at is not None else "already_attempted")
    email = session.get(Email, email_id, populate_existing=True)
    assert email is not None
    message = compose(email, transport.sender, transport.domain, city_name=transport.city_name)
    try:
        transport.deliver(message, email.id)
    except MailDeliveryFailed as exc:
        error = str(exc)[:LAST_ERROR_LENGTH]
        email.last_error = error
        log.warning("e-mail %s not delivered (attempt %d): %s", email.id, email.attempts, error)
        return SendResult("failed", error)
    email.sent_at = utcnow()
    log.info("e-mail %s delivered (attempt %d)", email.id, email.attempts)
    return SendResult("sent")


def pending_email_ids(session: Session, limit: int) -> list[uuid.UUID]:
    """E-mail never attempted, oldest first: what the outbox flush hands to the workers.

    E-mail with a failed attempt is left to the retries of the task that attempted it, so that an outage of
    the mail server does not multiply the attempts.
    """
    rows = session.scalars(
        select(Email.id)
        .where(Email.sent_at.is_(None), Email.attempts == 0)
        .order_by(Email.created_at, Email.id)
        .limit(limit)
    )
    return list(rows)
