"""The beat schedule: every periodic task, in one place.

Every entry is idempotent, and expires before the next run is due: a worker that was down does not find a pile
of identical runs waiting when it comes back, only the next one.
"""

from __future__ import annotations

from typing import Any

MAIL_FLUSH_SECONDS = 30.0
# A safety net: a status change wakes the worker at once, and a download signs a changed list itself.
STATUS_LIST_REFRESH_SECONDS = 60.0

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
}
