"""The card page and the family's card API over HTTP: roles, CSRF, problem details, the page's contract."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.accounts.services import landing_path
from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.models import Card
from familienkarte.credentials import keys_from_jwks
from familienkarte.credentials.fk1 import Reason, verify_presentation
from familienkarte.credentials.status_list import status_lookup, verify_status_list_token
from tests.conftest import BASE_URL
from tests.helpers import sign_in_as
from tests.integration.test_card_credentials import Family, Phone, bad_device_keys, issue_family_card

ACTIVATIONS = "/api/v1/me/card/activations"


@pytest.fixture
def family(db: Callable[[], Session], make_user: Any) -> Family:
    return issue_family_card(db, make_user)


def activate(client: TestClient[Litestar], csrf: str, phone: Phone, name: str | None = "Mein Handy") -> Any:
    response = client.post(
        ACTIVATIONS, json={"device_key": phone.k, "device_name": name}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 201, response.text
    return response.json()


def verify_online(client: TestClient[Litestar], text: str) -> Reason:
    """As a scanner would: the published keys and a fresh download of the status list."""
    keys = keys_from_jwks(client.get("/.well-known/jwks.json").json())
    lists = {}
    for list_id in (1,):
        response = client.get(f"/api/v1/status-lists/{list_id}")
        assert response.status_code == 200
        sub = f"{BASE_URL}/api/v1/status-lists/{list_id}"
        lists[list_id] = verify_status_list_token(response.text, keys, time.time(), expected_sub=sub).status_list
    return verify_presentation(text, keys, time.time(), status_lookup(lists)).reason


def test_my_card(client: TestClient[Litestar], family: Family, db: Callable[[], Session]) -> None:
    sign_in_as(client, family.users[0])
    response = client.get("/api/v1/me/card")
    assert response.status_code == 200, response.text
    body = response.json()
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
    assert body["number"] == f"{card.number[:3]} {card.number[3:6]} {card.number[6:]}"
    assert body["status"] == "active"
    assert body["valid_until"] == card.valid_until.isoformat()
    assert body["holders"] == ["Ayşe Yılmaz", "Jan Müller"]
    assert [c["first_name"] for c in body["children"]] == ["Emre"]
    assert isinstance(body["children"][0]["age"], int)
    assert body["city"] == "Köln"
    assert abs(body["server_time"] - time.time()) < 60


def test_no_card_yet(client: TestClient[Litestar], make_user: Any) -> None:
    csrf = sign_in_as(client, make_user(Role.FAMILY))
    response = client.get("/api/v1/me/card")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "no_card"
    response = client.post(ACTIVATIONS, json={"device_key": Phone.new().k}, headers={"X-CSRF-Token": csrf})
    assert (response.status_code, response.json()["code"]) == (409, "card_not_active")
    page = client.get("/card")
    assert page.status_code == 200
    assert 'id="card"' not in page.text
    assert "Your application is being processed" in page.text or "Ihr Antrag wird bearbeitet" in page.text


def test_activation_over_http_verifies_and_revoking_one_phone_leaves_the_other(
    client: TestClient[Litestar], family: Family
) -> None:
    anna, ben = Phone.new(), Phone.new()
    csrf_anna = sign_in_as(client, family.users[0])
    first = activate(client, csrf_anna, anna)
    assert set(first) == {"credential_id", "credential", "exp", "server_time"}
    uuid.UUID(first["credential_id"])
    csrf_ben = sign_in_as(client, family.users[1])
    second = activate(client, csrf_ben, ben, name=None)
    t = int(time.time())
    assert verify_online(client, anna.present(first["credential"], t)) is Reason.OK
    assert verify_online(client, ben.present(second["credential"], t)) is Reason.OK

    # Ben reports Anna's phone lost on the card page.
    page = client.get("/card")
    assert first["credential_id"] in page.text
    assert "Mein Handy" in page.text
    response = client.post(
        f"/card/credentials/{first['credential_id']}/revoke", data={"csrf_token": csrf_ben}, follow_redirects=False
    )
    assert (response.status_code, response.headers["location"]) == (303, "/card")
    assert verify_online(client, anna.present(first["credential"], t)) is Reason.REVOKED
    assert verify_online(client, ben.present(second["credential"], t)) is Reason.OK
    assert first["credential_id"] not in client.get("/card").text


def test_renewal_over_http(client: TestClient[Litestar], family: Family) -> None:
    phone = Phone.new()
    csrf = sign_in_as(client, family.users[0])
    issued = activate(client, csrf, phone)
    response = client.post(
        f"/api/v1/me/card/credentials/{issued['credential_id']}/renew", headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200, response.text
    renewed = response.json()
    assert renewed["credential_id"] == issued["credential_id"]
    assert verify_online(client, phone.present(renewed["credential"], int(time.time()))) is Reason.OK
    response = client.post(f"/api/v1/me/card/credentials/{uuid.uuid4()}/renew", headers={"X-CSRF-Token": csrf})
    assert (response.status_code, response.json()["code"]) == (404, "credential_not_found")


def test_activation_needs_the_csrf_header(client: TestClient[Litestar], family: Family) -> None:
    sign_in_as(client, family.users[0])
    response = client.post(ACTIVATIONS, json={"device_key": Phone.new().k})
    assert response.status_code == 403


@pytest.mark.parametrize("case", list(bad_device_keys()))
def test_a_bad_device_key_is_422_naming_the_field(
    client: TestClient[Litestar], family: Family, db: Callable[[], Session], case: str
) -> None:
    csrf = sign_in_as(client, family.users[0])
    value = bad_device_keys()[case]
    body = {} if value is None else {"device_key": value}
    response = client.post(ACTIVATIONS, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "device_key" in [e["field"].removeprefix("$.") for e in response.json()["errors"]]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(CardCredential)) == 0


def test_too_many_devices(client: TestClient[Litestar], family: Family) -> None:
    csrf = sign_in_as(client, family.users[0])
    for _ in range(5):
        activate(client, csrf, Phone.new())
    response = client.post(ACTIVATIONS, json={"device_key": Phone.new().k}, headers={"X-CSRF-Token": csrf})
    assert (response.status_code, response.json()["code"]) == (409, "too_many_devices")


def test_another_familys_credential_cannot_be_revoked(
    client: TestClient[Litestar], family: Family, db: Callable[[], Session], make_user: Any
) -> None:
    csrf = sign_in_as(client, family.users[0])
    issued = activate(client, csrf, Phone.new())
    stranger = make_user(Role.FAMILY)
    csrf = sign_in_as(client, stranger)
    response = client.post(f"/card/credentials/{issued['credential_id']}/revoke", data={"csrf_token": csrf})
    assert response.status_code == 404
    response = client.post(
        f"/api/v1/me/card/credentials/{issued['credential_id']}/renew", headers={"X-CSRF-Token": csrf}
    )
    assert (response.status_code, response.json()["code"]) == (404, "credential_not_found")
    with db() as s:
        row = s.get(CardCredential, uuid.UUID(issued["credential_id"]))
        assert row is not None
        assert row.status == "active"


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ADMIN, Role.PARTNER_OWNER, Role.CASHIER])
def test_staff_and_partners_are_refused(client: TestClient[Litestar], make_user: Any, role: Role) -> None:
    csrf = sign_in_as(client, make_user(role))
    assert client.get("/api/v1/me/card").status_code == 403
    assert client.get("/card").status_code == 403
    response = client.post(ACTIVATIONS, json={"device_key": Phone.new().k}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 403


def test_the_card_page_renders_the_card_for_the_script_and_without_it(
    client: TestClient[Litestar], family: Family, db: Callable[[], Session]
) -> None:
    csrf = sign_in_as(client, family.users[0])
    response = client.get("/card?lang=de")
    assert response.status_code == 200
    html = response.text
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
    assert (
        f'<section id="card" class="family-card" data-card-api="/api/v1/me/card" '
        f'data-activate-api="/api/v1/me/card/activations" data-jwks="/.well-known/jwks.json" '
        f'data-csrf="{csrf}"' in html
    )
    assert '<link rel="manifest" href="/static/manifest.webmanifest">' in html
    assert '<script type="module" src="/static/js/card.js"></script>' in html
    assert '<div id="qr" role="img" aria-label="' in html
    assert '<p id="qr-status" aria-live="polite"></p>' in html
    assert '<p id="clock-warning" hidden>' in html
    assert f"{card.number[:3]} {card.number[3:6]} {card.number[6:]}" in html
    assert "Köln" in html
    assert "Ayşe Yılmaz" in html
    assert "Jan Müller" in html
    assert "Emre" in html
    # German dates and labels.
    assert f"{card.valid_until.day}. " in html
    assert str(card.valid_until.year) in html
    assert "Gültig bis" in html
    assert "Jahre" in html


def test_a_family_lands_on_the_card_page() -> None:
    assert landing_path(Role.FAMILY) == "/card"
