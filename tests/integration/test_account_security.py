"""A user's own account: changing the password, choosing one with an e-mailed link, forgetting it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from familienkarte.accounts.models import LoginLink
from familienkarte.accounts.passwords import verify_password
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.mail.models import Email
from familienkarte.settings import Settings
from tests.conftest import BASE_URL, PASSWORD, csrf_from
from tests.integration.test_login import COOKIE, Factory, count, custom_client, is_signed_in, sign_in, user_row

Client = TestClient[Litestar]
NEW_PASSWORD = "another long password for me"
RESET_LINK = re.compile(re.escape(BASE_URL) + r"(/password/set/[A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def change_password(client: Client, current: str, new: str, confirm: str | None = None) -> Any:
    page = client.get("/account/password")
    assert page.status_code == 200, page.text
    data = {
        "current_password": current,
        "new_password": new,
        "password_confirm": new if confirm is None else confirm,
        "csrf_token": csrf_from(page.text),
    }
    return client.post("/account/password", data=data, follow_redirects=False)


def reset_links(db: Factory) -> list[str]:
    with db() as session:
        bodies = session.scalars(select(Email.body_text).order_by(Email.created_at))
        return [m.group(1) for body in bodies if (m := RESET_LINK.search(body))]


def ask_for_reset(client: Client, email: str) -> Any:
    page = client.get("/password/forgot")
    return client.post(
        "/password/forgot", data={"email": email, "csrf_token": csrf_from(page.text)}, follow_redirects=False
    )


# --- changing the password ----------------------------------------------------------------------------------


def test_change_password_keeps_this_session_and_ends_the_others(client: Client, db: Factory, make_user: Any) -> None:
    user = make_user(Role.PARTNER_OWNER)
    sign_in(client, user.email)
    other_device = client.cookies.get(COOKIE)
    client.cookies.clear()
    sign_in(client, user.email)
    response = change_password(client, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 303
    assert "Your password has been changed." in client.get("/account").text
    assert is_signed_in(client)
    assert verify_password(user_row(db, user).password_hash, NEW_PASSWORD)
    assert count(db, AuditEntry, AuditEntry.action == "account.password_changed") == 1
    client.cookies.clear()
    other = client.get("/account", headers={"Cookie": f"{COOKIE}={other_device}"}, follow_redirects=False)
    assert other.status_code == 303
    assert sign_in(client, user.email, PASSWORD).status_code == 422
    assert sign_in(client, user.email, NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(
    ("current", "new", "confirm", "field", "message"),
    [
        ("wrong current password", NEW_PASSWORD, None, "current_password", "This is not your current password."),
        ("", NEW_PASSWORD, None, "current_password", "This is not your current password."),
        (PASSWORD, "too short", None, "new_password", "at least 12 characters"),
        (PASSWORD, "x" * 257, None, "new_password", "at most 256 characters"),
        (PASSWORD, " " * 12, None, "new_password", "cannot consist of spaces only"),
        (PASSWORD, "Me.Myself@Example.org", None, "new_password", "must not be your e-mail address"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "!", "password_confirm", "The two passwords are not the same."),
    ],
)
def test_bad_password_change_is_marked_and_nothing_changes(
    client: Client,
    db: Factory,
    make_user: Any,
    current: str,
    new: str,
    confirm: str | None,
    field: str,
    message: str,
) -> None:
    user = make_user(Role.CASEWORKER, email="me.myself@example.org")
    sign_in(client, user.email)
    before = user_row(db, user)
    response = change_password(client, current, new, confirm)
    assert response.status_code == 422
    assert f'id="error-{field}"' in response.text
    assert message in response.text
    # Passwords are never sent back.
    assert 'value="' + new not in response.text
    after = user_row(db, user)
    assert (after.password_hash, after.session_epoch) == (before.password_hash, before.session_epoch)
    assert count(db, AuditEntry, AuditEntry.action == "account.password_changed") == 0
    assert is_signed_in(client)


def test_guessing_the_current_password_is_limited(settings: Settings, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    with custom_client(settings, login_max_attempts=2) as client:
        sign_in(client, user.email)
        for _ in range(2):
            assert change_password(client, "a wrong guess!", NEW_PASSWORD).status_code == 422
        limited = change_password(client, PASSWORD, NEW_PASSWORD)
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text


def test_families_have_no_password_to_change(client: Client, make_user: Any) -> None:
    from tests.helpers import sign_in_as

    sign_in_as(client, make_user(Role.FAMILY))
    assert client.get("/account").status_code == 200
    assert 'href="/account/password"' not in client.get("/account").text
    assert client.get("/account/password").status_code == 403


# --- forgotten password -------------------------------------------------------------------------------------


def test_forgotten_password_link_for_known_staff_only(client: Client, db: Factory, make_user: Any) -> None:
    staff = make_user(Role.ANALYST)
    family = make_user(Role.FAMILY)
    inactive = make_user(Role.CASEWORKER, is_active=False)
    for address in ("nobody@example.org", family.email, inactive.email, staff.email):
        response = ask_for_reset(client, address)
        assert response.status_code == 303
        assert response.headers["location"] == "/password/forgot/sent"
    assert "If this address belongs to an account" in client.get("/password/forgot/sent").text
    with db() as session:
        assert list(session.scalars(select(Email.to_address))) == [staff.email]
    [link] = reset_links(db)
    page = client.get(link)
    client.post(
        link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    assert sign_in(client, staff.email, NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize("address", ["", "not an address"])
def test_bad_address_for_a_reset_is_marked(client: Client, db: Factory, address: str) -> None:
    response = ask_for_reset(client, address)
    assert response.status_code == 422
    assert 'id="error-email"' in response.text
    assert count(db, Email) == 0


@pytest.mark.parametrize(
    ("password", "confirm", "field", "message"),
    [
        ("short", "short", "password", "at least 12 characters"),
        (NEW_PASSWORD, "something else entirely", "password_confirm", "The two passwords are not the same."),
    ],
)
def test_bad_new_password_keeps_the_link_usable(
    client: Client, db: Factory, make_user: Any, password: str, confirm: str, field: str, message: str
) -> None:
    staff = make_user(Role.CASHIER)
    ask_for_reset(client, staff.email)
    [link] = reset_links(db)
    page = client.get(link)
    response = client.post(
        link, data={"password": password, "password_confirm": confirm, "csrf_token": csrf_from(page.text)}
    )
    assert response.status_code == 422
    assert f'id="error-{field}"' in response.text
    assert message in response.text
    assert verify_password(user_row(db, staff).password_hash, PASSWORD)
    with db() as session:
        assert session.scalar(select(LoginLink.used_at)) is None
    assert client.get(link).status_code == 200


def test_setting_a_password_ends_existing_sessions(client: Client, db: Factory, make_user: Any) -> None:
    staff = make_user(Role.ADMIN)
    sign_in(client, staff.email)
    session_id = client.cookies.get(COOKIE)
    client.cookies.clear()
    ask_for_reset(client, staff.email)
    [link] = reset_links(db)
    page = client.get(link)
    client.post(
        link, data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_from(page.text)}
    )
    client.cookies.clear()
    response = client.get("/account", headers={"Cookie": f"{COOKIE}={session_id}"}, follow_redirects=False)
    assert response.status_code == 303
    assert count(db, AuditEntry, AuditEntry.action == "account.password_set") == 1


def test_links_of_one_kind_do_not_work_as_the_other(client: Client, db: Factory, make_user: Any) -> None:
    staff = make_user(Role.CASEWORKER)
    ask_for_reset(client, staff.email)
    [link] = reset_links(db)
    token = link.rsplit("/", 1)[1]
    page = client.get(f"/login/family/{token}")
    assert page.status_code == 409
    assert "This link is not valid." in page.text
    assert not is_signed_in(client)
