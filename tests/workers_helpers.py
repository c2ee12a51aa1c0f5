"""Helpers for tests with real processes: free ports, a real SMTP server, workers, waiting for something to happen."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiosmtpd.controller import Controller

T = TypeVar("T")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_until(check: Callable[[], T], timeout: float = 15.0, interval: float = 0.05, what: str = "") -> T:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {timeout:.0f} s in vain for {what or check}")
        time.sleep(interval)


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class _Handler:
    messages: list[Received] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Messages whose data arrived, accepted or not (a client that dies while the server holds the data).
    arrived: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.arrived += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self._handler = _Handler()
        self._controller: Controller | None = None

    def start(self) -> SmtpServer:
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Received]:
        with self._handler.lock:
            return list(self._handler.messages)

    def clear(self) -> None:
        with self._handler.lock:
            self._handler.messages.clear()

    def slow_down(self, seconds: float) -> None:
        self._handler.delay = seconds

    @property
    def arrived(self) -> int:
        """How many messages' data reached the server, including those it had not accepted yet."""
        with self._handler.lock:
            return self._handler.arrived

    def to(self, address: str) -> list[Received]:
        return [m for m in self.messages if address in m.rcpt_tos]


# --- real processes of the test's own: workers, redis-server ---

WORKER_COMMAND = [str(Path(sys.executable).with_name("familienkarte")), "worker", "--pool", "solo"]


class ChildProcess:
    """A program (worker, web server, redis-server) as a child process on ``env``, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self, command: list[str], cwd: Path | None = None) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(command, cwd=cwd, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Worker(ChildProcess):
    """``familienkarte worker`` as a child process, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path, queues: str = "default,stats") -> None:
        super().__init__(env, log)
        self.queues = queues

    def start(self) -> Worker:
        self.spawn([*WORKER_COMMAND, "-Q", self.queues])
        return self


def started_workers(folder: Path) -> Iterator[Callable[..., Worker]]:
    """A fixture's body: start workers (each on the environment given, on the queues given); all stopped at the end."""
    started: list[Worker] = []

    def start(env: dict[str, str], queues: str = "default,stats") -> Worker:
        worker = Worker(env, folder / f"worker-{len(started)}.log", queues).start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(name="workers")
def workers_fixture(tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    """The fixture ``workers`` (``started_workers`` in the test's folder), for a test module that imports it."""
    yield from started_workers(tmp_path)


def environment(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a child process (worker, web server): this run's database, and Redis when configured."""
    env = {
        key: value for key, value in os.environ.items() if not key.startswith("FK_") and key != "PYTEST_CURRENT_TEST"
    }
    env |= {
        "FK_ENV": "test",
        "FK_DATA_DIR": str(data_dir),
        "FK_DATABASE_URL": database_url,
        "FK_LOG_FORMAT": "text",
        "FK_LOG_LEVEL": "INFO",
        "FK_CITY": "koeln",
    }
    if os.environ.get("FK_REDIS_URL"):
        env["FK_REDIS_URL"] = os.environ["FK_REDIS_URL"]
        env["FK_REDIS_PREFIX"] = f"fktest:{uuid.uuid4().hex[:12]}:"
    return env | extra


def use_broker_of(env: dict[str, str]) -> None:
    """Publish from this process to the broker of the processes started on ``env``."""
    from familienkarte.settings import load_settings
    from workers.celery_app import configure

    configure(load_settings({key: value for key, value in env.items() if key.startswith("FK_")}), configure_logs=False)


def send(name: str, **kwargs: Any) -> None:
    from workers.celery_app import celery_app

    celery_app.send_task(name, kwargs=kwargs)
