"""Importing partners, locations and benefits from CSV, against a real database and through the staff pages."""

from __future__ import annotations

import csv
import dataclasses
import html
import io
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit
from familienkarte.city import load_city
from familienkarte.partners import csv_import
from familienkarte.partners.models import Location, Partner
from tests.conftest import csrf_from
from tests.helpers import sign_in_as

Client = TestClient[Litestar]
Factory = Callable[[], Session]
CITY = load_city("koeln")
AUTO = dataclasses.replace(CITY, auto_publish_benefits=True)

PARTNERS = [
    {
        "partner_key": "1",
        "name": "Zoo Köln",
        "legal_form": "ag",
        "category": "leisure",
        "description_de": "Tiere aus aller Welt.",
        "email": "zoo@example.org",
    },
    {
        "partner_key": "2",
        "name": '=HYPERLINK("http://evil.example")',
        "legal_form": "ev",
        "category": "culture",
        "description_de": "@Theater für Kinder",
    },
]
LOCATIONS = [
    {
        "partner_key": "1",
        "location_key": "zoo",
        "name": "Haupteingang",
        "street": "Riehler Straße",
        "house_number": "173",
        "postal_code": "50667",
        "hours_mon": "09:00-18:00",
        "accessibility": "step_free|baby_changing",
    },
    {
        "partner_key": "2",
        "location_key": "theater",
        "name": "Bühne",
        "street": "Domstraße",
        "house_number": "1",
        "postal_code": "50668",
        "district": "Nippes",
    },
]
BENEFITS = [
    {"partner_key": "1", "location_keys": "zoo", "title_de": "Kinder frei", "kind": "free_entry"},
    {
        "partner_key": "2",
        "location_keys": "theater",
        "title_de": "-20 % auf Karten",
        "kind": "percent_off",
        "value": "20",
    },
]


def table(rows: Sequence[Mapping[str, str]]) -> bytes:
    header = list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([row.get(name, "") for name in header] for row in rows)
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def files(benefits: Sequence[Mapping[str, str]] | None = None) -> dict[str, bytes | None]:
    return {
        csv_import.PARTNERS: table(PARTNERS),
        csv_import.LOCATIONS: table(LOCATIONS),
        csv_import.BENEFITS: table(benefits if benefits is not None else BENEFITS),
    }


def counts(db: Factory) -> tuple[int, int, int, int]:
    with db() as s:
        return (
            s.scalar(select(func.count()).select_from(Partner)) or 0,
            s.scalar(select(func.count()).select_from(Location)) or 0,
            s.scalar(select(func.count()).select_from(Benefit)) or 0,
            s.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(Role.PARTNER_MANAGER, display_name="Clerk")


def run(db: Factory, manager: User, city: Any, given: Mapping[str, bytes | None]) -> csv_import.ImportReport:
    with db() as s, s.begin():
        return csv_import.run_import(s, principal_for_user(manager), city, given)


def test_the_dry_run_writes_nothing(db: Factory, manager: User) -> None:
    with db() as s, s.begin():
        report = csv_import.check_import(s, principal_for_user(manager), CITY, files())
    assert report.ok
    assert report.rows == {"partners": 2, "locations": 2, "benefits": 2}
    assert counts(db) == (0, 0, 0, 0)


def test_one_bad_row_imports_nothing(db: Factory, manager: User) -> None:
    bad = [*BENEFITS, {"partner_key": "1", "location_keys": "zoo", "title_de": "Rabatt", "kind": "percent_off"}]
    report = run(db, manager, AUTO, files(bad))
    assert [(e.file, e.line, e.column) for e in report.errors] == [("benefits", 4, "value")]
    assert report.imported is None
    assert counts(db) == (0, 0, 0, 0)


def test_a_good_import_is_in_the_catalogue_and_a_second_one_finds_duplicates(
    client: Client, db: Factory, manager: User
) -> None:
    report = run(db, manager, AUTO, files())
    assert report.ok
    assert report.benefit_status == "published"
    assert sorted(p.name for p in report.imported or []) == ['=HYPERLINK("http://evil.example")', "Zoo Köln"]
    with db() as s:
        zoo = s.scalars(select(Partner).where(Partner.name == "Zoo Köln")).one()
        assert (zoo.status, zoo.contact_email, zoo.description) == (
            "approved",
            "zoo@example.org",
            {"de": "Tiere aus aller Welt."},
        )
        location = s.scalars(select(Location).where(Location.partner_id == zoo.id)).one()
        assert location.opening_hours == {"mon": [["09:00", "18:00"]]}
        assert location.accessibility == ["step_free", "baby_changing"]
        assert location.district == "Innenstadt"
        assert s.scalar(select(func.count()).select_from(User)) == 1  # the clerk only: no accounts created
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "partner.imported")).first()
        assert entry is not None
        assert entry.actor_user_id == manager.id
        assert entry.details["import"] == report.import_id
        assert entry.details["by"] == manager.email
    items = client.get("/api/v1/benefits", params={"per_page": 100}).json()["items"]
    assert sorted((i["partner_name"], i["title"]["text"]) for i in items) == [
        ('=HYPERLINK("http://evil.example")', "-20 % auf Karten"),
        ("Zoo Köln", "Kinder frei"),
    ]
    # The formula-looking name is shown as text on the public page.
    theater = next(p for p in report.imported or [] if p.name.startswith("="))
    page = client.get(f"/partners/{theater.id}").text
    assert "=HYPERLINK(&#34;http://evil.example&#34;)" in page or "=HYPERLINK(&quot;http://evil.example&quot;)" in page

    again = run(db, manager, AUTO, files())
    assert [(e.file, e.line, e.column) for e in again.errors] == [("partners", 2, "name"), ("partners", 3, "name")]
    assert counts(db)[:3] == (2, 2, 2)


def test_without_automatic_publication_benefits_wait_for_moderation(client: Client, db: Factory, manager: User) -> None:
    report = run(db, manager, CITY, files())
    assert report.benefit_status == "submitted"
    assert client.get("/api/v1/benefits").json()["items"] == []
    with db() as s:
        assert {b.status for b in s.scalars(select(Benefit))} == {"submitted"}


# Through the web --------------------------------------------------------------------------------------------------


def upload(client: Client, action: str, given: Mapping[str, bytes | None], **data: str) -> Any:
    token = csrf_from(client.get("/staff/imports").text)
    parts = {kind: (f"{kind}.csv", raw, "text/csv") for kind, raw in given.items() if raw is not None}
    return client.post(f"/staff/imports/{action}", data={"csrf_token": token, **data}, files=parts)


def test_a_partner_manager_checks_and_imports_through_the_web(client: Client, db: Factory, manager: User) -> None:
    sign_in_as(client, manager)
    home = client.get("/staff/").text
    assert 'href="/staff/imports"' in home
    page = client.get("/staff/imports")
    assert page.status_code == 200
    for column in ("partner_key", "location_keys", "hours_mon", "accessibility", "step_free", "limit_period"):
        assert f"<code>{column}</code>" in page.text
    example = client.get("/staff/imports/example/benefits.csv")
    assert example.status_code == 200
    assert example.headers["content-type"].startswith("text/csv")
    assert example.content.decode("utf-8-sig").startswith("partner_key;location_keys;title_de")
    assert client.get("/staff/imports/example/users.csv").status_code == 404

    bad = {**files(), csv_import.LOCATIONS: table([{**LOCATIONS[0], "postal_code": "10115"}, LOCATIONS[1]])}
    with i18n.use_locale("en"):
        checked = upload(client, "check", bad)
    assert checked.status_code == 200
    assert "<code>locations.csv</code>" in checked.text
    assert "<code>postal_code</code>" in checked.text
    assert "1 problem" in checked.text or "1 Problem" in checked.text
    report = upload(client, "check", bad, format="csv")
    assert report.headers["content-disposition"] == 'attachment; filename="import-report.csv"'
    assert "locations.csv;2;postal_code;" in report.content.decode("utf-8-sig")
    refused = upload(client, "run", bad)
    assert refused.status_code == 422
    assert counts(db) == (0, 0, 0, 0)

    done = upload(client, "run", files())
    assert done.status_code == 200, done.text
    assert counts(db)[:3] == (2, 2, 2)
    with db() as s:
        zoo = s.scalars(select(Partner).where(Partner.name == "Zoo Köln")).one()
    assert f'href="/staff/partner-queue/{zoo.id}"' in done.text
    assert 'href="/staff/benefit-queue"' in done.text
    again = upload(client, "run", files())
    assert again.status_code == 422
    assert counts(db)[:3] == (2, 2, 2)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "The file is not in UTF-8."),
        ("partner_key;name\r\nP1;Zoo K\u00f6ln\r\n".encode("utf-16"), "The file is not in UTF-8."),
        (table(PARTNERS) + b'3;"Zoo' + b"x" * 200_000 + b"\r\n", "quotation mark is not closed"),
    ],
    ids=["binary", "utf-16", "unclosed-quote"],
)
def test_a_hostile_file_is_named_on_the_check_page(client: Client, manager: User, raw: bytes, words: str) -> None:
    client.headers["Accept-Language"] = "en"
    sign_in_as(client, manager)
    response = upload(client, "check", {**files(), csv_import.PARTNERS: raw})
    assert response.status_code == 200
    assert "<code>partners.csv</code>" in response.text
    assert words in html.unescape(response.text)


def test_a_missing_file_is_named(client: Client, manager: User) -> None:
    sign_in_as(client, manager)
    response = upload(client, "check", {csv_import.PARTNERS: table(PARTNERS)})
    assert response.status_code == 200
    assert "locations.csv" in response.text


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.PARTNER_OWNER, Role.FAMILY])
def test_other_roles_are_refused(client: Client, db: Factory, make_user: Callable[..., User], role: Role) -> None:
    token = sign_in_as(client, make_user(role))
    assert client.get("/staff/imports").status_code == 403
    assert client.get("/staff/imports/example/partners.csv").status_code == 403
    parts = {kind: (f"{kind}.csv", raw, "text/csv") for kind, raw in files().items() if raw is not None}
    for action in ("check", "run"):
        response = client.post(f"/staff/imports/{action}", data={"csrf_token": token}, files=parts)
        assert response.status_code == 403
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Benefit)) == 0
        assert s.scalar(select(func.count()).select_from(Partner)) == (1 if role == Role.PARTNER_OWNER else 0)
