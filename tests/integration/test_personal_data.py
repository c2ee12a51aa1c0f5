"""Personal data: none in the card's code, none in the logs, none in the statistics tables; every staff route that
reads or changes a family's data leaves an audit entry; every table of the database is known to the family's
export and erasure (``tests/integration/test_family_data.py``)."""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from familienkarte import models
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import printing
from familienkarte.cards.credential_models import PrintJob
from familienkarte.cards.models import Application, Card, HouseholdAdult
from familienkarte.city import load_city
from familienkarte.db import utcnow
from tests.conftest import BASE_URL, csrf_from
from tests.helpers import sign_in_as
from tests.integration.test_applications import form, submit
from tests.integration.test_card_credentials import issue_family_card
from tests.integration.test_family_data import TABLES_IN_EXPORT, TABLES_WITHOUT_FAMILY_DATA, activate

Client = TestClient[Litestar]
Factory = Callable[[], Session]

# The household of tests.integration.test_applications.form(): what must never leave the family's own records.
PERSONAL = ["Ayşe", "Yılmaz", "Müller", "Emre", "Venloer", "12a", "Ayse.Yilmaz", "ayse.yilmaz", "jan.mueller"]

# ../shared/CREDENTIAL.md: the claims of a credential, and the protected header.
ALLOWED_CLAIMS = {"sub", "exp", "a", "c", "e", "s", "l", "k"}
ALLOWED_HEADER = {"alg", "kid"}


def _b64(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


# -- the code on the card ------------------------------------------------------------------------------------------


def test_the_cards_code_holds_only_the_allowed_claims(client: Client, db: Factory, make_user: Any) -> None:
    family = issue_family_card(db, make_user)
    _phone, activation = activate(client, family.users[0], "Ayşes Handy")
    credential = activation["credential"]
    header, claims = _b64(credential.split(".")[0]), _b64(credential.split(".")[1])
    assert set(header) <= ALLOWED_HEADER, header
    assert set(claims) <= ALLOWED_CLAIMS, claims
    assert {"sub", "exp", "a", "c", "s", "k"} <= set(claims)
    decoded = json.dumps([header, claims], ensure_ascii=False)
    assert [word for word in [*PERSONAL, "Ayşes Handy", "50823"] if word.lower() in decoded.lower()] == []
    with db() as s:
        card = s.get_one(Card, family.card_id)
        assert claims["sub"] == card.number
    # The children (one expected) as year and month only: no day, no name.
    assert claims["c"] == [201904, 202702]


# -- the logs ------------------------------------------------------------------------------------------------------


def _log_line(record: logging.LogRecord) -> str:
    standard = set(vars(logging.makeLogRecord({})))
    extras = {k: v for k, v in vars(record).items() if k not in standard}
    return f"{record.name} {record.getMessage()} {json.dumps(extras, default=str, ensure_ascii=False)}"


def test_applying_deciding_and_reading_a_family_logs_nothing_personal(
    client: Client, db: Factory, make_user: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Everything at the level a deployment logs (INFO), and the service's own loggers down to DEBUG.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="familienkarte")
    # The application through the form, as a family sends it.
    csrf = csrf_from(client.get("/apply").text)
    sent = client.post("/apply", data={**form(), "csrf_token": csrf}, follow_redirects=False)
    assert sent.status_code == 303, sent.text
    with db() as s:
        application_id = s.scalars(select(Application.id)).one()
    caseworker = make_user(Role.CASEWORKER)
    staff_csrf = sign_in_as(client, caseworker)
    assert client.get(f"/staff/applications/{application_id}").status_code == 200
    approved = client.post(
        f"/staff/applications/{application_id}/approve", data={"csrf_token": staff_csrf}, follow_redirects=False
    )
    assert approved.status_code == 303, approved.text
    with db() as s:
        card = s.scalars(select(Card)).one()
    assert client.get(f"/staff/cards/{card.id}").status_code == 200
    assert client.get("/staff/cards", params={"q": "Yılmaz"}).status_code == 200
    assert client.get("/staff/cards", params={"q": "ayse.yilmaz@example.org"}).status_code == 200
    with db() as s:
        user_id = s.scalars(select(HouseholdAdult.user_id).where(HouseholdAdult.first_name == "Ayşe")).one()
        family_user = s.get_one(User, user_id)
    sign_in_as(client, family_user)
    card_page = client.get("/card")
    assert card_page.status_code == 200
    assert "Ayşe" in card_page.text or "Yılmaz" in card_page.text
    activate(client, family_user, "Ayşes Handy")

    # The test client's own log (httpx) is the caller's, not the service's.
    lines = [_log_line(record) for record in caplog.records if not record.name.startswith(("httpx", "httpcore"))]
    assert any("/staff/cards" in line for line in lines), "the access log was captured"
    leaked = [(word, line) for line in lines for word in PERSONAL if _mentions(line, word)]
    assert leaked == []


def _mentions(line: str, word: str) -> bool:
    """Whether ``word`` stands in the log line. A word of hex digits alone (the house number "12a") counts only
    where it is not part of a longer run of them: an id in a logged path ("…-412a9…") is no house number."""
    text, wanted = line.lower(), word.lower()
    if re.fullmatch(r"[0-9a-f]+", wanted):
        return re.search(rf"(?<![0-9a-f]){re.escape(wanted)}(?![0-9a-f])", text) is not None
    return wanted in text


# -- the statistics ------------------------------------------------------------------------------------------------

# Column names that would hold a person, a household or something that leads to one.
PERSONAL_COLUMNS = {
    "first_name",
    "last_name",
    "name",
    "email",
    "street",
    "house_number",
    "address",
    "phone",
    "birth_date",
    "expected_date",
    "ip",
    "user_id",
    "household_id",
    "card_id",
    "card_number",
    "credential_id",
    "device_name",
    "tier_number",
}
# stats_reached_cards: the card number is a pseudonym (CREDENTIAL.md: never derived from personal data), the only
# way to count a card once over the whole programme after its old redemptions are deleted. It holds nothing else
# (no time, place or benefit), so it tells no more than the cards table already does.
PSEUDONYMS_KEPT = {("stats_reached_cards", "card_number")}


def test_the_statistics_tables_hold_no_personal_fields(db: Factory) -> None:
    statistics = [t for t in models.Base.metadata.sorted_tables if t.name.startswith("stats_")]
    assert len(statistics) >= 10
    found = [
        (table.name, column.name)
        for table in statistics
        for column in table.columns
        if column.name in PERSONAL_COLUMNS or column.name.endswith(("_email", "_name", "_address"))
    ]
    assert set(found) == PSEUDONYMS_KEPT
    reached = models.Base.metadata.tables["stats_reached_cards"]
    assert [c.name for c in reached.columns] == ["card_number"], "a card number with anything else is a profile"


# -- the audit of staff work on family data ------------------------------------------------------------------------

STAFF_ROLES = {Role.ADMIN.value, Role.CASEWORKER.value, Role.PARTNER_MANAGER.value, Role.ANALYST.value}
# Every staff route that reads or changes a family's data, with the audit action it writes.
FAMILY_DATA_ROUTES = {
    ("GET", "/staff/applications"): "application.listed",
    ("GET", "/staff/applications/{application_id}"): "application.viewed",
    ("POST", "/staff/applications/{application_id}/approve"): "application.approved",
    ("POST", "/staff/applications/{application_id}/reject"): "application.rejected",
    ("POST", "/staff/applications/{application_id}/request-info"): "application.info_requested",
    ("GET", "/staff/cards"): "card.searched",
    ("GET", "/staff/cards/{card_id}"): "card.viewed",
    ("POST", "/staff/cards/{card_id}/status/{change_name}"): "card.suspended",
    ("POST", "/staff/cards/{card_id}/credentials/{credential_id}/revoke"): "credential.revoke",
    ("POST", "/staff/cards/{card_id}/prints"): "print_job.order",
    ("GET", "/staff/cards/{card_id}/prints/{job_id}/card.pdf"): "card.print_downloaded",
}
_PARTNERS = "partners' data, no family's"
_STATISTICS = "counts, no family"
_STAFF = "staff accounts, no family"
NO_FAMILY_DATA = {
    ("GET", "/staff"): "the staff start page",
    # The audit log is the record of who read what; admins only. Reading it is not itself recorded.
    ("GET", "/staff/audit"): "the audit log itself (admins only)",
    ("GET", "/staff/benefit-queue"): _PARTNERS,
    ("GET", "/staff/benefit-queue/{benefit_id}"): _PARTNERS,
    ("POST", "/staff/benefit-queue/{benefit_id}/{decision}"): _PARTNERS,
    ("GET", "/staff/partner-queue"): _PARTNERS,
    ("GET", "/staff/partner-queue/{partner_id}"): _PARTNERS,
    ("GET", "/staff/partner-queue/{partner_id}/logo"): _PARTNERS,
    ("POST", "/staff/partner-queue/{partner_id}/{decision}"): _PARTNERS,
    ("GET", "/staff/partners"): _PARTNERS,
    ("GET", "/staff/partners/{partner_id}/keys"): _PARTNERS,
    ("POST", "/staff/partners/{partner_id}/keys"): _PARTNERS,
    ("POST", "/staff/partners/{partner_id}/keys/{key_id}/revoke"): _PARTNERS,
    ("GET", "/staff/imports"): _PARTNERS,
    ("POST", "/staff/imports/check"): _PARTNERS,
    ("POST", "/staff/imports/run"): _PARTNERS,
    ("GET", "/staff/imports/example/{filename}"): _PARTNERS,
    ("GET", "/staff/statistics"): _STATISTICS,
    ("GET", "/staff/statistics/exports"): _STATISTICS,
    ("POST", "/staff/statistics/exports"): _STATISTICS,
    ("GET", "/staff/statistics/exports/{job_id}"): _STATISTICS,
    ("GET", "/staff/statistics/exports/{job_id}/file"): _STATISTICS,
    ("GET", "/staff/statistics/exports/{job_id}/status"): _STATISTICS,
    ("GET", "/account/totp"): _STAFF,
    ("POST", "/account/totp/confirm"): _STAFF,
    ("POST", "/account/totp/disable"): _STAFF,
    ("POST", "/account/totp/setup"): _STAFF,
    ("GET", "/staff/users"): _STAFF,
    ("GET", "/staff/users/new"): _STAFF,
    ("POST", "/staff/users/new"): _STAFF,
    ("GET", "/staff/users/{user_id}"): _STAFF,
    ("POST", "/staff/users/{user_id}/activate"): _STAFF,
    ("POST", "/staff/users/{user_id}/deactivate"): _STAFF,
    ("POST", "/staff/users/{user_id}/password-link"): _STAFF,
    ("POST", "/staff/users/{user_id}/reset-totp"): _STAFF,
    ("POST", "/staff/users/{user_id}/role"): _STAFF,
}


def staff_routes(app: Litestar) -> set[tuple[str, str]]:
    """Every route only staff may use (the route table's ``roles``)."""
    found: set[tuple[str, str]] = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            roles = handler.opt.get("roles")
            if isinstance(roles, list | tuple | set | frozenset) and roles and set(roles) <= STAFF_ROLES:
                found |= {(str(method), route.path_format) for method in handler.http_methods if method != "OPTIONS"}
    return found


def test_every_staff_route_is_known_to_read_family_data_or_not(app: Litestar) -> None:
    routes = staff_routes(app)
    assert not FAMILY_DATA_ROUTES.keys() & NO_FAMILY_DATA.keys()
    unlisted = sorted(routes - FAMILY_DATA_ROUTES.keys() - NO_FAMILY_DATA.keys())
    assert unlisted == [], (
        f"staff routes to sort into FAMILY_DATA_ROUTES (with an audit entry) or NO_FAMILY_DATA: {unlisted}"
    )
    gone = sorted((FAMILY_DATA_ROUTES.keys() | NO_FAMILY_DATA.keys()) - routes)
    assert gone == [], f"routes listed here that the app no longer has: {gone}"


def _entries(db: Factory, user_id: uuid.UUID) -> list[str]:
    with db() as s:
        return list(
            s.scalars(select(AuditEntry.action).where(AuditEntry.actor_user_id == user_id).order_by(AuditEntry.id))
        )


def test_every_staff_route_on_family_data_writes_an_audit_entry(
    client: Client, db: Factory, make_user: Any, settings: Any
) -> None:
    city = load_city(settings.city)
    family = issue_family_card(db, make_user)
    pending = [
        submit(
            db,
            form(
                **{
                    "adult-0-email": f"family{n}@example.org",
                    "adult-1-email": f"other{n}@example.org",
                    "house_number": f"{n + 1}",
                }
            ),
        )
        for n in range(3)
    ]
    caseworker = make_user(Role.CASEWORKER)
    csrf = sign_in_as(client, caseworker)

    def post(path: str, **fields: str) -> None:
        response = client.post(path, data={"csrf_token": csrf, **fields}, follow_redirects=False)
        assert response.status_code == 303, (path, response.status_code, response.text[:500])

    def get(path: str, **params: str) -> None:
        response = client.get(path, params=params)
        assert response.status_code == 200, (path, response.status_code)

    card = f"/staff/cards/{family.card_id}"
    calls: dict[tuple[str, str], Callable[[], None]] = {
        ("GET", "/staff/applications"): lambda: get("/staff/applications"),
        ("GET", "/staff/applications/{application_id}"): lambda: get(
            f"/staff/applications/{pending[0].application_id}"
        ),
        ("POST", "/staff/applications/{application_id}/approve"): lambda: post(
            f"/staff/applications/{pending[0].application_id}/approve"
        ),
        ("POST", "/staff/applications/{application_id}/reject"): lambda: post(
            f"/staff/applications/{pending[1].application_id}/reject", reason="Kein Wohnsitz in Köln."
        ),
        ("POST", "/staff/applications/{application_id}/request-info"): lambda: post(
            f"/staff/applications/{pending[2].application_id}/request-info", message="Bitte Geburtsurkunde senden."
        ),
        ("GET", "/staff/cards"): lambda: get("/staff/cards", q="Yılmaz"),
        ("GET", "/staff/cards/{card_id}"): lambda: get(card),
        ("POST", "/staff/cards/{card_id}/prints"): lambda: post(f"{card}/prints"),
    }
    failures = []
    for key, call in calls.items():
        before = len(_entries(db, caseworker.id))
        call()
        written = _entries(db, caseworker.id)[before:]
        if FAMILY_DATA_ROUTES[key] not in written:
            failures.append(f"{key}: wrote {written}, expected {FAMILY_DATA_ROUTES[key]}")

    # The printed card is made (the worker's part), then downloaded, its credential revoked, the card suspended.
    with db() as s, s.begin():
        job = s.scalars(select(PrintJob).where(PrintJob.card_id == family.card_id)).one()
        job_id = job.id
    with db() as s, s.begin():
        printing.render_print_job(s, job_id, city, settings.secret_key, utcnow(), base_url=BASE_URL)
    with db() as s:
        credential_id = s.get_one(PrintJob, job_id).credential_id
    later = {
        ("GET", "/staff/cards/{card_id}/prints/{job_id}/card.pdf"): lambda: _pdf(
            client, f"{card}/prints/{job_id}/card.pdf"
        ),
        ("POST", "/staff/cards/{card_id}/credentials/{credential_id}/revoke"): lambda: post(
            f"{card}/credentials/{credential_id}/revoke", reason="Karte verloren."
        ),
        ("POST", "/staff/cards/{card_id}/status/{change_name}"): lambda: post(
            f"{card}/status/suspend", reason="Prüfung."
        ),
    }
    for key, call in later.items():
        before = len(_entries(db, caseworker.id))
        call()
        written = _entries(db, caseworker.id)[before:]
        if FAMILY_DATA_ROUTES[key] not in written:
            failures.append(f"{key}: wrote {written}, expected {FAMILY_DATA_ROUTES[key]}")
    assert set(calls) | set(later) == set(FAMILY_DATA_ROUTES), "every listed route is called"
    assert failures == []


def _pdf(client: Client, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assert response.headers["content-type"] == "application/pdf"


# -- export and erasure know every table ---------------------------------------------------------------------------


def test_the_family_data_lists_cover_every_table_the_migrations_make(db: Factory, sync_engine: Any) -> None:
    """test_family_data decides for each table of ``models.Base.metadata`` whether it is exported (and erased) or
    holds nothing of a family; a table made by a migration but missing from the metadata would escape it."""
    migrated = set(inspect(sync_engine).get_table_names()) - {"alembic_version"}
    in_metadata = {t.name for t in models.Base.metadata.sorted_tables}
    assert migrated == in_metadata
    assert set(TABLES_IN_EXPORT) | set(TABLES_WITHOUT_FAMILY_DATA) == migrated
    # Every table that points at a person, a household or a card is one the export and erasure handle.
    family_keys = {"users", "households", "cards", "card_credentials", "applications"}
    pointing = {
        table.name
        for table in models.Base.metadata.sorted_tables
        for key in table.foreign_keys
        if key.column.table.name in family_keys
    }
    assert pointing - set(TABLES_IN_EXPORT) <= {"api_keys", "benefits", "partners", "stats_export_jobs"}, sorted(
        pointing - set(TABLES_IN_EXPORT)
    )
