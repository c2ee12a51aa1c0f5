"""``familienkarte worker --metrics-port``: a real worker process (prefork: tasks run in a child process) serves
every task's outcome and duration on its metrics port."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from familienkarte.mail.services import queue_email
from familienkarte.settings import Settings
from tests.helpers import make_test_settings
from tests.workers_helpers import free_port, wait_until
from workers.celery_app import celery_app, configure

COMMAND = str(Path(sys.executable).parent / "familienkarte")
CLOSED_SMTP = {"FK_SMTP_HOST": "127.0.0.1", "FK_SMTP_PORT": "1"}


@pytest.fixture
def worker_settings(migrated_db: str, tmp_path: Path) -> Settings:
    # Mail goes to a port where nothing listens: every delivery fails and is retried.
    return make_test_settings(tmp_path / "var", migrated_db, **CLOSED_SMTP)


def process_environment(settings: Settings) -> dict[str, str]:
    """The environment of a ``familienkarte`` process on the database, broker and data folder of ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env |= {"FK_ENV": "test", "FK_DATA_DIR": str(settings.data_dir), "FK_DATABASE_URL": settings.database_url}
    env |= {"FK_LOG_FORMAT": "text", "FK_LOG_LEVEL": "WARNING", **CLOSED_SMTP}
    if settings.redis_url:
        env |= {"FK_REDIS_URL": settings.redis_url, "FK_REDIS_PREFIX": settings.redis_prefix}
    return env


@pytest.fixture
def metrics_port(worker_settings: Settings, db: Callable[[], Session], tmp_path: Path) -> Iterator[int]:
    port = free_port()
    log = (tmp_path / "worker.log").open("w")
    process = subprocess.Popen(
        [COMMAND, "worker", "--pool=prefork", "--concurrency=1", f"--metrics-port={port}"],
        env=process_environment(worker_settings),
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield port
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
    print((tmp_path / "worker.log").read_text()[-3000:])


def scrape(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_the_worker_serves_task_outcomes_and_durations_from_its_task_processes(
    worker_settings: Settings, db: Callable[[], Session], metrics_port: int
) -> None:
    # Queued before the worker starts: its start-up flush hands it to mail.send, which fails and is retried.
    with db() as session, session.begin():
        queue_email(session, to="familie@example.org", subject="Ihr Anmeldelink", body_text="Hallo!\n")
    configure(worker_settings, configure_logs=False)
    celery_app.send_task("mail.send", args=["not-an-id"])  # fails: no retry for a malformed id

    def count(task: str, outcome: str) -> float:
        return scrape(metrics_port).get(("fk_tasks_total", frozenset({("task", task), ("outcome", outcome)})), 0)

    wait_until(lambda: count("mail.flush_outbox", "succeeded") >= 1, timeout=180, what="the start-up flush")
    wait_until(lambda: count("mail.send", "retried") >= 1, timeout=180, what="a retried delivery")
    wait_until(lambda: count("mail.send", "failed") >= 1, timeout=180, what="a failed task")
    samples = scrape(metrics_port)
    durations = samples[("fk_task_duration_seconds_count", frozenset({("task", "mail.flush_outbox")}))]
    assert durations >= 1
    assert count("mail.send", "succeeded") == 0
