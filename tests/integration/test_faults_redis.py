"""Redis down, against a real web server (``familienkarte serve``) and a real worker, both on a redis-server of
the test's own (the machine's shared Redis is never stopped).

What degrades, as the README says ("Running on PostgreSQL and Redis"): tills with an API key keep verifying and
redeeming, their rate limits counted in each web process's memory meanwhile; a signed-in person's session lives
in Redis, so their requests answer 503 (with Retry-After) until Redis is back, and a Redis that kept nothing on
disk has forgotten the session: they sign in again. The statistics catch up when Redis returns: every
verification and redemption is counted, each once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.errors import RateLimited
from familienkarte.kv import RedisKeyValue
from familienkarte.ratelimit import Limiter
from familienkarte.redemptions.models import Redemption, VerificationEvent
from tests.conftest import PASSWORD, csrf_from
from tests.fault_servers import (
    RedisServer,
    WebServer,
    own_redis_fixture,  # noqa: F401 (the fixture own_redis)
    till_with_benefit,
)
from tests.helpers import bearer
from tests.integration.test_applications import KOELN
from tests.integration.test_stats_faults import (
    assert_every_event_handled_once,
    assert_rollups_equal_the_recount,
    events,
    rebuild_on_the_worker,
    undone,
)
from tests.integration.test_verifications import Till, signed
from tests.workers_helpers import (
    Worker,
    environment,
    send,
    use_broker_of,
    wait_until,
    workers_fixture,  # noqa: F401 (the fixture workers)
)

SCANS_WHILE_DOWN = 5


class Counter:
    """A till's requests through the API key, and what it saw."""

    def __init__(self, http: httpx.Client, till: Till, benefit_id: uuid.UUID, code: str) -> None:
        self.http, self.till, self.benefit_id, self.code = http, till, benefit_id, code
        self.verified = 0
        self.redeemed = 0

    def verify(self) -> None:
        body = {"text": self.code, "location_id": str(self.till.location_id)}
        response = self.http.post("/api/v1/verifications", json=body, headers=bearer(self.till.token))
        assert response.status_code == 200, response.text
        assert response.json()["valid"] is True
        self.verified += 1

    def redeem(self) -> None:
        body = {
            "text": self.code,
            "benefit_id": str(self.benefit_id),
            "location_id": str(self.till.location_id),
            "client_nonce": uuid.uuid4().hex,
        }
        response = self.http.post("/api/v1/redemptions", json=body, headers=bearer(self.till.token))
        assert response.status_code == 201, response.text
        self.redeemed += 1


def sign_in(http: httpx.Client, email: str) -> None:
    page = http.get("/login")
    form = {"email": email, "password": PASSWORD, "csrf_token": csrf_from(page.text)}
    response = http.post("/login", data=form)
    assert response.status_code == 303, response.text


def test_redis_down_tills_keep_working_and_statistics_catch_up(
    db: Callable[[], Session],
    make_user: Any,
    migrated_db: str,
    tmp_path: Path,
    own_redis: RedisServer,
    workers: Callable[..., Worker],
) -> None:
    till, benefit_id = till_with_benefit(db, make_user)
    env = environment(
        migrated_db, tmp_path / "web", FK_REDIS_URL=own_redis.url, FK_REDIS_PREFIX="fkfault:", FK_COOKIE_SECURE="false"
    )
    web = WebServer(env, tmp_path / "web.log").start()
    try:
        with httpx.Client(base_url=web.url, timeout=30) as api, httpx.Client(base_url=web.url, timeout=30) as cashier:
            pos = Counter(api, till, benefit_id, signed(db, till.number))
            sign_in(cashier, till.cashier.email)
            assert cashier.get("/partner/scanner").status_code == 200
            pos.verify()
            pos.redeem()

            own_redis.kill()
            for _ in range(SCANS_WHILE_DOWN):
                pos.verify()
                pos.redeem()
            # The session cannot be read: "briefly unavailable", on the page and in the API alike.
            page = cashier.get("/partner/scanner")
            assert page.status_code == 503
            assert int(page.headers["Retry-After"]) > 0
            refused = cashier.post("/api/v1/verifications", json={"text": pos.code})
            assert refused.status_code == 503
            assert refused.json()["code"] == "unavailable"
            assert int(refused.headers["Retry-After"]) > 0

            own_redis.start()  # empty: it kept nothing on disk
            pos.verify()
            pos.redeem()
            # The session went with Redis's memory: the cashier signs in again, and the page is there.
            assert cashier.get("/partner/scanner").status_code == 303
            sign_in(cashier, till.cashier.email)
            assert cashier.get("/partner/scanner").status_code == 200
    finally:
        web.stop()  # also writes the verifications it still held

    # Statistics: every event is handed to the worker once Redis is back (the relay publishes again what Redis lost).
    use_broker_of(env)
    workers(env)

    def relayed() -> bool:
        send("outbox.relay", republish_after_seconds=2)
        time.sleep(1)
        return not undone(db)

    wait_until(relayed, timeout=60, interval=0.5, what="every event handled after Redis came back")
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == pos.redeemed
        assert s.scalar(select(func.count()).select_from(VerificationEvent)) == pos.verified
    assert_every_event_handled_once(db, expected=len(events(db)))
    rebuild_on_the_worker(db)
    assert_rollups_equal_the_recount(db, [KOELN.today()])


async def test_rate_limits_count_in_the_process_while_redis_is_down() -> None:
    """The documented degradation of a limit: it still holds, per process, while Redis cannot be reached."""
    store = RedisKeyValue("redis://127.0.0.1:1/0", "fk:")  # nothing listens on port 1
    limiter = Limiter(store, f"test-{uuid.uuid4().hex}", limit=3, window=600)
    for _ in range(3):
        await limiter.consume("till")
    with pytest.raises(RateLimited) as refused:
        await limiter.consume("till")
    assert 0 < refused.value.retry_after <= 600
    await limiter.consume("another till")
    await store.close()
