"""Staff and issued cards: search, the card page, suspend, reactivate, revoke a card or one credential.

Over HTTP as a caseworker, on the real database; whether a phone still works is checked the way a scanner does:
with the status list downloaded from the API and verified with the published keys.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import card_status, credentials
from familienkarte.cards.credential_models import CardCredential
from familienkarte.cards.models import Card, Household
from familienkarte.credentials import keys_from_jwks, verify_presentation, verify_status_list_token
from familienkarte.credentials.card_numbers import ALPHABET, format_card_number
from familienkarte.credentials.fk1 import Reason
from familienkarte.credentials.status_list import status_lookup
from familienkarte.errors import InvalidInput
from familienkarte.mail.models import Email
from familienkarte.settings import Settings
from tests.conftest import BASE_URL
from tests.helpers import sign_in_as
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import Family, Phone, issue_family_card, now

REASON = "Missbrauch gemeldet, Prüfung läuft."
SUBJECTS = {
    "suspend": {"Your family card has been suspended", "Ihre Familienkarte wurde gesperrt"},
    "reactivate": {"Your family card is active again", "Ihre Familienkarte ist wieder aktiv"},
    "revoke": {"Your family card has been revoked", "Ihre Familienkarte wurde widerrufen"},
}


@pytest.fixture
def family(db: Callable[[], Session], make_user: Any) -> Family:
    return issue_family_card(db, make_user)


@pytest.fixture
def other_family(db: Callable[[], Session], make_user: Any) -> Family:
    """A second household, one of whose adults is also called Müller."""
    return issue_family_card(
        db,
        make_user,
        street="Neusser Straße",
        postal_code="50733",
        **{
            "adult-0-first_name": "Lena",
            "adult-0-last_name": "Schmidt-Müller",
            "adult-0-email": "lena@example.org",
            "adult-1-first_name": "Tom",
            "adult-1-last_name": "Schmidt",
            "adult-1-email": "tom@example.org",
        },
    )


@pytest.fixture
def caseworker(make_user: Any) -> Any:
    return make_user(Role.CASEWORKER, display_name="Clara Caseworker")


def card_of(db: Callable[[], Session], family: Family) -> Card:
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
        return card


def credential(db: Callable[[], Session], credential_id: uuid.UUID) -> CardCredential:
    with db() as s:
        row = s.get(CardCredential, credential_id)
        assert row is not None
        return row


def activate(db: Callable[[], Session], settings: Settings, family: Family, index: int, phone: Phone) -> Any:
    # Signed with the app's own secret: the app signs the status lists with the same issuer key.
    with db() as s, s.begin():
        return credentials.activate_phone(
            s, family.principal(index), KOELN, phone.k, f"Phone {index}", now(), settings.secret_key
        )


def scan(client: TestClient[Litestar], text: str, list_id: int) -> Reason:
    """What a scanner says about a presentation, with the status list as the API serves it now."""
    response = client.get(f"/api/v1/status-lists/{list_id}")
    assert response.status_code == 200, response.text
    keys = keys_from_jwks(client.get("/.well-known/jwks.json").json())
    token = verify_status_list_token(
        response.text, keys, time.time(), expected_sub=f"{BASE_URL}/api/v1/status-lists/{list_id}"
    )
    return verify_presentation(text, keys, time.time(), status_lookup({list_id: token.status_list})).reason


def audit(db: Callable[[], Session], action: str) -> list[AuditEntry]:
    with db() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def mails(db: Callable[[], Session], subjects: set[str]) -> list[Email]:
    with db() as s:
        return [m for m in s.scalars(select(Email)) if m.subject in subjects]


def post(client: TestClient[Litestar], csrf: str, path: str, reason: str | None = REASON) -> Any:
    data = {"csrf_token": csrf}
    if reason is not None:
        data["reason"] = reason
    return client.post(path + "?lang=en", data=data, follow_redirects=False)


# -- search -------------------------------------------------------------------------------------------------------


def test_a_card_is_found_by_its_number_however_it_is_typed(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, other_family: Family, caseworker: Any
) -> None:
    number = card_of(db, family).number
    sign_in_as(client, caseworker)
    for typed in (format_card_number(number), format_card_number(number, "-").lower(), f" {number.lower()} "):
        page = client.get("/staff/cards", params={"q": typed, "lang": "en"})
        assert page.status_code == 200
        assert "1 card found" in page.text, typed
        assert f"/staff/cards/{family.card_id}" in page.text
        assert f"/staff/cards/{other_family.card_id}" not in page.text
    searched = audit(db, "card.searched")
    assert [e.details["by"] for e in searched] == ["number"] * 3
    assert all(e.actor_user_id == caseworker.id for e in searched)


def test_a_card_number_with_a_wrong_check_character_is_named_as_such(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, caseworker: Any
) -> None:
    number = card_of(db, family).number
    wrong = number[:-1] + next(c for c in ALPHABET if c != number[-1] and c.isdigit())
    sign_in_as(client, caseworker)
    page = client.get("/staff/cards", params={"q": format_card_number(number)[:-1] + wrong[-1], "lang": "en"})
    assert page.status_code == 422
    assert "The check character of this card number does not match." in page.text
    assert 'aria-invalid="true"' in page.text
    assert f"/staff/cards/{family.card_id}" not in page.text
    with db() as s, pytest.raises(InvalidInput) as info:
        card_status.search_cards(s, "7KX 3QM 9T")
    assert info.value.errors[0].field == "q"
    assert "9 characters" in info.value.errors[0].message % info.value.errors[0].params


def test_cards_are_found_by_e_mail_address_and_folded_last_name(
    db: Callable[[], Session], family: Family, other_family: Family
) -> None:
    def found(query: str, **kwargs: Any) -> list[uuid.UUID]:
        with db() as s:
            return [row.id for row in card_status.search_cards(s, query, **kwargs).rows]

    # Stored as Ayse.Yilmaz@Example.org, lower-cased; a search in any case finds it.
    assert found("AYSE.YILMAZ@example.org") == [family.card_id]
    assert found("nobody@example.org") == []
    # Yılmaz with a dotless ı, typed without it; Müller typed without the umlaut, in any case, or its start.
    assert found("yilmaz") == [family.card_id]
    assert found("YILMAZ") == [family.card_id]
    assert found("Yılmaz") == [family.card_id]
    assert found("Schmidt") == [other_family.card_id]
    # "Müller" is the first family's Jan Müller and the second part of Lena Schmidt-Müller: newest first.
    assert found("muller") == [other_family.card_id, family.card_id]
    assert found("MÜLL") == [other_family.card_id, family.card_id]
    assert found("muller", per_page=1, page=2) == [family.card_id]
    assert found("Meier") == []


def test_an_empty_search_lists_nothing_and_pages_are_counted(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, other_family: Family, caseworker: Any
) -> None:
    with db() as s:
        empty = card_status.search_cards(s, "   ")
        assert (empty.kind, empty.rows, empty.total) == (None, [], 0)
        listed = card_status.search_cards(s, "müller", per_page=1)
        assert (listed.total, listed.pages, len(listed.rows)) == (2, 2, 1)
        with pytest.raises(InvalidInput):
            card_status.search_cards(s, "m")
    sign_in_as(client, caseworker)
    page = client.get("/staff/cards?lang=en")
    assert page.status_code == 200
    assert "cards found" not in page.text
    assert "/staff/cards/" + str(family.card_id) not in page.text
    assert audit(db, "card.searched") == []


# -- the card page ------------------------------------------------------------------------------------------------


def test_the_card_page_shows_the_household_and_credentials_and_is_audited(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, caseworker: Any
) -> None:
    activate(db, settings, family, 1, Phone.new())
    sign_in_as(client, caseworker)
    page = client.get(f"/staff/cards/{family.card_id}?lang=en")
    assert page.status_code == 200
    text = page.text
    card = card_of(db, family)
    assert format_card_number(card.number) in text
    assert "Ayşe Yılmaz" in text
    assert "jan.mueller@example.org" in text
    assert "Venloer Straße 12a, 50823 Köln" in text
    assert "Emre" in text
    assert "years" in text
    assert "Phone: Phone 1" in text
    assert "Jan Müller" in text
    with db() as s:
        application_id = s.scalar(select(Card.application_id).where(Card.id == family.card_id))
    assert f'href="/staff/applications/{application_id}"' in text
    assert "final" in text  # the revoke button says so
    viewed = audit(db, "card.viewed")
    assert [(e.object_id, e.actor_user_id) for e in viewed] == [(str(family.card_id), caseworker.id)]
    assert client.get(f"/staff/cards/{uuid.uuid4()}?lang=en").status_code == 404
    assert len(audit(db, "card.viewed")) == 1


def test_the_staff_start_page_and_the_application_link_to_the_card(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, caseworker: Any
) -> None:
    sign_in_as(client, caseworker)
    assert 'href="/staff/cards"' in client.get("/staff/").text
    with db() as s:
        application_id = s.scalar(select(Card.application_id).where(Card.id == family.card_id))
    application = client.get(f"/staff/applications/{application_id}").text
    number = card_of(db, family).number
    assert f"/staff/cards/{family.card_id}" in application or f"/staff/cards?q={number}" in application


# -- changing the card --------------------------------------------------------------------------------------------


def test_suspend_then_reactivate_turns_every_phone_off_and_on(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, caseworker: Any
) -> None:
    anna, ben = Phone.new(), Phone.new()
    first = activate(db, settings, family, 0, anna)
    second = activate(db, settings, family, 1, ben)
    list_id = credential(db, first.credential_id).status_list_id
    csrf = sign_in_as(client, caseworker)
    base = f"/staff/cards/{family.card_id}"

    def scans() -> list[Reason]:
        t = int(now().timestamp())
        return [
            scan(client, anna.present(first.credential, t), list_id),
            scan(client, ben.present(second.credential, t), list_id),
        ]

    assert scans() == [Reason.OK, Reason.OK]
    suspended = post(client, csrf, base + "/status/suspend")
    assert suspended.status_code == 303
    assert suspended.headers["location"] == base
    assert "The card has been suspended." in client.get(base + "?lang=en").text
    assert scans() == [Reason.SUSPENDED, Reason.SUSPENDED]
    card = card_of(db, family)
    assert (card.status, card.status_reason) == ("suspended", REASON)
    assert card.status_changed_at is not None
    assert {credential(db, c.credential_id).status for c in (first, second)} == {"suspended"}
    # While suspended, the family cannot put the card on another phone.
    with pytest.raises(credentials.CardNotActive):
        activate(db, settings, family, 0, Phone.new())

    again = post(client, csrf, base + "/status/suspend")
    assert again.status_code == 409
    assert "already suspended" in again.text

    page = client.get(base + "?lang=en").text
    assert "Suspended" in page
    assert REASON in page
    assert "Clara Caseworker" in page

    reactivated = post(client, csrf, base + "/status/reactivate", "Prüfung abgeschlossen.")
    assert reactivated.status_code == 303
    assert scans() == [Reason.OK, Reason.OK]
    card = card_of(db, family)
    assert (card.status, card.status_reason) == ("active", "Prüfung abgeschlossen.")
    assert {credential(db, c.credential_id).status for c in (first, second)} == {"active"}
    not_suspended = post(client, csrf, base + "/status/reactivate")
    assert not_suspended.status_code == 409
    assert "Only a suspended card can be reactivated" in not_suspended.text

    [suspend_entry] = audit(db, "card.suspended")
    [reactivate_entry] = audit(db, "card.reactivated")
    assert (suspend_entry.object_id, suspend_entry.actor_user_id) == (str(family.card_id), caseworker.id)
    assert suspend_entry.details["reason"] == REASON
    assert set(suspend_entry.details["credentials"]) == {str(first.credential_id), str(second.credential_id)}
    assert reactivate_entry.details["reason"] == "Prüfung abgeschlossen."
    # One e-mail to each adult for each change, with the reason.
    for action, reason in (("suspend", REASON), ("reactivate", "Prüfung abgeschlossen.")):
        sent = mails(db, SUBJECTS[action])
        assert sorted(m.to_address for m in sent) == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
        assert all(reason in m.body_text and format_card_number(card.number) in m.body_text for m in sent)


def test_reactivating_leaves_a_credential_revoked_meanwhile_revoked(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, caseworker: Any
) -> None:
    anna, ben = Phone.new(), Phone.new()
    first = activate(db, settings, family, 0, anna)
    second = activate(db, settings, family, 1, ben)
    list_id = credential(db, first.credential_id).status_list_id
    csrf = sign_in_as(client, caseworker)
    base = f"/staff/cards/{family.card_id}"
    assert post(client, csrf, base + "/status/suspend").status_code == 303
    # The family reports the first phone lost while the card is suspended.
    with db() as s, s.begin():
        assert credentials.revoke_credential(s, family.principal(1), first.credential_id, now())
    assert post(client, csrf, base + "/status/reactivate").status_code == 303
    t = int(now().timestamp())
    assert scan(client, anna.present(first.credential, t), list_id) is Reason.REVOKED
    assert scan(client, ben.present(second.credential, t), list_id) is Reason.OK
    assert credential(db, first.credential_id).status == "revoked"


def test_staff_revoke_one_credential_and_the_others_keep_working(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, caseworker: Any
) -> None:
    anna, ben = Phone.new(), Phone.new()
    first = activate(db, settings, family, 0, anna)
    second = activate(db, settings, family, 1, ben)
    list_id = credential(db, first.credential_id).status_list_id
    csrf = sign_in_as(client, caseworker)
    base = f"/staff/cards/{family.card_id}"

    revoked = post(client, csrf, f"{base}/credentials/{first.credential_id}/revoke", "Telefon verloren (Anruf).")
    assert revoked.status_code == 303
    t = int(now().timestamp())
    assert scan(client, anna.present(first.credential, t), list_id) is Reason.REVOKED
    assert scan(client, ben.present(second.credential, t), list_id) is Reason.OK
    row = credential(db, first.credential_id)
    assert (row.status, row.revoked_by_id) == ("revoked", caseworker.id)
    assert card_of(db, family).status == "active"
    [entry] = audit(db, "credential.revoke")
    assert entry.details["by_staff"] is True
    assert entry.details["reason"] == "Telefon verloren (Anruf)."
    assert entry.actor_user_id == caseworker.id
    with db() as s:
        sent = [m for m in s.scalars(select(Email)) if "Telefon verloren (Anruf)." in m.body_text]
    assert len(sent) == 2
    assert all("Phone 0" in m.body_text for m in sent)

    again = post(client, csrf, f"{base}/credentials/{first.credential_id}/revoke")
    assert again.status_code == 409
    assert "already been revoked" in again.text
    # A credential of another card, or none at all, is not found through this card.
    assert post(client, csrf, f"{base}/credentials/{uuid.uuid4()}/revoke").status_code == 404


def test_revoking_the_card_is_final(
    client: TestClient[Litestar], db: Callable[[], Session], settings: Settings, family: Family, caseworker: Any
) -> None:
    anna, ben = Phone.new(), Phone.new()
    first = activate(db, settings, family, 0, anna)
    second = activate(db, settings, family, 1, ben)
    list_id = credential(db, first.credential_id).status_list_id
    csrf = sign_in_as(client, caseworker)
    base = f"/staff/cards/{family.card_id}"
    assert post(client, csrf, base + "/status/suspend").status_code == 303

    revoked = post(client, csrf, base + "/status/revoke", "Kein Wohnsitz mehr in Köln.")
    assert revoked.status_code == 303
    t = int(now().timestamp())
    assert scan(client, anna.present(first.credential, t), list_id) is Reason.REVOKED
    assert scan(client, ben.present(second.credential, t), list_id) is Reason.REVOKED
    card = card_of(db, family)
    assert (card.status, card.status_reason) == ("revoked", "Kein Wohnsitz mehr in Köln.")
    assert {credential(db, c.credential_id).status for c in (first, second)} == {"revoked"}
    [entry] = audit(db, "card.revoked")
    assert entry.details["reason"] == "Kein Wohnsitz mehr in Köln."
    assert len(mails(db, SUBJECTS["revoke"])) == 2

    for action in ("suspend", "reactivate", "revoke"):
        refused = post(client, csrf, f"{base}/status/{action}")
        assert refused.status_code == 409, action
        assert "revoked for good" in refused.text
    page = client.get(base + "?lang=en").text
    assert "This card can no longer be changed." in page
    assert f'action="{base}/status/revoke"' not in page
    # Nothing more was changed or sent.
    assert card_of(db, family).status == "revoked"
    assert len(mails(db, SUBJECTS["revoke"])) == 2


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        (None, "Please give the reason for this decision."),
        ("   ", "Please give the reason for this decision."),
        ("x" * (card_status.REASON_MAX + 1), "Please use at most 2000 characters here."),
    ],
)
def test_a_change_needs_a_reason_of_at_most_2000_characters(
    client: TestClient[Litestar],
    db: Callable[[], Session],
    family: Family,
    caseworker: Any,
    reason: str | None,
    message: str,
) -> None:
    csrf = sign_in_as(client, caseworker)
    for action in ("suspend", "revoke"):
        refused = post(client, csrf, f"/staff/cards/{family.card_id}/status/{action}", reason)
        assert refused.status_code == 422
        assert message in refused.text
        assert 'href="#field-reason"' in refused.text
        assert 'id="field-reason"' in refused.text
    assert card_of(db, family).status == "active"
    assert audit(db, "card.suspended") == audit(db, "card.revoked") == []
    assert mails(db, SUBJECTS["suspend"] | SUBJECTS["revoke"]) == []


def test_a_reason_of_exactly_2000_characters_is_taken(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, caseworker: Any
) -> None:
    csrf = sign_in_as(client, caseworker)
    reason = "y" * card_status.REASON_MAX
    assert post(client, csrf, f"/staff/cards/{family.card_id}/status/suspend", reason).status_code == 303
    assert card_of(db, family).status_reason == reason


def test_the_e_mail_is_in_the_households_language(
    client: TestClient[Litestar], db: Callable[[], Session], make_user: Any, caseworker: Any
) -> None:
    family = issue_family_card(db, make_user)
    with db() as s, s.begin():
        household = s.get(Household, card_of(db, family).household_id)
        assert household is not None
        household.locale = "en"
    csrf = sign_in_as(client, caseworker)
    assert post(client, csrf, f"/staff/cards/{family.card_id}/status/suspend").status_code == 303
    sent = mails(db, SUBJECTS["suspend"])
    assert {m.subject for m in sent} == {"Your family card has been suspended"}
    assert all(m.body_text.startswith("Hello ") and f"Reason: {REASON}" in m.body_text for m in sent)


def test_families_and_partners_may_not_use_the_staff_card_pages(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, make_user: Any
) -> None:
    for user in (family.users[0], make_user(Role.PARTNER_OWNER), make_user(Role.CASHIER)):
        csrf = sign_in_as(client, user)
        assert client.get("/staff/cards", params={"q": "muller"}).status_code == 403
        assert client.get(f"/staff/cards/{family.card_id}").status_code == 403
        assert post(client, csrf, f"/staff/cards/{family.card_id}/status/suspend").status_code == 403
    assert card_of(db, family).status == "active"
    assert audit(db, "card.viewed") == audit(db, "card.searched") == []


def test_admins_may_work_on_cards_too(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, make_user: Any
) -> None:
    csrf = sign_in_as(client, make_user(Role.ADMIN))
    assert client.get(f"/staff/cards/{family.card_id}").status_code == 200
    assert post(client, csrf, f"/staff/cards/{family.card_id}/status/suspend").status_code == 303
    assert card_of(db, family).status == "suspended"


def test_an_unknown_change_of_the_card_is_not_found_and_changes_nothing(
    client: TestClient[Litestar], db: Callable[[], Session], family: Family, caseworker: Any
) -> None:
    csrf = sign_in_as(client, caseworker)
    assert post(client, csrf, f"/staff/cards/{family.card_id}/status/delete").status_code == 404
    assert card_of(db, family).status == "active"
