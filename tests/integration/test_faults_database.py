"""PostgreSQL restarted while tills redeem, against a real web server (``familienkarte serve``).

While the database is down, requests fail fast with 503 problem details and a Retry-After header; when it is
back, the same web process serves again (its pool replaces the dead connections). Counted afterwards: every
redemption a till saw succeed is recorded exactly once, and nothing else is.

The database is a PostgreSQL cluster of this module's own (tests/fault_servers.py), in every test run: the
machine's shared server is never stopped.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from familienkarte.db import make_sync_engine
from familienkarte.migrate import upgrade
from familienkarte.redemptions.models import Redemption
from tests.fault_servers import PostgresServer, WebServer, running_postgres, till_with_benefit
from tests.helpers import bearer
from tests.integration.test_verifications import Till, signed
from tests.workers_helpers import environment, wait_until

CLIENTS = 4
REDEMPTIONS_PER_CLIENT = 25


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    yield from running_postgres()


@pytest.fixture(scope="module")
def migrated_db(postgres: PostgresServer) -> str:
    """This module's database: its own server, which its test crashes (overrides the shared fixture)."""
    upgrade(postgres.url)
    return postgres.url


@pytest.fixture(scope="module")
def sync_engine(migrated_db: str) -> Iterator[Engine]:
    engine = make_sync_engine(migrated_db)
    yield engine
    engine.dispose()


@dataclass
class Outcomes:
    """What the tills saw: the redemption id per nonce that succeeded, the refusals while the database was down."""

    succeeded: dict[str, str] = field(default_factory=dict)
    replayed: set[str] = field(default_factory=set)
    unavailable: list[httpx.Response] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self) -> tuple[int, int]:
        with self.lock:
            return len(self.succeeded), len(self.unavailable)


def redeem_until_recorded(web: WebServer, till: Till, benefit_id: uuid.UUID, code: str, outcomes: Outcomes) -> None:
    """One till: redemptions one after the other, each retried with its nonce until the server records it."""
    with httpx.Client(base_url=web.url, headers=bearer(till.token), timeout=30) as http:
        for _ in range(REDEMPTIONS_PER_CLIENT):
            nonce = uuid.uuid4().hex
            body = {"text": code, "benefit_id": str(benefit_id), "location_id": str(till.location_id)}
            while True:
                try:
                    response = http.post("/api/v1/redemptions", json=body | {"client_nonce": nonce})
                except httpx.HTTPError as exc:
                    with outcomes.lock:
                        outcomes.unexpected.append(f"{type(exc).__name__}: {exc}")
                    return
                if response.status_code == 201:
                    with outcomes.lock:
                        outcomes.succeeded[nonce] = response.json()["id"]
                        if response.headers.get("Idempotent-Replayed") == "true":
                            outcomes.replayed.add(nonce)
                    break
                if response.status_code == 503:
                    with outcomes.lock:
                        outcomes.unavailable.append(response)
                    time.sleep(0.1)  # a real till waits Retry-After; here the test would only get longer
                    continue
                with outcomes.lock:
                    outcomes.unexpected.append(f"{response.status_code}: {response.text}")
                return


def recorded(db: Callable[[], Session], benefit_id: uuid.UUID) -> dict[str, str]:
    with db() as s:
        rows = s.execute(
            select(Redemption.client_nonce, Redemption.id).where(
                Redemption.benefit_id == benefit_id, Redemption.status == "recorded"
            )
        ).all()
    assert len(rows) == len({row.client_nonce for row in rows})  # no nonce twice
    return {row.client_nonce: str(row.id) for row in rows}


def test_postgresql_restarted_while_tills_redeem(
    db: Callable[[], Session], make_user: Any, postgres: PostgresServer, tmp_path: Path
) -> None:
    till, benefit_id = till_with_benefit(db, make_user)
    code = signed(db, till.number)  # a printed card, shown again and again (the benefit has no limit)
    web = WebServer(environment(postgres.url, tmp_path / "web"), tmp_path / "web.log").start()
    try:
        outcomes = Outcomes()
        tills = [
            threading.Thread(target=redeem_until_recorded, args=(web, till, benefit_id, code, outcomes))
            for _ in range(CLIENTS)
        ]
        for thread in tills:
            thread.start()
        wait_until(lambda: outcomes.count()[0] >= 10, timeout=120, what="the first redemptions")

        postgres.crash()
        wait_until(lambda: outcomes.count()[1] >= CLIENTS, timeout=120, what="the tills told to retry later")
        postgres.start()

        for thread in tills:
            thread.join(60)
        assert not any(thread.is_alive() for thread in tills)
        assert web.process is not None
        assert web.process.poll() is None  # the same web process, not restarted
    finally:
        web.stop()

    assert outcomes.unexpected == [], web.output()[-3000:]
    for refused in outcomes.unavailable:
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["code"] == "unavailable"
        assert int(refused.headers["Retry-After"]) > 0
    # Counted against what the tills saw: every success recorded once, nothing recorded that no till saw.
    assert len(outcomes.succeeded) == CLIENTS * REDEMPTIONS_PER_CLIENT
    assert recorded(db, benefit_id) == outcomes.succeeded
