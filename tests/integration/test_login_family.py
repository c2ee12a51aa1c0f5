"""Families sign in with a one-time link sent by e-mail: no probing of addresses, single use, expiry."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, update

from familienkarte.accounts.models import LoginLink
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.settings import Settings
from tests.conftest import BASE_URL, csrf_from
from tests.integration.test_login import Factory, count, custom_client, is_signed_in, user_row

Client = TestClient[Litestar]

SENT = "If this address belongs to a family card account, we have sent a sign-in link to it."
LINK = re.compile(re.escape(BASE_URL) + r"/login/family/([A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def ask_for_link(client: Client, email: str) -> Any:
    page = client.get("/login/family")
    return client.post(
        "/login/family", data={"email": email, "csrf_token": csrf_from(page.text)}, follow_redirects=False
    )


def emails(db: Factory) -> list[Email]:
    with db() as session:
        return list(session.scalars(select(Email).order_by(Email.created_at)))


def link_path(email: Email) -> str:
    match = LINK.search(email.body_text)
    assert match, email.body_text
    return f"/login/family/{match.group(1)}"


def confirm(client: Client, path: str) -> Any:
    page = client.get(path)
    return client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)


def test_unknown_address_gets_the_same_answer_and_no_mail(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    staff = make_user(Role.CASEWORKER)
    answers = []
    for address in ("nobody@example.org", staff.email, family.email):
        response = ask_for_link(client, address)
        assert response.status_code == 303
        answers.append(response.headers["location"])
    assert answers == ["/login/family/sent"] * 3
    page = client.get("/login/family/sent")
    assert SENT in page.text
    assert "20 minutes" in page.text
    # Only the family's address got an e-mail; the staff address is not for links.
    assert [e.to_address for e in emails(db)] == [family.email]


def test_known_address_gets_one_link_that_works_once(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY, email="eltern@example.org")
    ask_for_link(client, "  Eltern@Example.org ")
    [mail] = emails(db)
    assert mail.to_address == "eltern@example.org"
    assert "sign-in link" in mail.subject
    path = link_path(mail)
    # The database keeps a hash only.
    with db() as session:
        stored = session.scalar(select(LoginLink.token_hash))
    assert stored is not None
    assert path.rsplit("/", 1)[1] not in stored

    response = confirm(client, path)
    assert response.status_code == 303
    assert response.headers["location"] == "/card"
    assert "You are signed in." in client.get("/card").text
    assert is_signed_in(client)
    assert user_row(db, family).email_confirmed_at is not None
    assert count(db, AuditEntry, AuditEntry.action == "account.signed_in") == 1

    client.cookies.clear()
    again = client.get(path)
    assert again.status_code == 409
    assert "This link has been used already." in again.text
    replay = client.post(path, data={"csrf_token": csrf_from(client.get("/login/family").text)})
    assert replay.status_code == 409
    assert not is_signed_in(client)


def test_opening_the_link_does_not_use_it(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    ask_for_link(client, family.email)
    path = link_path(emails(db)[0])
    # What a mail scanner does: fetch the link, maybe twice.
    for _ in range(2):
        page = client.get(path)
        assert page.status_code == 200
        assert "Sign in now" in page.text
    assert not is_signed_in(client)
    with db() as session:
        assert session.scalar(select(LoginLink.used_at)) is None
    assert confirm(client, path).status_code == 303
    assert is_signed_in(client)


def test_expired_link_is_refused(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    ask_for_link(client, family.email)
    path = link_path(emails(db)[0])
    with db() as session, session.begin():
        session.execute(update(LoginLink).values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    page = client.get(path)
    assert page.status_code == 409
    assert "This link has expired." in page.text
    assert 'href="/login/family"' in page.text
    response = client.post(path, data={"csrf_token": csrf_from(client.get("/login/family").text)})
    assert response.status_code == 409
    assert not is_signed_in(client)


def test_made_up_link_is_refused(client: Client) -> None:
    page = client.get("/login/family/not-a-real-token")
    assert page.status_code == 409
    assert "This link is not valid." in page.text


def test_deactivated_family_cannot_use_its_link(client: Client, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    ask_for_link(client, family.email)
    path = link_path(emails(db)[0])
    with db() as session, session.begin():
        row = session.get(type(family), family.id)
        assert row is not None
        row.is_active = False
    assert client.get(path).status_code == 409
    response = client.post(path, data={"csrf_token": csrf_from(client.get("/login/family").text)})
    assert response.status_code == 409
    assert not is_signed_in(client)


@pytest.mark.parametrize(
    ("address", "message"),
    [("", "Please enter your e-mail address."), ("not-an-address", "Please enter a valid e-mail address")],
)
def test_bad_address_is_marked_and_nothing_is_sent(
    client: Client, db: Factory, make_user: Any, address: str, message: str
) -> None:
    make_user(Role.FAMILY)
    response = ask_for_link(client, address)
    assert response.status_code == 422
    assert message in response.text
    assert 'id="error-email"' in response.text
    assert emails(db) == []
    assert count(db, LoginLink) == 0


def test_links_per_address_are_limited(settings: Settings, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    with custom_client(settings, login_max_attempts=2) as client:
        for _ in range(2):
            assert ask_for_link(client, family.email).status_code == 303
        limited = ask_for_link(client, family.email)
        assert limited.status_code == 429
        assert "Too many attempts" in limited.text
        # Unknown addresses are limited the same way, so the limit tells nothing either.
        for _ in range(2):
            ask_for_link(client, "nobody@example.org")
        assert ask_for_link(client, "nobody@example.org").status_code == 429
    assert len(emails(db)) == 2


def test_links_per_client_address_are_limited(settings: Settings, db: Factory, make_user: Any) -> None:
    family = make_user(Role.FAMILY)
    with custom_client(settings, login_max_attempts=1) as client:
        # Four requests per client address for each one per e-mail address.
        for index in range(4):
            assert ask_for_link(client, f"someone{index}@example.org").status_code == 303
        assert ask_for_link(client, family.email).status_code == 429
    assert emails(db) == []
