"""The partner owner keeps the organisation's data up to date: profile, resubmission, locations, logo, cashiers."""

from __future__ import annotations

import html
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, Partner
from tests.conftest import BASE_URL, PASSWORD, csrf_from
from tests.helpers import sign_in_as
from tests.unit.test_logos import _png_declaring

Factory = Callable[[], Session]
Client = TestClient[Litestar]


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def post_form(client: Client, page_path: str, action: str, **fields: str) -> Any:
    page = client.get(page_path)
    assert page.status_code == 200, page.text
    return client.post(action, data={"csrf_token": csrf_from(page.text), **fields}, follow_redirects=False)


def profile_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Zoo Köln",
        "legal_form": "ag",
        "website": "https://www.koelnerzoo.de",
        "category": "leisure",
        "description-de": "Tiere aus aller Welt.",
        "description-en": "",
        "phone": "0221 5601-0",
    }
    form.update(changes)
    return form


def location_form(**changes: str) -> dict[str, str]:
    form = {
        "name": "Zoo Köln, Nordeingang",
        "street": "Riehler Straße",
        "house_number": "173",
        "postal_code": "50735",
        "hours-mon": "09:00-18:00",
        "hours-sun": "10:00-17:00",
        "access-pram_friendly": "on",
    }
    form.update(changes)
    return form


def error_of(page: str, field: str) -> str:
    found = re.search(rf'<p class="error-message" id="error-{re.escape(field)}">.*?</span>\s*(.*?)</p>', page, re.S)
    assert found, f"no error shown at {field}"
    return html.unescape(found.group(1))


def partner_row(db: Factory, partner_id: uuid.UUID) -> Partner:
    with db() as s:
        partner = s.get(Partner, partner_id)
    assert partner is not None
    return partner


def locations_of(db: Factory, partner_id: uuid.UUID) -> list[Location]:
    with db() as s:
        return list(s.scalars(select(Location).where(Location.partner_id == partner_id).order_by(Location.name)))


@pytest.fixture
def owner(make_user: Any, make_partner: Any) -> User:
    user: User = make_user(Role.PARTNER_OWNER, partner=make_partner("Zoo Köln", status="approved"))
    return user


# Profile --------------------------------------------------------------------------------------------------------


def test_the_owner_edits_the_profile(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    page = client.get("/partner/profile")
    assert page.status_code == 200
    assert "Approved: families can use your benefits" in page.text
    saved = post_form(client, "/partner/profile", "/partner/profile", **profile_form(**{"description-en": "Animals."}))
    assert saved.status_code == 303
    assert saved.headers["location"] == "/partner/profile"
    assert "Your details have been saved." in client.get("/partner/profile").text
    partner = partner_row(db, owner.partner_id)  # type: ignore[arg-type]
    assert (partner.legal_form, partner.category, partner.website) == ("ag", "leisure", "https://www.koelnerzoo.de")
    assert partner.description == {"de": "Tiere aus aller Welt.", "en": "Animals."}
    with db() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "partner.profile_updated")).one()
    assert entry.actor_user_id == owner.id
    assert "description" in entry.details["changed"]


def test_a_wrong_profile_change_is_refused_per_field_and_nothing_changes(
    client: Client, db: Factory, owner: User
) -> None:
    sign_in_as(client, owner)
    post_form(client, "/partner/profile", "/partner/profile", **profile_form())
    refused = post_form(
        client,
        "/partner/profile",
        "/partner/profile",
        **profile_form(name="Neuer Name", category="nonsense", **{"description-de": ""}),
    )
    assert refused.status_code == 422
    assert "listed entries" in error_of(refused.text, "category")
    assert "in German" in error_of(refused.text, "description-de")
    assert 'value="Neuer Name"' in refused.text
    assert partner_row(db, owner.partner_id).name == "Zoo Köln"  # type: ignore[arg-type]


def test_resubmitting_after_changes_were_requested(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    partner = make_partner("Theater am Dom", status="changes_requested")
    with db() as s, s.begin():
        s.get(Partner, partner.id).status_reason = "Bitte ergänzen Sie die Öffnungszeiten."  # type: ignore[union-attr]
    user = make_user(Role.PARTNER_OWNER, partner=partner)
    sign_in_as(client, user)
    page = client.get("/partner/profile")
    assert "The city asks you to change some details" in page.text
    assert "Bitte ergänzen Sie die Öffnungszeiten." in html.unescape(page.text)
    sent = post_form(client, "/partner/profile", "/partner/profile/resubmit")
    assert sent.status_code == 303
    assert partner_row(db, partner.id).status == "pending"
    # Only after a request for changes.
    again = post_form(client, "/partner/profile", "/partner/profile/resubmit")
    assert again.status_code == 409
    assert "only be sent again" in again.text


def test_an_approved_partner_cannot_resubmit(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    assert post_form(client, "/partner/profile", "/partner/profile/resubmit").status_code == 409
    assert partner_row(db, owner.partner_id).status == "approved"  # type: ignore[arg-type]


# Locations ------------------------------------------------------------------------------------------------------


def test_locations_are_added_edited_and_closed(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    added = post_form(client, "/partner/locations/new", "/partner/locations/new", **location_form())
    assert added.status_code == 303
    assert added.headers["location"] == "/partner/locations"
    listing = client.get("/partner/locations")
    assert "The location has been added." in listing.text
    assert "Zoo Köln, Nordeingang" in html.unescape(listing.text)
    new = next(loc for loc in locations_of(db, owner.partner_id) if loc.name == "Zoo Köln, Nordeingang")  # type: ignore[arg-type]
    assert new.district == "Nippes"
    assert new.opening_hours == {"mon": [["09:00", "18:00"]], "sun": [["10:00", "17:00"]]}
    assert new.accessibility == ["pram_friendly"]

    edit_page = client.get(f"/partner/locations/{new.id}")
    assert 'value="09:00-18:00"' in edit_page.text
    assert 'name="access-pram_friendly" type="checkbox" value="on" checked' in edit_page.text
    changed = post_form(
        client,
        f"/partner/locations/{new.id}",
        f"/partner/locations/{new.id}",
        **location_form(**{"hours-mon": "", "latitude": "50.9585", "longitude": "6.9731"}),
    )
    assert changed.status_code == 303
    with db() as s:
        row = s.get(Location, new.id)
    assert row is not None
    assert row.opening_hours == {"sun": [["10:00", "17:00"]]}
    assert (row.latitude, row.longitude) == (50.9585, 6.9731)

    closed = post_form(client, "/partner/locations", f"/partner/locations/{new.id}/deactivate")
    assert closed.status_code == 303
    with db() as s:
        row = s.get(Location, new.id)
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.object_id == str(new.id))))
    assert row is not None
    assert row.is_active is False
    assert actions.count("location.created") == 1
    assert "location.deactivated" in actions
    # A closed location stays in the records and cannot be edited any more.
    refused = post_form(client, "/partner/locations", f"/partner/locations/{new.id}", **location_form())
    assert refused.status_code == 409


def test_a_wrong_location_is_refused_per_field(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    before = len(locations_of(db, owner.partner_id))  # type: ignore[arg-type]
    refused = post_form(
        client,
        "/partner/locations/new",
        "/partner/locations/new",
        **location_form(**{"hours-wed": "09:00-13:00, 12:30-18:00", "postal_code": "59065", "latitude": "50.9"}),
    )
    assert refused.status_code == 422
    assert "Wednesday: the time ranges overlap" in error_of(refused.text, "hours-wed")
    assert "not in Köln" in error_of(refused.text, "postal_code")
    assert "longitude too" in error_of(refused.text, "longitude")
    assert 'value="09:00-13:00, 12:30-18:00"' in refused.text
    assert len(locations_of(db, owner.partner_id)) == before  # type: ignore[arg-type]


def test_the_last_open_location_cannot_be_closed(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    (only,) = locations_of(db, owner.partner_id)  # type: ignore[arg-type]
    refused = post_form(client, "/partner/locations", f"/partner/locations/{only.id}/deactivate")
    assert refused.status_code == 409
    assert "only open location" in refused.text
    assert locations_of(db, owner.partner_id)[0].is_active  # type: ignore[arg-type]


def test_partner_a_cannot_touch_partner_bs_locations(
    client: Client, db: Factory, owner: User, make_user: Any, make_partner: Any
) -> None:
    other = make_partner("Hallenbad Süd", locations=2)
    target = locations_of(db, other.id)[0]
    sign_in_as(client, owner)
    assert client.get(f"/partner/locations/{target.id}").status_code == 404
    assert (
        post_form(client, "/partner/locations", f"/partner/locations/{target.id}", **location_form()).status_code == 404
    )
    assert post_form(client, "/partner/locations", f"/partner/locations/{target.id}/deactivate").status_code == 404
    assert "Hallenbad" not in client.get("/partner/locations").text
    after = locations_of(db, other.id)[0]
    assert (after.name, after.is_active, after.street) == (target.name, True, None)


# Logo -------------------------------------------------------------------------------------------------------------


def png(size: tuple[int, int] = (800, 400)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "orange").save(out, format="PNG")
    return out.getvalue()


def upload(client: Client, data: bytes, filename: str = "logo.png", content_type: str = "image/png") -> Any:
    page = client.get("/partner/logo")
    assert page.status_code == 200
    return client.post(
        "/partner/logo",
        data={"csrf_token": csrf_from(page.text)},
        files={"logo": (filename, data, content_type)},
        follow_redirects=False,
    )


def test_a_logo_is_uploaded_and_served_once_the_partner_is_approved(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    saved = upload(client, png())
    assert saved.status_code == 303, saved.text
    assert "Your logo has been saved." in client.get("/partner/logo").text
    partner = partner_row(db, owner.partner_id)  # type: ignore[arg-type]
    assert partner.logo_type == "image/png"
    assert partner.logo_updated_at is not None
    assert Image.open(io.BytesIO(partner.logo or b"")).size == (512, 256)

    client.cookies.clear()
    public = client.get(f"/partners/{partner.id}/logo")
    assert public.status_code == 200
    assert public.headers["content-type"] == "image/png"
    assert public.headers["x-content-type-options"] == "nosniff"
    assert "max-age" in public.headers["cache-control"]
    assert public.content == partner.logo
    etag = public.headers["etag"]
    assert client.get(f"/partners/{partner.id}/logo", headers={"If-None-Match": etag}).status_code == 304


def test_a_logo_of_a_partner_not_approved_is_not_served(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    partner = make_partner("Neu", status="pending")
    sign_in_as(client, make_user(Role.PARTNER_OWNER, partner=partner))
    assert upload(client, png()).status_code == 303
    # The owner sees it; the public does not.
    assert client.get("/partner/logo/image").status_code == 200
    client.cookies.clear()
    assert client.get(f"/partners/{partner.id}/logo").status_code == 404
    assert client.get(f"/partners/{uuid.uuid4()}/logo").status_code == 404


def test_a_partner_without_a_logo_has_none(client: Client, owner: User) -> None:
    assert client.get(f"/partners/{owner.partner_id}/logo").status_code == 404


@pytest.mark.parametrize(
    ("data", "filename", "words"),
    [
        (b"just text, not an image" * 10, "logo.png", "not a PNG, JPEG or WebP image"),
        (b"GIF89a" + b"\x00" * 100, "logo.gif", "not a PNG, JPEG or WebP image"),
        (b"", "logo.png", "Please choose an image file"),
        (b"\x89PNG" + b"\x00" * (3 * 1024 * 1024), "big.png", "at most 2 MB"),
        (_png_declaring(50_000, 50_000), "bomb.png", "too many pixels"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg", "not a PNG"),
        (b"%PDF-1.7\n%%EOF\n", "logo.png", "not a PNG, JPEG or WebP image"),
    ],
)
def test_a_bad_logo_is_refused_at_the_field(
    client: Client, db: Factory, owner: User, data: bytes, filename: str, words: str
) -> None:
    sign_in_as(client, owner)
    refused = upload(client, data, filename)
    assert refused.status_code == 422
    assert words in error_of(refused.text, "logo")
    assert partner_row(db, owner.partner_id).logo is None  # type: ignore[arg-type]


def test_a_logo_upload_needs_the_csrf_token(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    refused = client.post("/partner/logo", files={"logo": ("logo.png", png(), "image/png")})
    assert refused.status_code == 403
    assert partner_row(db, owner.partner_id).logo is None  # type: ignore[arg-type]


def test_the_logo_can_be_removed(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    assert upload(client, png()).status_code == 303
    assert post_form(client, "/partner/logo", "/partner/logo/remove").status_code == 303
    assert partner_row(db, owner.partner_id).logo is None  # type: ignore[arg-type]


# Cashiers -------------------------------------------------------------------------------------------------------


def invitation_path(db: Factory, address: str) -> str:
    with db() as s:
        mail = s.scalars(select(Email).where(Email.to_address == address).order_by(Email.created_at.desc())).first()
    assert mail is not None
    found = re.search(re.escape(BASE_URL) + r"(/password/set/[A-Za-z0-9_-]+)", mail.body_text)
    assert found, mail.body_text
    return found.group(1)


def test_a_cashier_is_invited_sets_a_password_and_signs_in(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    invited = post_form(
        client, "/partner/cashiers", "/partner/cashiers", display_name="Kasse 1", email="Kasse1@Zoo.example"
    )
    assert invited.status_code == 303
    listing = client.get("/partner/cashiers")
    assert "kasse1@zoo.example" in listing.text
    assert "no password chosen yet" in listing.text
    with db() as s:
        cashier = s.scalars(select(User).where(User.email == "kasse1@zoo.example")).one()
    assert (cashier.role, cashier.partner_id, cashier.password_hash) == ("cashier", owner.partner_id, None)

    client.cookies.clear()
    path = invitation_path(db, "kasse1@zoo.example")
    page = client.get(path)
    assert page.status_code == 200
    set_password = client.post(
        path,
        data={"csrf_token": csrf_from(page.text), "password": PASSWORD, "password_confirm": PASSWORD},
        follow_redirects=False,
    )
    assert set_password.headers["location"] == "/login"
    login = client.get("/login")
    signed_in = client.post(
        "/login",
        data={"csrf_token": csrf_from(login.text), "email": "kasse1@zoo.example", "password": PASSWORD},
        follow_redirects=False,
    )
    assert signed_in.headers["location"] == "/partner/"
    start = client.get("/partner/")
    assert start.status_code == 200
    assert 'href="/partner/profile"' not in start.text


def test_a_cashier_cannot_edit_anything(client: Client, db: Factory, owner: User, make_user: Any) -> None:
    cashier = make_user(Role.CASHIER, partner=partner_row(db, owner.partner_id))  # type: ignore[arg-type]
    (location,) = locations_of(db, owner.partner_id)  # type: ignore[arg-type]
    csrf = sign_in_as(client, cashier)
    headers = {"X-CSRF-Token": csrf}
    for path in ("/partner/profile", "/partner/locations", "/partner/locations/new", "/partner/cashiers"):
        assert client.get(path).status_code == 403, path
    for path, data in [
        ("/partner/profile", profile_form(name="Hijacked")),
        ("/partner/profile/resubmit", {}),
        ("/partner/locations/new", location_form()),
        (f"/partner/locations/{location.id}", location_form(name="Hijacked")),
        (f"/partner/locations/{location.id}/deactivate", {}),
        ("/partner/cashiers", {"display_name": "X", "email": "x@example.org"}),
        (f"/partner/cashiers/{cashier.id}/deactivate", {}),
    ]:
        assert client.post(path, data=data, headers=headers).status_code == 403, path
    refused = client.post("/partner/logo", files={"logo": ("l.png", png(), "image/png")}, headers=headers)
    assert refused.status_code == 403
    partner = partner_row(db, owner.partner_id)  # type: ignore[arg-type]
    assert partner.name == "Zoo Köln"
    assert partner.logo is None
    assert locations_of(db, owner.partner_id)[0].name == location.name  # type: ignore[arg-type]


def test_a_cashier_is_deactivated_and_signed_out(client: Client, db: Factory, owner: User, make_user: Any) -> None:
    cashier = make_user(Role.CASHIER, partner=partner_row(db, owner.partner_id))  # type: ignore[arg-type]
    sign_in_as(client, cashier)
    assert client.get("/partner/").status_code == 200
    cashier_cookies = dict(client.cookies)
    sign_in_as(client, owner)
    done = post_form(client, "/partner/cashiers", f"/partner/cashiers/{cashier.id}/deactivate")
    assert done.status_code == 303
    assert "Deactivated" in client.get("/partner/cashiers").text
    with db() as s:
        row = s.get(User, cashier.id)
    assert row is not None
    assert not row.is_active
    assert row.session_epoch == cashier.session_epoch + 1
    # The cashier's session has ended.
    client.cookies.clear()
    for name, value in cashier_cookies.items():
        client.cookies.set(name, value)
    assert client.get("/partner/", follow_redirects=False).status_code == 303


def test_an_address_in_use_cannot_be_invited(client: Client, db: Factory, owner: User, make_user: Any) -> None:
    make_user(Role.FAMILY, email="familie@example.org")
    sign_in_as(client, owner)
    for address, words in [
        ("familie@example.org", "exists already"),
        (owner.email, "exists already"),
        ("nonsense", "valid e-mail address"),
    ]:
        refused = post_form(client, "/partner/cashiers", "/partner/cashiers", display_name="K", email=address)
        assert refused.status_code == 422
        assert words in error_of(refused.text, "email")
    missing_name = post_form(client, "/partner/cashiers", "/partner/cashiers", display_name="", email="k@example.org")
    assert "name of the cashier" in error_of(missing_name.text, "display_name")
    with db() as s:
        assert s.scalars(select(User).where(User.role == "cashier")).all() == []


def test_an_owner_cannot_touch_another_partners_cashier(
    client: Client, db: Factory, owner: User, make_user: Any, make_partner: Any
) -> None:
    stranger = make_user(Role.CASHIER, partner=make_partner("Hallenbad Süd"))
    sign_in_as(client, owner)
    assert post_form(client, "/partner/cashiers", f"/partner/cashiers/{stranger.id}/deactivate").status_code == 404
    assert post_form(client, "/partner/cashiers", f"/partner/cashiers/{owner.id}/deactivate").status_code == 404
    with db() as s:
        assert s.get(User, stranger.id).is_active  # type: ignore[union-attr]


def test_a_new_link_can_be_sent_to_a_cashier(client: Client, db: Factory, owner: User) -> None:
    sign_in_as(client, owner)
    post_form(client, "/partner/cashiers", "/partner/cashiers", display_name="Kasse", email="kasse@zoo.example")
    first = invitation_path(db, "kasse@zoo.example")
    with db() as s:
        cashier_id = s.scalars(select(User.id).where(User.email == "kasse@zoo.example")).one()
    assert post_form(client, "/partner/cashiers", f"/partner/cashiers/{cashier_id}/resend").status_code == 303
    second = invitation_path(db, "kasse@zoo.example")
    assert second != first
    client.cookies.clear()
    assert client.get(first).status_code == 409
    assert client.get(second).status_code == 200
