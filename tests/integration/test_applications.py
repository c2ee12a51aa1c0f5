"""Applying for the family card: the service on the real database, and the form over HTTP."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte import models
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.cards import services
from familienkarte.cards.errors import ApplicationRefused, DuplicateApplication
from familienkarte.cards.models import Application, Card, Child, Household, HouseholdAdult
from familienkarte.cards.schemas import ApplicationReceived
from familienkarte.city import City, load_city
from familienkarte.credentials.card_numbers import is_valid_card_number
from familienkarte.errors import InvalidInput
from familienkarte.mail.models import Email
from tests.conftest import BASE_URL, csrf_from

TODAY = dt.date(2026, 11, 23)
KOELN = load_city("koeln")


def form(**changes: str) -> dict[str, str]:
    base = {
        "adult-0-first_name": "Ayşe",
        "adult-0-last_name": "Yılmaz",
        "adult-0-email": "Ayse.Yilmaz@Example.org",
        "adult-1-first_name": "Jan",
        "adult-1-last_name": "Müller",
        "adult-1-email": "jan.mueller@example.org",
        "child-0-first_name": "Emre",
        "child-0-birth_date": "2019-04-12",
        "child-1-first_name": "",
        "child-1-birth_date": "2027-02-01",
        "child-1-expected": "on",
        "street": "Venloer Straße",
        "house_number": "12a",
        "postal_code": "50823",
        "district": "",
        "locale": "en",
        "main_residence": "on",
        "consent": "on",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def row_counts(db: Callable[[], Session]) -> dict[str, int]:
    with db() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) or 0 for t in models.Base.metadata.sorted_tables}


def submit(db: Callable[[], Session], data: dict[str, str], city: City = KOELN, **kwargs: Any) -> ApplicationReceived:
    with db() as s, s.begin():
        return services.submit_application(s, city, data, base_url=BASE_URL, today=TODAY, **kwargs)


def refused_fields(db: Callable[[], Session], data: dict[str, str]) -> dict[str, str]:
    before = row_counts(db)
    with pytest.raises(InvalidInput) as info:
        submit(db, data)
    assert row_counts(db) == before, "nothing may be stored"
    return {e.field: e.message % e.params if e.params else e.message for e in info.value.errors}


def test_an_application_stores_the_household_whole(db: Callable[[], Session]) -> None:
    received = submit(db, form())
    assert received.status == "submitted"
    with db() as s:
        household = s.scalars(select(Household)).one()
        assert (household.street, household.house_number, household.postal_code) == ("Venloer Straße", "12a", "50823")
        assert household.district == "Ehrenfeld"
        assert household.city_name == "Köln"
        assert household.locale == "en"
        assert household.tier_claimed is False
        adults = s.scalars(select(HouseholdAdult).order_by(HouseholdAdult.position)).all()
        assert [a.email for a in adults] == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
        users = {u.email: u for u in s.scalars(select(User))}
        assert all(users[a.email].role == Role.FAMILY.value and users[a.email].id == a.user_id for a in adults)
        children = s.scalars(select(Child).order_by(Child.position)).all()
        assert [(c.birth_date, c.expected_date) for c in children] == [
            (dt.date(2019, 4, 12), None),
            (None, dt.date(2027, 2, 1)),
        ]
        application = s.scalars(select(Application)).one()
        assert application.status == "submitted"
        assert s.scalar(select(func.count()).select_from(Card)) == 0
        mails = s.scalars(select(Email)).all()
        assert sorted(m.to_address for m in mails) == ["ayse.yilmaz@example.org", "jan.mueller@example.org"]
        assert all(m.subject == "We have received your application for the family card" for m in mails)


def test_the_confirmation_is_in_the_households_language(db: Callable[[], Session]) -> None:
    submit(db, form(locale="de"))
    with db() as s:
        subjects = {m.subject for m in s.scalars(select(Email))}
    assert subjects == {"Wir haben Ihren Antrag auf die Familienkarte erhalten"}


def test_a_postal_code_spanning_districts_needs_a_choice(db: Callable[[], Session]) -> None:
    fields = refused_fields(db, form(postal_code="51105"))
    assert "several districts (Kalk, Porz)" in fields["district"]
    submit(db, form(postal_code="51105", district="Porz"))
    with db() as s:
        assert s.scalars(select(Household.district)).one() == "Porz"


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"postal_code": "10115"}, "postal_code", "not in Köln"),
        ({"postal_code": "5082"}, "postal_code", "five-digit"),
        ({"district": "Porz"}, "district", "not in this district"),
        ({"street": ""}, "street", "street"),
        ({"street": "S" * 201}, "street", "at most 200"),
        ({"house_number": "twelve"}, "house_number", "house number"),
        ({"adult-0-email": "not-an-address"}, "adult-0-email", "valid e-mail"),
        ({"adult-1-email": "AYSE.yilmaz@example.org"}, "adult-1-email", "own"),
        (
            {f"adult-{i}-{k}": "" for i in (0, 1) for k in ("first_name", "last_name", "email")},
            "adult-0-first_name",
            "one adult",
        ),
        ({"adult-1-last_name": ""}, "adult-1-last_name", "last name"),
        ({"adult-0-first_name": "A" * 101}, "adult-0-first_name", "at most 100"),
        ({"child-0-birth_date": "31.02.2019"}, "child-0-birth_date", "real date"),
        ({"child-0-birth_date": "gestern"}, "child-0-birth_date", "real date"),
        ({"child-0-first_name": ""}, "child-0-first_name", "first name"),
        ({"child-1-birth_date": ""}, "child-1-birth_date", "expected date"),
        ({"locale": "xx"}, "locale", "languages"),
        ({"consent": ""}, "consent", "privacy notice"),
        ({"tier_number": "#?!"}, "tier_number", "right form"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    db: Callable[[], Session], changes: dict[str, str], field: str, words: str
) -> None:
    fields = refused_fields(db, form(**changes))
    assert field in fields, fields
    assert words in fields[field]


def test_a_german_date_is_understood(db: Callable[[], Session]) -> None:
    submit(db, form(**{"child-0-birth_date": "12.04.2019"}))
    with db() as s:
        assert s.scalars(select(Child.birth_date).where(Child.position == 0)).one() == dt.date(2019, 4, 12)


@pytest.mark.parametrize(
    ("changes", "reason", "field"),
    [
        ({"child-0-birth_date": "2027-01-01"}, "birth_date_in_future", "child-0-birth_date"),
        ({"child-0-birth_date": "1899-01-01"}, "birth_date_too_early", "child-0-birth_date"),
        ({"child-1-birth_date": "2028-06-01"}, "expected_date_too_far", "child-1-birth_date"),
        ({"main_residence": ""}, "main_residence_missing", "main_residence"),
        (
            {"child-0-birth_date": "2000-01-01", "child-1-birth_date": "", "child-1-expected": ""},
            "no_eligible_child",
            "children",
        ),
        (
            {"adult-2-first_name": "Eve", "adult-2-last_name": "Third", "adult-2-email": "e@example.org"},
            "too_many_adults",
            "adults",
        ),
    ],
)
def test_a_failed_rule_is_refused_with_its_reason_and_nothing_stored(
    db: Callable[[], Session], changes: dict[str, str], reason: str, field: str
) -> None:
    before = row_counts(db)
    with pytest.raises(ApplicationRefused) as info:
        submit(db, form(**changes))
    assert info.value.reasons == [reason]
    assert [e.field for e in info.value.errors] == [field]
    assert row_counts(db) == before


def test_a_second_application_for_the_same_household_is_a_conflict(db: Callable[[], Session]) -> None:
    submit(db, form())
    before = row_counts(db)
    # Same address written differently, another adult of the same last name.
    again = form(
        street="venloer str.",
        house_number="12 A",
        **{
            "adult-0-email": "other@example.org",
            "adult-0-last_name": "YILMAZ",
            "adult-1-first_name": "",
            "adult-1-last_name": "",
            "adult-1-email": "",
        },
    )
    with pytest.raises(DuplicateApplication):
        submit(db, again)
    assert row_counts(db) == before


def test_an_email_already_on_an_active_household_is_a_conflict(db: Callable[[], Session]) -> None:
    submit(db, form())
    elsewhere = form(street="Aachener Straße", postal_code="50674", **{"adult-1-email": "jan.mueller@example.org"})
    elsewhere["adult-0-email"] = "new@example.org"
    with pytest.raises(DuplicateApplication):
        submit(db, elsewhere)


def test_a_rejected_household_may_apply_again(db: Callable[[], Session]) -> None:
    submit(db, form())
    with db() as s, s.begin():
        s.scalars(select(Application)).one().status = "rejected"
    submit(db, form())
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Application)) == 2
        assert s.scalar(select(func.count()).select_from(User)) == 2, "the family accounts are reused"


def test_a_staff_address_cannot_be_used(db: Callable[[], Session], make_user: Any) -> None:
    make_user(Role.CASEWORKER, email="jan.mueller@example.org")
    fields = refused_fields(db, form())
    assert "staff or partner account" in fields["adult-1-email"]


def test_automatic_approval_issues_the_card_at_once(db: Callable[[], Session]) -> None:
    city = dataclasses.replace(KOELN, auto_approve=True)
    received = submit(db, form(), city=city)
    assert received.status == "approved"
    assert received.card_number is not None
    assert is_valid_card_number(received.card_number)
    with db() as s:
        card = s.scalars(select(Card)).one()
        # The expected child (2027-02-01) is the youngest; the 6-year cap ends earlier.
        assert (card.valid_from, card.valid_until) == (TODAY, dt.date(2032, 11, 22))
        mails = s.scalars(select(Email)).all()
        assert {m.subject for m in mails} == {"Your family card has been approved"}
        assert all(f"{BASE_URL}/login/family/" in m.body_text for m in mails)


def test_automatic_approval_waits_for_staff_when_a_tier_is_claimed(db: Callable[[], Session]) -> None:
    city = dataclasses.replace(KOELN, auto_approve=True)
    received = submit(db, form(tier_number="kp-123456"), city=city)
    assert received.status == "submitted"
    with db() as s:
        household = s.scalars(select(Household)).one()
        assert (household.tier_claimed, household.tier_number) == (True, "KP-123456")
        assert s.scalar(select(func.count()).select_from(Card)) == 0


def test_automatic_approval_is_off_by_default(db: Callable[[], Session]) -> None:
    assert submit(db, form()).status == "submitted"


# -- over HTTP ----------------------------------------------------------------------------------------------------


def page(client: TestClient[Litestar], lang: str) -> str:
    response = client.get(f"/apply?lang={lang}")
    assert response.status_code == 200
    return response.text


def test_the_form_is_offered_to_everyone(client: TestClient[Litestar]) -> None:
    html = page(client, "de")
    assert "<h1>Familienkarte beantragen</h1>" in html
    assert html.count("<h1") == 1
    assert "Köln" in html
    assert "KölnPass" in html
    assert 'for="field-child-5-birth_date"' in html
    assert 'for="field-adult-1-email"' in html
    assert "Mülheim" in html


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("de", "Die Postleitzahl 10115 liegt nicht in Köln."),
        ("en", "The postal code 10115 is not in Köln."),
    ],
)
def test_bad_input_is_shown_at_the_field_in_the_readers_language(
    client: TestClient[Litestar], db: Callable[[], Session], lang: str, message: str
) -> None:
    csrf = csrf_from(page(client, lang))
    response = client.post("/apply", data={**form(postal_code="10115"), "csrf_token": csrf})
    assert response.status_code == 422
    assert message in response.text
    assert 'href="#field-postal_code"' in response.text
    assert 'aria-invalid="true"' in response.text
    assert 'value="Venloer Straße"' in response.text, "what was typed is kept"
    assert row_counts(db)["households"] == 0


@pytest.mark.parametrize(
    ("lang", "message"),
    [
        ("de", "Das Geburtsdatum liegt in der Zukunft."),
        ("en", "The date of birth lies in the future."),
    ],
)
def test_a_refused_rule_is_explained_in_the_readers_language(
    client: TestClient[Litestar], db: Callable[[], Session], lang: str, message: str
) -> None:
    csrf = csrf_from(page(client, lang))
    response = client.post("/apply", data={**form(**{"child-0-birth_date": "2099-01-01"}), "csrf_token": csrf})
    assert response.status_code == 422
    assert message in response.text
    assert 'href="#field-child-0-birth_date"' in response.text
    assert row_counts(db)["applications"] == 0


def test_applying_over_http_leads_to_the_received_page(client: TestClient[Litestar], db: Callable[[], Session]) -> None:
    csrf = csrf_from(page(client, "en"))
    response = client.post("/apply", data={**form(), "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/apply/received"
    received = client.get("/apply/received?lang=en")
    assert "we have received your application" in received.text
    assert row_counts(db)["applications"] == 1


def test_a_duplicate_over_http_is_a_clear_conflict(client: TestClient[Litestar], db: Callable[[], Session]) -> None:
    submit(db, form())
    csrf = csrf_from(page(client, "en"))
    response = client.post("/apply", data={**form(), "csrf_token": csrf})
    assert response.status_code == 409
    assert "There is already an application or a card for this household." in response.text
