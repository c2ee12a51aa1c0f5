"""The staff queue: list, read, approve (card issued), reject, ask for information; each decision audited and mailed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import services
from familienkarte.cards.errors import AlreadyDecided
from familienkarte.cards.models import Application, Card
from familienkarte.credentials.card_numbers import is_valid_card_number, new_card_number
from familienkarte.errors import InvalidInput
from familienkarte.mail.models import Email
from tests.conftest import BASE_URL
from tests.helpers import sign_in_as
from tests.integration.test_applications import KOELN, TODAY, form, submit

RECEIVED_SUBJECTS = {
    "We have received your application for the family card",
    "Wir haben Ihren Antrag auf die Familienkarte erhalten",
}


@pytest.fixture
def application_id(db: Callable[[], Session]) -> uuid.UUID:
    return submit(db, form(locale="de")).application_id


@pytest.fixture
def caseworker(make_user: Any) -> Any:
    return make_user(Role.CASEWORKER, display_name="Clara Caseworker")


def decision_mails(db: Callable[[], Session]) -> list[Email]:
    with db() as s:
        return [m for m in s.scalars(select(Email)) if m.subject not in RECEIVED_SUBJECTS]


def test_approval_issues_the_card_audits_and_mails_in_the_households_language(
    db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any
) -> None:
    with db() as s, s.begin():
        card = services.approve_application(
            s, KOELN, principal_for_user(caseworker), application_id, base_url=BASE_URL, today=TODAY
        )
    assert is_valid_card_number(card.number)
    with db() as s:
        application = s.get(Application, application_id)
        assert application is not None
        assert application.status == "approved"
        assert application.decided_by_id == caseworker.id
        stored = s.scalars(select(Card)).one()
        assert (stored.valid_from, stored.valid_until, stored.status) == (TODAY, dt.date(2032, 11, 22), "active")
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "application.approved")).one()
        assert entry.actor_user_id == caseworker.id
        assert entry.object_id == str(application_id)
    mails = decision_mails(db)
    assert len(mails) == 2
    assert {m.subject for m in mails} == {"Ihre Familienkarte ist genehmigt"}
    assert all(f"{BASE_URL}/login/family/" in m.body_text for m in mails)


def test_a_card_number_collision_is_retried(
    db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any, make_user: Any
) -> None:
    taken = new_card_number()
    other = submit(
        db,
        form(
            street="Neusser Straße",
            postal_code="50733",
            **{
                "adult-0-email": "a@example.org",
                "adult-1-email": "b@example.org",
                "adult-1-last_name": "Other",
                "adult-0-last_name": "Other",
            },
        ),
    )
    numbers: Iterator[str] = iter([taken])
    with db() as s, s.begin():
        services.approve_application(
            s,
            KOELN,
            principal_for_user(caseworker),
            other.application_id,
            base_url=BASE_URL,
            today=TODAY,
            number_source=lambda: next(numbers),
        )
    fresh = new_card_number()
    numbers = iter([taken, taken, fresh])
    with db() as s, s.begin():
        card = services.approve_application(
            s,
            KOELN,
            principal_for_user(caseworker),
            application_id,
            base_url=BASE_URL,
            today=TODAY,
            number_source=lambda: next(numbers),
        )
    assert card.number == fresh


def test_rejection_needs_a_reason_and_mails_it(
    db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any
) -> None:
    principal = principal_for_user(caseworker)
    with pytest.raises(InvalidInput) as info, db() as s, s.begin():
        services.reject_application(s, KOELN, principal, application_id, "   ")
    assert info.value.errors[0].field == "reason"
    with db() as s, s.begin():
        services.reject_application(s, KOELN, principal, application_id, "Kein Wohnsitz in Köln.")
    with db() as s:
        application = s.get(Application, application_id)
        assert application is not None
        assert (application.status, application.decision_reason) == ("rejected", "Kein Wohnsitz in Köln.")
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "application.rejected")).one()
    mails = decision_mails(db)
    assert len(mails) == 2
    assert all(
        "Kein Wohnsitz in Köln." in m.body_text and m.subject == "Ihr Antrag auf die Familienkarte" for m in mails
    )


def test_asking_for_information_keeps_the_application_open(
    db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any
) -> None:
    principal = principal_for_user(caseworker)
    with db() as s, s.begin():
        services.request_information(s, KOELN, principal, application_id, "Bitte Meldebescheinigung schicken.")
    with db() as s:
        application = s.get(Application, application_id)
        assert application is not None
        assert application.status == "info_requested"
        assert s.scalars(select(AuditEntry).where(AuditEntry.action == "application.info_requested")).one()
    assert all("Meldebescheinigung" in m.body_text for m in decision_mails(db))
    # Still decidable afterwards.
    with db() as s, s.begin():
        services.approve_application(s, KOELN, principal, application_id, base_url=BASE_URL, today=TODAY)


@pytest.mark.parametrize("second", ["approve", "reject", "request_info"])
def test_a_decided_application_cannot_be_decided_again(
    db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any, second: str
) -> None:
    principal = principal_for_user(caseworker)
    with db() as s, s.begin():
        services.reject_application(s, KOELN, principal, application_id, "Doppelt.")
    actions: dict[str, Callable[[Session], Any]] = {
        "approve": lambda s: services.approve_application(
            s, KOELN, principal, application_id, base_url=BASE_URL, today=TODAY
        ),
        "reject": lambda s: services.reject_application(s, KOELN, principal, application_id, "Noch einmal."),
        "request_info": lambda s: services.request_information(s, KOELN, principal, application_id, "Noch etwas?"),
    }
    with pytest.raises(AlreadyDecided), db() as s, s.begin():
        actions[second](s)
    with db() as s:
        assert s.scalars(select(Card)).all() == []


def test_the_queue_lists_open_applications_oldest_first(db: Callable[[], Session], application_id: uuid.UUID) -> None:
    second = submit(
        db,
        form(
            street="Neusser Straße",
            postal_code="50733",
            **{
                "adult-0-email": "a@example.org",
                "adult-1-email": "b@example.org",
                "adult-1-last_name": "Other",
                "adult-0-last_name": "Other",
            },
        ),
    ).application_id
    with db() as s:
        listing = services.list_applications(s)
        assert [r.id for r in listing.rows] == [application_id, second]
        assert services.list_applications(s, status="approved").total == 0
        assert services.list_applications(s, page=2, per_page=1).rows[0].id == second
        with pytest.raises(InvalidInput):
            services.list_applications(s, status="nonsense")


# -- over HTTP ----------------------------------------------------------------------------------------------------


def test_staff_pages_show_and_decide(
    client: TestClient[Litestar], db: Callable[[], Session], application_id: uuid.UUID, caseworker: Any
) -> None:
    csrf = sign_in_as(client, caseworker)
    listing = client.get("/staff/applications?lang=en")
    assert listing.status_code == 200
    assert f"/staff/applications/{application_id}" in listing.text
    detail = client.get(f"/staff/applications/{application_id}?lang=en")
    assert detail.status_code == 200
    assert "Every rule is met." in detail.text
    assert "Venloer Straße 12a, 50823 Köln" in detail.text
    missing = client.post(
        f"/staff/applications/{application_id}/reject?lang=en", data={"reason": "", "csrf_token": csrf}
    )
    assert missing.status_code == 422
    assert "Please give the reason for the rejection." in missing.text
    approved = client.post(
        f"/staff/applications/{application_id}/approve", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert approved.status_code == 303
    again = client.post(f"/staff/applications/{application_id}/approve?lang=en", data={"csrf_token": csrf})
    assert again.status_code == 409
    assert "already been decided" in again.text
    detail = client.get(f"/staff/applications/{application_id}?lang=en")
    assert "Card number" in detail.text


def test_admins_may_work_the_queue_too(client: TestClient[Litestar], make_user: Any) -> None:
    sign_in_as(client, make_user(Role.ADMIN))
    assert client.get("/staff/applications").status_code == 200
