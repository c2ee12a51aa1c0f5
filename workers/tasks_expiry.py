"""Expiry tasks (queue ``default``): reminders before a card ends, and marking ended cards as expired.

Both run from beat and are idempotent (a card reminded or expired is marked in the same transaction as its
e-mails), so ``acks_late`` is safe: a worker killed mid-task leaves the run to be repeated, not lost. Each run
takes one batch, the earliest end first; beat's next run takes the rest. Database outages are retried with
backoff and jitter, a few times: the next beat run comes anyway.
"""

from __future__ import annotations

import logging

from familienkarte.cards.expiry import expire_cards, send_expiry_reminders
from familienkarte.city import load_city
from familienkarte.db import utcnow
from workers.celery_app import DATABASE_ERRORS, current_settings, register, task_session

log = logging.getLogger("familienkarte.workers")

RETRY = {
    "acks_late": True,
    "autoretry_for": DATABASE_ERRORS,
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 4,
}


@register("cards.send_expiry_reminders", **RETRY)
def send_reminders() -> int:
    """E-mail the households whose card ends within the city's reminder window; returns the cards reminded."""
    settings = current_settings()
    city = load_city(settings.city)
    with task_session() as session:
        count = send_expiry_reminders(session, city, utcnow(), settings.base_url)
    if count:
        log.info("sent expiry reminders for %d card(s)", count)
    return count


@register("cards.expire_cards", **RETRY)
def expire() -> int:
    """Mark the active cards whose last valid day has passed as expired; returns how many."""
    settings = current_settings()
    city = load_city(settings.city)
    with task_session() as session:
        count = expire_cards(session, city, utcnow(), settings.base_url)
    if count:
        log.info("expired %d card(s)", count)
    return count
