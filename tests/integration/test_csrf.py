"""CSRF: a form sent without the session's token, or with another one, is refused and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.mail.models import Email
from tests.conftest import PASSWORD, csrf_from
from tests.integration.test_login import Factory, count, is_signed_in, sign_in, user_row

Client = TestClient[Litestar]
# A token of the right shape that belongs to no session.
FORGED = "A" * 43


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def assert_refused(response: Any) -> None:
    """Refused with the page's explanation (a sign-in form is shown again, with a fresh token)."""
    assert response.status_code == 403, response.text
    assert "This form has expired." in response.text


@pytest.mark.parametrize("token", [None, "", FORGED])
def test_sign_in_without_the_right_token_is_refused(
    client: Client, db: Factory, make_user: Any, token: str | None
) -> None:
    user = make_user(Role.ADMIN)
    client.get("/login")
    data = {"email": user.email, "password": PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    assert_refused(client.post("/login", data=data))
    assert not is_signed_in(client)
    assert user_row(db, user).last_login_at is None
    assert count(db, AuditEntry) == 0


def test_token_of_another_session_is_refused(client: Client, make_user: Any) -> None:
    user = make_user(Role.ADMIN)
    theirs = csrf_from(client.get("/login").text)
    client.cookies.clear()
    client.get("/login")
    assert_refused(client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": theirs}))
    assert not is_signed_in(client)


@pytest.mark.parametrize("token", [None, FORGED])
def test_sign_out_without_the_right_token_is_refused(client: Client, make_user: Any, token: str | None) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    data = {} if token is None else {"csrf_token": token}
    assert_refused(client.post("/logout", data=data))
    assert is_signed_in(client)


@pytest.mark.parametrize("token", [None, FORGED])
def test_creating_a_staff_account_without_the_right_token_is_refused(
    client: Client, db: Factory, make_user: Any, token: str | None
) -> None:
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email)
    client.get("/staff/users/new")
    users, audit = count(db, User), count(db, AuditEntry)
    data = {"email": "new.colleague@example.org", "display_name": "New Colleague", "role": "analyst"}
    if token is not None:
        data["csrf_token"] = token
    assert_refused(client.post("/staff/users/new", data=data))
    assert count(db, User) == users
    assert count(db, AuditEntry) == audit
    assert count(db, Email) == 0


@pytest.mark.parametrize("path", ["/login", "/logout", "/staff/users/new"])
def test_the_refusal_carries_the_code_csrf_failed(client: Client, db: Factory, make_user: Any, path: str) -> None:
    admin = make_user(Role.ADMIN)
    sign_in(client, admin.email)
    users = count(db, User)
    data = {"email": "x@example.org", "password": PASSWORD, "display_name": "X", "role": "analyst"}
    response = client.post(path, data={**data, "csrf_token": FORGED}, headers={"Accept": "application/json"})
    assert response.status_code == 403
    assert response.json()["code"] == "csrf_failed"
    assert is_signed_in(client)
    assert count(db, User) == users


def test_the_error_page_names_the_code(client: Client, make_user: Any) -> None:
    user = make_user(Role.CASEWORKER)
    sign_in(client, user.email)
    response = client.post("/logout", data={"csrf_token": FORGED})
    assert_refused(response)
    assert "<code>csrf_failed</code>" in response.text
