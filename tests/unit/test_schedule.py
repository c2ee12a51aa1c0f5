"""The beat schedule: each entry names a task the workers know, and expires before its next run is due."""

from __future__ import annotations

import pytest

from workers.celery_app import celery_app
from workers.schedule import BEAT_SCHEDULE


@pytest.mark.parametrize("name", sorted(BEAT_SCHEDULE))
def test_each_entry_runs_a_registered_task_and_expires_before_the_next_run(name: str) -> None:
    celery_app.loader.import_default_modules()
    entry = BEAT_SCHEDULE[name]
    assert entry["task"] in celery_app.tasks, f"{entry['task']} is not a registered task"
    assert 0 < entry["options"]["expires"] < entry["schedule"]
