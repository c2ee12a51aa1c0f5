"""The beat schedule: every periodic task, in one place.

Every entry is idempotent, and expires before the next run is due: a worker that was down does not find a pile
of identical runs waiting when it comes back, only the next one.
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

MAIL_FLUSH_SECONDS = 30.0
# A safety net: a status change wakes the worker at once, and a download signs a changed list itself.
STATUS_LIST_REFRESH_SECONDS = 60.0
# Reminders and expiry are idempotent and batched: hourly is often enough, and a backlog shrinks run by run.
EXPIRY_SECONDS = 3600.0
# A safety net: an order wakes the print worker at once; this picks up an order whose wake-up was lost.
PRINT_SWEEP_SECONDS = 120.0
# Late and offline uploads and voids re-roll the days they touch within a few minutes.
STATS_DIRTY_SECONDS = 300.0
# The reconciliation of the last 8 days, nightly (02:30 UTC: 03:30 or 04:30 in Germany, when nobody is at a till).
STATS_RECONCILE_AT = crontab(hour=2, minute=30)

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "mail.flush_outbox": {
        "task": "mail.flush_outbox",
        "schedule": MAIL_FLUSH_SECONDS,
        "options": {"expires": MAIL_FLUSH_SECONDS - 5},
    },
    "credentials.refresh_status_lists": {
        "task": "credentials.refresh_status_lists",
        "schedule": STATUS_LIST_REFRESH_SECONDS,
        "options": {"expires": STATUS_LIST_REFRESH_SECONDS - 5},
    },
    "print.render_queued": {
        "task": "print.render_queued",
        "schedule": PRINT_SWEEP_SECONDS,
        "options": {"expires": PRINT_SWEEP_SECONDS - 5},
    },
    "cards.expire_cards": {
        "task": "cards.expire_cards",
        "schedule": EXPIRY_SECONDS,
        "options": {"expires": EXPIRY_SECONDS - 60},
    },
    "cards.send_expiry_reminders": {
        "task": "cards.send_expiry_reminders",
        "schedule": EXPIRY_SECONDS,
        "options": {"expires": EXPIRY_SECONDS - 60},
    },
    "stats.rebuild_dirty": {
        "task": "stats.rebuild_dirty",
        "schedule": STATS_DIRTY_SECONDS,
        "options": {"expires": STATS_DIRTY_SECONDS - 30},
    },
    "stats.reconcile": {
        "task": "stats.reconcile",
        "schedule": STATS_RECONCILE_AT,
        "options": {"expires": 6 * 3600.0},
    },
}
