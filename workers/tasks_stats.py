"""Statistics tasks (queue ``stats``): rebuild a day's rollups, rebuild the days whose facts changed, reconcile,
and delete the raw facts older than the retention (whole batches, resumed by the next run: idempotent too).

Rebuilding deletes and inserts a day's rows from the raw facts in one transaction, so a repeated run gives the
same rows: every task here is ``acks_late`` (a worker killed mid-task leaves the previous build and the message
to be run again). Database outages are retried with backoff and jitter, a few times: beat's next run comes anyway.
"""

from __future__ import annotations

import datetime as dt
import logging

from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.statistics.reconcile import reconcile as reconcile_statistics
from familienkarte.statistics.retention import apply_retention as apply_statistics_retention
from familienkarte.statistics.rollups import rebuild_day as rebuild_statistics_day
from familienkarte.statistics.rollups import rebuild_dirty as rebuild_dirty_statistics
from workers.celery_app import DATABASE_ERRORS, current_settings, register, task_session

log = logging.getLogger("familienkarte.workers")

# The retention stops starting batches after this, within the worker's time limit (300 s); the next run goes on.
RETENTION_BUDGET = dt.timedelta(seconds=240)
RETRY = {
    "acks_late": True,
    "autoretry_for": DATABASE_ERRORS,
    "retry_backoff": 10,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 4,
}


@register("stats.rebuild_day", **RETRY)
def rebuild_day(day: str) -> int:
    """Rebuild the rollups of one local day ("YYYY-MM-DD"): its redemptions and verifications per hour."""
    city = load_city(current_settings().city)
    with task_session() as session:
        rebuild_statistics_day(session, city, dt.date.fromisoformat(day), utcnow())
    return 1


@register("stats.rebuild_dirty", **RETRY)
def rebuild_dirty() -> int:
    """Rebuild the days whose facts changed since their build (late and offline uploads, voids); returns how many."""
    city = load_city(current_settings().city)
    with task_session() as session:
        rebuilt = rebuild_dirty_statistics(session, city, utcnow())
    return len(rebuilt.days)


@register("stats.reconcile", **RETRY)
def reconcile() -> int:
    """Recount yesterday and the 7 days before from the raw facts, report and repair differences; returns how many."""
    city = load_city(current_settings().city)
    with task_session() as session:
        result = reconcile_statistics(session, city, utcnow(), repair=True)
    return len(result.differences)


@register("stats.apply_retention", **RETRY)
def apply_retention() -> int:
    """Delete the raw facts older than the city's retention whose rollups are final, a batch per transaction (a
    killed run leaves whole batches, and the next run resumes); returns how many rows went."""
    city = load_city(current_settings().city)
    report = apply_statistics_retention(task_session, city, utcnow(), budget=RETENTION_BUDGET)
    return report.redemptions + report.verification_events
