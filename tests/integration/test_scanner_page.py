"""The partner portal's scanner page: who may open it, the locations it offers, the texts and URLs its script reads."""

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
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.city import load_city
from familienkarte.errors import PermissionDenied
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.scanner_page import scanner_page
from familienkarte.redemptions.services import REASON_TEXTS, PartnerSuspended
from familienkarte.web.context import CSP
from tests.helpers import bearer, sign_in_as
from tests.integration.test_partner_portal import attributes
from tests.integration.test_verifications import make_till

Factory = Callable[[], Session]
Client = TestClient[Litestar]
PATH = "/partner/scanner"


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


class _Options(HTMLParser):
    """The options of the location select, as (value, label, selected)."""

    def __init__(self) -> None:
        super().__init__()
        self.options: list[tuple[str, str, bool]] = []
        self._open: tuple[str, bool] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "option":
            found = dict(attrs)
            self._open = (found.get("value") or "", "selected" in found)

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            value, selected = self._open
            self.options.append((value, data.strip(), selected))
            self._open = None


def options(page: str) -> list[tuple[str, str, bool]]:
    parser = _Options()
    parser.feed(page)
    return [option for option in parser.options if option[0]]


def add_locations(db: Factory, partner_id: uuid.UUID, *names: str, active: bool = True) -> list[uuid.UUID]:
    with db() as s, s.begin():
        rows = [Location(partner_id=partner_id, name=name, is_active=active) for name in names]
        s.add_all(rows)
        s.flush()
        return [row.id for row in rows]


@pytest.mark.parametrize("role", [Role.CASHIER, Role.PARTNER_OWNER])
def test_the_page_offers_the_partners_active_locations(
    client: Client, db: Factory, make_user: Any, make_partner: Any, role: Role
) -> None:
    partner: Partner = make_partner("Zoo Köln", locations=0)
    foyer, garden = add_locations(db, partner.id, "Zoo Foyer", "Zoo Garten")
    add_locations(db, partner.id, "Zoo Altbau", active=False)
    other: Partner = make_partner("Museum Ludwig", locations=0)
    add_locations(db, other.id, "Museum Eingang")
    sign_in_as(client, make_user(role, partner=partner))

    page = client.get(PATH)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<h1>Check family cards</h1>" in page.text
    # Both active locations of this partner, none preselected (there are two); closed and other partners' ones absent.
    assert options(page.text) == [(str(foyer), "Zoo Foyer", False), (str(garden), "Zoo Garten", False)]
    assert "Zoo Altbau" not in page.text
    assert "Museum Eingang" not in page.text
    root = attributes(page.text, "scanner")
    assert root["data-partner-id"] == str(partner.id)


def test_a_single_location_is_preselected(client: Client, make_user: Any, make_partner: Any) -> None:
    partner: Partner = make_partner("Theater am Dom", locations=1)
    sign_in_as(client, make_user(Role.CASHIER, partner=partner))
    page = client.get(PATH)
    ((_value, label, selected),) = options(page.text)
    assert (label, selected) == ("Theater am Dom 1", True)


def test_a_partner_without_active_locations_is_told_so(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    partner: Partner = make_partner("Eiscafé", locations=0)
    add_locations(db, partner.id, "Eiscafé alt", active=False)
    sign_in_as(client, make_user(Role.CASHIER, partner=partner))
    page = client.get(PATH)
    assert page.status_code == 200
    assert "has no open location" in page.text
    assert 'id="scanner"' not in page.text


def test_the_page_carries_the_urls_csrf_token_and_void_window(
    client: Client, make_user: Any, make_partner: Any
) -> None:
    csrf = sign_in_as(client, make_user(Role.CASHIER, partner=make_partner()))
    page = client.get(PATH)
    root = attributes(page.text, "scanner")
    assert root["data-verify-url"] == "/api/v1/verifications"
    assert root["data-redeem-url"] == "/api/v1/redemptions"
    assert root["data-bundle-url"] == "/api/v1/pos/offline-bundle"
    assert root["data-upload-url"] == "/api/v1/redemptions/uploads"
    assert root["data-sw-url"] == "/partner/scanner-sw.js"
    assert root["data-csrf"] == csrf
    city = load_city(client.app.state["fk"].settings.city)
    assert root["data-void-window-minutes"] == str(int(city.void_window.total_seconds() // 60))
    # The polyfill and its WebAssembly come from this site.
    assert root["data-polyfill-url"] == "/static/vendor/barcode-detector/es/ponyfill.js"
    assert root["data-wasm-url"] == "/static/vendor/zxing-wasm/zxing_reader.wasm"
    for url in (root["data-polyfill-url"], root["data-wasm-url"]):
        assert url is not None
        assert client.get(url).status_code == 200
    assert client.get(root["data-wasm-url"] or "").headers["content-type"] == "application/wasm"


def test_the_page_carries_a_text_for_every_reason_code(client: Client, make_user: Any, make_partner: Any) -> None:
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner()))
    root = attributes(client.get(PATH).text, "scanner")
    assert len(REASON_TEXTS) == 12
    for code, text in REASON_TEXTS.items():
        assert root[f"data-reason-{code.replace('_', '-')}"] == text, code


def test_the_texts_are_translated(client: Client, make_user: Any, make_partner: Any) -> None:
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner()))
    client.headers["Accept-Language"] = "de"
    root = attributes(client.get(PATH).text, "scanner")
    assert root["data-reason-revoked"] != REASON_TEXTS["revoked"]
    assert root["data-reason-revoked"]


def test_only_the_scanner_page_may_compile_webassembly(client: Client, make_user: Any, make_partner: Any) -> None:
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner()))
    policy = client.get(PATH).headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", policy)
    assert script_src is not None
    assert script_src.group(1).split() == ["'self'", "'wasm-unsafe-eval'"]
    assert "unsafe-inline" not in policy
    assert "'unsafe-eval'" not in policy
    assert client.get("/partner/").headers["content-security-policy"] == CSP


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(PATH, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={PATH}"


@pytest.mark.parametrize("role", [Role.FAMILY, Role.ADMIN, Role.CASEWORKER, Role.ANALYST, Role.PARTNER_MANAGER])
def test_families_and_staff_are_refused(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get(PATH).status_code == 403


@pytest.mark.parametrize("status", ["suspended", "pending", "rejected"])
def test_the_users_of_a_partner_that_is_not_approved_are_refused(
    client: Client, make_user: Any, make_partner: Any, status: str
) -> None:
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner("Hallenbad Süd", status=status)))
    page = client.get(PATH)
    assert page.status_code == 403
    assert "not (or no longer) approved" in html.unescape(page.text)


def test_an_api_key_does_not_open_the_page(client: Client, db: Factory, make_user: Any) -> None:
    till = make_till(db, make_user)
    assert client.get(PATH, headers=bearer(till.token)).status_code == 403


def test_the_start_page_links_to_the_scanner_when_approved(client: Client, make_user: Any, make_partner: Any) -> None:
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner("Zoo Köln")))
    assert f'href="{PATH}"' in client.get("/partner/").text
    sign_in_as(client, make_user(Role.CASHIER, partner=make_partner("Zoo Bonn", status="pending")))
    assert f'href="{PATH}"' not in client.get("/partner/").text


# --- the page's service -------------------------------------------------------------------------------------------


def test_a_principal_bound_to_a_location_gets_only_that_one(db: Factory, make_user: Any, settings: Any) -> None:
    till = make_till(db, make_user)
    city = load_city(settings.city)
    unbound = principal_for_user(till.cashier)
    bound = Principal(role=Role.CASHIER, partner_id=till.partner_id, location_id=till.other_location_id)
    with db() as s:
        assert {choice.id for choice in scanner_page(s, unbound, city).locations} == {
            till.location_id,
            till.other_location_id,
        }
        assert [choice.id for choice in scanner_page(s, bound, city).locations] == [till.other_location_id]


def test_the_service_refuses_others(db: Factory, make_user: Any, make_partner: Any, settings: Any) -> None:
    city = load_city(settings.city)
    with db() as s:
        with pytest.raises(PermissionDenied):
            scanner_page(s, principal_for_user(make_user(Role.ADMIN)), city)
        suspended = make_user(Role.PARTNER_OWNER, partner=make_partner("Weg", status="suspended"))
        with pytest.raises(PartnerSuspended):
            scanner_page(s, principal_for_user(suspended), city)
