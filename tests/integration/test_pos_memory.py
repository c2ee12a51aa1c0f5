"""What a web process remembers for the till (familienkarte.redemptions.memory), how soon a change counts, and
what a scan still reads from the database."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, event, text, update
from sqlalchemy.orm import Session

from familienkarte.benefits.models import Benefit
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions import memory
from familienkarte.redemptions.memory import TTL_SECONDS
from tests.helpers import bearer
from tests.integration.test_catalogue import add_benefit
from tests.integration.test_verifications import Till, make_till, phone_code, scan, signed

Client = TestClient[Litestar]


class Clock:
    def __init__(self) -> None:
        self.now = 9000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(memory, "_monotonic", clock)
    return clock


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


def add_offer(db: Callable[[], Session], till: Till, title: str, **fields: Any) -> uuid.UUID:
    with db() as s, s.begin():
        partner = s.get(Partner, till.partner_id)
        here = s.get(Location, till.location_id)
        assert partner is not None
        assert here is not None
        return add_benefit(s, partner, title, locations=(here,), **fields).id


def offered(client: Client, till: Till, code: str) -> set[str]:
    return {offer["title"] for offer in scan(client, till, text=code)["benefits"]}


def redeem(client: Client, till: Till, benefit_id: uuid.UUID, code: str) -> Any:
    return client.post(
        "/api/v1/redemptions",
        json={
            "text": code,
            "benefit_id": str(benefit_id),
            "location_id": str(till.location_id),
            "client_nonce": uuid.uuid4().hex,
        },
        headers=bearer(till.token),
    )


@pytest.fixture
def statements(client: Client) -> Iterator[list[str]]:
    """The SQL statements the app's web engine sends from now on."""
    seen: list[str] = []
    engine = client.app.state["fk"].engine.sync_engine

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    yield seen
    event.remove(engine, "before_cursor_execute", before)


def test_a_benefit_paused_elsewhere_is_offered_and_redeemed_at_most_the_memory_time(
    client: Client, db: Callable[[], Session], till: Till, sync_engine: Engine, clock: Clock
) -> None:
    benefit_id = add_offer(db, till, "Freier Eintritt")
    code = phone_code(db, till)
    assert offered(client, till, code) == {"Freier Eintritt"}
    # Paused by another process: a plain statement that this process's sessions never see.
    with sync_engine.begin() as conn:
        conn.execute(update(Benefit).where(Benefit.id == benefit_id).values(status="paused"))
    clock.now += TTL_SECONDS - 0.5
    assert offered(client, till, code) == {"Freier Eintritt"}  # remembered: not read again yet
    assert redeem(client, till, benefit_id, signed(db, till.number)).status_code == 201
    clock.now += 0.5
    assert offered(client, till, code) == set()
    refused = redeem(client, till, benefit_id, signed(db, till.number))
    assert (refused.status_code, refused.json()["code"]) == (409, "benefit_paused")


def test_a_benefit_paused_in_this_process_counts_at_once(
    client: Client, db: Callable[[], Session], till: Till, clock: Clock
) -> None:
    benefit_id = add_offer(db, till, "Freier Eintritt")
    code = phone_code(db, till)
    assert offered(client, till, code) == {"Freier Eintritt"}
    with db() as s, s.begin():
        benefit = s.get(Benefit, benefit_id)
        assert benefit is not None
        benefit.status = "paused"
    assert offered(client, till, code) == set()
    refused = redeem(client, till, benefit_id, signed(db, till.number))
    assert (refused.status_code, refused.json()["code"]) == (409, "benefit_paused")


def test_a_remembered_scan_reads_nothing_and_a_limit_costs_one_statement(
    client: Client, db: Callable[[], Session], till: Till, clock: Clock, statements: list[str]
) -> None:
    add_offer(db, till, "Freier Eintritt")
    code = phone_code(db, till)
    assert offered(client, till, code) == {"Freier Eintritt"}
    statements.clear()
    assert offered(client, till, code) == {"Freier Eintritt"}
    assert statements == []

    add_offer(db, till, "Einmal im Monat", limit_count=1, limit_period="month")
    assert offered(client, till, code) == {"Freier Eintritt", "Einmal im Monat"}  # read again: a change here
    statements.clear()
    result = scan(client, till, text=code)
    assert {offer["title"]: offer["uses_left"] for offer in result["benefits"]} == {
        "Freier Eintritt": None,
        "Einmal im Monat": 1,
    }
    assert len([s for s in statements if "redemptions" in s]) == 1, statements
    assert len(statements) == 1, statements


def test_a_connection_that_died_in_the_pool_is_replaced(
    client: Client, db: Callable[[], Session], till: Till, sync_engine: Engine
) -> None:
    """A dead pooled connection (PostgreSQL restarted) does not fail the next requests."""
    if sync_engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no connections to lose")
    assert scan(client, till, card_number=till.number)["valid"] is True  # a pooled connection now
    with sync_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        killed = conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    assert killed
    # A typed number is looked up in the database: it needs a connection.
    assert scan(client, till, card_number=till.number)["valid"] is True
    assert scan(client, till, card_number=till.number)["valid"] is True
