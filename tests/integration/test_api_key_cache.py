"""Remembered API keys (familienkarte.accounts.api_key_cache): skipped lookups, and how soon a change counts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from familienkarte.accounts import api_key_cache, api_keys, identity
from familienkarte.accounts.api_key_cache import TTL_SECONDS, ApiKeyCache
from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.partners.models import Partner
from tests.helpers import bearer, sign_in_as, sign_out

Client = TestClient[Litestar]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(api_key_cache, "_now", clock)
    return clock


@pytest.fixture
def owner(make_user: Any) -> User:
    user: User = make_user(Role.PARTNER_OWNER)
    return user


@pytest.fixture
def token(db: Callable[[], Session], owner: User) -> str:
    assert owner.partner_id is not None
    with db() as s, s.begin():
        return api_keys.create_key(s, identity.principal_for_user(owner), owner.partner_id, "Kasse 1").token


def me(client: Client, token: str) -> int:
    return client.get("/api/v1/me", headers=bearer(token)).status_code


def revoke_elsewhere(sync_engine: Engine) -> None:
    """Revoke every key as another process would: a plain statement, unseen by this process's sessions."""
    with sync_engine.begin() as conn:
        conn.execute(update(ApiKey).values(revoked_at=dt.datetime.now(dt.UTC)))


def test_a_key_revoked_elsewhere_stops_working_within_the_ttl(
    client: Client, token: str, sync_engine: Engine, clock: Clock
) -> None:
    assert me(client, token) == 200
    revoke_elsewhere(sync_engine)
    # Remembered: no lookup, so the change is not seen yet ...
    clock.now += TTL_SECONDS - 0.5
    assert me(client, token) == 200
    # ... and at most TTL_SECONDS after the key was looked up, it is.
    clock.now += 0.5
    assert me(client, token) == 401
    assert me(client, token) == 401


def test_without_a_lookup_before_the_change_a_revoked_key_is_refused_at_once(
    client: Client, token: str, sync_engine: Engine, clock: Clock
) -> None:
    revoke_elsewhere(sync_engine)
    assert me(client, token) == 401


def test_a_key_revoked_through_the_api_is_refused_at_once(
    client: Client, db: Callable[[], Session], owner: User, token: str, clock: Clock
) -> None:
    assert me(client, token) == 200
    with db() as s:
        key_id = s.scalar(select(ApiKey.id))
    csrf = sign_in_as(client, owner)
    url = f"/api/v1/partners/{owner.partner_id}/api-keys/{key_id}/revoke"
    assert client.post(url, headers={"X-CSRF-Token": csrf}).status_code == 200
    sign_out(client)
    assert me(client, token) == 401


@pytest.mark.parametrize("how", ["attribute", "bulk update"])
def test_a_partner_suspended_in_this_process_is_shut_out_at_once(
    client: Client, db: Callable[[], Session], owner: User, token: str, clock: Clock, how: str
) -> None:
    assert me(client, token) == 200
    with db() as s, s.begin():
        if how == "attribute":
            partner = s.get(Partner, owner.partner_id)
            assert partner is not None
            partner.status = "suspended"
        else:
            s.execute(update(Partner).where(Partner.id == owner.partner_id).values(status="suspended"))
    assert me(client, token) == 401


def test_another_secret_with_the_same_prefix_is_refused_while_the_key_is_remembered(
    client: Client, token: str, clock: Clock
) -> None:
    assert me(client, token) == 200
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert me(client, forged) == 401
    assert me(client, token) == 200


def test_noting_the_last_use_keeps_keys_remembered(db: Callable[[], Session], token: str) -> None:
    before = api_key_cache.generation()
    with db() as s, s.begin():
        principal = identity.authenticate_api_key(s, token)
    assert principal is not None
    with db() as s:
        key = s.scalar(select(ApiKey))
    assert key is not None
    assert key.last_used_at is not None  # the key's first use was written ...
    assert api_key_cache.generation() == before  # ... without forgetting the remembered keys


def test_a_lookup_that_raced_with_a_change_is_not_remembered(clock: Clock) -> None:
    cache = ApiKeyCache()
    principal = Principal(role=Role.CASHIER, api_key_id=uuid.uuid4(), partner_id=uuid.uuid4())
    looked_up_at = api_key_cache.generation()
    api_key_cache.forget_all()  # a key or partner changed while the lookup ran
    cache.put("fk_token", principal, looked_up_at)
    assert cache.get("fk_token") is None
    cache.put("fk_token", principal, api_key_cache.generation())
    assert cache.get("fk_token") == principal
    api_key_cache.forget_all()
    assert cache.get("fk_token") is None
