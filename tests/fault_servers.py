"""Private servers for fault tests, started and stopped by the tests themselves: a PostgreSQL cluster, a
redis-server and the web server (``familienkarte serve``), each on a free port of 127.0.0.1.

The machine's shared PostgreSQL and Redis are never stopped: a test that crashes a server crashes its own.
Also the fixture ``own_redis``, and the till with a benefit that the tests against the web server redeem at.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
from sqlalchemy.orm import Session

from familienkarte.partners.models import Location, Partner
from tests.integration.test_catalogue import add_benefit
from tests.integration.test_verifications import Till, make_till
from tests.workers_helpers import ChildProcess, free_port, wait_until
from workers.celery_app import QUEUES, REDIS_VISIBILITY_TIMEOUT


def _pings(client: Any) -> bool:
    try:
        return bool(client.ping())
    except Exception:
        return False


class RedisServer(ChildProcess):
    """A redis-server of the test's own on a free port, keeping nothing on disk (as ours in production)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        super().__init__(dict(os.environ), folder / "redis-server.log")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.spawn(command, cwd=self.folder)
        client = redis.Redis.from_url(self.url)
        try:
            wait_until(lambda: _pings(client), timeout=10, what="redis-server to start")
        finally:
            client.close()

    def stop(self) -> None:
        """At once (SIGKILL): it has nothing to keep."""
        if self.alive():
            self.kill()


def running_redis(folder: Path) -> Iterator[RedisServer]:
    """A fixture's body: a started RedisServer, stopped afterwards (the test skips without redis-server)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(name="own_redis")
def own_redis_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """The fixture ``own_redis`` (``running_redis`` in the test's folder), for a test module that imports it."""
    yield from running_redis(tmp_path)


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A PostgreSQL cluster of the test's own: trust authentication, no fsync, on 127.0.0.1 and a free port.

    ``crash`` stops it as a killed server would (``pg_ctl -m immediate``: no shutdown checkpoint, every connection
    dropped); ``start`` brings it back with its data, recovered from the write-ahead log. Commits stay synchronous:
    a commit the server acknowledged must survive the crash (fsync is off, which only a power cut would notice).
    """

    def __init__(self, binaries: Path, *, settings: Mapping[str, str] | None = None, durable: bool = False) -> None:
        self.binaries = binaries
        # Server settings (``-c name=value``); ``durable``: fsync and full-page writes on, as in production.
        self.settings = dict(settings or {})
        self.durable = durable
        self.port = free_port()
        # Not under pytest's temporary folder: that is private to root, and the server runs as ``postgres``.
        self.folder = Path(tempfile.mkdtemp(prefix="fk-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self._as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self._as_postgres else []
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stdout}{done.stderr}{self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""

    def init(self) -> PostgresServer:
        if self._as_postgres:
            shutil.chown(self.folder, "postgres", "postgres")
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync")
        return self

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
        if not self.durable:
            options += " -c fsync=off -c full_page_writes=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run(
            str(self.binaries / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start"
        )

    def crash(self) -> None:
        self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.binaries / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def running_postgres() -> Iterator[PostgresServer]:
    """A fixture's body: a started PostgresServer, stopped and removed afterwards (skips without PostgreSQL)."""
    binaries = _postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL's server programs (initdb, pg_ctl) are not installed")
    server = PostgresServer(binaries).init()
    try:
        server.start()
        yield server
    finally:
        try:
            server.stop()
        finally:
            server.remove()


SERVE = [str(Path(sys.executable).with_name("familienkarte")), "serve"]


class WebServer(ChildProcess):
    """``familienkarte serve`` as a child process on a free port, its output in a file."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        super().__init__(env | {"FK_HOST": "127.0.0.1", "FK_PORT": str(self.port)}, log)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WebServer:
        self.spawn(SERVE)

        def live() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the web server ended: {self.output()}")
            try:
                return httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(live, timeout=120, interval=0.2, what="the web server to answer")
        return self


def till_with_benefit(db: Callable[[], Session], make_user: Any) -> tuple[Till, uuid.UUID]:
    """A till (``make_till``) and a published benefit of its partner at the till's location, the benefit's id."""
    till = make_till(db, make_user)
    with db() as s, s.begin():
        partner, here = s.get(Partner, till.partner_id), s.get(Location, till.location_id)
        assert partner is not None
        assert here is not None
        benefit_id = add_benefit(s, partner, "Freier Eintritt", locations=(here,)).id
    return till, benefit_id


class Broker:
    """What the workers' broker (a private redis-server, keys under ``prefix``) holds."""

    def __init__(self, server: RedisServer, prefix: str) -> None:
        self.client = redis.Redis.from_url(server.url)
        self.prefix = prefix

    def unacked_tasks(self) -> list[str]:
        """The names of the tasks given to a worker that has not acknowledged them."""
        names = []
        for raw in self.client.hvals(f"{self.prefix}unacked"):
            message, _exchange, _routing_key = json.loads(raw)
            names.append(message["headers"]["task"])
        return names

    def let_the_visibility_timeout_pass(self) -> None:
        """Make the unacked messages as old as a visibility timeout: the next worker to start takes them back."""
        long_ago = time.time() - REDIS_VISIBILITY_TIMEOUT - 60
        tags = cast(list[bytes], self.client.zrange(f"{self.prefix}unacked_index", 0, -1))
        if tags:
            self.client.zadd(f"{self.prefix}unacked_index", dict.fromkeys(tags, long_ago))

    def idle(self, queues: tuple[str, ...] = tuple(QUEUES)) -> bool:
        """Nothing waiting in ``queues``, and nothing given to a worker and not acknowledged."""
        waiting = sum(int(self.client.llen(f"{self.prefix}{queue}")) for queue in queues)
        return waiting == 0 and not self.client.hlen(f"{self.prefix}unacked")
