"""The Celery application, configured from the same ``FK_`` settings as the web.

- Broker: ``settings.effective_broker_url``: Redis in production, else Kombu's SQLAlchemy transport on the SQLite
  file ``<data folder>/broker.sqlite``, so that the embedded default runs a real worker without any service.
- No result backend: tasks report through the database (``sent_at``, rollups), never through results.
- JSON only, UTC, four queues (``mail``, ``stats``, ``print``, ``default``) routed by the prefix of the task's name,
  so that a slow PDF run never delays a sign-in e-mail and each queue can get workers of its own.
- Prefetch multiplier 1: a worker takes one message per process slot, and a long task does not sit on a queue
  of reserved messages that an idle worker could run. ``acks_late`` is set per task, only where the task is
  idempotent (see ``workers.tasks``).
- Tasks open sessions on a sync engine created lazily, once per process (a forked child makes its own).

Start a worker with ``familienkarte worker`` and beat with ``familienkarte beat``; both also work as
``celery -A workers.celery_app worker|beat``.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery, Task, signals
from kombu.entity import Exchange, Queue
from kombu.transport import TRANSPORT_ALIASES
from kombu.transport.sqlalchemy import Transport as SqlAlchemyTransport
from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from familienkarte.cli import broker_sqlite_path
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_transaction
from familienkarte.events.services import OUTBOX_TOPIC
from familienkarte.logs import configure_logging
from familienkarte.mail.services import MAIL_TOPIC
from familienkarte.outbox_wake import BackgroundWaker, set_waker
from familienkarte.settings import Settings, load_settings
from workers.schedule import BEAT_SCHEDULE

log = logging.getLogger("familienkarte.workers")

QUEUES = ("mail", "stats", "print", "default")
DEFAULT_QUEUE = "default"
# Tasks named "<prefix>.<something>" go to the queue of that prefix; everything else to "default".
ROUTED_PREFIXES = ("mail", "stats", "print")
# Long enough for the longest retry countdown (an ETA message is held unacknowledged until it runs).
REDIS_VISIBILITY_TIMEOUT = 2 * 3600
PUBLISH_TIMEOUT = 5.0


class EmbeddedBrokerTransport(SqlAlchemyTransport):
    """Kombu's SQLAlchemy transport, polling its tables every 0.2 s instead of every second.

    A task waits at most that long for a worker on the embedded broker. (The interval cannot be given as a
    transport option: this transport hands all of its options to ``create_engine``.)
    """

    polling_interval = 0.2


# "sqla+sqlite://..." broker URLs use the class above in every process that imports this module.
TRANSPORT_ALIASES["sqla"] = f"{__name__}:EmbeddedBrokerTransport"


def prepare_folders(settings: Settings) -> None:
    """Create the folders of the embedded broker's SQLite file and of beat's schedule file."""
    path = broker_sqlite_path(settings.effective_broker_url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    settings.data_dir.mkdir(parents=True, exist_ok=True)


def beat_schedule_path(settings: Settings) -> Path:
    return settings.data_dir / "celerybeat-schedule"


def celery_config(settings: Settings) -> dict[str, Any]:
    broker_url = settings.effective_broker_url
    prepare_folders(settings)
    scheme = urlsplit(broker_url).scheme
    transport_options: dict[str, Any] = {}
    if scheme == "sqla+sqlite":
        # Passed to create_engine: wait for the file's write lock instead of failing while another process
        # (web, beat, worker) writes.
        transport_options = {"connect_args": {"timeout": 30}}
    elif scheme in ("redis", "rediss"):
        transport_options = {
            "global_keyprefix": settings.redis_prefix,
            "visibility_timeout": REDIS_VISIBILITY_TIMEOUT,
        }
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 4,
        "result_backend": None,
        "task_ignore_result": True,
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "timezone": "UTC",
        "enable_utc": True,
        # Each queue its own direct exchange and routing key: a message lands in exactly one queue.
        "task_queues": [
            Queue(name, Exchange(name, type="direct"), routing_key=name)  # type: ignore[no-untyped-call]
            for name in QUEUES
        ],
        "task_default_exchange": DEFAULT_QUEUE,
        "task_default_routing_key": DEFAULT_QUEUE,
        "task_default_queue": DEFAULT_QUEUE,
        "task_routes": {f"{prefix}.*": {"queue": prefix} for prefix in ROUTED_PREFIXES},
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_time_limit": 300,
        "beat_schedule": BEAT_SCHEDULE,
        "beat_schedule_filename": str(beat_schedule_path(settings)),
    }


class _Context:
    """The settings and the database access of this process's tasks."""

    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.configure_logs = True
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._factory: sessionmaker[Session] | None = None
        self._pid = 0

    def current_settings(self) -> Settings:
        with self._lock:
            if self.settings is None:
                self.settings = load_settings()
            return self.settings

    def use(self, settings: Settings, configure_logs: bool) -> None:
        with self._lock:
            self.settings = settings
            self.configure_logs = configure_logs
            self._drop_engine()

    def sessionmaker(self) -> sessionmaker[Session]:
        settings = self.current_settings()
        with self._lock:
            if self._factory is None or self._pid != os.getpid():
                # A forked child must not use its parent's connections: it makes an engine of its own.
                self._engine = make_sync_engine(settings.effective_database_url)
                self._factory = make_sync_sessionmaker(self._engine)
                self._pid = os.getpid()
            return self._factory

    def _drop_engine(self) -> None:
        if self._engine is not None and self._pid == os.getpid():
            self._engine.dispose()
        self._engine = None
        self._factory = None


_context = _Context()

celery_app = Celery(
    "familienkarte",
    include=[
        "workers.tasks",
        "workers.tasks_print",
        "workers.tasks_expiry",
        "workers.tasks_stats",
        "workers.tasks_outbox",
        "workers.tasks_reports",
        "workers.tasks_exports",
    ],
)
# Read when the app is first used, so that importing this module never reads the environment by itself.
celery_app.add_defaults(lambda: celery_config(_context.current_settings()))


def current_settings() -> Settings:
    return _context.current_settings()


def configure(settings: Settings, *, configure_logs: bool = True) -> None:
    """Run this process's app and tasks on ``settings`` (the CLI after checking them; tests)."""
    _context.use(settings, configure_logs)
    _drop_broker_connections()
    celery_app.conf.update(celery_config(settings))


def _drop_broker_connections() -> None:
    # Pooled connections to a previous broker are closed; the next use connects to the configured one.
    pool = celery_app._pool
    if pool is not None:
        pool.force_close_all()
    celery_app._pool = None
    amqp = celery_app.__dict__.get("amqp")
    if amqp is not None:
        amqp._producer_pool = None


# What a task retries with backoff: the database unreachable or restarting (the next attempt gets a new connection).
DATABASE_ERRORS = (OperationalError, InterfaceError)


@contextmanager
def task_session() -> Iterator[Session]:
    """One transaction on the workers' sync engine: committed when the block ends, rolled back on error."""
    with sync_transaction(_context.sessionmaker()) as session:
        yield session


@contextmanager
def publishing_connection() -> Iterator[Any]:
    """A broker connection for publishing that raises within ``PUBLISH_TIMEOUT`` when the broker cannot be reached
    (a waker runs on a thread of its own and must not hang; the periodic task picks up what it could not publish)."""
    with celery_app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0, timeout=PUBLISH_TIMEOUT)
        yield connection


def publish_mail_wakeups(email_ids: Sequence[uuid.UUID]) -> None:
    """Queue ``mail.send`` for each id; raises when the broker cannot be reached within a few seconds."""
    with publishing_connection() as connection:
        for email_id in email_ids:
            celery_app.send_task(
                "mail.send",
                args=[str(email_id)],
                kwargs={"only_if_unattempted": True},
                connection=connection,
                retry=False,
            )


MAIL_WAKER = BackgroundWaker(publish_mail_wakeups, name="mail-waker")


def install_mail_waker() -> None:
    """Let e-mail committed in this process be sent right away, not only by the next outbox flush."""
    set_waker(MAIL_TOPIC, MAIL_WAKER)


def publish_outbox_relay(_event_ids: Sequence[Any]) -> None:
    """Queue one ``outbox.relay`` (it finds every due event itself); raises when the broker cannot be reached within
    a few seconds."""
    with publishing_connection() as connection:
        celery_app.send_task("outbox.relay", connection=connection, retry=False)


OUTBOX_WAKER = BackgroundWaker(publish_outbox_relay, name="outbox-waker")


def install_outbox_waker() -> None:
    """Let events committed in this process be relayed at once, not only at beat's next tick (15 s)."""
    set_waker(OUTBOX_TOPIC, OUTBOX_WAKER)


def register(name: str, **options: Any) -> Callable[[Callable[..., Any]], Task]:
    """``celery_app.task`` with its explicit name required (and typed for the checker)."""
    decorator: Callable[[Callable[..., Any]], Task] = celery_app.task(name=name, **options)
    return decorator


def _setup_logging(**_: Any) -> None:
    # Connected, so Celery leaves the root logger alone; our own JSON or text lines instead of Celery's.
    if _context.configure_logs:
        settings = _context.current_settings()
        configure_logging(settings.log_level, settings.log_format)


def _flush_outbox_on_start(sender: Any = None, **_: Any) -> None:
    # E-mail queued while no worker ran goes out now, not only at beat's next tick.
    try:
        celery_app.send_task("mail.flush_outbox")
        celery_app.send_task("outbox.relay")
    except Exception as exc:
        log.warning("could not queue the start-up outbox flush: %s", exc)


signals.setup_logging.connect(_setup_logging, weak=False)
signals.worker_ready.connect(_flush_outbox_on_start, weak=False)
