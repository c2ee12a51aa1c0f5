"""Guessing is throttled: passwords per account and per client address, card numbers typed by hand per API key
and per cashier's session. The attempt after the last allowed one is refused with 429 and ``Retry-After``; a
correct password or an existing card number is refused as well until the window has passed.

The windows run on the shared key-value store (Redis with FK_REDIS_URL, else in memory). A window "passes" by
moving the in-memory store's clock past it, or on Redis by letting the counter's key expire now, which is what
Redis does when the window's time is up.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import redis
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import ApiKey
from familienkarte.accounts.roles import Role
from familienkarte.credentials.card_numbers import new_card_number
from familienkarte.kv import MemoryKeyValue
from familienkarte.runtime import TYPING_TILLS
from familienkarte.settings import Settings
from tests.conftest import BASE_URL, PASSWORD
from tests.helpers import bearer, sign_in_as
from tests.integration.test_login import custom_client, is_signed_in, sign_in, user_row
from tests.integration.test_verifications import Till, make_till
from tests.workers_helpers import wait_until

Client = TestClient[Litestar]
Factory = Callable[[], Session]
WRONG = "not the password at all"


def let_the_window_pass(client: Client, limiter: str, subject: str, seconds: int) -> None:
    runtime = client.app.state["fk"]
    key = f"rl:{limiter}:{subject}"
    if isinstance(runtime.kv, MemoryKeyValue):
        earlier = cast(Callable[[], float], runtime.kv._clock)
        runtime.kv._clock = lambda: earlier() + seconds + 1
        return
    settings = runtime.settings
    connection = redis.Redis.from_url(settings.redis_url)
    try:
        assert connection.pexpire(settings.redis_prefix + key, 1)
        wait_until(lambda: not connection.exists(settings.redis_prefix + key), timeout=5, what="the counter to expire")
    finally:
        connection.close()


def retry_after(response: Any, window: int) -> int:
    assert response.status_code == 429, response.text
    seconds = int(response.headers["retry-after"])
    assert 0 < seconds <= window
    return seconds


# --- passwords ------------------------------------------------------------------------------------------------


def test_the_attempt_after_the_last_allowed_is_refused_even_with_the_right_password(
    settings: Settings, db: Factory, make_user: Any
) -> None:
    user = make_user(Role.PARTNER_OWNER)
    with custom_client(settings, login_max_attempts=4, login_window_seconds=900) as client:
        for _ in range(4):
            assert sign_in(client, user.email, WRONG).status_code == 422
        for _ in range(3):
            refused = sign_in(client, user.email)
            retry_after(refused, 900)
            assert "Too many attempts" in refused.text
        assert not is_signed_in(client)
    assert user_row(db, user).last_login_at is None


def test_the_right_password_works_again_once_the_window_has_passed(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    with custom_client(settings, login_max_attempts=2, login_window_seconds=900) as client:
        for _ in range(2):
            assert sign_in(client, user.email, WRONG).status_code == 422
        retry_after(sign_in(client, user.email), 900)
        let_the_window_pass(client, "login", f"account:{user.email}", 900)
        assert sign_in(client, user.email).status_code == 303
        assert is_signed_in(client)


def test_one_client_address_guessing_many_accounts_is_refused(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    with custom_client(settings, login_max_attempts=2, login_window_seconds=900) as client:
        # An address may fail four times as often as one account: 2 x 4 guesses at 8 different accounts.
        for index in range(8):
            assert sign_in(client, f"guess{index}@example.org", WRONG).status_code == 422
        refused = sign_in(client, user.email)
        retry_after(refused, 900)
        assert not is_signed_in(client)


def test_guessing_the_current_password_on_the_account_page_counts_for_the_account(
    settings: Settings, make_user: Any
) -> None:
    """Changing the password asks for the current one: a stolen session cannot guess it faster than sign-in."""
    user = make_user(Role.ANALYST)
    with custom_client(settings, login_max_attempts=2, login_window_seconds=900) as client:
        csrf = sign_in_as(client, user)
        data = {"new_password": "a new and long password", "password_confirm": "a new and long password"}
        for _ in range(2):
            response = client.post("/account/password", data={**data, "current_password": WRONG, "csrf_token": csrf})
            assert response.status_code == 422
        client.cookies.clear()
        # The same account's sign-in is now refused too: the counter is the account's.
        retry_after(sign_in(client, user.email), 900)


# --- card numbers typed by hand -------------------------------------------------------------------------------


@contextmanager
def till_client(settings: Settings, typed: tuple[int, int]) -> Iterator[Client]:
    from familienkarte.app import create_app

    app = create_app(dataclasses.replace(settings, pos_typed_limit=typed))
    with TestClient(app, base_url=BASE_URL) as client:
        client.headers["Accept-Language"] = "en"
        yield client


def typed(client: Client, till: Till, number: str, headers: dict[str, str]) -> Any:
    body = {"card_number": number, "location_id": str(till.location_id)}
    return client.post("/api/v1/verifications", json=body, headers=headers)


def test_typed_numbers_per_api_key(settings: Settings, db: Factory, make_user: Any) -> None:
    till = make_till(db, make_user)
    with till_client(settings, (3, 600)) as client:
        key = bearer(till.token)
        for _ in range(3):
            assert typed(client, till, new_card_number(), key).json()["reason"] == "unknown_card"
        refused = typed(client, till, till.number, key)  # a real card, but too late
        retry_after(refused, 600)
        assert refused.json()["code"] == "rate_limited"
        assert "card" not in refused.json()
        # Redeeming with a typed number is the same guess and is refused as well.
        redeem = client.post(
            "/api/v1/redemptions",
            json={
                "benefit_id": str(uuid.uuid4()),
                "location_id": str(till.location_id),
                "card_number": till.number,
                "client_nonce": uuid.uuid4().hex,
            },
            headers=key,
        )
        retry_after(redeem, 600)


def test_typed_numbers_per_cashiers_session(settings: Settings, db: Factory, make_user: Any) -> None:
    till = make_till(db, make_user)
    with till_client(settings, (2, 600)) as client:
        csrf = {"X-CSRF-Token": sign_in_as(client, till.cashier)}
        for _ in range(2):
            assert typed(client, till, new_card_number(), csrf).status_code == 200
        refused = typed(client, till, till.number, csrf)
        retry_after(refused, 600)
        # Uploading typed numbers "made offline" is no way around it.
        upload = client.post(
            "/api/v1/redemptions/uploads",
            json={"redemptions": [{"client_nonce": uuid.uuid4().hex, "card_number": till.number}]},
            headers=csrf,
        )
        retry_after(upload, 600)
        # A fresh session of the same cashier is the same account.
        csrf = {"X-CSRF-Token": sign_in_as(client, till.cashier)}
        retry_after(typed(client, till, till.number, csrf), 600)


def test_more_keys_do_not_multiply_a_partners_typed_numbers(settings: Settings, db: Factory, make_user: Any) -> None:
    till = make_till(db, make_user)
    with db() as s, s.begin():
        keys = [till.token] + [
            api_keys.create_key(s, principal_for_user(till.owner), till.partner_id, f"Till {n}").token
            for n in range(2, 3 + TYPING_TILLS)
        ]
    with till_client(settings, (2, 600)) as client:
        allowed = 0
        for token in keys[:-1]:  # one key more than the partner's share allows
            for _ in range(2):
                if typed(client, till, new_card_number(), bearer(token)).status_code == 200:
                    allowed += 1
        assert allowed == 2 * TYPING_TILLS
        # Another key of the partner is refused at once, though it has typed nothing yet.
        retry_after(typed(client, till, till.number, bearer(keys[-1])), 600)


def test_a_typed_number_is_taken_again_once_the_window_has_passed(
    settings: Settings, db: Factory, make_user: Any
) -> None:
    till = make_till(db, make_user)
    with till_client(settings, (1, 600)) as client:
        key = bearer(till.token)
        assert typed(client, till, new_card_number(), key).status_code == 200
        retry_after(typed(client, till, till.number, key), 600)
        with db() as s:
            key_id = s.scalars(select(ApiKey.id).where(ApiKey.partner_id == till.partner_id)).one()
        let_the_window_pass(client, "pos-typed", f"key:{key_id}", 600)
        response = typed(client, till, till.number, key)
        assert response.status_code == 200
        assert response.json()["reason"] == "ok"


# --- stored passwords -----------------------------------------------------------------------------------------


def argon2_parameters(stored: str) -> dict[str, int]:
    """``$argon2id$v=19$m=65536,t=3,p=4$salt$hash`` -> {"v": 19, "m": 65536, "t": 3, "p": 4}."""
    _empty, kind, version, params, salt, digest = stored.split("$")
    assert kind == "argon2id"
    assert salt
    assert digest
    return {k: int(v) for k, v in (item.split("=") for item in [version, *params.split(",")])}


def test_a_password_set_on_the_account_page_is_stored_as_argon2id(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.PARTNER_OWNER)
    other = make_user(Role.PARTNER_OWNER)
    new = "a brand new passphrase for the till"
    for person in (user, other):
        csrf = sign_in_as(client, person)
        response = client.post(
            "/account/password",
            data={"current_password": PASSWORD, "new_password": new, "password_confirm": new, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert response.status_code == 303, response.text
    stored = [user_row(db, person).password_hash for person in (user, other)]
    assert all(s is not None and s.startswith("$argon2id$v=19$") for s in stored)
    assert new not in str(stored)
    # Salted: the same password gives two different hashes.
    assert stored[0] != stored[1]
    params = argon2_parameters(str(stored[0]))
    # At least OWASP's minimum for argon2id (19 MiB, 2 passes); the library's defaults are above it.
    assert params["m"] >= 19 * 1024
    assert params["t"] >= 2
    assert params["p"] >= 1
    assert sign_in(client, user.email, new).status_code == 303
