"""Celery tasks: thin wrappers that take ids, open a session and call one service.

Retries: every task retries database outages (``OperationalError``, ``InterfaceError``) with exponential backoff,
jitter and a finite ``max_retries``; ``mail.send`` also retries a failed delivery. ``acks_late`` only where a
repeated run is harmless: both mail tasks are (``send_email`` never sends an e-mail twice; the flush only
queues), so a worker killed mid-task leaves the message to be delivered again rather than lost.
"""

from __future__ import annotations

import logging
import uuid

from celery import Task
from sqlalchemy.exc import InterfaceError, OperationalError

from familienkarte.mail.sending import MailDeliveryFailed, transport_from_settings
from familienkarte.mail.services import pending_email_ids, send_email
from workers.celery_app import current_settings, register, task_session

log = logging.getLogger("familienkarte.workers")

DATABASE_ERRORS = (OperationalError, InterfaceError)
FLUSH_BATCH = 1000


@register(
    "mail.send",
    bind=True,
    acks_late=True,
    autoretry_for=(MailDeliveryFailed, *DATABASE_ERRORS),
    # About 1, 2, 4, ... minutes, at most an hour apart: eight retries cover a mail server down for hours.
    retry_backoff=60,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
)
def send_mail(self: Task, email_id: str, only_if_unattempted: bool = False) -> str:
    """Send one queued e-mail (idempotent: an e-mail already sent is not sent again).

    ``only_if_unattempted`` (the flush, the wake-up) makes a duplicate message a no-op; this task's own retries
    run without it, since they follow an attempt of their own.
    """
    transport = transport_from_settings(current_settings())
    first_run_only = only_if_unattempted and not self.request.retries
    with task_session() as session:
        result = send_email(session, uuid.UUID(email_id), transport, only_if_unattempted=first_run_only)
    # Raised after the commit, so that the attempt and its error stay recorded.
    if result.status == "failed":
        raise MailDeliveryFailed(result.error or "delivery failed")
    return result.status


@register(
    "mail.flush_outbox",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=3,
)
def flush_outbox() -> int:
    """Queue ``mail.send`` for every e-mail not attempted yet (beat, every 30 s, and at worker start)."""
    with task_session() as session:
        email_ids = pending_email_ids(session, FLUSH_BATCH)
    for email_id in email_ids:
        send_mail.apply_async(args=[str(email_id)], kwargs={"only_if_unattempted": True})
    if email_ids:
        log.info("queued %d e-mail from the outbox", len(email_ids))
    return len(email_ids)
