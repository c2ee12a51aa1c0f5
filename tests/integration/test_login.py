"""Password sign-in for staff and partner users: landing pages, refusals that tell nothing, rate limits.

The helpers at the top are shared by the other sign-in and account test modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import verify_password
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.settings import Settings
from tests.conftest import BASE_URL, PASSWORD, csrf_from

Client = TestClient[Litestar]
Factory = Callable[[], Session]

COOKIE = "__Host-fk_session"
GENERIC_FAILURE = "The e-mail address or the password is not correct."


@contextmanager
def custom_client(settings: Settings, **overrides: Any) -> Iterator[Client]:
    """A client of an app with changed settings (short limits, short sessions), reading English pages."""
    from familienkarte.app import create_app

    with TestClient(create_app(dataclasses.replace(settings, **overrides)), base_url=BASE_URL) as client:
        client.headers["Accept-Language"] = "en"
        yield client


def sign_in(client: Client, email: str, password: str = PASSWORD, next_url: str | None = None) -> httpx.Response:
    """Fill in and send the sign-in form; the response is not followed."""
    page = client.get("/login")
    data = {"email": email, "password": password, "csrf_token": csrf_from(page.text)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/login", data=data, follow_redirects=False)


def is_signed_in(client: Client) -> bool:
    response = client.get("/account", follow_redirects=False)
    assert response.status_code in (200, 303), response.text
    return response.status_code == 200


def count(db: Factory, model: Any, *where: Any) -> int:
    with db() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def user_row(db: Factory, user: User) -> User:
    with db() as session:
        found = session.get(User, user.id)
        assert found is not None
        return found


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


# --- success ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "landing"),
    [
        (Role.ADMIN, "/staff/"),
        (Role.CASEWORKER, "/staff/"),
        (Role.PARTNER_MANAGER, "/staff/"),
        (Role.ANALYST, "/staff/"),
        (Role.PARTNER_OWNER, "/partner/"),
        (Role.CASHIER, "/partner/"),
    ],
)
def test_each_role_signs_in_and_lands_on_its_area(client: Client, make_user: Any, role: Role, landing: str) -> None:
    user = make_user(role)
    response = sign_in(client, user.email)
    assert response.status_code == 303, response.text
    assert response.headers["location"] == landing
    account = client.get("/account")
    assert account.status_code == 200
    assert user.email in account.text


def test_staff_landing_page_greets_the_user(client: Client, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER, display_name="Clara Case")
    page = client.get(sign_in(client, user.email).headers["location"])
    assert page.status_code == 200
    assert "<h1>Staff area</h1>" in page.text
    assert "Clara Case" in page.text


def test_sign_in_ignores_case_and_spaces_in_the_address(client: Client, make_user: Any) -> None:
    make_user(Role.ANALYST, email="ana.lyst@example.org")
    assert sign_in(client, "  Ana.Lyst@Example.ORG ").status_code == 303
    assert is_signed_in(client)


def test_sign_in_records_the_time_and_an_audit_entry(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    assert user_row(db, user).last_login_at is None
    sign_in(client, user.email)
    assert user_row(db, user).last_login_at is not None
    assert count(db, AuditEntry, AuditEntry.action == "account.signed_in", AuditEntry.actor_user_id == user.id) == 1


def test_next_is_honoured_for_paths_on_this_site_only(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    assert sign_in(client, user.email, next_url="/staff/users").headers["location"] == "/staff/users"
    for outside in ("https://evil.example/", "//evil.example/x", "/\\evil.example", "/login"):
        assert sign_in(client, user.email, next_url=outside).headers["location"] == "/staff/"


def test_protected_page_sends_to_login_and_back(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    response = client.get("/staff/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/staff/users"
    page = client.get(response.headers["location"])
    assert 'name="next" value="/staff/users"' in page.text
    data = {"email": user.email, "password": PASSWORD, "next": "/staff/users", "csrf_token": csrf_from(page.text)}
    assert client.post("/login", data=data, follow_redirects=False).headers["location"] == "/staff/users"


# --- refusals -----------------------------------------------------------------------------------------------


def test_wrong_password_and_unknown_address_get_the_same_answer(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    wrong = sign_in(client, user.email, "not the password at all")
    unknown = sign_in(client, "nobody@example.org", PASSWORD)
    for response in (wrong, unknown):
        assert response.status_code == 422
        assert GENERIC_FAILURE in response.text
        assert 'role="alert"' in response.text
        # The password is never sent back into the page.
        assert "not the password at all" not in response.text
        assert PASSWORD not in response.text
    assert f'value="{user.email}"' in wrong.text
    assert not is_signed_in(client)
    assert count(db, AuditEntry) == 0
    assert user_row(db, user).last_login_at is None


def test_inactive_user_cannot_sign_in(client: Client, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER, is_active=False)
    response = sign_in(client, user.email)
    assert response.status_code == 422
    assert GENERIC_FAILURE in response.text
    assert not is_signed_in(client)


def test_family_has_no_password_sign_in(client: Client, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    response = sign_in(client, family.email, PASSWORD)
    assert response.status_code == 422
    assert GENERIC_FAILURE in response.text
    assert not is_signed_in(client)
    page = client.get("/login")
    assert 'href="/login/family"' in page.text


def test_empty_fields_are_marked(client: Client, db: Factory) -> None:
    page = client.get("/login")
    response = client.post("/login", data={"email": "", "password": "", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 422
    assert 'id="error-email"' in response.text
    assert 'id="error-password"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert count(db, AuditEntry) == 0


def test_old_password_hash_is_upgraded_on_sign_in(client: Client, db: Factory, make_user: Any) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    user = make_user(Role.PARTNER_OWNER)
    with db() as session, session.begin():
        row = session.get(User, user.id)
        assert row is not None
        row.password_hash = weak
    assert sign_in(client, user.email).status_code == 303
    upgraded = user_row(db, user).password_hash
    assert upgraded is not None
    assert upgraded != weak
    assert "m=8192" not in upgraded
    assert verify_password(upgraded, PASSWORD)


# --- rate limits --------------------------------------------------------------------------------------------


def test_failed_sign_ins_per_account_are_limited(settings: Settings, db: Factory, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    other = make_user(Role.ADMIN)
    with custom_client(settings, login_max_attempts=3, login_window_seconds=900) as client:
        for _ in range(3):
            assert sign_in(client, user.email, "wrong password!").status_code == 422
        limited = sign_in(client, user.email)  # the right password, but too late
        assert limited.status_code == 429
        assert "Too many attempts. Please wait 15 minutes and try again." in limited.text
        assert 'name="email"' in limited.text
        assert int(limited.headers["retry-after"]) > 0
        assert not is_signed_in(client)
        # Another account from the same address is not affected.
        assert sign_in(client, other.email).status_code == 303
    assert user_row(db, user).last_login_at is None


def test_failed_sign_ins_per_address_are_limited(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    with custom_client(settings, login_max_attempts=2) as client:
        # The address may fail four times as often as one account (2 x 4), spread over many accounts.
        for index in range(8):
            assert sign_in(client, f"guess{index}@example.org", "wrong password!").status_code == 422
        limited = sign_in(client, user.email)
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        assert not is_signed_in(client)


def test_success_resets_the_accounts_counter(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.ANALYST)
    with custom_client(settings, login_max_attempts=3) as client:
        for _ in range(2):
            assert sign_in(client, user.email, "wrong password!").status_code == 422
        assert sign_in(client, user.email).status_code == 303
        client.cookies.clear()
        for _ in range(2):
            assert sign_in(client, user.email, "wrong password!").status_code == 422
        # Without the reset this would be the fifth failure counted, over the limit of three.
        assert sign_in(client, user.email).status_code == 303
