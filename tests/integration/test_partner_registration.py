"""A partner registers through the web: form errors per field, nothing half-stored, confirmation by e-mail."""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from familienkarte.accounts.models import LoginLink, User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, Partner
from familienkarte.partners.services import REGISTRATIONS_PER_IP, TERMS_VERSION
from tests.conftest import BASE_URL, PASSWORD, csrf_from
from tests.helpers import sign_in_as

Factory = Callable[[], Session]
Client = TestClient[Litestar]
CONFIRM_LINK = re.compile(re.escape(BASE_URL) + r"(/partner/register/confirm/[A-Za-z0-9_-]+)")


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def valid_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Theater am Dom",
        "legal_form": "gmbh",
        "website": "www.theater-am-dom.de",
        "category": "culture",
        "description-de": "Komödien für die ganze Familie.",
        "description-en": "Comedies for the whole family.",
        "phone": "0221 2580153",
        "owner_name": "Erika Mustermann",
        "email": "Leitung@Theater-am-Dom.example",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "location-name": "Theater am Dom",
        "location-street": "Glockengasse",
        "location-house_number": "11",
        "location-postal_code": "50667",
        "location-latitude": "50.9384",
        "location-longitude": "6.9529",
        "location-hours-tue": "18:00-22:00",
        "location-hours-sat": "14:00-17:00, 19:00-22:30",
        "location-access-step_free": "on",
        "location-access_note-de": "Aufzug neben der Kasse.",
        "terms": "on",
    }
    form.update(changes)
    return {k: v for k, v in form.items() if v is not None}


def register(client: Client, form: dict[str, str]) -> Any:
    page = client.get("/partner/register")
    assert page.status_code == 200
    return client.post("/partner/register", data={"csrf_token": csrf_from(page.text), **form}, follow_redirects=False)


def counts(db: Factory) -> tuple[int, int, int, int, int]:
    with db() as s:
        return (
            s.scalar(select(func.count()).select_from(Partner)) or 0,
            s.scalar(select(func.count()).select_from(User)) or 0,
            s.scalar(select(func.count()).select_from(Location)) or 0,
            s.scalar(select(func.count()).select_from(Email)) or 0,
            s.scalar(select(func.count()).select_from(LoginLink)) or 0,
        )


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="error-{re.escape(field)}">.*?</span>\s*(.*?)</p>', page, re.S)
    assert found, f"no error shown at {field}"
    return html.unescape(found.group(1))


def confirmation_path(db: Factory, address: str) -> str:
    with db() as s:
        mail = s.scalars(select(Email).where(Email.to_address == address)).one()
    found = CONFIRM_LINK.search(mail.body_text)
    assert found, mail.body_text
    return found.group(1)


def test_the_form_has_a_label_for_every_input(client: Client) -> None:
    page = client.get("/partner/register").text
    ids = re.findall(r'<(?:input|select|textarea) id="([^"]+)"', page)
    assert len(ids) > 30
    for element_id in ids:
        assert f'<label for="{element_id}">' in page, element_id
    for field in ("description-de", "description-en", "location-hours-mon", "location-access-step_free", "terms"):
        assert f'name="{field}"' in page


def test_a_partner_registers_and_confirms_its_e_mail_address(client: Client, db: Factory, make_user: Any) -> None:
    response = register(client, valid_form())
    assert response.status_code == 303
    assert response.headers["location"] == "/partner/register/sent"
    sent = client.get("/partner/register/sent")
    assert "leitung@theater-am-dom.example" in sent.text

    with db() as s:
        partner = s.scalars(select(Partner)).one()
        owner = s.scalars(select(User)).one()
        location = s.scalars(select(Location)).one()
    assert partner.status == "unconfirmed"
    assert partner.name == "Theater am Dom"
    assert partner.website == "https://www.theater-am-dom.de"
    assert partner.description == {"de": "Komödien für die ganze Familie.", "en": "Comedies for the whole family."}
    assert partner.terms_version == TERMS_VERSION
    assert partner.terms_accepted_at is not None
    assert partner.contact_email == "leitung@theater-am-dom.example"
    assert owner.role == Role.PARTNER_OWNER.value
    assert owner.partner_id == partner.id
    assert owner.email == "leitung@theater-am-dom.example"
    assert owner.email_confirmed_at is None
    assert owner.locale == "en"
    assert location.partner_id == partner.id
    assert location.district == "Innenstadt"
    assert location.opening_hours == {"tue": [["18:00", "22:00"]], "sat": [["14:00", "17:00"], ["19:00", "22:30"]]}
    assert location.accessibility == ["step_free"]

    # Staff do not see it waiting for approval before the address is confirmed.
    staff = make_user(Role.PARTNER_MANAGER)
    sign_in_as(client, staff)
    assert "Waiting for approval" not in client.get("/staff/partners").text
    client.cookies.clear()

    path = confirmation_path(db, "leitung@theater-am-dom.example")
    # Looking at the link (as a mail scanner does) does not use it.
    page = client.get(path)
    assert page.status_code == 200
    assert "Confirm my e-mail address" in page.text
    assert client.get(path).status_code == 200
    with db() as s:
        assert s.get(Partner, partner.id).status == "unconfirmed"  # type: ignore[union-attr]

    confirmed = client.post(path, data={"csrf_token": csrf_from(page.text)}, follow_redirects=False)
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/login"
    assert "your e-mail address is confirmed" in client.get("/login").text
    with db() as s:
        assert s.get(Partner, partner.id).status == "pending"  # type: ignore[union-attr]
        assert s.get(User, owner.id).email_confirmed_at is not None  # type: ignore[union-attr]
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.partner_id == partner.id)))
    assert {"partner.registered", "partner.email_confirmed"} <= actions

    sign_in_as(client, staff)
    assert "Waiting for approval" in client.get("/staff/partners").text

    # The link works once.
    client.cookies.clear()
    again = client.get(path)
    assert again.status_code == 409
    assert "has been used already" in again.text


def test_the_owner_signs_in_with_the_chosen_password(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    page = client.get("/login")
    signed_in = client.post(
        "/login",
        data={"csrf_token": csrf_from(page.text), "email": "leitung@theater-am-dom.example", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.headers["location"] == "/partner/"
    start = client.get("/partner/")
    assert "please confirm your e-mail address" in start.text


def test_the_confirmation_e_mail_is_in_the_registrants_language(client: Client, db: Factory) -> None:
    client.headers["Accept-Language"] = "de"
    assert register(client, valid_form()).status_code == 303
    with db() as s:
        mail = s.scalars(select(Email)).one()
    assert mail.to_address == "leitung@theater-am-dom.example"
    assert "Theater am Dom" in mail.body_text
    assert CONFIRM_LINK.search(mail.body_text)
    with db() as s:
        assert s.scalars(select(User.locale)).one() == "de"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"name": ""}, "name", "name of your organisation"),
        ({"legal_form": "pirate"}, "legal_form", "listed entries"),
        ({"legal_form": ""}, "legal_form", "legal form"),
        ({"category": "weapons"}, "category", "listed entries"),
        ({"website": "javascript:alert(1)"}, "website", "address of your website"),
        ({"description-de": ""}, "description-de", "in German"),
        ({"description-en": "x" * 2001}, "description-en", "at most 2000 characters"),
        ({"phone": "call me"}, "phone", "telephone number"),
        ({"owner_name": ""}, "owner_name", "your name"),
        ({"email": "not-an-address"}, "email", "valid e-mail address"),
        ({"password": "short", "password_confirm": "short"}, "password", "at least 12 characters"),
        ({"password_confirm": "something else entirely"}, "password_confirm", "not the same"),
        ({"location-name": ""}, "location-name", "name of the location"),
        ({"location-postal_code": "10115"}, "location-postal_code", "not in Köln"),
        ({"location-postal_code": "50668"}, "location-district", "several districts"),
        ({"location-latitude": "50.9", "location-longitude": ""}, "location-longitude", "longitude too"),
        ({"location-latitude": "95"}, "location-latitude", "between -90 and 90"),
        ({"location-hours-mon": "25:00-26:00"}, "location-hours-mon", "Monday: 25:00 is not a time of day"),
        ({"location-hours-thu": "18:00-09:00"}, "location-hours-thu", "Thursday: the time range"),
        ({"location-hours-fri": "09:00-13:00, 12:00-15:00"}, "location-hours-fri", "Friday: the time ranges overlap"),
        ({"terms": ""}, "terms", "accept the partner terms"),
    ],
)
def test_each_wrong_field_is_named_and_nothing_is_stored(
    client: Client, db: Factory, changes: dict[str, str], field: str, words: str
) -> None:
    response = register(client, valid_form(**changes))
    assert response.status_code == 422
    assert words in error_of(response.text, field)
    assert f'href="#field-{field}"' in response.text
    assert counts(db) == (0, 0, 0, 0, 0)
    # What was typed is shown again, the password never.
    assert 'value="Theater am Dom"' in response.text or field == "name"
    assert PASSWORD not in response.text


def test_many_wrong_fields_are_all_named_at_once(client: Client, db: Factory) -> None:
    response = register(client, {"location-hours-sun": "later"})
    assert response.status_code == 422
    for field in ("name", "legal_form", "category", "description-de", "phone", "owner_name", "email", "password"):
        assert f'id="error-{field}"' in response.text, field
    for field in ("location-name", "location-street", "location-postal_code", "location-hours-sun", "terms"):
        assert f'id="error-{field}"' in response.text, field
    assert counts(db) == (0, 0, 0, 0, 0)


def test_script_in_the_description_is_stored_as_text_and_shown_escaped(client: Client, db: Factory) -> None:
    script = "<script>alert('x')</script>"
    response = register(client, valid_form(**{"description-de": script, "legal_form": ""}))
    assert response.status_code == 422
    assert script not in response.text
    assert "&lt;script&gt;" in response.text
    assert register(client, valid_form(**{"description-de": script})).status_code == 303
    with db() as s:
        assert s.scalars(select(Partner.description)).one()["de"] == script


def test_an_address_already_in_use_is_refused(client: Client, db: Factory, make_user: Any) -> None:
    make_user(Role.FAMILY, email="leitung@theater-am-dom.example")
    before = counts(db)
    response = register(client, valid_form())
    assert response.status_code == 422
    assert "exists already" in error_of(response.text, "email")
    assert counts(db) == before


def test_registering_twice_with_one_address_is_refused(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    response = register(client, valid_form(name="Theater zwei"))
    assert response.status_code == 422
    assert "exists already" in error_of(response.text, "email")
    assert counts(db)[0] == 1


def test_registrations_are_limited_per_address(client: Client, db: Factory) -> None:
    for _ in range(REGISTRATIONS_PER_IP):
        assert register(client, {"name": ""}).status_code == 422
    refused = register(client, valid_form())
    assert refused.status_code == 429
    assert "Too many attempts" in refused.text
    assert "Retry-After" in refused.headers
    assert counts(db) == (0, 0, 0, 0, 0)


@pytest.mark.parametrize("token", ["not-a-token", "x" * 300])
def test_an_unknown_confirmation_link_is_refused(client: Client, token: str) -> None:
    page = client.get(f"/partner/register/confirm/{token}")
    assert page.status_code == 409
    assert "This link is not valid" in page.text


def test_a_sign_in_link_cannot_confirm_a_partner(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    path = confirmation_path(db, "leitung@theater-am-dom.example")
    token = path.rsplit("/", 1)[1]
    assert client.get(f"/login/family/{token}").status_code == 409
    assert client.get(f"/password/set/{token}").status_code == 409


def test_a_confirmation_without_csrf_token_is_refused(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    path = confirmation_path(db, "leitung@theater-am-dom.example")
    assert client.post(path, data={}).status_code == 403
    with db() as s:
        assert s.scalars(select(Partner.status)).one() == "unconfirmed"


# Sending the link again ------------------------------------------------------------------------------------------

OWNER = "leitung@theater-am-dom.example"


def resend(client: Client, email: str) -> Any:
    page = client.get("/partner/register/sent")
    assert page.status_code == 200
    return client.post(
        "/partner/register/resend", data={"csrf_token": csrf_from(page.text), "email": email}, follow_redirects=False
    )


def mails_to(db: Factory, address: str) -> list[Email]:
    with db() as s:
        return list(s.scalars(select(Email).where(Email.to_address == address).order_by(Email.created_at)))


def test_an_expired_link_is_replaced_by_a_new_one_that_confirms(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    first = confirmation_path(db, OWNER)
    with db() as s, s.begin():
        s.execute(update(LoginLink).values(expires_at=utcnow() - dt.timedelta(minutes=1)))
    assert client.get(first).status_code != 200

    page = client.get("/partner/register/sent")
    assert 'action="/partner/register/resend"' in page.text
    assert 'value="leitung@theater-am-dom.example"' in page.text
    answered = resend(client, "Leitung@Theater-am-Dom.example")
    assert answered.status_code == 303
    assert "we have sent a new link" in client.get(answered.headers["location"]).text
    mails = mails_to(db, OWNER)
    assert len(mails) == 2
    assert "/partner/register/sent" in mails[1].body_text
    found = CONFIRM_LINK.search(mails[1].body_text)
    assert found
    assert found.group(1) != first
    confirm_page = client.get(found.group(1))
    assert confirm_page.status_code == 200
    confirmed = client.post(found.group(1), data={"csrf_token": csrf_from(confirm_page.text)}, follow_redirects=False)
    assert confirmed.status_code == 303
    with db() as s:
        assert s.scalars(select(Partner)).one().status == "pending"


def test_the_answer_does_not_tell_which_addresses_are_registered(client: Client, db: Factory) -> None:
    assert register(client, valid_form()).status_code == 303
    confirm = confirmation_path(db, OWNER)
    page = client.get(confirm)
    client.post(confirm, data={"csrf_token": csrf_from(page.text)})
    before = counts(db)
    # Unknown, and known but already confirmed: the same answer, and no e-mail.
    for address in ("nobody@example.org", OWNER):
        answered = resend(client, address)
        assert answered.status_code == 303
        assert answered.headers["location"] == "/partner/register/sent"
    assert counts(db) == before


def test_a_malformed_address_is_named(client: Client, db: Factory) -> None:
    refused = resend(client, "not an address")
    assert refused.status_code == 422
    assert "e-mail address" in error_of(refused.text, "email")
