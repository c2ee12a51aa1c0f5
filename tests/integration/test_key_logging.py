"""API keys never reach a log: not the full key, not its secret part, neither when it works nor when it fails.

The app logs as the server sets it up (JSON lines to standard error), at DEBUG to catch more; everything it writes
during the requests is read back and searched. The audit log in the database is searched too.
"""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys
from familienkarte.accounts.identity import parse_api_key, principal_for_user
from familienkarte.accounts.models import ApiKey
from familienkarte.audit.models import AuditEntry
from familienkarte.logs import configure_logging
from familienkarte.settings import Settings
from tests.helpers import bearer, sign_in_as
from tests.integration.test_login import custom_client
from tests.integration.test_verifications import make_till

Factory = Callable[[], Session]


@pytest.fixture
def server_log() -> Iterator[io.StringIO]:
    """The logging the server sets up (``app_from_environment``), at DEBUG, written into a buffer instead of
    standard error; the test run's own logging is restored after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("DEBUG", "json")
    buffer = io.StringIO()
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    yield buffer
    root.handlers[:] = handlers
    root.setLevel(level)


def app_lines(buffer: io.StringIO) -> str:
    """The lines the app wrote; the test client's own (``httpx``, the caller's side) are not the server's."""
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return "\n".join(json.dumps(entry) for entry in lines if not entry["logger"].startswith(("httpx", "httpcore")))


def secret_of(token: str) -> str:
    parsed = parse_api_key(token)
    assert parsed is not None
    return parsed[1]


def test_keys_are_not_logged_in_use_nor_in_failed_attempts(
    settings: Settings, db: Factory, make_user: Any, server_log: io.StringIO
) -> None:
    till = make_till(db, make_user)
    with db() as s, s.begin():
        revoked = api_keys.create_key(s, principal_for_user(till.owner), till.partner_id, "Old till")
        api_keys.revoke_key(s, principal_for_user(till.owner), till.partner_id, revoked.key.id)
    secrets = [till.token, secret_of(till.token), revoked.token, secret_of(revoked.token)]
    wrong_secret = till.token[: -len(secret_of(till.token))] + "x" * 43
    secrets.append(wrong_secret)
    body = {"card_number": till.number, "location_id": str(till.location_id)}
    with custom_client(settings) as client:
        assert client.post("/api/v1/verifications", json=body, headers=bearer(till.token)).status_code == 200
        assert client.get("/api/v1/me", headers=bearer(till.token)).status_code == 200
        # Failed attempts: a wrong secret with a real prefix, a revoked key, a key in the wrong header form.
        for token in (wrong_secret, revoked.token):
            assert client.post("/api/v1/verifications", json=body, headers=bearer(token)).status_code == 401
        assert client.get("/api/v1/me", headers={"Authorization": till.token}).status_code == 401
        # A key put where it does not belong: in the query string, and in a body field that is refused.
        assert client.get(f"/api/v1/me?api_key={till.token}").status_code == 401
        response = client.post(
            "/api/v1/verifications",
            json={"card_number": till.token, "location_id": "not an id"},
            headers=bearer(till.token),
        )
        assert response.status_code in (400, 422)
        # An owner creates a key on the portal: the page shows it once, the log never.
        csrf = sign_in_as(client, till.owner)
        created = client.post("/partner/keys", data={"name": "New till", "csrf_token": csrf})
        assert created.status_code == 200, created.text
    logs = app_lines(server_log)
    assert '"msg": "POST /api/v1/verifications 200"' in logs, "the requests were logged"
    assert '"msg": "GET /api/v1/me 401"' in logs
    with db() as s:
        new_prefix = s.scalars(select(ApiKey.prefix).where(ApiKey.name == "New till")).one()
        audit = " ".join(repr((e.action, e.object_id, e.details)) for e in s.scalars(select(AuditEntry)))
    new_secret = re.findall(rf"_{new_prefix}_([A-Za-z0-9_-]+)", created.text)[0]
    assert len(new_secret) >= 40
    for value in [*secrets, new_secret]:
        assert value not in logs
        assert value not in audit
    # The prefix, which names a key without unlocking it, may appear; the secret's hash never does.
    with db() as s:
        hashes = list(s.scalars(select(ApiKey.secret_hash)))
    assert hashes
    assert not [h for h in hashes if h in logs]
