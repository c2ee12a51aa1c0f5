"""Outbox tasks: the relay (``outbox.relay``, queue ``default``) and the statistics consumer (``stats.consume_events``).

Both are idempotent and ``acks_late``: the relay only publishes what the database says is due (a repeated run finds
the events published), and the consumer records each event it handled in the transaction of its effect (a
redelivered message changes nothing). A message lost on the way (the broker restarted, a worker killed) is made
good by the relay, which publishes events not done after ``REPUBLISH_AFTER`` again. Database outages are retried
with backoff and jitter a few times; after that the relay's next run (every 15 s) takes over.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Final

from familienkarte.city import load_city
from familienkarte.db import utcnow
from familienkarte.events.services import RELAY_BATCH, REPUBLISH_AFTER, claim_for_publishing, messages, purge_done
from familienkarte.events.stats import consume_statistics
from workers.celery_app import DATABASE_ERRORS, PUBLISH_TIMEOUT, celery_app, current_settings, register, task_session

log = logging.getLogger("familienkarte.workers")

# One relay run stops taking new batches after this long and queues the next run, so a large backlog (the relay
# was stopped for an hour) never holds a worker beyond the task time limit.
RELAY_BUDGET_SECONDS: Final = 60.0


@register(
    "outbox.relay",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=3,
)
def relay(republish_after_seconds: float | None = None) -> int:
    """Publish every due event to its consumers (beat every 15 s, woken after a commit, at worker start); returns
    how many events were published. ``republish_after_seconds`` overrides ``REPUBLISH_AFTER`` (tests, operators)."""
    republish_after = (
        REPUBLISH_AFTER if republish_after_seconds is None else dt.timedelta(seconds=republish_after_seconds)
    )
    deadline = time.monotonic() + RELAY_BUDGET_SECONDS
    published = 0
    while True:
        with task_session() as session, celery_app.connection_for_write() as connection:
            events = claim_for_publishing(session, utcnow(), republish_after=republish_after)
            if events:
                connection.ensure_connection(max_retries=1, interval_start=0, timeout=PUBLISH_TIMEOUT)
                # Published before the commit: a broker that refuses rolls the claim back, and the next run tries
                # again. A commit that fails after publishing only causes a redelivery, which the consumers ignore.
                for task, ids in messages(events):
                    celery_app.send_task(task, args=[ids], connection=connection, retry=False)
        published += len(events)
        if len(events) < RELAY_BATCH:
            break
        if time.monotonic() > deadline:
            relay.apply_async(kwargs={"republish_after_seconds": republish_after_seconds})
            break
    with task_session() as session:
        purged = purge_done(session, utcnow())
    if published or purged:
        log.info("outbox: published %d event(s), deleted %d done long ago", published, purged)
    return published


@register(
    "stats.consume_events",
    acks_late=True,
    autoretry_for=DATABASE_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def consume_statistics_events(event_ids: list[str]) -> int:
    """Mark the days and months the events touch for rebuilding (once per event); returns how many were new."""
    city = load_city(current_settings().city)
    with task_session() as session:
        handled = consume_statistics(session, city, [uuid.UUID(value) for value in event_ids], utcnow())
    return len(handled)
