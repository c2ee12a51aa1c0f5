"""A partner's benefits in the partner portal: create, edit, preview, submit, withdraw, pause, resume, archive."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts import identity
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits import fields, services
from familienkarte.benefits.models import Benefit, BenefitStatus, benefit_locations
from familienkarte.city import city_path, load_city
from familienkarte.errors import Conflict
from familienkarte.partners.models import Location, Partner
from tests.helpers import make_test_settings, sign_in_as

Factory = Callable[[], Session]
Client = TestClient[Litestar]
BASE = "/partner/benefits"


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def owner_of(make_user: Any, make_partner: Any, name: str = "Zoo Köln", status: str = "approved") -> User:
    user: User = make_user(Role.PARTNER_OWNER, partner=make_partner(name, status=status, locations=2))
    return user


def locations_of(db: Factory, partner_id: uuid.UUID | None) -> list[uuid.UUID]:
    with db() as s:
        return list(s.scalars(select(Location.id).where(Location.partner_id == partner_id).order_by(Location.name)))


def benefit_form(location_ids: list[uuid.UUID], **overrides: str) -> dict[str, str]:
    form = {
        "title-de": "20 % auf den Eintritt",
        "title-en": "20% off admission",
        "description-de": "Für die ganze Familie.",
        "conditions-de": "Nicht mit anderen Angeboten kombinierbar.",
        "category": "culture",
        "kind": "percent_off",
        "value": "20",
        "valid_from": "",
        "valid_until": "",
        "min_children": "0",
        "max_quantity": "1",
        **{f"weekday-{day}": "on" for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        **{f"location-{location_id}": "on" for location_id in location_ids},
    }
    form.update(overrides)
    return {key: value for key, value in form.items() if value is not None}


def post(client: Client, csrf: str, path: str, data: dict[str, str] | None = None) -> Any:
    return client.post(path, data={"csrf_token": csrf, **(data or {})}, follow_redirects=False)


def benefits_of(db: Factory, partner_id: uuid.UUID | None) -> list[Benefit]:
    with db() as s:
        return list(s.scalars(select(Benefit).where(Benefit.partner_id == partner_id).order_by(Benefit.created_at)))


def one_benefit(db: Factory, benefit_id: uuid.UUID) -> Benefit:
    with db() as s:
        benefit = s.get(Benefit, benefit_id)
        assert benefit is not None
        return benefit


def actions_of(db: Factory) -> list[str]:
    with db() as s:
        return list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.object_type == "benefit").order_by(AuditEntry.id))
        )


def create(client: Client, csrf: str, db: Factory, owner: User, **overrides: str) -> uuid.UUID:
    response = post(client, csrf, f"{BASE}/new", benefit_form(locations_of(db, owner.partner_id)[:1], **overrides))
    assert response.status_code == 303, response.text
    benefit_id = uuid.UUID(response.headers["location"].split("/")[-2])
    assert response.headers["location"] == f"{BASE}/{benefit_id}/preview"
    return benefit_id


def set_status(db: Factory, benefit_id: uuid.UUID, status: BenefitStatus, reason: str | None = None) -> None:
    """What staff moderation does (another part of the portal): set here directly."""
    with db() as s, s.begin():
        benefit = s.get(Benefit, benefit_id)
        assert benefit is not None
        benefit.status = status.value
        benefit.moderation_reason = reason


def row_count(db: Factory, table: Any) -> int:
    with db() as s:
        return int(s.scalar(select(func.count()).select_from(table)) or 0)


# --- the owner's journey ---------------------------------------------------------------------------------------


def test_owner_creates_previews_submits_and_withdraws(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    assert client.get(BASE).status_code == 200
    new_page = client.get(f"{BASE}/new")
    assert new_page.status_code == 200
    assert 'id="field-title-de"' in new_page.text
    assert 'id="field-title-en"' in new_page.text
    assert "/static/js/benefit-form.js" in new_page.text

    benefit_id = create(client, csrf, db, owner)

    (benefit,) = benefits_of(db, owner.partner_id)
    assert benefit.status == BenefitStatus.DRAFT
    assert benefit.title == {"de": "20 % auf den Eintritt", "en": "20% off admission"}
    assert (benefit.kind, benefit.value) == ("percent_off", 20)
    with db() as s:
        assert fields.location_ids(s, benefit_id) == [str(locations_of(db, owner.partner_id)[0])]
    preview = client.get(f"{BASE}/{benefit_id}/preview")
    assert preview.status_code == 200
    assert "This is a preview" in preview.text
    assert "20% off admission" in preview.text
    assert "Zoo Köln 1" in preview.text
    assert "Saved as a draft" in preview.text
    german = client.get(f"{BASE}/{benefit_id}/preview", headers={"Accept-Language": "de"})
    assert "20 % auf den Eintritt" in german.text

    listing = client.get(BASE)
    assert "Draft" in listing.text
    assert "Only you can see it." in listing.text

    assert post(client, csrf, f"{BASE}/{benefit_id}/submit").status_code == 303
    assert one_benefit(db, benefit_id).status == BenefitStatus.SUBMITTED
    assert one_benefit(db, benefit_id).submitted_at is not None
    listing = client.get(BASE)
    assert "Waiting for review" in listing.text
    assert "Submitted. The city reviews the benefit before families see it." in listing.text

    # While it waits it cannot be changed, nor submitted twice.
    refused = post(
        client, csrf, f"{BASE}/{benefit_id}", benefit_form(locations_of(db, owner.partner_id), **{"title-de": "Neu"})
    )
    assert refused.status_code == 409
    assert "Withdraw it first" in refused.text
    again = post(client, csrf, f"{BASE}/{benefit_id}/submit")
    assert again.status_code == 409
    assert one_benefit(db, benefit_id).title["de"] == "20 % auf den Eintritt"

    assert post(client, csrf, f"{BASE}/{benefit_id}/withdraw").status_code == 303
    withdrawn = one_benefit(db, benefit_id)
    assert (withdrawn.status, withdrawn.submitted_at) == (BenefitStatus.DRAFT, None)
    assert actions_of(db) == ["benefit.created", "benefit.submitted", "benefit.withdrawn"]


def test_owner_edits_a_draft_in_place(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    edit = client.get(f"{BASE}/{benefit_id}")
    assert edit.status_code == 200
    assert 'value="20 % auf den Eintritt"' in edit.text

    both = locations_of(db, owner.partner_id)
    changed = benefit_form(both, kind="amount_off", value="5,50", **{"title-de": "5,50 € weniger", "title-en": ""})
    response = post(client, csrf, f"{BASE}/{benefit_id}", changed)

    assert response.status_code == 303
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.kind, benefit.value, benefit.pending) == ("draft", "amount_off", 550, None)
    assert benefit.title == {"de": "5,50 € weniger"}
    with db() as s:
        assert fields.location_ids(s, benefit_id) == sorted(str(i) for i in both)
    assert "€5.50 off" in client.get(f"{BASE}/{benefit_id}/preview").text
    assert 'value="5.50"' in client.get(f"{BASE}/{benefit_id}").text


def test_editing_a_rejected_benefit_makes_it_a_draft(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    set_status(db, benefit_id, BenefitStatus.REJECTED, reason="Bitte den Preis nennen.")
    listing = client.get(BASE)
    assert "Rejected" in listing.text
    assert "Bitte den Preis nennen." in listing.text
    assert post(client, csrf, f"{BASE}/{benefit_id}/submit").status_code == 409

    post(client, csrf, f"{BASE}/{benefit_id}", benefit_form(locations_of(db, owner.partner_id)[:1], value="25"))

    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.value) == ("draft", 25)


def test_changes_requested_are_made_in_place_and_submitted_again(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    set_status(db, benefit_id, BenefitStatus.CHANGES_REQUESTED, reason="Welche Tage?")
    post(
        client,
        csrf,
        f"{BASE}/{benefit_id}",
        benefit_form(locations_of(db, owner.partner_id)[:1], **{"weekday-sun": ""}),
    )
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.weekdays) == ("changes_requested", 0b0111111)
    assert post(client, csrf, f"{BASE}/{benefit_id}/submit").status_code == 303
    assert one_benefit(db, benefit_id).status == BenefitStatus.SUBMITTED


def test_editing_a_published_benefit_keeps_it_visible_until_reviewed(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    set_status(db, benefit_id, BenefitStatus.PUBLISHED)
    form_page = client.get(f"{BASE}/{benefit_id}")
    assert "the city reviews your change" in form_page.text

    changed = benefit_form(locations_of(db, owner.partner_id)[:1], value="30", **{"title-de": "30 % auf den Eintritt"})
    response = post(client, csrf, f"{BASE}/{benefit_id}", changed)

    assert response.status_code == 303
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.value, benefit.title["de"]) == ("published", 20, "20 % auf den Eintritt")
    assert benefit.pending is not None
    assert (benefit.pending["value"], benefit.pending["title"]["de"]) == (30, "30 % auf den Eintritt")
    assert benefit.submitted_at is not None
    preview = client.get(f"{BASE}/{benefit_id}/preview")
    assert "waiting for review" in preview.text
    assert "30% off" in preview.text
    assert "A change is waiting for review." in client.get(BASE).text
    # The edit form continues from the change, not from what is published.
    assert 'value="30"' in client.get(f"{BASE}/{benefit_id}").text

    assert post(client, csrf, f"{BASE}/{benefit_id}/withdraw").status_code == 303
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.pending, benefit.value) == ("published", None, 20)
    assert actions_of(db)[-2:] == ["benefit.change_submitted", "benefit.change_withdrawn"]


def test_pause_resume_and_archive_at_once(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    assert post(client, csrf, f"{BASE}/{benefit_id}/pause").status_code == 409
    set_status(db, benefit_id, BenefitStatus.PUBLISHED)
    assert post(client, csrf, f"{BASE}/{benefit_id}/delete").status_code == 404
    assert one_benefit(db, benefit_id).status == BenefitStatus.PUBLISHED

    assert post(client, csrf, f"{BASE}/{benefit_id}/pause").status_code == 303
    paused = one_benefit(db, benefit_id)
    assert (paused.status, paused.paused_at is not None) == ("paused", True)
    assert "Families do not see it at the moment." in client.get(BASE).text
    assert post(client, csrf, f"{BASE}/{benefit_id}/pause").status_code == 409

    assert post(client, csrf, f"{BASE}/{benefit_id}/resume").status_code == 303
    resumed = one_benefit(db, benefit_id)
    assert (resumed.status, resumed.paused_at) == ("published", None)

    assert post(client, csrf, f"{BASE}/{benefit_id}/archive").status_code == 303
    assert one_benefit(db, benefit_id).status == BenefitStatus.ARCHIVED
    assert post(client, csrf, f"{BASE}/{benefit_id}/archive").status_code == 409
    refused = post(client, csrf, f"{BASE}/{benefit_id}", benefit_form(locations_of(db, owner.partner_id)[:1]))
    assert refused.status_code == 409
    assert "An archived benefit cannot be changed." in refused.text
    assert actions_of(db)[-3:] == ["benefit.paused", "benefit.resumed", "benefit.archived"]


# --- refused input -----------------------------------------------------------------------------------------------


def test_a_wrong_form_is_shown_again_with_each_error_at_its_field(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    form = benefit_form(
        [], **{"title-de": "", "title-en": "Kept as typed"}, value="150", child_age_min="9", child_age_max="3"
    )
    for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun"):
        del form[f"weekday-{day}"]

    response = post(client, csrf, f"{BASE}/new", form)

    assert response.status_code == 422
    page = response.text
    for name in ("title-de", "value", "locations", "weekdays", "child_age_max"):
        assert f'href="#field-{name}"' in page, name
        assert f'id="error-{name}"' in page, name
    assert 'aria-invalid="true"' in page
    assert "Please enter a title in German." in page
    assert "Please enter a percentage from 1 to 100." in page
    assert 'value="Kept as typed"' in page
    assert benefits_of(db, owner.partner_id) == []
    assert actions_of(db) == []


def test_a_second_benefit_of_the_same_title_and_time_is_refused(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    create(client, csrf, db, owner, valid_from="2030-01-01", valid_until="2030-06-30")
    locations = locations_of(db, owner.partner_id)[:1]

    overlapping = benefit_form(locations, valid_from="2030-06-01", **{"title-de": " 20 %  AUF den Eintritt "})
    response = post(client, csrf, f"{BASE}/new", overlapping)

    assert response.status_code == 422
    assert 'href="#field-valid_from"' in response.text
    assert "You already have a benefit called" in response.text
    assert len(benefits_of(db, owner.partner_id)) == 1
    # The same title later in the year is a new benefit.
    later = benefit_form(locations, valid_from="2030-07-01", valid_until="2030-12-31")
    assert post(client, csrf, f"{BASE}/new", later).status_code == 303


def test_another_partners_location_is_refused_as_unknown(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    other = make_partner("Anderer Partner")
    csrf = sign_in_as(client, owner)
    response = post(client, csrf, f"{BASE}/new", benefit_form(locations_of(db, other.id)))
    assert response.status_code == 422
    assert "One of the chosen locations is unknown." in response.text
    assert row_count(db, Benefit) == 0
    assert row_count(db, benefit_locations) == 0


def test_a_draft_without_an_open_location_cannot_be_submitted(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)
    with db() as s, s.begin():
        for location in s.scalars(select(Location).where(Location.partner_id == owner.partner_id)):
            location.is_active = False
    response = post(client, csrf, f"{BASE}/{benefit_id}/submit")
    assert response.status_code == 409
    assert "no open location" in response.text
    assert one_benefit(db, benefit_id).status == BenefitStatus.DRAFT


def test_the_preview_shows_partner_text_escaped(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    csrf = sign_in_as(client, owner)
    script = "<script>alert(1)</script>"
    benefit_id = create(
        client, csrf, db, owner, **{"title-en": f"Hi {script}", "description-de": f"<b>fett</b> {script}"}
    )

    assert one_benefit(db, benefit_id).title["en"] == f"Hi {script}"
    for path in (f"{BASE}/{benefit_id}/preview", BASE, f"{BASE}/{benefit_id}"):
        page = client.get(path).text
        assert "<script>alert(1)" not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
    assert (
        "&lt;b&gt;fett&lt;/b&gt;" in client.get(f"{BASE}/{benefit_id}/preview", headers={"Accept-Language": "de"}).text
    )


# --- who may do what ----------------------------------------------------------------------------------------------


def test_a_cashier_reads_but_cannot_change(client: Client, db: Factory, make_user: Any, make_partner: Any) -> None:
    owner = owner_of(make_user, make_partner)
    cashier = make_user(Role.CASHIER, partner=make_partner_of(db, owner))
    csrf = sign_in_as(client, owner)
    benefit_id = create(client, csrf, db, owner)

    csrf = sign_in_as(client, cashier)
    listing = client.get(BASE)
    assert listing.status_code == 200
    assert "20% off admission" in listing.text
    assert f'action="{BASE}/{benefit_id}/submit"' not in listing.text
    assert 'href="/partner/benefits/new"' not in listing.text
    assert client.get(f"{BASE}/{benefit_id}/preview").status_code == 200
    assert client.get(f"{BASE}/new").status_code == 403
    assert client.get(f"{BASE}/{benefit_id}").status_code == 403
    assert post(client, csrf, f"{BASE}/new", benefit_form(locations_of(db, owner.partner_id))).status_code == 403
    for action in ("submit", "pause", "archive"):
        assert post(client, csrf, f"{BASE}/{benefit_id}/{action}").status_code == 403
    changed = post(client, csrf, f"{BASE}/{benefit_id}", benefit_form(locations_of(db, owner.partner_id), value="99"))
    assert changed.status_code == 403
    assert [b.value for b in benefits_of(db, owner.partner_id)] == [20]
    assert one_benefit(db, benefit_id).status == BenefitStatus.DRAFT


def make_partner_of(db: Factory, user: User) -> Partner:
    with db() as s:
        partner = s.get(Partner, user.partner_id)
        assert partner is not None
        return partner


def test_a_partner_cannot_see_or_touch_anothers_benefit(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner_a = owner_of(make_user, make_partner, "Partner A")
    owner_b = owner_of(make_user, make_partner, "Partner B")
    csrf = sign_in_as(client, owner_a)
    benefit_id = create(client, csrf, db, owner_a, **{"title-en": "A's secret offer"})
    set_status(db, benefit_id, BenefitStatus.PUBLISHED)

    csrf = sign_in_as(client, owner_b)
    assert "A's secret offer" not in client.get(BASE).text
    assert client.get(f"{BASE}/{benefit_id}").status_code == 404
    assert client.get(f"{BASE}/{benefit_id}/preview").status_code == 404
    for action in ("submit", "withdraw", "pause", "resume", "archive"):
        assert post(client, csrf, f"{BASE}/{benefit_id}/{action}").status_code == 404, action
    changed = post(client, csrf, f"{BASE}/{benefit_id}", benefit_form(locations_of(db, owner_b.partner_id), value="99"))
    assert changed.status_code == 404
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.value, benefit.pending) == ("published", 20, None)


@pytest.mark.parametrize("role", [Role.FAMILY, Role.ADMIN, Role.PARTNER_MANAGER])
def test_the_pages_are_for_partner_users_only(client: Client, make_user: Any, role: Role) -> None:
    sign_in_as(client, make_user(role))
    assert client.get(BASE).status_code == 403


# --- automatic publication ----------------------------------------------------------------------------------------


def _principal(user: User) -> Any:
    return identity.principal_for_user(user)


def test_auto_publish_publishes_an_approved_partners_benefit_at_once(
    db: Factory, make_user: Any, make_partner: Any, settings: Any
) -> None:
    city = dataclasses.replace(load_city(settings.city), auto_publish_benefits=True)
    owner = owner_of(make_user, make_partner)
    principal = _principal(owner)
    locations = locations_of(db, owner.partner_id)[:1]
    with db() as s, s.begin():
        benefit_id = services.create_benefit(s, principal, benefit_form(locations), city=city).id
    with db() as s, s.begin():
        services.submit_benefit(s, principal, benefit_id, city=city)
    published = one_benefit(db, benefit_id)
    assert (published.status, published.published_at is not None) == ("published", True)

    with db() as s, s.begin():
        services.update_benefit(s, principal, benefit_id, benefit_form(locations, value="40"), city=city)
    changed = one_benefit(db, benefit_id)
    assert (changed.status, changed.value, changed.pending) == ("published", 40, None)
    assert actions_of(db) == ["benefit.created", "benefit.published", "benefit.change_published"]


def test_auto_publish_applies_a_waiting_change_when_submitted(
    db: Factory, make_user: Any, make_partner: Any, settings: Any
) -> None:
    moderated = load_city(settings.city)
    automatic = dataclasses.replace(moderated, auto_publish_benefits=True)
    owner = owner_of(make_user, make_partner)
    principal = _principal(owner)
    locations = locations_of(db, owner.partner_id)[:1]
    with db() as s, s.begin():
        benefit_id = services.create_benefit(s, principal, benefit_form(locations), city=moderated).id
    set_status(db, benefit_id, BenefitStatus.PUBLISHED)
    with db() as s, s.begin():
        services.update_benefit(s, principal, benefit_id, benefit_form(locations, value="45"), city=moderated)
    assert one_benefit(db, benefit_id).pending is not None
    with db() as s, s.begin():
        services.submit_benefit(s, principal, benefit_id, city=automatic)
    benefit = one_benefit(db, benefit_id)
    assert (benefit.status, benefit.value, benefit.pending) == ("published", 45, None)
    with db() as s, s.begin(), pytest.raises(Conflict) as refused:
        services.submit_benefit(s, principal, benefit_id, city=automatic)
    assert refused.value.code == "benefit_not_submittable"


def test_auto_publish_waits_for_the_partners_approval(
    db: Factory, make_user: Any, make_partner: Any, settings: Any
) -> None:
    city = dataclasses.replace(load_city(settings.city), auto_publish_benefits=True)
    owner = owner_of(make_user, make_partner, status="pending")
    principal = _principal(owner)
    with db() as s, s.begin():
        benefit_id = services.create_benefit(
            s, principal, benefit_form(locations_of(db, owner.partner_id)), city=city
        ).id
    with db() as s, s.begin():
        services.submit_benefit(s, principal, benefit_id, city=city)
    assert one_benefit(db, benefit_id).status == BenefitStatus.SUBMITTED


def test_auto_publish_from_the_city_file(
    tmp_path: Path, migrated_db: str, db: Factory, make_user: Any, make_partner: Any, settings: Any
) -> None:
    """The setting FK_CITY pointing at a city's own file switches automatic publication on for the portal."""
    source = city_path(settings.city).read_text(encoding="utf-8")
    assert "auto_publish_benefits = false" in source
    own = tmp_path / "ourcity.toml"
    own.write_text(source.replace("auto_publish_benefits = false", "auto_publish_benefits = true"))
    from familienkarte.app import create_app

    app = create_app(make_test_settings(tmp_path / "var", migrated_db, FK_CITY=str(own)))
    owner = owner_of(make_user, make_partner)
    with TestClient(app, base_url="https://testserver.local") as client:
        client.headers["Accept-Language"] = "en"
        csrf = sign_in_as(client, owner)
        benefit_id = create(client, csrf, db, owner)
        response = post(client, csrf, f"{BASE}/{benefit_id}/submit")
        assert response.status_code == 303
        assert "Published. Families can see the benefit now." in client.get(BASE).text
    assert one_benefit(db, benefit_id).status == BenefitStatus.PUBLISHED


def test_a_past_last_day_is_refused_for_a_new_benefit_only(
    db: Factory, make_user: Any, make_partner: Any, settings: Any
) -> None:
    city = load_city(settings.city)
    owner = owner_of(make_user, make_partner)
    principal = _principal(owner)
    locations = locations_of(db, owner.partner_id)[:1]
    today = dt.date(2030, 5, 10)
    with db() as s, s.begin():
        benefit_id = services.create_benefit(
            s, principal, benefit_form(locations, valid_until="2030-05-31"), city=city, today=today
        ).id
    later = dt.date(2030, 6, 15)
    # Another change to a benefit that has ended keeps its last day.
    with db() as s, s.begin():
        services.update_benefit(
            s,
            principal,
            benefit_id,
            benefit_form(locations, valid_until="2030-05-31", value="30"),
            city=city,
            today=later,
        )
    assert one_benefit(db, benefit_id).value == 30
    with db() as s, s.begin(), pytest.raises(Conflict) as refused:
        services.submit_benefit(s, principal, benefit_id, city=city, today=later)
    assert refused.value.code == "benefit_ended"
