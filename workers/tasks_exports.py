"""Statistics export tasks (queue ``stats``): make a large export's file, and the housekeeping of export jobs.

``stats.export`` is idempotent (``run_export_job`` claims a queued or running job; a done or failed job is left
alone; the file of a repeated run is the same and only the first is stored), so it is ``acks_late``: a worker
killed mid-export leaves the message to be run again. Database outages are retried with backoff and jitter; any
other error gives the job up as failed, so the person who asked can try again instead of waiting.

``stats.exports_housekeeping`` (beat) deletes expired jobs with their files, queues the jobs whose wake-up was lost
(broker down when they were asked for), and gives up jobs whose worker vanished mid-run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from typing import Any

from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.outbox_wake import BackgroundWaker, set_waker
from familienkarte.statistics import exports
from workers.celery_app import DATABASE_ERRORS, current_settings, publishing_connection, register, task_session

log = logging.getLogger("familienkarte.workers")


@register(
    "stats.export",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def make_export(job_id: str) -> str | None:
    """Make the file of one export job; returns the job's status afterwards."""
    city = load_city(current_settings().city)
    try:
        status = exports.run_export_job(task_session, city, uuid.UUID(job_id))
    except DATABASE_ERRORS:
        raise
    except Exception:
        log.exception("export job %s could not be made", job_id)
        with task_session() as session:
            exports.fail_export_job(session, uuid.UUID(job_id), utcnow(), exports.EXPORT_FAILED)
        raise
    log.info("export job %s: %s", job_id, status)
    return status


@register(
    "stats.exports_housekeeping",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
)
def exports_housekeeping() -> int:
    """Delete expired exports, queue those left waiting, fail stalled ones; returns how many were deleted (harmless
    to repeat)."""
    now = utcnow()
    with task_session() as session:
        removed = exports.remove_expired_exports(session, now)
        stalled = exports.fail_stalled_exports(session, now)
        waiting = exports.queued_export_job_ids(session, now - exports.SWEEP_AFTER)
    for job_id in waiting:
        make_export.delay(str(job_id))
    if removed or waiting or stalled:
        log.info("exports: %d expired removed, %d waiting queued, %d stalled failed", removed, len(waiting), stalled)
    return removed


def publish_export_wakeups(job_ids: Sequence[Any]) -> None:
    """Queue ``stats.export`` for each id; raises when the broker cannot be reached within a few seconds."""
    with publishing_connection() as connection:
        for job_id in job_ids:
            make_export.apply_async(args=[str(job_id)], connection=connection, retry=False)


EXPORT_WAKER = BackgroundWaker(publish_export_wakeups, name="export-waker")


def install_export_waker() -> None:
    """Let an export asked for in this process be made at once."""
    set_waker(exports.EXPORT_TOPIC, EXPORT_WAKER)
