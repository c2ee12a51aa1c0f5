"""Two-step sign-in for staff: setting it up on /account/totp, signing in with a code, turning it off."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.accounts.totp import encrypt_secret
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.settings import Settings
from tests.conftest import csrf_from
from tests.integration.test_login import Factory, count, custom_client, is_signed_in, sign_in, user_row

Client = TestClient[Litestar]

WRONG_CODE = "This code is not correct or has been used already."


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


@pytest.fixture
def secret() -> str:
    return pyotp.random_base32()


def staff_with_totp(make_user: Any, settings: Settings, secret: str, role: Role = Role.ADMIN) -> User:
    user: User = make_user(role, totp_secret=encrypt_secret(settings.secret_key, secret), totp_enabled_at=utcnow())
    return user


def code(secret: str, steps_ahead: int = 0) -> str:
    """The code of the current time step, or of a later one (one ahead is still accepted: clocks drift)."""
    return str(pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead))


def other_code(secret: str) -> str:
    valid = {code(secret, offset) for offset in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in valid)


def send_code(client: Client, value: str) -> Any:
    page = client.get("/login/totp")
    assert page.status_code == 200, page.text
    return client.post("/login/totp", data={"code": value, "csrf_token": csrf_from(page.text)}, follow_redirects=False)


# --- signing in ---------------------------------------------------------------------------------------------


def test_sign_in_takes_password_then_code(
    client: Client, db: Factory, make_user: Any, settings: Settings, secret: str
) -> None:
    user = staff_with_totp(make_user, settings, secret, Role.CASEWORKER)
    first = sign_in(client, user.email)
    assert first.status_code == 303
    assert first.headers["location"] == "/login/totp"
    # Half-way is not signed in.
    assert not is_signed_in(client)
    assert count(db, AuditEntry) == 0
    page = client.get("/login/totp")
    assert 'autocomplete="one-time-code"' in page.text
    second = send_code(client, code(secret))
    assert second.status_code == 303
    assert second.headers["location"] == "/staff/"
    assert is_signed_in(client)
    assert count(db, AuditEntry, AuditEntry.action == "account.signed_in") == 1


def test_next_survives_the_second_step(client: Client, make_user: Any, settings: Settings, secret: str) -> None:
    user = staff_with_totp(make_user, settings, secret)
    sign_in(client, user.email, next_url="/staff/audit")
    assert send_code(client, code(secret)).headers["location"] == "/staff/audit"


def test_wrong_code_is_refused(client: Client, make_user: Any, settings: Settings, secret: str) -> None:
    user = staff_with_totp(make_user, settings, secret)
    sign_in(client, user.email)
    response = send_code(client, other_code(secret))
    assert response.status_code == 422
    assert WRONG_CODE in response.text
    assert 'id="error-code"' in response.text
    assert not is_signed_in(client)


def test_a_code_works_only_once(client: Client, make_user: Any, settings: Settings, secret: str) -> None:
    user = staff_with_totp(make_user, settings, secret)
    used = code(secret)
    sign_in(client, user.email)
    assert send_code(client, used).status_code == 303
    client.post("/logout", data={"csrf_token": csrf_from(client.get("/account").text)})
    assert not is_signed_in(client)
    sign_in(client, user.email)
    replayed = send_code(client, used)
    assert replayed.status_code == 422
    assert WRONG_CODE in replayed.text
    assert not is_signed_in(client)
    # The next code is fine.
    assert send_code(client, code(secret, 1)).status_code == 303


def test_the_code_step_cannot_be_skipped(client: Client, make_user: Any, settings: Settings, secret: str) -> None:
    user = staff_with_totp(make_user, settings, secret)
    assert client.get("/login/totp", follow_redirects=False).headers["location"] == "/login"
    page = client.get("/login")
    response = client.post("/login/totp", data={"code": code(secret), "csrf_token": csrf_from(page.text)})
    assert response.status_code == 409
    assert "Please start again" in response.text
    assert not is_signed_in(client)
    # Once the password step is done, the code is what completes it.
    sign_in(client, user.email)
    assert send_code(client, code(secret)).status_code == 303


def test_code_attempts_are_limited(settings: Settings, make_user: Any, secret: str) -> None:
    user = staff_with_totp(make_user, settings, secret)
    with custom_client(settings, login_max_attempts=2) as client:
        sign_in(client, user.email)
        for _ in range(2):
            assert send_code(client, other_code(secret)).status_code == 422
        limited = send_code(client, code(secret))
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        assert not is_signed_in(client)


def test_the_second_step_expires(
    client: Client, make_user: Any, settings: Settings, secret: str, monkeypatch: Any
) -> None:
    user = staff_with_totp(make_user, settings, secret)
    sign_in(client, user.email)
    page = client.get("/login/totp")
    later = time.time() + 301
    monkeypatch.setattr("familienkarte.accounts.services.time.time", lambda: later)
    response = client.post("/login/totp", data={"code": code(secret), "csrf_token": csrf_from(page.text)})
    assert response.status_code == 409
    assert "not completed in time" in response.text


# --- setting it up and turning it off -----------------------------------------------------------------------


def shown_secret(html: str) -> str:
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html)
    assert match, html
    return match.group(1).replace(" ", "")


def test_set_up_confirm_and_use(client: Client, db: Factory, make_user: Any, settings: Settings) -> None:
    user = make_user(Role.PARTNER_MANAGER)
    sign_in(client, user.email)
    page = client.get("/account/totp")
    assert "Two-step sign-in is off." in page.text
    client.post("/account/totp/setup", data={"csrf_token": csrf_from(page.text)})
    page = client.get("/account/totp")
    assert 'src="data:image/svg+xml;base64,' in page.text
    assert 'alt="QR code' in page.text
    secret = shown_secret(page.text)
    # Stored encrypted, and not on until confirmed.
    row = user_row(db, user)
    assert row.totp_secret is not None
    assert secret.encode() not in row.totp_secret
    assert row.totp_enabled_at is None

    wrong = client.post("/account/totp/confirm", data={"code": other_code(secret), "csrf_token": csrf_from(page.text)})
    assert wrong.status_code == 422
    assert WRONG_CODE in wrong.text
    assert user_row(db, user).totp_enabled_at is None

    done = client.post("/account/totp/confirm", data={"code": code(secret), "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200
    assert "Two-step sign-in is on." in done.text
    assert user_row(db, user).totp_enabled_at is not None
    assert count(db, AuditEntry, AuditEntry.action == "account.totp_enabled") == 1

    client.cookies.clear()
    assert sign_in(client, user.email).headers["location"] == "/login/totp"
    assert send_code(client, code(secret, 1)).status_code == 303


def test_turning_off_needs_a_current_code(
    client: Client, db: Factory, make_user: Any, settings: Settings, secret: str
) -> None:
    user = staff_with_totp(make_user, settings, secret)
    sign_in(client, user.email)
    send_code(client, code(secret))
    page = client.get("/account/totp")
    assert "Turn off" in page.text
    refused = client.post(
        "/account/totp/disable", data={"code": other_code(secret), "csrf_token": csrf_from(page.text)}
    )
    assert refused.status_code == 422
    assert 'id="error-code"' in refused.text
    assert user_row(db, user).totp_enabled_at is not None
    done = client.post("/account/totp/disable", data={"code": code(secret, 1), "csrf_token": csrf_from(page.text)})
    assert done.status_code == 200
    assert "Two-step sign-in is off." in done.text
    row = user_row(db, user)
    assert (row.totp_enabled_at, row.totp_secret) == (None, None)
    client.cookies.clear()
    assert sign_in(client, user.email).headers["location"] == "/staff/"


def test_a_secret_that_cannot_be_read_is_reported(
    client: Client, make_user: Any, settings: Settings, secret: str
) -> None:
    user = make_user(
        Role.ADMIN,
        totp_secret=encrypt_secret("another deployment's secret key, 32+ chars", secret),
        totp_enabled_at=utcnow(),
    )
    sign_in(client, user.email)
    response = send_code(client, code(secret))
    assert response.status_code == 409
    assert "ask an administrator to reset it" in response.text
    assert not is_signed_in(client)


def test_partner_users_have_no_two_step_page(client: Client, make_user: Any) -> None:
    user = make_user(Role.PARTNER_OWNER)
    sign_in(client, user.email)
    assert client.get("/account/totp").status_code == 403
