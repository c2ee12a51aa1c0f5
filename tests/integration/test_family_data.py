"""The family's data rights over HTTP: the data page, the download, changing the e-mail address, the language and
the adults, and deleting the account, down to every table of the database."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import JSON, String, Text, select
from sqlalchemy.orm import Session

from familienkarte import i18n, models
from familienkarte.accounts.models import LoginLink, User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit
from familienkarte.cards import family_data
from familienkarte.cards.credential_models import CardCredential, PrintJob
from familienkarte.cards.models import Application, Card, Child, Household, HouseholdAdult
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption
from tests.conftest import BASE_URL, csrf_from
from tests.helpers import OTHER_FAMILY, sign_in_as, sign_out
from tests.integration.test_card_api import verify_online
from tests.integration.test_card_credentials import Family, Phone, issue_family_card

Client = TestClient[Litestar]
Factory = Callable[[], Session]

# The household of tests.integration.test_applications.form(), with a pass number.
AYSE = "ayse.yilmaz@example.org"
JAN = "jan.mueller@example.org"
TIER_NUMBER = "KP-48213"
ONE_ADULT = {"adult-1-first_name": "", "adult-1-last_name": "", "adult-1-email": ""}


@pytest.fixture
def family(db: Factory, make_user: Any) -> Family:
    issued = issue_family_card(db, make_user)
    # The pass number as staff would have checked it (a claim needs a decision when approving).
    with db() as s, s.begin():
        card = s.get(Card, issued.card_id)
        assert card is not None
        household = s.get(Household, card.household_id)
        assert household is not None
        household.tier_claimed, household.tier_number, household.tier_approved = True, TIER_NUMBER, True
    return issued


def post(client: Client, csrf: str, path: str, **fields: str) -> Any:
    return client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)


def mails_to(db: Factory, address: str) -> list[Email]:
    with db() as s:
        return list(s.scalars(select(Email).where(Email.to_address == address).order_by(Email.created_at)).all())


def link_in(mail: Email) -> str:
    start = mail.body_text.index(BASE_URL) + len(BASE_URL)
    return mail.body_text[start:].split()[0]


def activate(client: Client, user: User, name: str) -> tuple[Phone, dict[str, Any]]:
    phone = Phone.new()
    csrf = sign_in_as(client, user)
    response = client.post(
        "/api/v1/me/card/activations",
        json={"device_key": phone.k, "device_name": name},
        headers={"X-CSRF-Token": csrf},
    )
    assert response.status_code == 201, response.text
    return phone, response.json()


def household_of(db: Factory, family: Family) -> Household:
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
        household = s.get(Household, card.household_id)
        assert household is not None
        _ = household.adults, household.children
        return household


# The page ---------------------------------------------------------------------------------------------------


def test_the_data_page_shows_the_household_and_the_actions(client: Client, family: Family, db: Factory) -> None:
    sign_in_as(client, family.users[0])
    page = client.get("/card/data?lang=en")
    assert page.status_code == 200
    for text in ("Venloer Straße 12a", "50823", "Ehrenfeld", "Ayşe Yılmaz", "Jan Müller", AYSE, JAN, "Emre"):
        assert text in page.text
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
    assert f"{card.number[:3]} {card.number[3:6]} {card.number[6:]}" in page.text
    for path in ("/card/data/export.json", "/card/data/email", "/card/data/language", "/card/data/delete"):
        assert f'href="{path}"' in page.text
    jan = family.users[1]
    with db() as s:
        jan_adult = s.scalars(select(HouseholdAdult).where(HouseholdAdult.user_id == jan.id)).one()
    # The other adult can be removed, oneself not; the card is full, so nobody can be added.
    assert f"/card/data/adults/{jan_adult.id}/remove" in page.text
    assert page.text.count("/remove") == 1
    assert "/card/data/adults/new" not in page.text
    assert "A family card can have 2 adults." in page.text


def test_a_family_user_without_household_may_download_but_has_no_data_page(client: Client, make_user: Any) -> None:
    user = make_user(Role.FAMILY, email="neu@example.org")
    sign_in_as(client, user)
    assert client.get("/card/data", headers={"Accept": "text/html"}).status_code == 404
    body = client.get("/card/data/export.json").json()
    assert body["account"]["email"] == "neu@example.org"
    assert body["household"] is None
    assert body["adults"] == []


# The download -----------------------------------------------------------------------------------------------


def test_the_export_holds_every_kind_of_data_and_nothing_of_another_family(
    client: Client, family: Family, db: Factory, make_user: Any
) -> None:
    other = issue_family_card(db, make_user, **OTHER_FAMILY)
    _phone, issued = activate(client, family.users[0], "Ayşes Handy")
    activate(client, other.users[0], "Lenas Handy")
    with db() as s, s.begin():
        application = s.scalars(
            select(Application).where(Application.household_id == household_of(db, family).id)
        ).one()
        application.info_request = "Bitte die Geburtsurkunde von Emre nachreichen."
        s.add(PrintJob(card_id=family.card_id, status="ready", by_staff=False, pdf=b"%PDF-1.7 card"))
    csrf = sign_in_as(client, family.users[0])

    response = client.get("/card/data/export.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["content-disposition"].startswith('attachment; filename="familienkarte-data-')
    assert "no-store" in response.headers["cache-control"]
    data = response.json()
    text = response.text
    assert data["format_version"] == family_data.FORMAT_VERSION
    assert data["generated_at"]
    assert data["account"]["email"] == AYSE
    assert data["sign_in_links"], "the approval e-mail's sign-in link"
    household = data["household"]
    assert (household["street"], household["house_number"], household["postal_code"]) == (
        "Venloer Straße",
        "12a",
        "50823",
    )
    assert (household["district"], household["tier_claimed"], household["tier_number"]) == (
        "Ehrenfeld",
        True,
        TIER_NUMBER,
    )
    assert [(a["first_name"], a["email"], a["is_you"]) for a in data["adults"]] == [
        ("Ayşe", AYSE, True),
        ("Jan", JAN, False),
    ]
    assert [(c["first_name"], c["birth_date"]) for c in data["children"]] == [("Emre", "2019-04-12"), ("", None)]
    assert data["children"][1]["expected_date"] == "2027-02-01"
    (applied,) = data["applications"]
    assert applied["status"] == "approved"
    assert applied["info_request"] == "Bitte die Geburtsurkunde von Emre nachreichen."
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
    (card_data,) = data["cards"]
    assert card_data["number"].replace(" ", "") == card.number
    assert (card_data["status"], card_data["valid_until"]) == ("active", card.valid_until.isoformat())
    (credential,) = data["credentials"]
    assert credential["id"] == issued["credential_id"]
    assert (credential["kind"], credential["device_name"], credential["holder"]) == (
        "phone",
        "Ayşes Handy",
        "Ayşe Yılmaz",
    )
    assert credential["status"] == "active"
    (order,) = data["print_orders"]
    assert order["status"] == "ready"
    assert "pdf" not in order
    assert "PDF" not in text
    # The approval e-mails to both adults, with the card number.
    assert any(card_data["number"] in m["body"] for m in data["emails"] if m["to"] == AYSE)
    assert {m["to"] for m in data["emails"]} == {AYSE, JAN}
    actions = {(e["action"], e["actor_role"]) for e in data["audit"]}
    assert ("application.approved", "caseworker") in actions
    assert ("credential.activate", "family") in actions
    assert all(set(e) == {"at", "action", "actor_role", "object_type", "object_id"} for e in data["audit"])
    # Nothing of the other family, and no staff name or address.
    for foreign in ("Lena", "Schwarzkopf", "Tomasz", "Nowak", "Mila", "Subbelrather", "Lenas Handy", "tomasz.nowak"):
        assert foreign not in text
    with db() as s:
        staff = s.scalars(select(User).where(User.role == Role.CASEWORKER.value)).all()
    assert staff
    assert all(member.email not in text for member in staff)

    api = client.get("/api/v1/me/data")
    assert api.status_code == 200
    assert "no-store" in api.headers["cache-control"]
    from_api = api.json()
    assert {k: v for k, v in from_api.items() if k != "generated_at"} == {
        k: v for k, v in data.items() if k != "generated_at"
    }
    assert csrf


# Every table is either in the export or known to hold nothing of the family: a new table fails here until it is
# decided which.
TABLES_IN_EXPORT = {
    "users": "account",
    "login_links": "sign_in_links",
    "households": "household",
    "household_adults": "adults",
    "children": "children",
    "applications": "applications",
    "cards": "cards",
    "card_credentials": "credentials",
    "print_jobs": "print_orders",
    "redemptions": "redemptions",
    "emails": "emails",
    "audit_log": "audit",
}
TABLES_WITHOUT_FAMILY_DATA = {
    "partners": "partner organisations",
    "locations": "partner locations",
    "api_keys": "partners' till keys",
    "issuer_keys": "the city's signing keys",
    "status_lists": "two bits per credential, no ids",
    "benefits": "partners' offers",
    "benefit_locations": "where partners' offers apply",
    "transit_stops": "public transport stops",
    "verification_events": "partner, location, reason and time of a scan; no card",
    "stats_redemptions": "counts per hour, partner, location and benefit; no card",
    "stats_verifications": "counts per hour, location and reason",
    "stats_cards": "counts of cards per district and month",
    "stats_families": "counts of families reached per month",
    "stats_builds": "when the statistics were built",
    "stats_scans": "how far the statistics looked for changes",
    "outbox_events": "events for the statistics: kind and times only, no card, no person",
    "outbox_consumed": "which consumer handled which event",
    "stats_dirty": "days and months of statistics to rebuild",
    "stats_export_jobs": "staff exports of suppressed statistics; no card",
    "email_attachments": "files of partners' monthly reports; e-mail to families has none",
    "stats_retained_days": "per day: how many old raw facts were deleted",
    "stats_redemptions_area": "counts per day, category and district; no card",
    "stats_verifications_area": "counts per day, reason and district",
    "stats_redemptions_area_weeks": "counts per week, category and district; no card",
    "stats_verifications_area_weeks": "counts per week, reason and district",
    "stats_benefit_weeks": "running totals of redemptions per benefit and week; no card",
    "stats_partner_fraud_weeks": "running totals of verifications per partner and week",
    "stats_week_tops": "the largest week totals of benefits and partners; no card",
    "stats_partner_months": "a partner's redemptions per month and benefit, location or week; no card",
    "stats_partner_month_reasons": "a partner's verifications per month and reason",
    "stats_partner_month_builds": "when a month's partner figures were counted",
    # A card number alone, with no time, place or benefit: the programme-wide count of families reached after the
    # card's old redemptions were deleted. Erasure keeps card numbers in the statistics in the same way.
    "stats_reached_cards": "card numbers only, for the count of families reached since the start",
}


def test_every_table_is_exported_or_holds_nothing_of_the_family(client: Client, family: Family, db: Factory) -> None:
    tables = {t.name for t in models.Base.metadata.sorted_tables}
    assert set(TABLES_IN_EXPORT) | set(TABLES_WITHOUT_FAMILY_DATA) == tables
    assert not set(TABLES_IN_EXPORT) & set(TABLES_WITHOUT_FAMILY_DATA)
    activate(client, family.users[0], "Ayşes Handy")
    with db() as s, s.begin():
        s.add(PrintJob(card_id=family.card_id, status="queued", by_staff=True))
        card = s.get(Card, family.card_id)
        assert card is not None
        partner = Partner(name="Zoo Köln", status="approved")
        s.add(partner)
        s.flush()
        location = Location(partner_id=partner.id, name="Haupteingang")
        benefit = Benefit(partner_id=partner.id, status="published", category="leisure", kind="free_entry")
        benefit.title = {"de": "Freier Eintritt"}
        s.add_all([location, benefit])
        s.flush()
        s.add(
            Redemption(
                partner_id=partner.id,
                location_id=location.id,
                benefit_id=benefit.id,
                card_number=card.number,
                card_id=card.id,
                quantity=2,
                client_nonce="till-1",
                presentation="phone",
                occurred_at=utcnow(),
            )
        )
    sign_in_as(client, family.users[0])
    data = client.get("/card/data/export.json").json()
    assert data["redemptions"][0]["benefit"] == "Freier Eintritt"
    assert data["redemptions"][0]["quantity"] == 2
    assert set(TABLES_IN_EXPORT.values()) | {"format_version", "generated_at"} == set(data)
    for key in TABLES_IN_EXPORT.values():
        assert data[key], f"the export's {key} is empty for an approved family"


# The e-mail address -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("", "Please enter your e-mail address."),
        ("not-an-address", "Please enter a valid e-mail address"),
        (AYSE, "This is your e-mail address already."),
        (JAN, "This e-mail address is used by another account."),
        ("staff@example.org", "This e-mail address is used by another account."),
    ],
)
def test_a_refused_new_address_names_the_field_and_sends_nothing(
    client: Client, family: Family, db: Factory, make_user: Any, address: str, message: str
) -> None:
    make_user(Role.CASEWORKER, email="staff@example.org")
    csrf = sign_in_as(client, family.users[0])
    with db() as s:
        before = len(s.scalars(select(Email)).all())
    response = post(client, csrf, "/card/data/email?lang=en", email=address)
    assert response.status_code == 422
    assert message in response.text
    assert 'id="error-email"' in response.text
    assert 'aria-invalid="true"' in response.text
    with db() as s:
        assert len(s.scalars(select(Email)).all()) == before
        assert s.get(User, family.users[0].id).email == AYSE  # type: ignore[union-attr]


def test_a_new_address_is_confirmed_by_a_link_sent_to_it(client: Client, family: Family, db: Factory) -> None:
    csrf = sign_in_as(client, family.users[0])
    response = post(client, csrf, "/card/data/email", email="  Ayse.Neu@Example.org ")
    assert (response.status_code, response.headers["location"]) == (303, "/card/data")
    # Nothing has changed yet.
    with db() as s:
        assert s.get(User, family.users[0].id).email == AYSE  # type: ignore[union-attr]
    (mail,) = mails_to(db, "ayse.neu@example.org")
    path = link_in(mail)
    assert path.startswith(family_data.EMAIL_CONFIRM_PATH + "/")

    # Opened on another device, not signed in: looking does not use the link up, and a changed token is unknown.
    sign_out(client)
    assert client.get(path + "?lang=en").status_code == 200
    page = client.get(path + "?lang=en")
    assert "ayse.neu@example.org" in page.text
    forged = path.rsplit(".", 1)[0] + ".bWFsbG9yeUBleGFtcGxlLm9yZw"
    assert client.get(forged + "?lang=en").status_code == 409
    response = client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login/family")
    with db() as s:
        user = s.get(User, family.users[0].id)
        assert user is not None
        assert user.email == "ayse.neu@example.org"
        adult = s.scalars(select(HouseholdAdult).where(HouseholdAdult.user_id == user.id)).one()
        assert adult.email == "ayse.neu@example.org"
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(user.id))))
    assert {"family.email_change_requested", "family.email_changed"} <= actions
    notices = [m for m in mails_to(db, AYSE) if "changed" in m.subject or "geändert" in m.subject]
    assert len(notices) == 1
    # The link works once.
    again = client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert again.status_code == 409
    # Signing in with the new address works.
    response = client.post(
        "/login/family",
        data={"csrf_token": csrf_from(client.get("/login/family").text), "email": "ayse.neu@example.org"},
    )
    assert response.status_code == 200
    assert any("/login/family/" in m.body_text for m in mails_to(db, "ayse.neu@example.org"))


def test_an_address_taken_meanwhile_is_refused_at_confirmation(
    client: Client, family: Family, db: Factory, make_user: Any
) -> None:
    csrf = sign_in_as(client, family.users[0])
    assert post(client, csrf, "/card/data/email", email="frei@example.org").status_code == 303
    path = link_in(mails_to(db, "frei@example.org")[0])
    make_user(Role.FAMILY, email="frei@example.org")
    response = post(client, csrf, path + "?lang=en")
    assert response.status_code == 409
    assert "used by another account" in response.text
    with db() as s:
        assert s.get(User, family.users[0].id).email == AYSE  # type: ignore[union-attr]


# Language ---------------------------------------------------------------------------------------------------


def test_the_language_changes_for_the_household_and_the_user(client: Client, family: Family, db: Factory) -> None:
    csrf = sign_in_as(client, family.users[0])
    refused = post(client, csrf, "/card/data/language?lang=en", locale="fr")
    assert refused.status_code == 422
    assert "Please choose one of the languages offered." in refused.text
    assert 'id="error-locale"' in refused.text
    assert household_of(db, family).locale == "de"

    response = post(client, csrf, "/card/data/language", locale="en")
    assert (response.status_code, response.headers["location"]) == (303, "/card/data?lang=en")
    assert household_of(db, family).locale == "en"
    with db() as s:
        assert s.get(User, family.users[0].id).locale == "en"  # type: ignore[union-attr]
    assert "The language has been changed." in client.get(response.headers["location"]).text


# Adults -----------------------------------------------------------------------------------------------------


def test_adding_the_second_adult_and_the_refusals(client: Client, db: Factory, make_user: Any) -> None:
    single = issue_family_card(db, make_user, **ONE_ADULT)
    other = issue_family_card(db, make_user, **OTHER_FAMILY)
    make_user(Role.PARTNER_OWNER, email="kasse@example.org")
    csrf = sign_in_as(client, single.users[0])
    assert client.get("/card/data/adults/new").status_code == 200
    path = "/card/data/adults?lang=en"

    def refused(**fields: str) -> dict[str, str]:
        response = post(client, csrf, path, **fields)
        assert response.status_code == 422, response.text
        return {
            name: response.text
            for name in ("first_name", "last_name", "email")
            if f'id="error-{name}"' in response.text
        }

    assert set(refused(first_name="", last_name="", email="")) == {"first_name", "last_name", "email"}
    assert set(refused(first_name="Jan", last_name="Müller", email="jan@")) == {"email"}
    page = refused(first_name="Jan", last_name="Müller", email="kasse@example.org")
    assert "belongs to a staff or partner account" in page["email"]
    page = refused(first_name="Tomasz", last_name="Nowak", email="Tomasz.Nowak@example.org")
    assert "another household with a family card" in page["email"]
    page = refused(first_name="Ayşe", last_name="Yılmaz", email=AYSE)
    assert "an adult of your household already" in page["email"]
    assert len(household_of(db, single).adults) == 1

    response = post(
        client, csrf, "/card/data/adults", first_name=" Jan ", last_name="Müller", email="Jan.Mueller@example.org"
    )
    assert (response.status_code, response.headers["location"]) == (303, "/card/data")
    adults = household_of(db, single).adults
    assert [(a.first_name, a.last_name, a.email, a.position) for a in adults] == [
        ("Ayşe", "Yılmaz", AYSE, 0),
        ("Jan", "Müller", JAN, 1),
    ]
    with db() as s:
        jan = s.scalars(select(User).where(User.email == JAN)).one()
    assert (jan.role, adults[1].user_id) == ("family", jan.id)
    (mail,) = mails_to(db, JAN)[-1:]
    assert "/login/family/" in mail.body_text
    sign_out(client)
    assert client.get(link_in(mail)).status_code == 200, "the sign-in link works"

    # A third adult is over Köln's maximum of two.
    csrf = sign_in_as(client, single.users[0])
    response = post(client, csrf, path, first_name="Oma", last_name="Yılmaz", email="oma@example.org")
    assert response.status_code == 409
    assert "at most 2 adults" in response.text
    assert len(household_of(db, single).adults) == 2
    assert other


def test_removing_the_other_adult_stops_their_phones_only(
    client: Client, family: Family, db: Factory, make_user: Any
) -> None:
    other = issue_family_card(db, make_user, **OTHER_FAMILY)
    anna_phone, anna = activate(client, family.users[0], "Ayşes Handy")
    jan_phone, jan = activate(client, family.users[1], "Jans Handy")
    household = household_of(db, family)
    me, jan_adult = household.adults
    foreign = household_of(db, other).adults[0]
    csrf = sign_in_as(client, family.users[0])

    assert client.get(f"/card/data/adults/{foreign.id}/remove").status_code == 404
    assert post(client, csrf, f"/card/data/adults/{foreign.id}/remove").status_code == 404
    assert post(client, csrf, f"/card/data/adults/{uuid.uuid4()}/remove").status_code == 404
    response = post(client, csrf, f"/card/data/adults/{me.id}/remove?lang=en")
    assert response.status_code == 409
    assert "delete your account" in response.text
    page = client.get(f"/card/data/adults/{jan_adult.id}/remove?lang=en")
    assert "Remove Jan Müller from the card?" in page.text

    response = post(client, csrf, f"/card/data/adults/{jan_adult.id}/remove")
    assert (response.status_code, response.headers["location"]) == (303, "/card/data")
    t = int(time.time())
    assert verify_online(client, jan_phone.present(jan["credential"], t)).value == "revoked"
    assert verify_online(client, anna_phone.present(anna["credential"], t)).value == "ok"
    with db() as s:
        assert [a.id for a in s.scalars(select(HouseholdAdult).where(HouseholdAdult.household_id == household.id))] == [
            me.id
        ]
        assert s.get(User, family.users[1].id) is None
        row = s.get(CardCredential, uuid.UUID(jan["credential_id"]))
        assert row is not None
        assert (row.status, row.device_name, row.adult_id) == ("revoked", None, None)
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "household.adult_removed")).one()
        assert entry.object_id == str(jan_adult.id)
        activation = s.scalars(
            select(AuditEntry).where(
                AuditEntry.object_id == jan["credential_id"], AuditEntry.action == "credential.activate"
            )
        ).one()
        assert "Jans Handy" not in json.dumps(activation.details)
    (notice,) = [m for m in mails_to(db, JAN) if "removed" in m.subject or "entfernt" in m.subject]
    assert "Jan" in notice.body_text

    # Now the last adult cannot be removed.
    response = post(client, csrf, f"/card/data/adults/{me.id}/remove?lang=en")
    assert response.status_code == 409
    assert "only adult" in response.text


# Deleting the account ---------------------------------------------------------------------------------------


def test_a_wrong_confirmation_deletes_nothing(client: Client, family: Family, db: Factory) -> None:
    csrf = sign_in_as(client, family.users[0])
    page = client.get("/card/data/delete?lang=en")
    assert page.status_code == 200
    assert "This cannot be undone" in page.text
    for wrong, message in (("", "Please type DELETE to confirm."), ("löschen bitte", "This is not DELETE")):
        response = post(client, csrf, "/card/data/delete?lang=en", confirmation=wrong)
        assert response.status_code == 422
        assert message in response.text
        assert 'id="error-confirmation"' in response.text
    assert len(household_of(db, family).adults) == 2
    assert client.get("/card/data").status_code == 200, "still signed in"


def _string_columns() -> list[tuple[Any, Any]]:
    return [
        (table, column)
        for table in models.Base.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, String | Text | JSON)
    ]


def _values_holding(db: Factory, needles: list[str]) -> list[str]:
    """Every string or JSON value in the database that holds one of ``needles`` as a word of its own."""
    patterns = {needle: re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)") for needle in needles}
    found = []
    with db() as s:
        for table, column in _string_columns():
            for value in s.execute(select(column).where(column.is_not(None))).scalars():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                found += [
                    f"{table.name}.{column.name}: {n!r}" for n, pattern in patterns.items() if pattern.search(text)
                ]
    return found


def test_deleting_the_account_erases_the_family_from_every_table(
    client: Client, family: Family, db: Factory, make_user: Any
) -> None:
    other = issue_family_card(db, make_user, **OTHER_FAMILY)
    anna_phone, anna = activate(client, family.users[0], "Ayşes Handy")
    jan_phone, jan = activate(client, family.users[1], "Jans Handy")
    activate(client, other.users[0], "Lenas Handy")
    household = household_of(db, family)
    with db() as s, s.begin():
        application = s.scalars(select(Application).where(Application.household_id == household.id)).one()
        application.info_request = "Bitte die Geburtsurkunde von Emre nachreichen."
        application.decision_reason = "Ayşe Yılmaz hat alles eingereicht."
        s.add(PrintJob(card_id=family.card_id, status="ready", by_staff=False, pdf=b"%PDF Ayse Yilmaz"))
    csrf = sign_in_as(client, family.users[0])
    # An address change asked for (never confirmed) and one made: both addresses are the family's too.
    assert post(client, csrf, "/card/data/email", email="ayse.alt@example.org").status_code == 303
    assert post(client, csrf, "/card/data/email", email="ayse.neu@example.org").status_code == 303
    assert post(client, csrf, link_in(mails_to(db, "ayse.neu@example.org")[0])).status_code == 303
    assert post(client, csrf, "/card/data/language", locale="en").status_code == 303
    needles = [
        "Ayşe", "Yılmaz", "Jan", "Müller", "Emre", "Venloer", TIER_NUMBER, "Ayşes Handy", "Jans Handy",
        AYSE, JAN, "ayse.alt@example.org", "ayse.neu@example.org", "Geburtsurkunde",
    ]  # fmt: skip
    assert _values_holding(db, ["Venloer", "Emre", "Jans Handy"]), "the search finds the family before"

    # Jan leaves first (the other adult keeps the card), with the German word.
    csrf_jan = sign_in_as(client, family.users[1])
    with i18n.use_locale("de"):
        german_word = i18n.gettext(family_data.CONFIRM_WORD)
    response = post(client, csrf_jan, "/card/data/delete", confirmation=f" {german_word.lower()} ")
    assert (response.status_code, response.headers["location"]) == (303, "/")
    t = int(time.time())
    assert verify_online(client, jan_phone.present(jan["credential"], t)).value == "revoked"
    assert verify_online(client, anna_phone.present(anna["credential"], t)).value == "ok"
    assert len(household_of(db, family).adults) == 1
    assert not _values_holding(db, [JAN, "Jans Handy"])

    # Ayşe is the last adult: the household is erased. She confirms with the card number.
    with db() as s:
        card = s.get(Card, family.card_id)
        assert card is not None
        number = f"{card.number[:3]} {card.number[3:6]} {card.number[6:]}".lower()
    csrf = sign_in_as(client, family.users[0])
    response = post(client, csrf, "/card/data/delete", confirmation=number)
    assert (response.status_code, response.headers["location"]) == (303, "/")
    assert "Your account has been deleted and you have been signed out." in client.get("/?lang=en").text
    # Signed out: the data page sends to the sign-in page.
    assert client.get("/card/data", follow_redirects=False).status_code == 303

    assert _values_holding(db, needles) == []
    with db() as s:
        assert s.scalars(select(HouseholdAdult).where(HouseholdAdult.household_id == household.id)).all() == []
        assert s.scalars(select(Child).where(Child.household_id == household.id)).all() == []
        assert s.get(User, family.users[0].id) is None
        assert s.get(User, family.users[1].id) is None
        assert s.scalars(select(LoginLink).where(LoginLink.user_id.in_([u.id for u in family.users]))).all() == []
        kept = s.get(Household, household.id)
        assert kept is not None
        assert (kept.postal_code, kept.district, kept.city_name) == ("50823", "Ehrenfeld", "Köln")
        assert (kept.street, kept.house_number, kept.tier_number) == ("", "", None)
        assert kept.erased_at is not None
        card = s.get(Card, family.card_id)
        assert card is not None
        assert (card.status, card.status_reason) == ("revoked", family_data.ACCOUNT_DELETED_REASON)
        assert card.valid_from is not None
        assert card.valid_until is not None
        assert card.status_changed_at is not None
        credentials = s.scalars(select(CardCredential).where(CardCredential.card_id == card.id)).all()
        assert {c.status for c in credentials} == {"revoked"}
        assert s.scalars(select(PrintJob.pdf).where(PrintJob.card_id == card.id)).all() == [None]
        application = s.scalars(select(Application).where(Application.household_id == household.id)).one()
        assert (application.status, application.info_request, application.decision_reason) == ("approved", None, None)
        # The audit keeps what happened to which record, without who.
        entries = s.scalars(select(AuditEntry).where(AuditEntry.object_id == str(application.id))).all()
        assert {e.action for e in entries} >= {"application.submitted", "application.approved"}
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "household.erased")).one().object_id == str(
            household.id
        )
        # The other family is untouched.
        assert len(household_of(db, other).adults) == 2
    assert _values_holding(db, ["Schwarzkopf", "Lenas Handy", "Subbelrather"])
    assert verify_online(client, anna_phone.present(anna["credential"], t)).value == "revoked"
