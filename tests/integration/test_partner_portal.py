"""The partner portal's start page and API key pages, and the staff pages for partners and their keys."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.partners.models import Location, Partner
from tests.conftest import csrf_from
from tests.helpers import bearer, sign_in_as, sign_out

Factory = Callable[[], Session]
Client = TestClient[Litestar]
TOKEN = re.compile(r'value="(fk_[0-9a-f]{12}_[^"]+)"')
ONCE = "Copy the key now. It will not be shown again."


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def key_rows(db: Factory) -> list[ApiKey]:
    with db() as s:
        return list(s.scalars(select(ApiKey)))


def locations_of(db: Factory, partner_id: uuid.UUID | None) -> list[uuid.UUID]:
    with db() as s:
        return list(s.scalars(select(Location.id).where(Location.partner_id == partner_id).order_by(Location.name)))


def token_on(page: str) -> str:
    found = TOKEN.search(page)
    assert found, "no token on the page"
    return html.unescape(found.group(1))


def create_on_page(client: Client, path: str, **fields: str) -> Any:
    form_page = client.get(path)
    assert form_page.status_code == 200
    return client.post(path, data={"csrf_token": csrf_from(form_page.text), **fields})


class _Attributes(HTMLParser):
    def __init__(self, element_id: str) -> None:
        super().__init__()
        self.element_id = element_id
        self.found: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if dict(attrs).get("id") == self.element_id:
            self.found = dict(attrs)


def attributes(page: str, element_id: str) -> dict[str, str | None]:
    """The attributes of an element as a browser reads them."""
    parser = _Attributes(element_id)
    parser.feed(page)
    assert parser.found is not None, f"no element #{element_id}"
    return parser.found


def owner_of(make_user: Any, make_partner: Any, name: str = "Zoo Köln", locations: int = 2) -> User:
    user: User = make_user(Role.PARTNER_OWNER, partner=make_partner(name, locations=locations))
    return user


# --- start page ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.PARTNER_OWNER, Role.CASHIER])
def test_start_page_names_the_partner(client: Client, make_user: Any, make_partner: Any, role: Role) -> None:
    user = make_user(role, partner=make_partner("Theater am Dom", status="pending"))
    sign_in_as(client, user)
    page = client.get("/partner/")
    assert page.status_code == 200
    assert "<h1>Theater am Dom</h1>" in page.text
    assert "Waiting for approval" in page.text
    assert ('href="/partner/keys"' in page.text) is (role == Role.PARTNER_OWNER)


@pytest.mark.parametrize("role", [Role.FAMILY, Role.ADMIN, Role.CASEWORKER, Role.ANALYST])
def test_start_page_is_for_partner_users_only(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get("/partner/").status_code == 403


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get("/partner/keys", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/partner/keys"


# --- the owner's key pages ----------------------------------------------------------------------------------------


def test_owner_creates_a_key_and_sees_it_once(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    sign_in_as(client, owner)
    location = locations_of(db, owner.partner_id)[1]

    created = create_on_page(client, "/partner/keys", name="Till 2", location_id=str(location))

    assert created.status_code == 200
    assert ONCE in created.text
    token = token_on(created.text)
    assert "Zoo Köln 2" in created.text
    me = client.get("/api/v1/me", headers=bearer(token)).json()
    assert (me["partner_id"], me["location_id"]) == (str(owner.partner_id), str(location))

    listing = client.get("/partner/keys")
    assert "Till 2" in listing.text
    assert token not in listing.text
    assert ONCE not in listing.text
    (row,) = key_rows(db)
    assert f"fk_{row.prefix}_…" in listing.text
    assert row.created_by_id == owner.id


def test_owner_sees_only_own_keys(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner_a = owner_of(make_user, make_partner, "Partner A")
    owner_b = owner_of(make_user, make_partner, "Partner B")
    sign_in_as(client, owner_b)
    create_on_page(client, "/partner/keys", name="B's secret till")
    sign_in_as(client, owner_a)
    page = client.get("/partner/keys")
    assert page.status_code == 200
    assert "B's secret till" not in html.unescape(page.text)
    assert "There are no API keys yet." in page.text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "Enter a name for the key, for example the till it is for."),
        ({"name": "x" * 101}, "The name may have at most 100 characters."),
        ({"name": "Till", "location_id": "tampered"}, "Choose one of this partner&#39;s locations, or none."),
    ],
)
def test_bad_input_shows_the_form_again_and_stores_nothing(
    client: Client, db: Factory, make_user: Any, make_partner: Any, fields: dict[str, str], message: str
) -> None:
    owner = owner_of(make_user, make_partner)
    sign_in_as(client, owner)
    response = create_on_page(client, "/partner/keys", **fields)
    assert response.status_code == 422
    assert "Please correct the marked fields." in response.text
    assert message in response.text
    field = "location_id" if "location_id" in fields else "name"
    assert f'href="#field-{field}"' in response.text
    # A screen reader announces the field as invalid and reads its message with it.
    marked = attributes(response.text, f"field-{field}")
    assert marked.get("aria-invalid") == "true"
    assert f"error-{field}" in (marked.get("aria-describedby") or "").split()
    # The page is whole again: the locations to choose from and a fresh form.
    assert "Zoo Köln 2" in response.text
    assert ONCE not in response.text
    assert key_rows(db) == []


def test_another_partners_location_is_refused(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    foreign = locations_of(db, make_partner("Anderer Partner").id)[0]
    sign_in_as(client, owner)
    response = create_on_page(client, "/partner/keys", name="Till", location_id=str(foreign))
    assert response.status_code == 422
    assert 'id="error-location_id"' in response.text
    # What the person typed is kept.
    assert 'value="Till"' in response.text
    assert key_rows(db) == []


def test_form_without_csrf_token_is_refused(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    sign_in_as(client, owner)
    response = client.post("/partner/keys", data={"name": "Till"})
    assert response.status_code == 403
    assert "This form has expired." in response.text
    response = client.post("/partner/keys", data={"name": "Till", "csrf_token": "forged"})
    assert response.status_code == 403
    assert key_rows(db) == []


def test_owner_revokes_a_key(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    sign_in_as(client, owner)
    token = token_on(create_on_page(client, "/partner/keys", name="Till").text)
    (row,) = key_rows(db)
    listing = client.get("/partner/keys")
    assert f'action="/partner/keys/{row.id}/revoke"' in listing.text

    response = client.post(
        f"/partner/keys/{row.id}/revoke", data={"csrf_token": csrf_from(listing.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/partner/keys"
    after = client.get("/partner/keys")
    assert "The key has been revoked. It no longer works." in after.text
    assert "Revoked on" in after.text
    assert f'action="/partner/keys/{row.id}/revoke"' not in after.text
    sign_out(client)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    with db() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]


def test_owner_cannot_revoke_another_partners_key(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner_a = owner_of(make_user, make_partner, "Partner A")
    owner_b = owner_of(make_user, make_partner, "Partner B")
    sign_in_as(client, owner_b)
    create_on_page(client, "/partner/keys", name="B's till")
    (row,) = key_rows(db)
    sign_in_as(client, owner_a)
    csrf = csrf_from(client.get("/partner/keys").text)
    response = client.post(f"/partner/keys/{row.id}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    assert key_rows(db)[0].revoked_at is None


def test_cashier_cannot_use_the_key_pages(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    cashier = make_user(Role.CASHIER, partner=Partner(id=owner.partner_id))
    sign_in_as(client, owner)
    create_on_page(client, "/partner/keys", name="Till")
    (row,) = key_rows(db)
    csrf = sign_in_as(client, cashier)
    assert client.get("/partner/keys").status_code == 403
    assert client.post("/partner/keys", data={"name": "x", "csrf_token": csrf}).status_code == 403
    assert client.post(f"/partner/keys/{row.id}/revoke", data={"csrf_token": csrf}).status_code == 403
    assert len(key_rows(db)) == 1
    assert key_rows(db)[0].revoked_at is None


def test_an_api_key_cannot_open_the_portal(client: Client, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    sign_in_as(client, owner)
    token = token_on(create_on_page(client, "/partner/keys", name="Till").text)
    sign_out(client)
    assert client.get("/partner/", headers=bearer(token)).status_code == 403
    assert client.post("/partner/keys", data={"name": "x"}, headers=bearer(token)).status_code == 403


# --- staff pages --------------------------------------------------------------------------------------------------


def test_staff_list_partners_with_status(client: Client, make_user: Any, make_partner: Any) -> None:
    zoo = make_partner("Zoo Köln", status="approved")
    make_partner("Hallenbad Süd", status="suspended")
    sign_in_as(client, make_user(Role.PARTNER_MANAGER))
    page = client.get("/staff/partners")
    assert page.status_code == 200
    assert page.text.count("<h1>") == 1
    text = html.unescape(page.text)
    assert text.index("Hallenbad Süd") < text.index("Zoo Köln")
    assert "Suspended" in text
    assert "Approved" in text
    assert f'href="/staff/partners/{zoo.id}/keys"' in page.text


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ANALYST, Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_staff_partner_pages_are_for_admin_and_partner_managers(
    client: Client, make_user: Any, make_partner: Any, role: Role
) -> None:
    partner = make_partner()
    user = make_user(role, partner=partner) if role in (Role.PARTNER_OWNER, Role.CASHIER) else make_user(role)
    csrf = sign_in_as(client, user)
    assert client.get("/staff/partners").status_code == 403
    assert client.get(f"/staff/partners/{partner.id}/keys").status_code == 403
    response = client.post(f"/staff/partners/{partner.id}/keys", data={"name": "x", "csrf_token": csrf})
    assert response.status_code == 403


def test_staff_create_and_revoke_a_partners_key(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    partner = make_partner("Museum Ludwig", locations=2)
    admin = make_user(Role.ADMIN)
    sign_in_as(client, admin)
    path = f"/staff/partners/{partner.id}/keys"
    page = client.get(path)
    assert page.status_code == 200
    assert "API keys of Museum Ludwig" in page.text

    created = create_on_page(client, path, name="Kasse Foyer", location_id=str(locations_of(db, partner.id)[0]))
    assert created.status_code == 200
    assert ONCE in created.text
    token = token_on(created.text)
    assert client.get("/api/v1/me", headers=bearer(token)).json()["partner_id"] == str(partner.id)

    (row,) = key_rows(db)
    listing = client.get(path)
    response = client.post(
        f"{path}/{row.id}/revoke", data={"csrf_token": csrf_from(listing.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == path
    assert "The key has been revoked." in client.get(path).text
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    with db() as s:
        entries = s.execute(select(AuditEntry.action, AuditEntry.partner_id, AuditEntry.actor_user_id)).all()
    assert sorted(entries) == [
        ("api_key.create", partner.id, admin.id),
        ("api_key.revoke", partner.id, admin.id),
    ]


def test_staff_form_errors_keep_the_partners_page(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    partner = make_partner("Museum Ludwig")
    other = make_partner("Anderer Partner")
    sign_in_as(client, make_user(Role.PARTNER_MANAGER))
    path = f"/staff/partners/{partner.id}/keys"
    response = create_on_page(client, path, name="Kasse", location_id=str(locations_of(db, other.id)[0]))
    assert response.status_code == 422
    assert "API keys of Museum Ludwig" in response.text
    assert "Choose one of this partner&#39;s locations, or none." in response.text
    assert key_rows(db) == []


def test_staff_unknown_partner_is_404(client: Client, make_user: Any) -> None:
    sign_in_as(client, make_user(Role.ADMIN))
    assert client.get(f"/staff/partners/{uuid.uuid4()}/keys").status_code == 404
