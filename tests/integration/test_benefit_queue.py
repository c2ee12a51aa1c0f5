"""The staff benefit moderation queue: new benefits and changes to published ones, the benefit as families would
see it with what a change alters, and every decision over HTTP as a partner manager, with its audit entry and its
e-mail to the partner's owner in the owner's language."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Text, cast, insert, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits import fields
from familienkarte.benefits.models import Benefit, BenefitStatus, benefit_locations
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, PartnerStatus
from tests.helpers import sign_in_as
from tests.integration.test_partner_queue import QueuedPartner, make_queued_partner

Factory = Callable[[], Session]
Client = TestClient[Litestar]

REASON = "Der Rabatt muss für alle Kinder gelten."
SUBJECTS = {
    "benefit.published": ("Your benefit “%(title)s” is published", "Ihr Angebot „%(title)s“ ist veröffentlicht"),
    "benefit.change_approved": (
        "Your change to the benefit “%(title)s” is published",
        "Ihre Änderung am Angebot „%(title)s“ ist veröffentlicht",
    ),
    "benefit.rejected": ("Your benefit “%(title)s” has been declined", "Ihr Angebot „%(title)s“ wurde abgelehnt"),
    "benefit.change_rejected": (
        "Your change to the benefit “%(title)s” has been declined",
        "Ihre Änderung am Angebot „%(title)s“ wurde abgelehnt",
    ),
    "benefit.changes_requested": (
        "Please revise your benefit “%(title)s”",
        "Bitte überarbeiten Sie Ihr Angebot „%(title)s“",
    ),
}


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


# -- factories ----------------------------------------------------------------------------------------------------


def make_benefit(
    db: Factory,
    partner: QueuedPartner,
    status: str = BenefitStatus.SUBMITTED.value,
    *,
    title: dict[str, str] | None = None,
    submitted_at: dt.datetime | None = None,
    change: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A 20 % benefit at the partner's location; ``change``: a pending change of these fields (published ones)."""
    with db() as s, s.begin():
        benefit = Benefit(
            partner_id=partner.id,
            status=status,
            category="leisure",
            kind="percent_off",
            value=20,
            title=title or {"de": "Familienrabatt", "en": "Family discount"},
            description={"de": "Für die ganze Familie."},
            conditions={},
            child_age_max=12,
            submitted_at=submitted_at or utcnow(),
            published_at=utcnow() if status in ("published", "paused") else None,
        )
        s.add(benefit)
        s.flush()
        s.execute(insert(benefit_locations).values(benefit_id=benefit.id, location_id=partner.location_id))
        if change is not None:
            benefit.pending = {**fields.content_of(s, benefit), **change}
        return benefit.id


def add_location(db: Factory, partner: QueuedPartner, name: str) -> uuid.UUID:
    with db() as s, s.begin():
        location = Location(partner_id=partner.id, name=name, street="Domkloster", house_number="4")
        s.add(location)
        s.flush()
        return location.id


def stored(db: Factory, benefit_id: uuid.UUID) -> Benefit:
    with db() as s:
        benefit = s.get(Benefit, benefit_id)
        assert benefit is not None
        return benefit


def pending_is_null(db: Factory, benefit_id: uuid.UUID) -> bool:
    """The change is gone from the database: SQL NULL, as the queue's query expects."""
    with db() as s:
        raw = s.scalar(select(cast(Benefit.pending, Text)).where(Benefit.id == benefit_id))
    return raw is None


def audit_of(db: Factory, benefit_id: uuid.UUID) -> list[AuditEntry]:
    with db() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "benefit", AuditEntry.object_id == str(benefit_id))
                .order_by(AuditEntry.id)
            )
        )


def mails_to(db: Factory, address: str) -> list[Email]:
    with db() as s:
        return list(s.scalars(select(Email).where(Email.to_address == address).order_by(Email.created_at)))


def in_language(subject: str, action: str, locale: str, title: str) -> bool:
    english, german = SUBJECTS[action]
    if locale == "en":
        return subject == english % {"title": title}
    translated = i18n.translations("de").gettext(english) != english
    return subject == german % {"title": title} or (not translated and subject == english % {"title": title})


@pytest.fixture
def manager(make_user: Any) -> User:
    user: User = make_user(Role.PARTNER_MANAGER, display_name="Petra Partnermanagerin")
    return user


@pytest.fixture
def partner(db: Factory) -> QueuedPartner:
    return make_queued_partner(db, status=PartnerStatus.APPROVED.value, owner_locale="en")


def decide(client: Client, csrf: str, benefit_id: uuid.UUID, decision: str, **form: str) -> Any:
    return client.post(
        f"/staff/benefit-queue/{benefit_id}/{decision}", data={"csrf_token": csrf, **form}, follow_redirects=False
    )


def decide_json(client: Client, csrf: str, benefit_id: uuid.UUID, decision: str, **form: str) -> Any:
    return client.post(
        f"/staff/benefit-queue/{benefit_id}/{decision}",
        data={"csrf_token": csrf, **form},
        headers={"Accept": "application/json"},
    )


# -- the queue ----------------------------------------------------------------------------------------------------


def test_the_queue_holds_new_benefits_and_changes_longest_waiting_first(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    now = utcnow()
    waiting_partner = make_queued_partner(db, "Wartender Partner")
    newer = make_benefit(db, partner, title={"de": "Neueres Angebot"}, submitted_at=now - dt.timedelta(hours=1))
    older = make_benefit(db, waiting_partner, title={"de": "Älteres Angebot"}, submitted_at=now - dt.timedelta(days=3))
    change = make_benefit(
        db,
        partner,
        "published",
        title={"de": "Altes Angebot"},
        submitted_at=now - dt.timedelta(days=1),
        change={"title": {"de": "Geändertes Angebot"}},
    )
    for status, title in (("draft", "Entwurf"), ("published", "Veröffentlicht"), ("rejected", "Abgelehnt")):
        make_benefit(db, partner, status, title={"de": title})
    sign_in_as(client, manager)

    page = client.get("/staff/benefit-queue")

    assert page.status_code == 200
    assert "3 benefits or changes waiting, longest waiting first" in page.text
    positions = [page.text.index(t) for t in ("Älteres Angebot", "Geändertes Angebot", "Neueres Angebot")]
    assert positions == sorted(positions)
    for title in ("Entwurf", "Veröffentlicht", "Abgelehnt", "Altes Angebot"):
        assert title not in page.text
    assert "Wartender Partner" in page.text
    assert "Waiting for approval" in page.text
    assert "Change to a published benefit" in page.text
    assert "New benefit" in page.text
    for benefit_id in (newer, older, change):
        assert f'href="/staff/benefit-queue/{benefit_id}"' in page.text


def test_a_new_benefit_is_shown_as_families_would_see_it(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner, title={"de": "<b>Familienrabatt</b>", "en": "Family discount"})
    sign_in_as(client, manager)
    page = client.get(f"/staff/benefit-queue/{benefit}")
    assert page.status_code == 200
    assert 'class="benefit-card"' in page.text
    assert "20% off" in page.text
    assert "Family discount" in page.text
    assert "For children up to 12 years" in page.text
    # Names and addresses keep their own direction inside right-to-left text.
    assert "<bdi>Haupteingang</bdi>, <bdi>Riehler Straße 173, 50735" in page.text
    for decision in ("approve", "request-changes", "reject"):
        assert f'action="/staff/benefit-queue/{benefit}/{decision}"' in page.text
    german = client.get(f"/staff/benefit-queue/{benefit}", headers={"Accept-Language": "de"}).text
    assert "&lt;b&gt;Familienrabatt&lt;/b&gt;" in german
    assert "<b>Familienrabatt" not in german
    assert client.get(f"/staff/benefit-queue/{uuid.uuid4()}").status_code == 404


def test_a_change_shows_what_differs_field_by_field(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    new_location = add_location(db, partner, "Domshop")
    benefit = make_benefit(
        db,
        partner,
        "published",
        change={
            "title": {"de": "Familienrabatt", "en": "Discount for families"},
            "value": 25,
            "weekdays": 0b1100000,
            "location_ids": [str(new_location)],
        },
    )
    sign_in_as(client, manager)

    page = client.get(f"/staff/benefit-queue/{benefit}").text

    assert "What the change alters" in page
    assert 'data-field="title.en"' in page
    assert "Family discount" in page
    assert "Discount for families" in page
    assert 'data-field="title.de"' not in page
    assert 'data-field="value"' in page
    assert "20%" in page
    assert "25%" in page
    assert 'data-field="weekdays"' in page
    assert "every day" in page
    assert "Saturday, Sunday" in page
    assert 'data-field="location_ids"' in page
    assert "Domshop" in page
    assert 'data-field="description.de"' not in page
    # What families would see after the change, and what they see now.
    assert "25% off" in page
    assert "20% off" in page
    assert f'action="/staff/benefit-queue/{benefit}/request-changes"' not in page


# -- decisions ----------------------------------------------------------------------------------------------------


def test_approving_a_new_benefit_publishes_it(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner)
    csrf = sign_in_as(client, manager)

    response = decide(client, csrf, benefit, "approve")

    assert response.status_code == 303
    assert "The benefit has been published." in client.get(response.headers["location"]).text
    row = stored(db, benefit)
    assert row.status == "published"
    assert row.published_at is not None
    assert row.moderated_at is not None
    assert row.moderated_by_id == manager.id
    [entry] = audit_of(db, benefit)
    assert (entry.action, entry.actor_user_id, entry.partner_id) == ("benefit.published", manager.id, partner.id)
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "benefit.published", "en", "Family discount")
    assert "Family discount" in mail.body_text
    assert "Nothing is waiting for moderation." in client.get("/staff/benefit-queue").text


def test_approving_a_change_applies_it(client: Client, db: Factory, manager: User) -> None:
    partner = make_queued_partner(db, status=PartnerStatus.APPROVED.value, owner_locale="de")
    new_location = add_location(db, partner, "Domshop")
    benefit = make_benefit(
        db,
        partner,
        "paused",
        change={"value": 30, "title": {"de": "Sommerrabatt"}, "location_ids": [str(new_location)]},
    )
    published_at = stored(db, benefit).published_at
    csrf = sign_in_as(client, manager)

    assert decide(client, csrf, benefit, "approve").status_code == 303

    row = stored(db, benefit)
    assert (row.status, row.value, row.title) == ("paused", 30, {"de": "Sommerrabatt"})
    assert row.pending is None
    assert pending_is_null(db, benefit)
    assert row.published_at == published_at
    with db() as s:
        assert fields.location_ids(s, benefit) == [str(new_location)]
    [entry] = audit_of(db, benefit)
    assert entry.action == "benefit.change_approved"
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "benefit.change_approved", "de", "Sommerrabatt")
    # Decided once: nothing is waiting any more.
    response = decide_json(client, csrf, benefit, "approve")
    assert response.status_code == 409
    assert response.json()["code"] == "benefit_not_submitted"


def test_rejecting_a_new_benefit_needs_a_reason(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner)
    csrf = sign_in_as(client, manager)

    missing = decide(client, csrf, benefit, "reject", reason=" ")
    assert missing.status_code == 422
    assert "Please give the reason for this decision." in missing.text
    assert 'id="field-reason"' in missing.text
    too_long = decide(client, csrf, benefit, "reject", reason="z" * 2001)
    assert too_long.status_code == 422
    assert "Please use at most 2000 characters here." in too_long.text
    assert stored(db, benefit).status == "submitted"
    assert mails_to(db, partner.owner.email) == []

    assert decide(client, csrf, benefit, "reject", reason=REASON).status_code == 303
    row = stored(db, benefit)
    assert (row.status, row.moderation_reason, row.moderated_by_id) == ("rejected", REASON, manager.id)
    [entry] = audit_of(db, benefit)
    assert (entry.action, entry.details["reason"]) == ("benefit.rejected", REASON)
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "benefit.rejected", "en", "Family discount")
    assert REASON in mail.body_text


def test_rejecting_a_change_keeps_the_published_benefit(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner, "published", change={"value": 90})
    csrf = sign_in_as(client, manager)

    assert decide(client, csrf, benefit, "reject").status_code == 422
    assert decide(client, csrf, benefit, "reject", reason=REASON).status_code == 303

    row = stored(db, benefit)
    assert (row.status, row.value, row.moderation_reason) == ("published", 20, REASON)
    assert row.pending is None
    assert pending_is_null(db, benefit)
    [entry] = audit_of(db, benefit)
    assert entry.action == "benefit.change_rejected"
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "benefit.change_rejected", "en", "Family discount")
    assert "Nothing is waiting for moderation." in client.get("/staff/benefit-queue").text


def test_asking_for_changes_needs_a_message_and_is_only_for_new_benefits(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner)
    change = make_benefit(db, partner, "published", change={"value": 50})
    csrf = sign_in_as(client, manager)

    missing = decide(client, csrf, benefit, "request-changes")
    assert missing.status_code == 422
    assert "Please write what the partner should change." in missing.text
    assert decide(client, csrf, benefit, "request-changes", message="m" * 2001).status_code == 422
    assert decide(client, csrf, benefit, "request-changes", message=REASON).status_code == 303
    row = stored(db, benefit)
    assert (row.status, row.moderation_reason) == ("changes_requested", REASON)
    assert [e.action for e in audit_of(db, benefit)] == ["benefit.changes_requested"]
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "benefit.changes_requested", "en", "Family discount")
    assert REASON in mail.body_text

    refused = decide_json(client, csrf, change, "request-changes", message=REASON)
    assert refused.status_code == 409
    assert refused.json()["code"] == "benefit_change_reject_instead"
    page = decide(client, csrf, change, "request-changes", message=REASON)
    assert page.status_code == 409
    assert "Reject the change with a reason" in page.text
    assert stored(db, change).pending is not None


@pytest.mark.parametrize("partner_status", ["pending", "changes_requested", "rejected", "suspended"])
def test_a_benefit_of_a_partner_not_approved_cannot_be_published(
    client: Client, db: Factory, manager: User, partner_status: str
) -> None:
    partner = make_queued_partner(db, "Gesperrtes Café", partner_status)
    benefit = make_benefit(db, partner)
    change = make_benefit(db, partner, "published", change={"value": 40})
    csrf = sign_in_as(client, manager)

    for benefit_id in (benefit, change):
        refused = decide_json(client, csrf, benefit_id, "approve")
        assert refused.status_code == 409
        assert refused.json()["code"] == "partner_not_approved"
        assert "Gesperrtes Café" in refused.json()["detail"]
    page = decide(client, csrf, benefit, "approve")
    assert page.status_code == 409
    assert "The partner Gesperrtes Café is not approved" in page.text
    assert stored(db, benefit).status == "submitted"
    assert stored(db, change).value == 20
    assert "the benefit cannot be published until it is" in client.get(f"/staff/benefit-queue/{benefit}").text
    # Rejecting stays possible.
    assert decide(client, csrf, benefit, "reject", reason=REASON).status_code == 303


@pytest.mark.parametrize("status", ["draft", "changes_requested", "published", "rejected", "paused", "archived"])
def test_benefits_not_waiting_are_refused(client: Client, db: Factory, manager: User, status: str) -> None:
    partner = make_queued_partner(db, status=PartnerStatus.APPROVED.value)
    benefit = make_benefit(db, partner, status)
    csrf = sign_in_as(client, manager)
    for decision, form in (("approve", {}), ("reject", {"reason": REASON}), ("request-changes", {"message": REASON})):
        response = decide_json(client, csrf, benefit, decision, **form)
        assert response.status_code == 409, (decision, response.text)
        assert response.json()["code"] == "benefit_not_submitted"
    assert stored(db, benefit).status == status
    assert audit_of(db, benefit) == []
    assert mails_to(db, partner.owner.email) == []
    assert "This benefit is not waiting for moderation." in client.get(f"/staff/benefit-queue/{benefit}").text


def test_unknown_decisions_and_benefits_are_not_found(
    client: Client, db: Factory, manager: User, partner: QueuedPartner
) -> None:
    benefit = make_benefit(db, partner)
    csrf = sign_in_as(client, manager)
    assert decide(client, csrf, benefit, "publish").status_code == 404
    assert decide(client, csrf, uuid.uuid4(), "approve").status_code == 404
    assert stored(db, benefit).status == "submitted"


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ANALYST, Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_other_roles_are_refused(
    client: Client, db: Factory, make_user: Any, partner: QueuedPartner, role: Role
) -> None:
    benefit = make_benefit(db, partner)
    csrf = sign_in_as(client, make_user(role))
    assert client.get("/staff/benefit-queue").status_code == 403
    assert client.get(f"/staff/benefit-queue/{benefit}").status_code == 403
    assert decide(client, csrf, benefit, "approve").status_code == 403
    csrf = sign_in_as(client, partner.owner)
    assert decide(client, csrf, benefit, "approve").status_code == 403
    assert stored(db, benefit).status == "submitted"
