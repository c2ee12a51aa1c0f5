"""The beat schedule: each entry names a task the workers know, and expires before its next run is due."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest
from celery.schedules import crontab

from workers.celery_app import celery_app
from workers.schedule import BEAT_SCHEDULE


def period_seconds(schedule: Any) -> float:
    """An interval's seconds; for a crontab the shortest gap between two of its runs in a week."""
    if not isinstance(schedule, crontab):
        return float(schedule)
    start = dt.datetime(2026, 1, 4, tzinfo=dt.UTC)  # a Sunday
    runs = [
        moment
        for moment in (start + dt.timedelta(minutes=m) for m in range(2 * 7 * 24 * 60))
        if moment.minute in schedule.minute
        and moment.hour in schedule.hour
        and moment.isoweekday() % 7 in schedule.day_of_week
    ]
    return min((later - earlier).total_seconds() for earlier, later in itertools.pairwise(runs))


def test_a_nightly_entry_has_a_day_between_runs() -> None:
    assert period_seconds(crontab(hour=2, minute=30)) == 86400
    assert period_seconds(crontab(minute="*/15")) == 900
    assert period_seconds(300.0) == 300


@pytest.mark.parametrize("name", sorted(BEAT_SCHEDULE))
def test_each_entry_runs_a_registered_task_and_expires_before_the_next_run(name: str) -> None:
    celery_app.loader.import_default_modules()
    entry = BEAT_SCHEDULE[name]
    assert entry["task"] in celery_app.tasks, f"{entry['task']} is not a registered task"
    assert 0 < entry["options"]["expires"] < period_seconds(entry["schedule"])
