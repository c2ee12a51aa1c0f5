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
# The outbox relay: a commit wakes it at once; this catches up after a lost wake-up or message, or an outage.
OUTBOX_RELAY_SECONDS = 15.0
# The days and months the outbox's events marked dirty are rebuilt within a minute (cheap when none are).
STATS_DIRTY_SECONDS = 60.0
# The reconciliation of the last 8 days, nightly (02:30 UTC: 03:30 or 04:30 in Germany, when nobody is at a till).
STATS_RECONCILE_AT = crontab(hour=2, minute=30)
# The retention of raw facts, daily after the reconciliation (03:15 UTC); a run ends within its time budget and the
# next one goes on.
STATS_RETENTION_AT = crontab(hour=3, minute=15)
# Expired statistics exports are deleted, and exports whose wake-up was lost are queued, every 10 minutes.
EXPORTS_HOUSEKEEPING_SECONDS = 600.0
# The partners' monthly report on the first of the month at 05:00 UTC: 06:00 in Germany in winter, 07:00 in summer
# (beat runs in UTC). The last month's late uploads and the nightly reconciliation are in by then.
PARTNER_REPORTS_AT = crontab(day_of_month=1, hour=5, minute=0)

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
    "outbox.relay": {
        "task": "outbox.relay",
        "schedule": OUTBOX_RELAY_SECONDS,
        "options": {"expires": OUTBOX_RELAY_SECONDS - 5},
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
    "stats.apply_retention": {
        "task": "stats.apply_retention",
        "schedule": STATS_RETENTION_AT,
        "options": {"expires": 12 * 3600.0},
    },
    "stats.exports_housekeeping": {
        "task": "stats.exports_housekeeping",
        "schedule": EXPORTS_HOUSEKEEPING_SECONDS,
        "options": {"expires": EXPORTS_HOUSEKEEPING_SECONDS - 30},
    },
    "stats.send_partner_reports": {
        "task": "stats.send_partner_reports",
        "schedule": PARTNER_REPORTS_AT,
        # A beat that missed the morning still sends the report that day; the dedupe keys make a repeat harmless.
        "options": {"expires": 12 * 3600.0},
    },
}
