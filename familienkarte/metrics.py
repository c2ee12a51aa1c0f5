"""Prometheus metrics: requests, verifications, redemptions, tasks and the outbox.

The web process serves ``GET /metrics`` itself (:class:`MetricsMiddleware`), only to a request that carries
``Authorization: Bearer <FK_METRICS_TOKEN>``; without that setting the path does not exist (404), and a missing or
wrong token gets 401. Workers are separate processes, and with the prefork pool every task runs in a child process
of the worker: ``familienkarte worker --metrics-port PORT`` therefore runs prometheus_client's multiprocess mode
(each process writes its values to files in a folder of its own, :func:`serve_worker_metrics`) and serves the sum of
them on that port, which must stay on an internal network (no token there).

Every label has a small, fixed set of values: the route label is the route's template (``/api/v1/redemptions/
{redemption_id:uuid}/void``), never the path with its ids; requests that match no route share ``unmatched``.

The request middleware costs one clock read at each end and one histogram update: the label values come from the
scope (Litestar puts the matched route's template there), and each combination's child is looked up once and kept.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import hmac
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Final

from litestar.enums import ScopeType
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.events.models import OutboxEvent

if TYPE_CHECKING:
    from litestar.types import ASGIApp, HTTPScope, Message, Receive, Scope, Send

    from familienkarte.accounts.principal import Principal
    from familienkarte.runtime import Runtime

log = logging.getLogger("familienkarte.metrics")

METRICS_PATH: Final = "/metrics"
# How long a scrape waits for the outbox query before it reports the outbox gauges as unknown (NaN).
OUTBOX_QUERY_TIMEOUT: Final = 2.0
UNMATCHED: Final = "unmatched"
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_STATUS_CLASSES: Final = ("1xx", "2xx", "3xx", "4xx", "5xx")

# From 1 ms (a remembered scan at the till) to 10 s (an export); Prometheus' defaults start at 5 ms.
REQUEST_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
TASK_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

HTTP_REQUESTS = Histogram(
    "fk_http_request_duration_seconds",
    "HTTP requests by method, route template and status class: duration in seconds (_count: the number).",
    ("method", "route", "status"),
    buckets=REQUEST_BUCKETS,
)
VERIFICATIONS = Counter(
    "fk_verifications",
    "Card verifications at the till by reason code (ok, expired, revoked, ...) and channel (api: a partner's "
    "API key; portal: a cashier in the partner portal).",
    ("reason", "channel"),
)
REDEMPTIONS = Counter(
    "fk_redemptions",
    "Redemptions by outcome (recorded, replayed, or the refusal's code such as limit_reached; offline uploads: "
    "recorded, flagged, replayed or refused) and channel (api, portal, offline).",
    ("outcome", "channel"),
)
TASKS = Counter(
    "fk_tasks",
    "Celery task runs by task name and outcome (succeeded, failed, retried).",
    ("task", "outcome"),
)
TASK_DURATION = Histogram(
    "fk_task_duration_seconds",
    "Celery task run time in seconds by task name (every outcome).",
    ("task",),
    buckets=TASK_BUCKETS,
)


# Web requests ------------------------------------------------------------------------------------------------------


class MetricsMiddleware:
    """Times every HTTP request by method, route template and status class, and answers ``GET /metrics``."""

    def __init__(self, app: ASGIApp, *, token: str, runtime: Runtime) -> None:
        self.app = app
        self.token = token.encode() if token else b""
        self.runtime = runtime
        # (method, route template, status // 100) -> the histogram's child; filled as combinations occur.
        self._children: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        if self.token and scope["path"] == METRICS_PATH:
            await self._scrape(scope, send)
            return
        status = 500  # when the app raises before it answers
        started = time.perf_counter()

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            elapsed = time.perf_counter() - started
            key = (scope["method"], scope.get("path_template") or UNMATCHED, status // 100)
            child = self._children.get(key)
            if child is None:
                child = self._child(key)
            child.observe(elapsed)

    def _child(self, key: tuple[str, str, int]) -> Any:
        method, route, status_class = key
        status = _STATUS_CLASSES[status_class - 1] if 1 <= status_class <= 5 else "other"
        child = HTTP_REQUESTS.labels(method if method in _METHODS else "other", route, status)
        self._children[key] = child
        return child

    def _authorized(self, scope: HTTPScope) -> bool:
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _sep, token = value.partition(b" ")
                return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self.token)
        return False

    async def _scrape(self, scope: HTTPScope, send: Send) -> None:
        if not self._authorized(scope):
            await _answer(
                send,
                401,
                b"A bearer token (FK_METRICS_TOKEN) is required.\n",
                [(b"www-authenticate", b'Bearer realm="metrics"')],
            )
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"GET only.\n", [(b"allow", b"GET, HEAD")])
            return
        body = generate_latest(REGISTRY) + generate_latest(await self._scrape_time_registry())
        await _answer(
            send,
            200,
            b"" if scope["method"] == "HEAD" else body,
            [(b"content-type", CONTENT_TYPE_LATEST.encode())],
        )

    async def _scrape_time_registry(self) -> CollectorRegistry:
        """The gauges read now: the outbox (one indexed query) and this process's unwritten verification events."""
        try:
            backlog, oldest = await asyncio.wait_for(self.runtime.tx.read(outbox_backlog), OUTBOX_QUERY_TIMEOUT)
            age = 0.0 if oldest is None else max(0.0, (dt.datetime.now(dt.UTC) - oldest).total_seconds())
            values = (float(backlog), age)
        except Exception as exc:
            log.warning("metrics: cannot read the outbox: %s", exc)
            values = (math.nan, math.nan)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_ScrapeTimeGauges(*values, float(self.runtime.verification_log.pending)))
        return registry


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"cache-control", b"no-store"), (b"content-length", str(len(body)).encode())]
    if not any(name == b"content-type" for name, _value in headers):
        headers.append((b"content-type", b"text/plain; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def outbox_backlog(session: Session) -> tuple[int, dt.datetime | None]:
    """The outbox events not yet handled by every consumer, and when the oldest of them was written.

    Served by the index on (done_at, created_at): cheap however many events were handled."""
    row = session.execute(
        select(func.count(), func.min(OutboxEvent.created_at)).where(OutboxEvent.done_at.is_(None))
    ).one()
    count, oldest = row
    if isinstance(oldest, str):  # SQLite hands the aggregate back as text, past the column's type
        oldest = dt.datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=dt.UTC)
    return int(count), oldest


class _ScrapeTimeGauges:
    def __init__(self, backlog: float, oldest_age: float, verification_log_pending: float) -> None:
        self.values = (backlog, oldest_age, verification_log_pending)

    def collect(self) -> Iterator[Metric]:
        backlog, oldest_age, pending = self.values
        yield GaugeMetricFamily(
            "fk_outbox_backlog", "Outbox events not yet handled by every consumer (read at scrape time).", backlog
        )
        yield GaugeMetricFamily(
            "fk_outbox_oldest_age_seconds",
            "Age in seconds of the oldest outbox event not yet handled; 0 when there is none.",
            oldest_age,
        )
        yield GaugeMetricFamily(
            "fk_verification_log_pending",
            "Verification events this web process holds for its next batched write.",
            pending,
        )


# The till ----------------------------------------------------------------------------------------------------------

_verification_children: dict[tuple[str, bool], Any] = {}
_redemption_children: dict[tuple[str, str], Any] = {}


def channel_of(principal: Principal) -> str:
    return "api" if principal.is_api_key else "portal"


def count_verification(reason: str, principal: Principal) -> None:
    key = (reason, principal.is_api_key)
    child = _verification_children.get(key)
    if child is None:
        child = _verification_children[key] = VERIFICATIONS.labels(reason, channel_of(principal))
    child.inc()


def count_redemption(outcome: str, channel: str, amount: int = 1) -> None:
    key = (outcome, channel)
    child = _redemption_children.get(key)
    if child is None:
        child = _redemption_children[key] = REDEMPTIONS.labels(outcome, channel)
    child.inc(amount)


# Workers -----------------------------------------------------------------------------------------------------------

_TASK_OUTCOMES: Final = {"SUCCESS": "succeeded", "FAILURE": "failed", "RETRY": "retried"}
_task_started: dict[str, float] = {}


def _task_prerun(task_id: str | None = None, **_: Any) -> None:
    if task_id is not None:
        _task_started[task_id] = time.perf_counter()


def _task_postrun(task_id: str | None = None, task: Any = None, state: str | None = None, **_: Any) -> None:
    started = _task_started.pop(task_id, None) if task_id is not None else None
    name = getattr(task, "name", None) or "unknown"
    TASKS.labels(name, _TASK_OUTCOMES.get(state or "", (state or "unknown").lower())).inc()
    if started is not None:
        TASK_DURATION.labels(name).observe(time.perf_counter() - started)


def install_task_metrics() -> None:
    """Count and time every task this process (or a child forked from it) runs, from Celery's own signals."""
    from celery import signals

    signals.task_prerun.connect(_task_prerun, weak=False)
    signals.task_postrun.connect(_task_postrun, weak=False)


def use_multiprocess_folder() -> str:
    """Switch this process (and the children it forks) to prometheus_client's multiprocess mode, in a new empty
    folder removed when the process ends. Call before any task runs."""
    from prometheus_client import values

    folder = tempfile.mkdtemp(prefix="fk-worker-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    # Values made from now on are written to files in the folder, also when prometheus_client was imported before.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
    owner = os.getpid()

    def remove() -> None:
        if os.getpid() == owner:
            shutil.rmtree(folder, ignore_errors=True)

    atexit.register(remove)
    return folder


def serve_worker_metrics(host: str, port: int) -> Callable[[], None]:
    """Serve the sum of every worker process's metrics on ``host``:``port`` from a thread; returns its stop."""
    from prometheus_client import start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    server, thread = start_http_server(port, addr=host, registry=registry)

    def stop() -> None:
        server.shutdown()
        thread.join(5)

    return stop
