"""Helpers for tests that need a signed-in person without going through a sign-in page."""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import TestClient

from familienkarte.accounts.models import User
from familienkarte.accounts.sessions import cookie_name
from familienkarte.runtime import Runtime
from familienkarte.settings import Settings, load_settings

SESSION_TTL = 3600


def sign_in_as(client: TestClient[Litestar], user: User) -> str:
    """Give the client a server-side session of ``user``, as a sign-in would; returns its CSRF token."""
    runtime: Runtime = client.app.state["fk"]
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    payload: dict[str, Any] = {
        "user_id": str(user.id),
        "epoch": user.session_epoch or 0,
        "csrf": csrf,
        "_born": now,
        "_seen": now,
    }
    with client.portal() as portal:
        portal.call(runtime.kv.set, f"session:{sid}", json.dumps(payload).encode(), SESSION_TTL)
    sign_out(client)
    client.cookies.set(cookie_name(runtime.settings), sid, domain=_host(client))
    return csrf


def sign_out(client: TestClient[Litestar]) -> None:
    """Forget the client's session cookie (the session itself simply expires)."""
    client.cookies.delete(cookie_name(client.app.state["fk"].settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _host(client: TestClient[Litestar]) -> str:
    return urlsplit(str(client.base_url)).hostname or "testserver.local"


def make_test_settings(data_dir: Path, database_url: str, **extra: str) -> Settings:
    """Settings for a test: test mode, this run's database, and Redis when FK_REDIS_URL is set.

    Each call gets its own Redis key space, so sessions, rate limits and queued tasks never leak between tests.
    """
    env = {
        "FK_ENV": "test",
        "FK_DATA_DIR": str(data_dir),
        "FK_DATABASE_URL": database_url,
        "FK_LOG_FORMAT": "text",
        **extra,
    }
    if os.environ.get("FK_REDIS_URL"):
        env["FK_REDIS_URL"] = os.environ["FK_REDIS_URL"]
        env["FK_REDIS_PREFIX"] = f"fktest:{uuid.uuid4().hex[:12]}:"
    return load_settings(env)
