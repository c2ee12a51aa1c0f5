"""``familienkarte serve`` behind a reverse proxy: the client's address comes from X-Forwarded-For only when the
request comes from an address in FK_FORWARDED_ALLOW_IPS; /metrics answers its token on the real server."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.audit.models import AuditEntry
from tests.helpers import make_test_settings
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import make_till, signed
from tests.integration.test_worker_metrics import COMMAND, process_environment
from tests.workers_helpers import free_port, wait_until

CLIENT = "203.0.113.7"
TOKEN = "m" * 40


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        return httpx.get(url, headers=headers, timeout=5).status_code
    except httpx.TransportError:
        return 0


@pytest.mark.parametrize(
    ("allowed", "recorded"), [("127.0.0.1", CLIENT), ("10.0.0.0/8", "127.0.0.1")], ids=["proxy", "not-a-proxy"]
)
def test_the_client_address_is_taken_from_trusted_proxies_only(
    allowed: str, recorded: str, migrated_db: str, db: Callable[[], Session], make_user: Any, tmp_path: Path
) -> None:
    till = make_till(db, make_user)
    benefit_id = benefit(db, till)
    settings = make_test_settings(tmp_path / "var", migrated_db)
    port = free_port()
    env = process_environment(settings) | {
        "FK_PORT": str(port),
        "FK_FORWARDED_ALLOW_IPS": allowed,
        "FK_METRICS_TOKEN": TOKEN,
    }
    log = (tmp_path / "serve.log").open("w")
    process = subprocess.Popen([COMMAND, "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _status(f"{base}/health/live") == 200 or process.poll() is not None, timeout=180)
        assert process.poll() is None, (tmp_path / "serve.log").read_text()
        redeemed = httpx.post(
            f"{base}/api/v1/redemptions",
            json={
                "benefit_id": str(benefit_id),
                "location_id": str(till.location_id),
                "text": signed(db, till.number),
                "client_nonce": uuid.uuid4().hex,
            },
            headers={"Authorization": f"Bearer {till.token}", "X-Forwarded-For": CLIENT, "X-Forwarded-Proto": "https"},
            timeout=10,
        )
        assert redeemed.status_code == 201, redeemed.text
        assert _status(f"{base}/metrics") == 401
        assert _status(f"{base}/metrics", {"Authorization": f"Bearer {TOKEN}"}) == 200
    finally:
        process.terminate()
        process.wait(30)
        log.close()
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "redemption.record")).one()
    assert entry.ip == recorded
