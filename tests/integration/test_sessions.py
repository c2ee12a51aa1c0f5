"""Sessions: a new id at sign-in, signing out here and everywhere, idle and lifetime expiry, cookie flags."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.settings import Settings
from tests.conftest import csrf_from
from tests.integration.test_login import COOKIE, Factory, count, custom_client, is_signed_in, sign_in
from tests.integration.test_login_family import ask_for_link, confirm, emails, link_path

Client = TestClient[Litestar]
ENDED = "Your session has ended"


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the sessions' wall clock forward by some seconds from now."""
    real = time.time

    def advance(seconds: float) -> None:
        monkeypatch.setattr("familienkarte.accounts.sessions.time.time", lambda: real() + seconds)

    return advance


def with_cookie(client: Client, value: str, path: str = "/account") -> Any:
    """A request carrying only the given session cookie, as another browser holding it would send."""
    client.cookies.clear()
    return client.get(path, headers={"Cookie": f"{COOKIE}={value}"}, follow_redirects=False)


def set_cookie_headers(response: Any) -> list[str]:
    return list(response.headers.get_list("set-cookie"))


def test_sign_in_gives_a_new_session_id(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    client.get("/login")
    before = client.cookies.get(COOKIE)
    assert before
    assert sign_in(client, user.email).status_code == 303
    after = client.cookies.get(COOKIE)
    assert after
    assert after != before
    # The id known before the sign-in (perhaps planted by someone else) does not carry it.
    assert with_cookie(client, before).status_code == 303
    assert with_cookie(client, after).status_code == 200


def test_sign_out_ends_the_session(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    signed_in_id = client.cookies.get(COOKIE)
    assert signed_in_id
    page = client.get("/account")
    response = client.post("/logout", data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert response.status_code == 303
    assert "You are signed out." in client.get(response.headers["location"]).text
    assert not is_signed_in(client)
    assert with_cookie(client, signed_in_id).status_code == 303
    assert count(db, AuditEntry, AuditEntry.action == "account.signed_out", AuditEntry.actor_user_id == user.id) == 1


def test_sign_out_everywhere_ends_other_sessions(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.PARTNER_OWNER)
    sign_in(client, user.email)
    phone = client.cookies.get(COOKIE)
    assert phone
    client.cookies.clear()
    sign_in(client, user.email)
    page = client.get("/account")
    assert "Sign out on all devices" in page.text
    response = client.post("/account/sign-out-everywhere", data={"csrf_token": csrf_from(page.text)})
    assert response.status_code == 200
    assert "You have been signed out on all devices" in response.text
    assert not is_signed_in(client)
    assert with_cookie(client, phone).status_code == 303
    assert count(db, AuditEntry, AuditEntry.action == "account.signed_out_everywhere") == 1


def test_idle_session_expires(settings: Settings, make_user: Any, clock: Callable[[float], None]) -> None:
    user = make_user(Role.ANALYST)
    with custom_client(settings, session_idle_minutes=1) as client:
        sign_in(client, user.email)
        clock(50)
        assert is_signed_in(client)
        clock(50 + 61)
        page = client.get("/login")
        assert ENDED in page.text
        assert not is_signed_in(client)
        response = client.get("/staff/", follow_redirects=False)
        assert response.headers["location"] == "/login?next=/staff"


def test_expired_session_on_a_protected_page_says_why_after_the_redirect(
    settings: Settings, make_user: Any, clock: Callable[[float], None]
) -> None:
    user = make_user(Role.ANALYST)
    with custom_client(settings, session_idle_minutes=1) as client:
        sign_in(client, user.email)
        clock(61)
        page = client.get("/staff/")
        assert page.url.path == "/login"
        assert ENDED in page.text


def test_an_active_session_ends_after_its_lifetime(
    settings: Settings, make_user: Any, clock: Callable[[float], None]
) -> None:
    user = make_user(Role.ADMIN)
    with custom_client(settings, session_idle_minutes=30, session_max_hours=1) as client:
        sign_in(client, user.email)
        for minutes in (25, 50):
            clock(minutes * 60)
            assert is_signed_in(client), minutes
        clock(61 * 60)
        assert ENDED in client.get("/login").text
        assert not is_signed_in(client)


def test_session_cookie_flags(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    response = sign_in(client, user.email)
    [cookie] = [c for c in set_cookie_headers(response) if c.startswith(f"{COOKIE}=")]
    parts = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "secure", "samesite", "path"} <= parts
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    # __Host- cookies carry no Domain.
    assert "domain" not in parts


def test_demo_mode_cookie_has_plain_name_and_no_secure_flag(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    with custom_client(settings, env="demo") as client:
        response = sign_in(client, user.email)
        cookies = set_cookie_headers(response)
        [cookie] = [c for c in cookies if c.startswith("fk_session=")]
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie
        assert not any(c.startswith("__Host-") for c in cookies)
        assert is_signed_in(client)


def test_the_family_link_sign_in_gives_a_new_session_id_too(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    assert ask_for_link(client, family.email).status_code == 303
    path = link_path(emails(db)[-1])
    before = client.cookies.get(COOKIE)
    assert before
    assert confirm(client, path).status_code == 303
    after = client.cookies.get(COOKIE)
    assert after
    assert after != before
    assert with_cookie(client, before).status_code == 303
    assert with_cookie(client, after).status_code == 200


def test_session_ids_are_long_and_random(client: Client, make_user: Any) -> None:
    user = make_user(Role.ANALYST)
    seen = set()
    for _ in range(3):
        client.cookies.clear()
        sign_in(client, user.email)
        value = client.cookies.get(COOKIE)
        assert value
        # At least 256 bits: 43 URL-safe base64 characters.
        assert len(value) >= 43
        seen.add(value)
    assert len(seen) == 3


def test_the_old_sessions_csrf_token_is_worthless_after_sign_out(client: Client, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    token = csrf_from(client.get("/account").text)
    assert client.post("/logout", data={"csrf_token": token}, follow_redirects=False).status_code == 303
    sign_in(client, user.email)
    response = client.post("/account/sign-out-everywhere", data={"csrf_token": token})
    assert response.status_code == 403
    assert is_signed_in(client)
