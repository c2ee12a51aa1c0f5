"""Verifying a card at the till through the API: every verdict, the card's facts, the benefits that apply."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.cards import card_status
from familienkarte.cards.models import Card
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.credentials.fk1 import CredentialClaims, IssuerKey, issue_credential, present_printed
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import VerificationEvent
from familienkarte.settings import Settings
from tests.helpers import bearer, sign_in_as
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import SECRET, Family, Phone, activate, approved_family_card, now
from tests.integration.test_catalogue import add_benefit, add_location, add_partner


@dataclass(frozen=True)
class Till:
    """A partner with two locations, a cashier, an API key and a card to scan."""

    partner_id: uuid.UUID
    location_id: uuid.UUID
    other_location_id: uuid.UUID
    cashier: User
    owner: User
    token: str
    family: Family
    number: str

    @property
    def principal(self) -> Principal:
        return principal_for_user(self.cashier)


def make_till(db: Callable[[], Session], make_user: Any, family: Family | None = None) -> Till:
    # Approved a week ago: a till meets cards already in use, and a sale made just before the city's
    # midnight must not fall before the card's first day.
    family = family or approved_family_card(db, make_user, KOELN.today() - dt.timedelta(days=7))
    with db() as s, s.begin():
        partner = add_partner(s, "Zoo Köln")
        here, there = add_location(s, partner), add_location(s, partner)
        ids = (partner.id, here.id, there.id)
        card = s.get(Card, family.card_id)
        assert card is not None
        number = card.number
    with db() as s:
        partner_row = s.get(Partner, ids[0])
    assert partner_row is not None
    cashier = make_user(Role.CASHIER, partner=partner_row)
    owner = make_user(Role.PARTNER_OWNER, partner=partner_row)
    with db() as s, s.begin():
        token = api_keys.create_key(s, principal_for_user(owner), ids[0], "Till 1").token
    return Till(ids[0], ids[1], ids[2], cashier, owner, token, family, number)


def signed(db: Callable[[], Session], sub: str, *, status: tuple[int, int] | None = None, **claims: Any) -> str:
    """A printed-card code for ``sub``, signed by the active issuer key, with its own status entry."""
    with db() as s, s.begin():
        key = credential_services.signing_key(s, SECRET)
        list_id, index = status or credential_services.allocate_status_index(s, now())
        exp = claims.pop("exp", int(now().timestamp()) + 86400 * 30)
        credential_services.record_issued(s, key.kid, exp)
        values: dict[str, Any] = {"a": 2, "c": (201904, 202702), "e": 0, **claims}
        return present_printed(issue_credential(CredentialClaims(sub=sub, exp=exp, s=index, l=list_id, **values), key))


def status_entry(db: Callable[[], Session]) -> tuple[int, int]:
    with db() as s, s.begin():
        credential_services.ensure_active_key(s, SECRET)
        return credential_services.allocate_status_index(s, now())


def phone_code(db: Callable[[], Session], till: Till, t: int | None = None) -> str:
    phone = Phone.new()
    issued = activate(db, till.family.principal(), phone)
    return phone.present(issued.credential, t or int(now().timestamp()))


def scan(client: TestClient[Litestar], till: Till, *, status: int = 200, **body: Any) -> dict[str, Any]:
    body.setdefault("location_id", str(till.location_id))
    response = client.post("/api/v1/verifications", json=body, headers=bearer(till.token))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def flush_statistics(client: TestClient[Litestar]) -> None:
    """Write the verification statistics the app holds (they are written in batches, outside the request)."""
    client.app.state["fk"].verification_log.flush()


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


def test_a_phone_code_is_valid_with_the_facts_a_cashier_needs(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    result = scan(client, till, text=phone_code(db, till))
    assert (result["valid"], result["reason"], result["presentation"], result["code_checked"]) == (
        True,
        "ok",
        "phone",
        True,
    )
    assert result["message"]
    card = result["card"]
    today = KOELN.today()
    # Born April 2019; the second child is expected in February 2027.
    assert card["number"] == format_card_number(till.number)
    assert card["adults"] == 2
    assert card["children_ages"] == [today.year - 2019 - (today.month < 4)]
    assert card["expected_children"] == 1
    assert card["ask_for_id"] is False
    with db() as s:
        card_row = s.get(Card, till.family.card_id)
        assert card_row is not None
    assert card["valid_until"] == card_row.valid_until.isoformat()
    # Nothing about the family's names or address.
    assert set(card) == {"number", "adults", "children_ages", "expected_children", "valid_until", "ask_for_id"}


def test_a_printed_code_asks_for_id(client: TestClient[Litestar], db: Callable[[], Session], till: Till) -> None:
    result = scan(client, till, text=signed(db, till.number))
    assert (result["reason"], result["presentation"], result["card"]["ask_for_id"]) == ("ok", "printed", True)


@pytest.mark.parametrize(
    "case",
    [
        "malformed",
        "unknown_key",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "presentation_missing",
        "bad_proof",
        "stale",
        "revoked",
        "suspended",
    ],
)
def test_every_verdict_through_the_api(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till, case: str
) -> None:
    number = till.number
    text: str
    if case == "malformed":
        text = "FK1:not.a.code"
    elif case == "unknown_key":
        stranger = IssuerKey.generate("zz9")
        claims = CredentialClaims(sub=number, exp=int(now().timestamp()) + 3600, a=1, c=(201904,), s=0)
        text = present_printed(issue_credential(claims, stranger))
    elif case == "bad_signature":
        good = signed(db, number)
        head, body, signature = good.split(".")
        text = f"{head}.{body}.{signature[:-4]}{'AAAA' if not signature.endswith('AAAA') else 'BBBA'}"
    elif case == "expired":
        text = signed(db, number, exp=int(now().timestamp()) - 3600)
    elif case == "not_yet_valid":
        text = signed(db, number, nbf=int(now().timestamp()) + 86400)
    elif case == "presentation_missing":
        phone = Phone.new()
        issued = activate(db, till.family.principal(), phone)
        text = present_printed(issued.credential)
    elif case == "bad_proof":
        phone = Phone.new()
        issued = activate(db, till.family.principal(), phone)
        text = Phone.new().present(issued.credential, int(now().timestamp()))
    elif case == "stale":
        text = phone_code(db, till, t=int(now().timestamp()) - 600)
    else:
        entry = status_entry(db)
        with db() as s, s.begin():
            credential_services.set_status(s, *entry, 1 if case == "revoked" else 2)
        text = signed(db, number, status=entry)
    result = scan(client, till, text=text)
    assert (result["valid"], result["reason"]) == (False, case)
    assert result["benefits"] == []
    assert result["message"]
    # Facts only once the issuer's signature verified.
    assert (result["card"] is None) == (case in ("malformed", "unknown_key", "bad_signature"))
    flush_statistics(client)
    with db() as s:
        events = s.scalars(select(VerificationEvent)).all()
    assert [(e.reason, e.partner_id, e.location_id) for e in events] == [(case, till.partner_id, till.location_id)]


def test_each_verification_is_recorded_without_the_card(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    scan(client, till, text=phone_code(db, till))
    scan(client, till, card_number=till.number)
    flush_statistics(client)
    with db() as s:
        events = s.scalars(select(VerificationEvent).order_by(VerificationEvent.id)).all()
    assert [(e.reason, e.presentation) for e in events] == [("ok", "phone"), ("ok", "manual")]
    columns = set(VerificationEvent.__table__.columns.keys())
    assert columns == {"id", "partner_id", "location_id", "reason", "presentation", "at"}


def test_a_typed_card_number_is_looked_up_and_no_code_was_checked(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    typed = format_card_number(till.number, "-").lower()
    result = scan(client, till, card_number=typed)
    assert (result["reason"], result["presentation"], result["code_checked"]) == ("ok", "manual", False)
    assert result["card"]["ask_for_id"] is True
    assert result["card"]["adults"] == 2
    assert scan(client, till, card_number="12345")["reason"] == "malformed"
    unknown = new_card_number()
    assert scan(client, till, card_number=unknown)["reason"] == "unknown_card"


def test_a_suspended_card_typed_by_hand(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till, make_user: Any
) -> None:
    caseworker = principal_for_user(make_user(Role.CASEWORKER))
    with db() as s, s.begin():
        card_status.change_card(s, KOELN, caseworker, till.family.card_id, "suspend", "Lost wallet", now=now())
    assert scan(client, till, card_number=till.number)["reason"] == "suspended"
    with db() as s, s.begin():
        card_status.change_card(s, KOELN, caseworker, till.family.card_id, "revoke", "Moved away", now=now())
    assert scan(client, till, card_number=till.number)["reason"] == "revoked"


def test_benefits_that_apply_here_today_with_uses_left(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    with db() as s, s.begin():
        partner = s.get(Partner, till.partner_id)
        here = s.get(Location, till.location_id)
        there = s.get(Location, till.other_location_id)
        assert partner is not None
        assert here is not None
        assert there is not None
        monthly = add_benefit(s, partner, "Einmal im Monat", locations=(here,), limit_count=2, limit_period="month")
        quota = add_benefit(s, partner, "100 Tickets", locations=(here, there), total_quota=100, max_quantity=4)
        add_benefit(s, partner, "Nur dort", locations=(there,))
        add_benefit(s, partner, "Pausiert", locations=(here,), status="paused")
        add_benefit(s, partner, "Ab drei Kindern", locations=(here,), min_children=3)
        add_benefit(s, partner, "Für Jugendliche", locations=(here,), child_age_min=14, child_age_max=17)
        add_benefit(s, partner, "Stufe", locations=(here,), requires_entitlement=True)
        other = add_partner(s, "Museum")
        add_benefit(s, other, "Fremd", locations=(add_location(s, other),))
        ids = (monthly.id, quota.id)
    result = scan(client, till, text=phone_code(db, till))
    offers = {offer["title"]: offer for offer in result["benefits"]}
    assert set(offers) == {"Einmal im Monat", "100 Tickets"}
    assert offers["Einmal im Monat"]["benefit_id"] == str(ids[0])
    assert (offers["Einmal im Monat"]["uses_left"], offers["Einmal im Monat"]["quota_left"]) == (2, None)
    assert (offers["100 Tickets"]["uses_left"], offers["100 Tickets"]["quota_left"]) == (None, 100)
    assert offers["100 Tickets"]["max_quantity"] == 4
    assert all(offer["available"] for offer in offers.values())

    # After redemptions the uses left go down for this card.
    for benefit_id, quantity in ((ids[0], 1), (ids[1], 3)):
        response = client.post(
            "/api/v1/redemptions",
            json={
                "text": signed(db, till.number),
                "benefit_id": str(benefit_id),
                "location_id": str(till.location_id),
                "quantity": quantity,
                "client_nonce": uuid.uuid4().hex,
            },
            headers=bearer(till.token),
        )
        assert response.status_code == 201, response.text
    offers = {o["title"]: o for o in scan(client, till, card_number=till.number)["benefits"]}
    assert offers["Einmal im Monat"]["uses_left"] == 1
    assert offers["100 Tickets"]["quota_left"] == 97
    # At the other location only what is offered there.
    there_result = scan(client, till, card_number=till.number, location_id=str(till.other_location_id))
    assert {o["title"] for o in there_result["benefits"]} == {"100 Tickets", "Nur dort"}


def test_a_suspended_partner_is_refused(client: TestClient[Litestar], db: Callable[[], Session], till: Till) -> None:
    with db() as s, s.begin():
        partner = s.get(Partner, till.partner_id)
        assert partner is not None
        partner.status = "suspended"
    with db() as s:
        cashier = s.get(User, till.cashier.id)
    assert cashier is not None
    csrf = sign_in_as(client, cashier)
    response = client.post(
        "/api/v1/verifications",
        json={"card_number": till.number, "location_id": str(till.location_id)},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 403
    assert response.json()["code"] == "partner_suspended"
    # Its API keys no longer authenticate at all.
    response = client.post("/api/v1/verifications", json={"card_number": till.number}, headers=bearer(till.token))
    assert response.status_code == 401
    flush_statistics(client)
    with db() as s:
        assert s.scalars(select(VerificationEvent)).all() == []


def test_a_signed_in_cashier_verifies_with_the_session(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    csrf = sign_in_as(client, till.cashier)
    body = {"card_number": till.number, "location_id": str(till.location_id)}
    response = client.post("/api/v1/verifications", json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    assert response.json()["reason"] == "ok"
    assert client.post("/api/v1/verifications", json=body).json()["code"] == "csrf_failed"


def test_only_the_partners_own_active_location(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    with db() as s, s.begin():
        other = add_partner(s, "Museum")
        foreign = add_location(s, other).id
        closed = add_location(s, s.get(Partner, till.partner_id) or other, is_active=False).id
    for location in (foreign, closed, uuid.uuid4()):
        result = scan(client, till, status=422, card_number=till.number, location_id=str(location))
        assert result["code"] == "invalid_input"
        assert [e["field"] for e in result["errors"]] == ["location_id"]
    # Without a location, a key bound to none cannot tell where it is.
    response = client.post("/api/v1/verifications", json={"card_number": till.number}, headers=bearer(till.token))
    assert response.status_code == 422


def test_a_key_bound_to_a_location_implies_it_and_works_only_there(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    with db() as s, s.begin():
        token = api_keys.create_key(
            s, principal_for_user(till.owner), till.partner_id, "Kasse 2", till.other_location_id
        ).token
    bound = dataclasses.replace(till, token=token)
    response = client.post("/api/v1/verifications", json={"card_number": till.number}, headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["location_id"] == str(till.other_location_id)
    scan(client, bound, status=422, card_number=till.number, location_id=str(till.location_id))


def test_typed_numbers_are_rate_limited_tightly(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    typed_per_window = Settings().pos_typed_limit[0]
    for _ in range(typed_per_window):
        scan(client, till, card_number=new_card_number())
    limited = scan(client, till, status=429, card_number=new_card_number())
    assert limited["code"] == "rate_limited"
    # Scanned codes still go through.
    assert scan(client, till, text=signed(db, till.number))["reason"] == "ok"
