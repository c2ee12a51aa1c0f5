"""GET /metrics: only with the token; requests by route template (never an id), verifications, redemptions, outbox."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.orm import Session

from familienkarte.app import create_app
from familienkarte.events.models import OutboxEvent
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import bearer, make_test_settings
from tests.integration.test_redemptions import benefit, redeem
from tests.integration.test_verifications import Till, make_till, scan, signed

TOKEN = "metrics-" + "0123456789abcdef" * 3
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture
def metrics_settings(migrated_db: str, tmp_path: Path) -> Settings:
    return make_test_settings(tmp_path / "var", migrated_db, FK_BASE_URL=BASE_URL, FK_METRICS_TOKEN=TOKEN)


@pytest.fixture
def metrics_client(metrics_settings: Settings, db: Callable[[], Session]) -> Iterator[TestClient[Litestar]]:
    with TestClient(create_app(metrics_settings), base_url=BASE_URL) as test_client:
        yield test_client


def scrape(client: TestClient[Litestar]) -> Samples:
    response = client.get("/metrics", headers=bearer(TOKEN))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests(samples: Samples, route: str, status: str, method: str = "GET") -> float:
    return value(samples, "fk_http_request_duration_seconds_count", method=method, route=route, status=status)


def test_metrics_answer_only_the_token(metrics_client: TestClient[Litestar], db: Any, make_user: Any) -> None:
    anonymous = metrics_client.get("/metrics")
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert "fk_http" not in anonymous.text
    assert metrics_client.get("/metrics", headers=bearer(TOKEN[:-1] + "x")).status_code == 401
    assert metrics_client.get("/metrics", headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    # A partner's API key is no metrics token.
    till = make_till(db, make_user)
    assert metrics_client.get("/metrics", headers=bearer(till.token)).status_code == 401
    assert metrics_client.post("/metrics", headers=bearer(TOKEN)).status_code == 405
    assert "fk_http_request_duration_seconds" in metrics_client.get("/metrics", headers=bearer(TOKEN)).text


def test_without_a_token_setting_there_are_no_metrics(client: TestClient[Litestar]) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=bearer(TOKEN)).status_code == 404


def test_requests_are_counted_by_route_template_and_status_class_never_by_id(
    metrics_client: TestClient[Litestar],
) -> None:
    before = scrape(metrics_client)
    for _ in range(3):
        assert metrics_client.get("/health/live").status_code == 200
    ids = [uuid.uuid4() for _ in range(2)]
    for benefit_id in ids:  # a route with an id in its path, answered 404 for an unknown one
        assert metrics_client.get(f"/benefits/{benefit_id}").status_code == 404
    assert metrics_client.get(f"/no/such/page/{ids[0]}").status_code == 404

    after = scrape(metrics_client)

    assert requests(after, "/health/live", "2xx") - requests(before, "/health/live", "2xx") == 3
    routes = {dict(labels)["route"] for name, labels in after if name == "fk_http_request_duration_seconds_count"}
    with_id = [route for route in routes if "benefit" in route and "{" in route]
    assert with_id, routes
    assert sum(requests(after, route, "4xx") - requests(before, route, "4xx") for route in with_id) == 2
    assert requests(after, "unmatched", "4xx") - requests(before, "unmatched", "4xx") == 1
    labels_text = " ".join(f"{k}={v}" for _name, labels in after for k, v in labels)
    assert not any(str(i) in labels_text for i in ids)
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", labels_text)
    # The scrapes themselves are not counted as requests.
    assert not any(dict(labels).get("route") == "/metrics" for _name, labels in after)


def test_verifications_and_redemptions_are_counted_by_reason_and_outcome(
    metrics_client: TestClient[Litestar], db: Callable[[], Session], make_user: Any
) -> None:
    till: Till = make_till(db, make_user)
    benefit_id = benefit(db, till, limit_count=1, limit_period="month")
    before = scrape(metrics_client)

    assert scan(metrics_client, till, text=signed(db, till.number))["reason"] == "ok"
    assert scan(metrics_client, till, text="FK1.not-a-code")["valid"] is False
    nonce = uuid.uuid4().hex
    redeem(metrics_client, till, benefit_id, text=signed(db, till.number), client_nonce=nonce)
    redeem(metrics_client, till, benefit_id, text=signed(db, till.number), client_nonce=nonce)  # the same again
    refused = redeem(metrics_client, till, benefit_id, status=409, text=signed(db, till.number))
    assert refused["code"] == "limit_reached"

    after = scrape(metrics_client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("fk_verifications_total", reason="ok", channel="api") == 1
    assert delta("fk_verifications_total", reason="malformed", channel="api") == 1
    assert delta("fk_verifications_total", reason="ok", channel="portal") == 0
    assert delta("fk_redemptions_total", outcome="recorded", channel="api") == 1
    assert delta("fk_redemptions_total", outcome="replayed", channel="api") == 1
    assert delta("fk_redemptions_total", outcome="limit_reached", channel="api") == 1
    assert (
        delta("fk_http_request_duration_seconds_count", method="POST", route="/api/v1/verifications", status="2xx") == 2
    )


def event(s: Session, created_at: dt.datetime, done_at: dt.datetime | None = None) -> OutboxEvent:
    row = OutboxEvent(kind="redemption.recorded", payload={}, created_at=created_at, done_at=done_at)
    s.add(row)
    s.flush()
    return row


def test_the_outbox_backlog_and_its_oldest_age_are_read_at_scrape_time(
    metrics_client: TestClient[Litestar], db: Callable[[], Session]
) -> None:
    assert value(scrape(metrics_client), "fk_outbox_backlog") == 0
    assert value(scrape(metrics_client), "fk_outbox_oldest_age_seconds") == 0
    an_hour_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with db() as s, s.begin():
        oldest = event(s, an_hour_ago)
        event(s, dt.datetime.now(dt.UTC))
        event(s, dt.datetime.now(dt.UTC))
        # Handled by every consumer: no longer in the backlog, however old.
        event(s, an_hour_ago - dt.timedelta(hours=1), done_at=dt.datetime.now(dt.UTC))

    samples = scrape(metrics_client)
    assert value(samples, "fk_outbox_backlog") == 3
    assert 3600 <= value(samples, "fk_outbox_oldest_age_seconds") < 7200

    with db() as s, s.begin():
        s.execute(update(OutboxEvent).where(OutboxEvent.id == oldest.id).values(done_at=dt.datetime.now(dt.UTC)))
    samples = scrape(metrics_client)
    assert value(samples, "fk_outbox_backlog") == 2
    assert value(samples, "fk_outbox_oldest_age_seconds") < 3600
