"""Print tasks (queue ``print``): make a printed card's PDF, and the sweep for jobs whose wake-up was lost.

``print.render_card`` is idempotent (``render_print_job`` claims a queued job with one UPDATE; a job already made
or failed is left alone), so it is ``acks_late``: a worker killed mid-task leaves the job to be made again.
Database outages are retried with backoff; any other error gives the job up as failed, so the family can order
again instead of waiting for a job that will never be made.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Sequence
from typing import Any, Final

from familienkarte.cards.printing import PRINT_TOPIC, fail_print_job, queued_print_job_ids, render_print_job
from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.outbox_wake import BackgroundWaker, set_waker
from workers.celery_app import DATABASE_ERRORS, PUBLISH_TIMEOUT, celery_app, current_settings, register, task_session

log = logging.getLogger("familienkarte.workers")

# A job queued this long ago without being made lost its wake-up (broker down, worker killed): the sweep runs it.
SWEEP_AFTER: Final = dt.timedelta(minutes=2)
SWEEP_BATCH: Final = 100


@register(
    "print.render_card",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=6,
)
def render_card(job_id: str) -> str | None:
    """Make the printed card of one queued job; returns the job's status afterwards."""
    settings = current_settings()
    city = load_city(settings.city)
    try:
        with task_session() as session:
            status = render_print_job(
                session, uuid.UUID(job_id), city, settings.secret_key, utcnow(), base_url=settings.base_url
            )
    except DATABASE_ERRORS:
        raise
    except Exception:
        log.exception("print job %s could not be made", job_id)
        with task_session() as session:
            fail_print_job(session, uuid.UUID(job_id), utcnow())
        raise
    log.info("print job %s: %s", job_id, status)
    return status


@register(
    "print.render_queued",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
)
def render_queued() -> int:
    """Queue ``print.render_card`` for every job left queued for a while (periodic, and harmless to repeat)."""
    with task_session() as session:
        job_ids = queued_print_job_ids(session, utcnow() - SWEEP_AFTER, SWEEP_BATCH)
    for job_id in job_ids:
        render_card.delay(str(job_id))
    if job_ids:
        log.info("queued %d print job(s) left waiting", len(job_ids))
    return len(job_ids)


def publish_print_wakeups(job_ids: Sequence[Any]) -> None:
    """Queue ``print.render_card`` for each id; raises when the broker cannot be reached within a few seconds."""
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=PUBLISH_TIMEOUT)
        for job_id in job_ids:
            render_card.apply_async(args=[str(job_id)], connection=connection, retry=False)


PRINT_WAKER = BackgroundWaker(publish_print_wakeups, name="print-waker")


def install_print_waker() -> None:
    """Let a printed card ordered in this process be made at once."""
    set_waker(PRINT_TOPIC, PRINT_WAKER)
