"""The staff area: its start page per role, staff accounts and the audit log (administrators only)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select

from familienkarte.accounts.models import LoginLink, User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry
from familienkarte.mail.models import Email
from tests.conftest import BASE_URL, csrf_from
from tests.helpers import sign_in_as
from tests.integration.test_login import Factory, count, is_signed_in, sign_in, user_row

Client = TestClient[Litestar]
SET_PASSWORD_LINK = re.compile(re.escape(BASE_URL) + r"(/password/set/[A-Za-z0-9_-]+)")
NEW_PASSWORD = "a new and long enough password"
LAST_ADMIN = "This is the last active administrator account."


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def post_form(client: Client, path: str, page_path: str, **fields: str) -> Any:
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(path, data={**fields, "csrf_token": csrf_from(page.text)}, follow_redirects=False)


def sent_links(db: Factory, to: str) -> list[str]:
    with db() as session:
        bodies = session.scalars(select(Email.body_text).where(Email.to_address == to).order_by(Email.created_at))
        return [m.group(1) for body in bodies if (m := SET_PASSWORD_LINK.search(body))]


# --- who may use what ---------------------------------------------------------------------------------------

ADMIN_PAGES = ["/staff/users", "/staff/users/new", "/staff/audit"]
ADMIN_ACTIONS = ["deactivate", "activate", "role", "password-link", "reset-totp"]


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.PARTNER_MANAGER, Role.ANALYST, Role.PARTNER_OWNER, Role.FAMILY])
def test_admin_pages_refuse_other_roles(client: Client, db: Factory, make_user: Any, role: Role) -> None:
    target = make_user(Role.CASEWORKER)
    csrf = sign_in_as(client, make_user(role))
    for path in [*ADMIN_PAGES, f"/staff/users/{target.id}"]:
        assert client.get(path).status_code == 403, path
    for action in ADMIN_ACTIONS:
        response = client.post(f"/staff/users/{target.id}/{action}", data={"csrf_token": csrf, "role": "admin"})
        assert response.status_code == 403, action
    response = client.post(
        "/staff/users/new",
        data={"csrf_token": csrf, "email": "x@example.org", "display_name": "X", "role": "admin"},
    )
    assert response.status_code == 403
    assert user_row(db, target).role == "caseworker"
    assert count(db, User, User.email == "x@example.org") == 0


def test_admin_pages_send_anonymous_visitors_to_sign_in(client: Client, make_user: Any) -> None:
    target = make_user(Role.CASEWORKER)
    for path in [*ADMIN_PAGES, f"/staff/users/{target.id}", "/staff/"]:
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=/staff"), path


@pytest.mark.parametrize(
    ("role", "shown", "hidden"),
    [
        (Role.ADMIN, ["/staff/users", "/staff/audit", "/staff/statistics"], ["/staff/applications"]),
        (Role.CASEWORKER, ["/staff/applications"], ["/staff/users", "/staff/audit", "/staff/statistics"]),
        (Role.PARTNER_MANAGER, ["/staff/partners"], ["/staff/users", "/staff/applications"]),
        (Role.ANALYST, ["/staff/statistics"], ["/staff/users", "/staff/partners"]),
    ],
)
def test_staff_start_page_lists_the_roles_areas(
    client: Client, make_user: Any, role: Role, shown: list[str], hidden: list[str]
) -> None:
    sign_in_as(client, make_user(role))
    page = client.get("/staff/")
    assert page.status_code == 200
    for path in shown:
        assert f'href="{path}"' in page.text, path
    for path in hidden:
        assert f'href="{path}"' not in page.text, path


@pytest.mark.parametrize("role", [Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_staff_start_page_refuses_everyone_else(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get("/staff/").status_code == 403


# --- staff accounts -----------------------------------------------------------------------------------------


def test_list_shows_staff_only(client: Client, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    colleague = make_user(Role.ANALYST, display_name="Anna Analyst", is_active=False)
    owner = make_user(Role.PARTNER_OWNER)
    sign_in_as(client, admin)
    page = client.get("/staff/users")
    assert colleague.email in page.text
    assert "Anna Analyst" in page.text
    assert "deactivated" in page.text
    assert owner.email not in page.text


def test_new_colleague_gets_a_link_and_can_sign_in(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    sign_in_as(client, admin)
    response = post_form(
        client,
        "/staff/users/new",
        "/staff/users/new",
        email=" New.Colleague@Example.org",
        display_name="New Colleague",
        role="partner_manager",
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/staff/users"
    listing = client.get("/staff/users")
    assert "The account has been created." in listing.text
    assert "new.colleague@example.org" in listing.text
    with db() as session:
        created = session.scalar(select(User).where(User.email == "new.colleague@example.org"))
    assert created is not None
    assert (created.role, created.display_name, created.password_hash) == ("partner_manager", "New Colleague", None)
    assert count(db, AuditEntry, AuditEntry.action == "staff_user.created", AuditEntry.actor_user_id == admin.id) == 1
    [link] = sent_links(db, created.email)

    client.cookies.clear()
    page = client.get(link)
    assert page.status_code == 200
    assert created.email in page.text
    done = client.post(
        link,
        data={"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD, "csrf_token": csrf_from(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    assert "Your password is set." in client.get("/login").text
    assert sign_in(client, created.email, NEW_PASSWORD).headers["location"] == "/staff/"
    # The link worked once.
    client.cookies.clear()
    assert "This link has been used already." in client.get(link).text


@pytest.mark.parametrize(
    ("field", "fields", "message"),
    [
        ("email", {"email": ""}, "Please enter your e-mail address."),
        ("email", {"email": "no-at-sign"}, "Please enter a valid e-mail address"),
        ("email", {"email": "taken@example.org"}, "An account with this e-mail address exists already."),
        ("display_name", {"display_name": "   "}, "Please enter the name shown to colleagues."),
        ("display_name", {"display_name": "x" * 201}, "Please use at most 200 characters."),
        ("role", {"role": "family"}, "Please choose one of the listed roles."),
        ("role", {"role": "cashier"}, "Please choose one of the listed roles."),
        ("role", {"role": "superuser"}, "Please choose one of the listed roles."),
    ],
)
def test_bad_new_account_is_marked_and_nothing_is_stored(
    client: Client, db: Factory, make_user: Any, field: str, fields: dict[str, str], message: str
) -> None:
    make_user(Role.CASEWORKER, email="taken@example.org")
    sign_in_as(client, make_user(Role.ADMIN))
    before = (count(db, User), count(db, Email), count(db, LoginLink), count(db, AuditEntry))
    form = {"email": "fresh@example.org", "display_name": "Fresh", "role": "analyst", **fields}
    response = post_form(client, "/staff/users/new", "/staff/users/new", **form)
    assert response.status_code == 422
    assert f'id="error-{field}"' in response.text
    assert message in response.text
    assert f'href="#field-{field}"' in response.text
    # What was typed is kept, so only the marked field needs fixing.
    if field != "display_name":
        assert 'value="Fresh"' in response.text
    assert (count(db, User), count(db, Email), count(db, LoginLink), count(db, AuditEntry)) == before


def test_deactivation_ends_the_colleagues_sessions(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    colleague = make_user(Role.CASEWORKER)
    sign_in(client, colleague.email)
    their_cookie = dict(client.cookies)
    client.cookies.clear()
    sign_in_as(client, admin)
    response = post_form(client, f"/staff/users/{colleague.id}/deactivate", f"/staff/users/{colleague.id}")
    assert response.status_code == 303
    assert "The account has been deactivated" in client.get(response.headers["location"]).text
    assert user_row(db, colleague).is_active is False
    assert count(db, AuditEntry, AuditEntry.action == "staff_user.deactivated") == 1
    client.cookies.clear()
    for name, value in their_cookie.items():
        client.cookies.set(name, value, domain="testserver.local")
    assert not is_signed_in(client)
    assert sign_in(client, colleague.email).status_code == 422

    client.cookies.clear()
    sign_in_as(client, admin)
    post_form(client, f"/staff/users/{colleague.id}/activate", f"/staff/users/{colleague.id}")
    assert user_row(db, colleague).is_active is True
    client.cookies.clear()
    assert sign_in(client, colleague.email).status_code == 303


def test_the_last_admin_cannot_remove_themselves(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    make_user(Role.ADMIN, is_active=False)
    sign_in_as(client, admin)
    audit_before = count(db, AuditEntry)
    page = f"/staff/users/{admin.id}"
    refused = post_form(client, f"{page}/deactivate", page)
    assert refused.status_code == 409
    assert LAST_ADMIN in refused.text
    demoted = post_form(client, f"{page}/role", page, role="analyst")
    assert demoted.status_code == 409
    assert LAST_ADMIN in demoted.text
    row = user_row(db, admin)
    assert (row.is_active, row.role) == (True, "admin")
    assert count(db, AuditEntry) == audit_before


def test_with_another_admin_roles_can_change(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    other = make_user(Role.ADMIN)
    sign_in_as(client, admin)
    response = post_form(client, f"/staff/users/{other.id}/role", f"/staff/users/{other.id}", role="analyst")
    assert response.status_code == 303
    assert "The role has been changed." in client.get(response.headers["location"]).text
    assert user_row(db, other).role == "analyst"
    with db() as session:
        entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "staff_user.role_changed"))
    assert entry is not None
    assert entry.details == {"old_role": "admin", "new_role": "analyst"}
    assert entry.object_id == str(other.id)
    # Now this admin is the last one.
    refused = post_form(client, f"/staff/users/{admin.id}/role", f"/staff/users/{admin.id}", role="caseworker")
    assert refused.status_code == 409


@pytest.mark.parametrize("role", ["", "family", "partner_owner", "root"])
def test_bad_role_is_marked_and_nothing_changes(client: Client, db: Factory, make_user: Any, role: str) -> None:
    colleague = make_user(Role.ANALYST)
    sign_in_as(client, make_user(Role.ADMIN))
    audit_before = count(db, AuditEntry)
    page = f"/staff/users/{colleague.id}"
    response = post_form(client, f"{page}/role", page, role=role)
    assert response.status_code == 422
    assert 'id="error-role"' in response.text
    assert "Please choose one of the listed roles." in response.text
    assert user_row(db, colleague).role == "analyst"
    assert count(db, AuditEntry) == audit_before


def test_only_staff_accounts_are_managed_here(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    sign_in_as(client, make_user(Role.ADMIN))
    assert client.get(f"/staff/users/{owner.id}").status_code == 404
    assert client.get(f"/staff/users/{uuid.uuid4()}").status_code == 404
    response = post_form(client, f"/staff/users/{owner.id}/deactivate", "/staff/users")
    assert response.status_code == 404
    assert user_row(db, owner).is_active is True


def test_a_new_password_link_replaces_the_old_one(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    sign_in_as(client, admin)
    post_form(
        client, "/staff/users/new", "/staff/users/new", email="late@example.org", display_name="Late", role="analyst"
    )
    with db() as session:
        late = session.scalar(select(User).where(User.email == "late@example.org"))
    assert late is not None
    response = post_form(client, f"/staff/users/{late.id}/password-link", f"/staff/users/{late.id}")
    assert response.status_code == 303
    first, second = sent_links(db, "late@example.org")
    client.cookies.clear()
    assert "This link has expired." in client.get(first).text
    assert client.get(second).status_code == 200
    assert count(db, AuditEntry, AuditEntry.action == "staff_user.password_link_sent") == 1


def test_resetting_two_step_sign_in(client: Client, db: Factory, make_user: Any, settings: Any) -> None:
    from familienkarte.accounts.totp import encrypt_secret, new_secret
    from familienkarte.db import utcnow

    colleague = make_user(
        Role.CASEWORKER, totp_secret=encrypt_secret(settings.secret_key, new_secret()), totp_enabled_at=utcnow()
    )
    sign_in_as(client, make_user(Role.ADMIN))
    page = client.get(f"/staff/users/{colleague.id}")
    assert "Turn off two-step sign-in" in page.text
    post_form(client, f"/staff/users/{colleague.id}/reset-totp", f"/staff/users/{colleague.id}")
    row = user_row(db, colleague)
    assert (row.totp_enabled_at, row.totp_secret) == (None, None)
    client.cookies.clear()
    assert sign_in(client, colleague.email).headers["location"] == "/staff/"


# --- the audit log ------------------------------------------------------------------------------------------


def test_audit_log_is_paged_and_filtered(client: Client, db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN, email="boss@example.org")
    actor = Principal(role=Role.ADMIN, user_id=admin.id)
    with db() as session, session.begin():
        for index in range(55):
            audit.record(session, actor, "test.first" if index < 52 else "test.other", "thing", index)
    sign_in_as(client, admin)
    first = client.get("/staff/audit")
    assert first.status_code == 200
    assert "55 entries" in first.text
    assert "Page 1 of 2" in first.text
    assert first.text.count("<tr>") == 51  # the header and 50 rows
    assert "boss@example.org" in first.text
    assert 'href="/staff/audit?page=2"' in first.text
    second = client.get("/staff/audit?page=2")
    assert second.text.count("<tr>") == 6
    filtered = client.get("/staff/audit?action=test.other")
    assert "3 entries" in filtered.text
    assert "test.first" not in filtered.text
    assert client.get("/staff/audit?page=0").status_code == 400
