"""Celery tasks: thin wrappers that take ids, open a session and call one service.

Retries: every task retries database outages (``OperationalError``, ``InterfaceError``) with exponential backoff,
jitter and a finite ``max_retries``; ``mail.send`` also retries a failed delivery. ``acks_late`` only where a
repeated run is harmless: both mail tasks are (``send_email`` never sends an e-mail twice; the flush only
queues), so a worker killed mid-task leaves the message to be delivered again rather than lost; so is the status
list refresh (it signs again only what is due).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from celery import Task

from familienkarte.credentials.services import STATUS_LISTS_TOPIC, refresh_due_status_lists
from familienkarte.db import utcnow
from familienkarte.mail.sending import MailDeliveryFailed, transport_from_settings
from familienkarte.mail.services import pending_email_ids, send_email
from familienkarte.outbox_wake import BackgroundWaker, set_waker
from workers.celery_app import (
    DATABASE_ERRORS,
    current_settings,
    install_mail_waker,
    install_outbox_waker,
    publishing_connection,
    register,
    task_session,
)

log = logging.getLogger("familienkarte.workers")

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


@register(
    "credentials.refresh_status_lists",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
)
def refresh_status_lists() -> list[int]:
    """Sign every status list changed since its token (or with a token an hour old); the ids of those signed.

    Woken right after a status change commits, and run by beat every minute as the safety net. Idempotent:
    a list that is up to date is left alone.
    """
    settings = current_settings()
    with task_session() as session:
        refreshed = refresh_due_status_lists(session, settings.secret_key, settings.base_url, utcnow())
    if refreshed:
        log.info("signed status list(s) %s", ", ".join(map(str, refreshed)))
    return refreshed


def publish_status_list_refresh(_list_ids: Sequence[Any]) -> None:
    """Queue one ``credentials.refresh_status_lists`` (it finds every changed list itself); raises when the broker
    cannot be reached within a few seconds."""
    with publishing_connection() as connection:
        refresh_status_lists.apply_async(connection=connection, retry=False)


STATUS_LIST_WAKER = BackgroundWaker(publish_status_list_refresh, name="status-list-waker")


def install_status_list_waker() -> None:
    """Let a status change committed in this process reach the worker at once, not only at beat's next tick."""
    set_waker(STATUS_LISTS_TOPIC, STATUS_LIST_WAKER)


def install_wakers() -> None:
    """Every wake-up of this process: committed e-mail, status changes and print orders reach a worker at once."""
    from workers.tasks_exports import install_export_waker
    from workers.tasks_print import install_print_waker

    install_mail_waker()
    install_status_list_waker()
    install_print_waker()
    install_export_waker()
    install_outbox_waker()
