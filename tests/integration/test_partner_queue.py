"""The staff partner queue: list and filter, one partner's record, and every decision over HTTP as a partner
manager, with its audit entry and its e-mail to the owner in the owner's language; a suspended partner's API keys
and benefits, and who may use the queue."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts import api_keys, identity
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit, BenefitStatus, benefit_locations
from familienkarte.db import utcnow
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, Partner, PartnerStatus
from tests.helpers import bearer, sign_in_as, sign_out

Factory = Callable[[], Session]
Client = TestClient[Litestar]

REASON = "Die Angaben zum Angebot sind unvollständig."
# Subjects of the e-mails to the owner: (English, German).
SUBJECTS = {
    "approve": ("%(partner)s is now a partner of the family card", "%(partner)s ist jetzt Partner der Familienkarte"),
    "reject": (
        "Your registration of %(partner)s has been declined",
        "Ihre Registrierung von %(partner)s wurde abgelehnt",
    ),
    "request-changes": (
        "Please complete the registration of %(partner)s",
        "Bitte ergänzen Sie die Registrierung von %(partner)s",
    ),
    "suspend": (
        "%(partner)s has been suspended from the family card",
        "%(partner)s wurde für die Familienkarte gesperrt",
    ),
    "reactivate": (
        "%(partner)s is a partner of the family card again",
        "%(partner)s ist wieder Partner der Familienkarte",
    ),
}


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


# -- factories ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QueuedPartner:
    id: uuid.UUID
    name: str
    owner: User
    cashier: User
    location_id: uuid.UUID


def make_queued_partner(
    db: Factory,
    name: str = "Zoo Köln",
    status: str = PartnerStatus.PENDING.value,
    *,
    owner_locale: str | None = None,
    waiting_since: dt.datetime | None = None,
) -> QueuedPartner:
    """A partner with a full profile, one location, an owner (in ``owner_locale``) and a cashier."""
    tag = uuid.uuid4().hex[:8]
    with db() as s, s.begin():
        partner = Partner(
            name=name,
            status=status,
            legal_form="ggmbh",
            website="https://zoo.example.org",
            category="leisure",
            description={"de": "Tiere aus aller Welt.", "en": "Animals from all over the world."},
            contact_email=f"info-{tag}@zoo.example.org",
            phone="0221 123456",
            terms_version="2025-01",
            terms_accepted_at=utcnow(),
            status_changed_at=waiting_since,
        )
        s.add(partner)
        s.flush()
        location = Location(
            partner_id=partner.id,
            name="Haupteingang",
            street="Riehler Straße",
            house_number="173",
            postal_code="50735",
            district="Nippes",
            latitude=50.958,
            longitude=6.973,
            opening_hours={"mon": [["09:00", "18:00"]], "sat": [["10:00", "13:00"], ["14:00", "17:00"]]},
            hours_note={"de": "An Feiertagen geschlossen."},
            accessibility=["step_free", "baby_changing"],
            accessibility_note={"de": "Rampe am Nordeingang.", "en": "Ramp at the north gate."},
        )
        s.add(location)
        owner = User(
            email=f"owner-{tag}@zoo.example.org",
            display_name="Olga Owner",
            role=Role.PARTNER_OWNER.value,
            partner_id=partner.id,
            locale=owner_locale,
            email_confirmed_at=utcnow(),
        )
        cashier = User(
            email=f"cashier-{tag}@zoo.example.org",
            display_name="Carl Cashier",
            role=Role.CASHIER.value,
            partner_id=partner.id,
        )
        s.add_all([owner, cashier])
        s.flush()
        return QueuedPartner(partner.id, name, owner, cashier, location.id)


def make_benefit(
    db: Factory, partner: QueuedPartner, status: str = BenefitStatus.PUBLISHED.value, title: str = "Freier Eintritt"
) -> uuid.UUID:
    with db() as s, s.begin():
        benefit = Benefit(
            partner_id=partner.id,
            status=status,
            category="leisure",
            kind="free_entry",
            title={"de": title},
            published_at=utcnow() if status == BenefitStatus.PUBLISHED.value else None,
        )
        s.add(benefit)
        s.flush()
        s.execute(insert(benefit_locations).values(benefit_id=benefit.id, location_id=partner.location_id))
        return benefit.id


def api_key_for(db: Factory, partner: QueuedPartner) -> str:
    with db() as s, s.begin():
        owner = s.get(User, partner.owner.id)
        assert owner is not None
        return api_keys.create_key(s, identity.principal_for_user(owner), partner.id, "Kasse 1").token


def visible_benefits(db: Factory) -> set[uuid.UUID]:
    """Published benefits of approved partners: what families may see."""
    with db() as s:
        return set(
            s.scalars(
                select(Benefit.id)
                .join(Partner, Partner.id == Benefit.partner_id)
                .where(Benefit.status == BenefitStatus.PUBLISHED.value, Partner.status == PartnerStatus.APPROVED.value)
            )
        )


def status_of(db: Factory, partner_id: uuid.UUID) -> Partner:
    with db() as s:
        partner = s.get(Partner, partner_id)
        assert partner is not None
        return partner


def audit_entries(db: Factory, partner_id: uuid.UUID) -> list[AuditEntry]:
    with db() as s:
        return list(
            s.scalars(
                select(AuditEntry)
                .where(AuditEntry.object_type == "partner", AuditEntry.object_id == str(partner_id))
                .order_by(AuditEntry.id)
            )
        )


def mails_to(db: Factory, address: str) -> list[Email]:
    with db() as s:
        return list(s.scalars(select(Email).where(Email.to_address == address).order_by(Email.created_at)))


def in_language(subject: str, decision: str, locale: str, partner: str) -> bool:
    """The subject is the one of ``decision`` in ``locale`` (German: the English text only while the German
    catalogue lacks the translation)."""
    english, german = SUBJECTS[decision]
    if locale == "en":
        return subject == english % {"partner": partner}
    translated = i18n.translations("de").gettext(english) != english
    return subject == german % {"partner": partner} or (not translated and subject == english % {"partner": partner})


@pytest.fixture
def manager(make_user: Any) -> User:
    user: User = make_user(Role.PARTNER_MANAGER, display_name="Petra Partnermanagerin")
    return user


def decide(client: Client, csrf: str, partner_id: uuid.UUID, decision: str, **fields: str) -> Any:
    return client.post(
        f"/staff/partner-queue/{partner_id}/{decision}",
        data={"csrf_token": csrf, **fields},
        follow_redirects=False,
    )


# -- the queue ----------------------------------------------------------------------------------------------------


def test_the_queue_lists_waiting_partners_longest_waiting_first_and_filters_by_status(
    client: Client, db: Factory, manager: User
) -> None:
    now = utcnow()
    late = make_queued_partner(db, "Spätes Theater", waiting_since=now - dt.timedelta(hours=1))
    early = make_queued_partner(db, "Frühes Museum", waiting_since=now - dt.timedelta(days=2))
    approved = make_queued_partner(db, "Freigegebenes Bad", PartnerStatus.APPROVED.value)
    unconfirmed = make_queued_partner(db, "Unbestätigter Verein", PartnerStatus.UNCONFIRMED.value)
    suspended = make_queued_partner(db, "Gesperrter Laden", PartnerStatus.SUSPENDED.value)
    sign_in_as(client, manager)

    page = client.get("/staff/partner-queue")
    assert page.status_code == 200
    assert "2 partners, longest waiting first" in page.text
    assert page.text.index(early.name) < page.text.index(late.name)
    for other in (approved, unconfirmed, suspended):
        assert other.name not in page.text

    shown = client.get("/staff/partner-queue", params={"status": "suspended"}).text
    assert suspended.name in shown
    assert early.name not in shown
    everything = client.get("/staff/partner-queue", params={"status": "all"}).text
    assert all(p.name in everything for p in (late, early, approved, suspended))
    assert unconfirmed.name not in everything

    refused = client.get("/staff/partner-queue", params={"status": "unconfirmed"})
    assert refused.status_code == 422
    assert unconfirmed.name not in refused.text


def test_the_partner_page_shows_everything_staff_decide_on(client: Client, db: Factory, manager: User) -> None:
    partner = make_queued_partner(db)
    make_benefit(db, partner, BenefitStatus.SUBMITTED.value, "Eintritt frei für Kinder")
    with db() as s, s.begin():
        stored = s.get(Partner, partner.id)
        assert stored is not None
        stored.logo, stored.logo_type = b"\x89PNG\r\n\x1a\nfake", "image/png"
    sign_in_as(client, manager)

    page = client.get(f"/staff/partner-queue/{partner.id}")

    assert page.status_code == 200
    for text in (
        "Zoo Köln",
        "Waiting for approval",
        "Non-profit limited company (gGmbH)",
        "Leisure and outings",
        "https://zoo.example.org",
        "Tiere aus aller Welt.",
        "Animals from all over the world.",
        "Riehler Straße 173, 50735",
        "Nippes",
        "Monday: 09:00–18:00",
        "Saturday: 10:00–13:00, 14:00–17:00",
        "Sunday: closed",
        "An Feiertagen geschlossen.",
        "Step-free access",
        "Baby changing table",
        "Rampe am Nordeingang.",
        "Olga Owner",
        partner.owner.email,
        "Carl Cashier",
        partner.cashier.email,
        "Eintritt frei für Kinder",
        "Waiting for moderation",
    ):
        assert text in page.text, text
    # The decisions possible while waiting, and none other.
    assert f'action="/staff/partner-queue/{partner.id}/approve"' in page.text
    assert f'action="/staff/partner-queue/{partner.id}/request-changes"' in page.text
    assert f'action="/staff/partner-queue/{partner.id}/reject"' in page.text
    assert "/suspend" not in page.text
    assert "/reactivate" not in page.text

    logo = client.get(f"/staff/partner-queue/{partner.id}/logo")
    assert logo.status_code == 200
    assert logo.headers["content-type"] == "image/png"
    assert logo.content == b"\x89PNG\r\n\x1a\nfake"
    assert client.get(f"/staff/partner-queue/{uuid.uuid4()}").status_code == 404


def test_partner_text_is_escaped(client: Client, db: Factory, manager: User) -> None:
    partner = make_queued_partner(db, '<script>alert("x")</script>')
    sign_in_as(client, manager)
    page = client.get(f"/staff/partner-queue/{partner.id}").text
    assert "<script>alert" not in page
    assert "&lt;script&gt;" in page


# -- decisions ----------------------------------------------------------------------------------------------------


def test_approving_a_partner(client: Client, db: Factory, manager: User) -> None:
    partner = make_queued_partner(db, owner_locale="en")
    csrf = sign_in_as(client, manager)

    response = decide(client, csrf, partner.id, "approve", reason="Welcome aboard!")

    assert response.status_code == 303
    assert response.headers["location"] == f"/staff/partner-queue/{partner.id}"
    page = client.get(response.headers["location"]).text
    assert "The partner has been approved." in page
    stored = status_of(db, partner.id)
    assert stored.status == "approved"
    assert stored.status_changed_by_id == manager.id
    assert stored.status_changed_at is not None
    [entry] = audit_entries(db, partner.id)
    assert (entry.action, entry.actor_user_id, entry.partner_id) == ("partner.approved", manager.id, partner.id)
    assert entry.details["from"] == "pending"
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "approve", "en", partner.name)
    assert "Welcome aboard!" in mail.body_text
    assert "https://testserver.local/partner" in mail.body_text
    # The cashier is not told.
    assert mails_to(db, partner.cashier.email) == []


def test_asking_for_changes_needs_a_message_of_at_most_2000_characters(
    client: Client, db: Factory, manager: User
) -> None:
    partner = make_queued_partner(db)
    csrf = sign_in_as(client, manager)

    empty = decide(client, csrf, partner.id, "request-changes", message="   ")
    assert empty.status_code == 422
    assert "Please write what the partner should change." in empty.text
    assert 'href="#field-message"' in empty.text
    assert 'id="field-message"' in empty.text
    too_long = decide(client, csrf, partner.id, "request-changes", message="x" * 2001)
    assert too_long.status_code == 422
    assert "Please use at most 2000 characters here." in too_long.text
    assert status_of(db, partner.id).status == "pending"
    assert mails_to(db, partner.owner.email) == []
    assert audit_entries(db, partner.id) == []

    done = decide(client, csrf, partner.id, "request-changes", message="x" * 1999 + "!")
    assert done.status_code == 303
    stored = status_of(db, partner.id)
    assert (stored.status, stored.status_reason) == ("changes_requested", "x" * 1999 + "!")
    [entry] = audit_entries(db, partner.id)
    assert entry.action == "partner.changes_requested"
    [mail] = mails_to(db, partner.owner.email)
    # No language chosen: German.
    assert in_language(mail.subject, "request-changes", "de", partner.name)
    assert "x" * 1999 + "!" in mail.body_text


@pytest.mark.parametrize("start", ["pending", "changes_requested"])
def test_rejecting_a_partner_needs_a_reason(client: Client, db: Factory, manager: User, start: str) -> None:
    partner = make_queued_partner(db, status=start, owner_locale="de")
    csrf = sign_in_as(client, manager)

    missing = decide(client, csrf, partner.id, "reject")
    assert missing.status_code == 422
    assert "Please give the reason for this decision." in missing.text
    assert decide(client, csrf, partner.id, "reject", reason="y" * 2001).status_code == 422
    assert status_of(db, partner.id).status == start

    assert decide(client, csrf, partner.id, "reject", reason=REASON).status_code == 303
    stored = status_of(db, partner.id)
    assert (stored.status, stored.status_reason) == ("rejected", REASON)
    [entry] = audit_entries(db, partner.id)
    assert (entry.action, entry.details["reason"], entry.details["from"]) == ("partner.rejected", REASON, start)
    [mail] = mails_to(db, partner.owner.email)
    assert in_language(mail.subject, "reject", "de", partner.name)
    assert REASON in mail.body_text


def test_a_suspended_partner_loses_its_keys_and_benefits_until_reactivated(
    client: Client, db: Factory, manager: User
) -> None:
    partner = make_queued_partner(db, status=PartnerStatus.APPROVED.value, owner_locale="en")
    other = make_queued_partner(db, "Anderer Partner", status=PartnerStatus.APPROVED.value)
    benefit = make_benefit(db, partner)
    other_benefit = make_benefit(db, other)
    token = api_key_for(db, partner)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert visible_benefits(db) == {benefit, other_benefit}
    csrf = sign_in_as(client, manager)

    assert decide(client, csrf, partner.id, "suspend").status_code == 422
    assert status_of(db, partner.id).status == "approved"
    response = decide(client, csrf, partner.id, "suspend", reason=REASON)
    assert response.status_code == 303
    assert "its benefits are hidden and its API keys no longer work" in client.get(response.headers["location"]).text

    sign_out(client)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401
    assert visible_benefits(db) == {other_benefit}
    # The benefit itself is unchanged: it comes back with the partner.
    with db() as s:
        stored_benefit = s.get(Benefit, benefit)
        assert stored_benefit is not None
        assert stored_benefit.status == "published"

    csrf = sign_in_as(client, manager)
    assert decide(client, csrf, partner.id, "reactivate").status_code == 303
    sign_out(client)
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200
    assert visible_benefits(db) == {benefit, other_benefit}

    assert [e.action for e in audit_entries(db, partner.id)] == ["partner.suspended", "partner.reactivated"]
    suspended_mail, reactivated_mail = mails_to(db, partner.owner.email)
    assert in_language(suspended_mail.subject, "suspend", "en", partner.name)
    assert REASON in suspended_mail.body_text
    assert in_language(reactivated_mail.subject, "reactivate", "en", partner.name)

    csrf = sign_in_as(client, manager)
    detail = client.get(f"/staff/partner-queue/{partner.id}").text
    assert "Partner suspended" in detail
    assert "Partner reactivated" in detail
    assert "Petra Partnermanagerin" in detail


# Which decisions each status allows; every other pair is refused with the decision's code.
ALLOWED = {
    "approve": {"pending"},
    "request-changes": {"pending"},
    "reject": {"pending", "changes_requested"},
    "suspend": {"approved"},
    "reactivate": {"suspended"},
}
CODES = {
    "approve": "partner_not_pending",
    "request-changes": "partner_not_pending",
    "reject": "partner_not_undecided",
    "suspend": "partner_not_approved",
    "reactivate": "partner_not_suspended",
}


def test_each_decision_is_refused_in_the_wrong_state(client: Client, db: Factory, manager: User) -> None:
    partners = {
        status.value: make_queued_partner(db, f"Partner {status.value}", status.value) for status in PartnerStatus
    }
    csrf = sign_in_as(client, manager)
    refused = 0
    for decision, allowed in ALLOWED.items():
        for status, partner in partners.items():
            if status in allowed:
                continue
            response = client.post(
                f"/staff/partner-queue/{partner.id}/{decision}",
                data={"csrf_token": csrf, "reason": REASON, "message": REASON},
                headers={"Accept": "application/json"},
            )
            assert response.status_code == 409, (decision, status, response.text)
            assert response.json()["code"] == CODES[decision], (decision, status)
            refused += 1
    assert refused == 5 * 6 - 6
    assert all(status_of(db, p.id).status == status for status, p in partners.items())
    with db() as s:
        assert s.scalars(select(Email)).all() == []
        assert s.scalars(select(AuditEntry).where(AuditEntry.object_type == "partner")).all() == []

    # On the page: the message, and the way back to the partner.
    page = decide(client, csrf, partners["approved"].id, "approve")
    assert page.status_code == 409
    assert "Only a partner waiting for approval can be approved or asked for changes." in page.text
    assert f'href="/staff/partner-queue/{partners["approved"].id}"' in page.text


def test_unknown_decisions_and_partners_are_not_found(client: Client, db: Factory, manager: User) -> None:
    partner = make_queued_partner(db)
    csrf = sign_in_as(client, manager)
    assert decide(client, csrf, partner.id, "delete", reason=REASON).status_code == 404
    assert decide(client, csrf, uuid.uuid4(), "approve").status_code == 404
    assert status_of(db, partner.id).status == "pending"


def test_an_admin_may_decide_too(client: Client, db: Factory, make_user: Any) -> None:
    partner = make_queued_partner(db)
    csrf = sign_in_as(client, make_user(Role.ADMIN))
    assert decide(client, csrf, partner.id, "approve").status_code == 303
    assert status_of(db, partner.id).status == "approved"


# -- who may use the queue ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.ANALYST, Role.PARTNER_OWNER, Role.CASHIER, Role.FAMILY])
def test_other_roles_are_refused(client: Client, db: Factory, make_user: Any, role: Role) -> None:
    partner = make_queued_partner(db)
    user = make_user(role)
    csrf = sign_in_as(client, user)
    assert client.get("/staff/partner-queue").status_code == 403
    assert client.get(f"/staff/partner-queue/{partner.id}").status_code == 403
    assert decide(client, csrf, partner.id, "approve").status_code == 403
    assert status_of(db, partner.id).status == "pending"
    # The partner's own owner may not approve it either.
    csrf = sign_in_as(client, partner.owner)
    assert decide(client, csrf, partner.id, "approve").status_code == 403


def test_the_staff_pages_link_to_the_queues(client: Client, db: Factory, manager: User, make_user: Any) -> None:
    partner = make_queued_partner(db)
    sign_in_as(client, manager)
    home = client.get("/staff/").text
    assert 'href="/staff/partner-queue"' in home
    assert 'href="/staff/benefit-queue"' in home
    assert f'href="/staff/partner-queue/{partner.id}"' in client.get("/staff/partners").text
    sign_in_as(client, make_user(Role.CASEWORKER))
    assert 'href="/staff/partner-queue"' not in client.get("/staff/").text
