"""The caseworker's finding on a claimed tier (bit 0 of ``e``), and two submissions of one household at once."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import services
from familienkarte.cards.errors import DuplicateApplication
from familienkarte.cards.models import Application, Card, Household, HouseholdAdult
from familienkarte.errors import InvalidInput
from tests.conftest import BASE_URL
from tests.helpers import sign_in_as
from tests.integration.test_applications import KOELN, TODAY, form, submit
from tests.integration.test_card_credentials import Family, Phone, activate, now, verify


def claimed(db: Callable[[], Session]) -> uuid.UUID:
    return submit(db, form(locale="de", tier_number="KP-123456")).application_id


def approve(db: Callable[[], Session], make_user: Any, application_id: uuid.UUID, tier: str | None) -> Card:
    caseworker = principal_for_user(make_user(Role.CASEWORKER))
    with db() as s, s.begin():
        return services.approve_application(
            s, KOELN, caseworker, application_id, base_url=BASE_URL, today=TODAY, tier=tier
        )


def family_of(db: Callable[[], Session], card: Card) -> Family:
    with db() as s:
        adults = s.scalars(select(HouseholdAdult).where(HouseholdAdult.household_id == card.household_id)).all()
        users = [s.get(User, a.user_id) for a in sorted(adults, key=lambda a: a.position)]
    return Family(card.id, [u for u in users if u is not None])


def entitlement_flags(db: Callable[[], Session], family: Family) -> int:
    phone = Phone.new()
    issued = activate(db, family.principal(), phone)
    result = verify(db, phone.present(issued.credential, int(now().timestamp())))
    assert result.claims is not None, result
    return result.claims.e


def test_a_claimed_tier_needs_the_caseworkers_finding_and_nothing_changes_without_it(
    db: Callable[[], Session], make_user: Any
) -> None:
    application_id = claimed(db)
    for tier in (None, "", "maybe"):
        with pytest.raises(InvalidInput) as info:
            approve(db, make_user, application_id, tier)
        assert [e.field for e in info.value.errors] == ["tier"]
    with db() as s:
        application = s.get(Application, application_id)
        assert application is not None
        assert application.status == "submitted"
        assert s.scalar(select(func.count()).select_from(Card)) == 0


def test_an_approved_tier_sets_bit_0_of_the_credentials_entitlement_flags(
    db: Callable[[], Session], make_user: Any
) -> None:
    card = approve(db, make_user, claimed(db), "approved")
    with db() as s:
        household = s.get(Household, card.household_id)
        assert household is not None
        assert household.tier_approved is True
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "application.approved")).one()
        assert entry.details["tier_approved"] is True
    assert entitlement_flags(db, family_of(db, card)) == 1


def test_a_refused_tier_still_issues_the_card_without_the_flag(db: Callable[[], Session], make_user: Any) -> None:
    card = approve(db, make_user, claimed(db), "refused")
    assert card.status == "active"
    assert entitlement_flags(db, family_of(db, card)) == 0


def test_without_a_claim_the_finding_is_ignored(db: Callable[[], Session], make_user: Any) -> None:
    application_id = submit(db, form(locale="de")).application_id
    card = approve(db, make_user, application_id, "approved")
    with db() as s:
        household = s.get(Household, card.household_id)
        assert household is not None
        assert household.tier_approved is False
    assert entitlement_flags(db, family_of(db, card)) == 0


def test_the_approval_page_asks_for_the_finding_and_names_the_field(
    client: TestClient[Litestar], db: Callable[[], Session], make_user: Any
) -> None:
    application_id = claimed(db)
    csrf = sign_in_as(client, make_user(Role.CASEWORKER))
    detail = client.get(f"/staff/applications/{application_id}?lang=en")
    assert 'name="tier" value="approved"' in detail.text
    missing = client.post(f"/staff/applications/{application_id}/approve?lang=en", data={"csrf_token": csrf})
    assert missing.status_code == 422
    assert "Please state whether you checked the pass number and found it valid." in missing.text
    assert 'href="#field-tier"' in missing.text
    done = client.post(
        f"/staff/applications/{application_id}/approve",
        data={"csrf_token": csrf, "tier": "approved"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with db() as s:
        assert s.scalars(select(Household)).one().tier_approved is True


def test_two_submissions_of_one_household_at_once_store_it_once(db: Callable[[], Session]) -> None:
    """The first submission holds its transaction open; the second waits for it and is then a duplicate."""
    data = form(locale="de")
    first_checked = threading.Event()
    release_first = threading.Event()
    outcome: dict[str, Any] = {}

    def first() -> None:
        with db() as s, s.begin():
            outcome["first"] = services.submit_application(s, KOELN, data, base_url=BASE_URL, today=TODAY)
            first_checked.set()
            release_first.wait(30)

    def second() -> None:
        first_checked.wait(30)
        try:
            with db() as s, s.begin():
                outcome["second"] = services.submit_application(s, KOELN, data, base_url=BASE_URL, today=TODAY)
        except Exception as exc:
            outcome["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    assert first_checked.wait(30)
    # The second submission cannot get past the duplicate check while the first one is open.
    threads[1].join(1.0)
    assert threads[1].is_alive(), f"the second submission finished while the first was open: {outcome.get('second')}"
    release_first.set()
    for thread in threads:
        thread.join(30)
    assert isinstance(outcome["second"], DuplicateApplication), outcome["second"]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Household)) == 1
        assert s.scalar(select(func.count()).select_from(Application)) == 1
