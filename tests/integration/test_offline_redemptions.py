"""The till offline: the bundle it verifies with, and the upload of redemptions and verifications made meanwhile."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys
from familienkarte.accounts.identity import principal_for_user
from familienkarte.audit.models import AuditEntry
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import format_card_number, new_card_number
from familienkarte.credentials.models import StatusListRecord
from familienkarte.db import make_sync_engine, make_sync_sessionmaker
from familienkarte.partners.models import Partner
from familienkarte.redemptions import offline
from familienkarte.redemptions.models import Redemption, VerificationEvent
from tests.helpers import bearer, sign_in_as
from tests.integration.test_applications import KOELN
from tests.integration.test_card_credentials import SECRET, now
from tests.integration.test_catalogue import add_benefit, add_location, add_partner
from tests.integration.test_redemptions import benefit
from tests.integration.test_verifications import Till, make_till, phone_code, signed, status_entry

UPLOAD = "/api/v1/redemptions/uploads"
BUNDLE = "/api/v1/pos/offline-bundle"


@pytest.fixture
def till(db: Callable[[], Session], make_user: Any) -> Till:
    return make_till(db, make_user)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def item(till: Till, benefit_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "client_nonce": uuid.uuid4().hex,
        "benefit_id": str(benefit_id),
        "location_id": str(till.location_id),
        "quantity": 1,
        "occurred_at": iso(now() - dt.timedelta(minutes=10)),
        **fields,
    }


def upload(
    client: TestClient[Litestar], till: Till, *, status: int = 200, headers: dict[str, str] | None = None, **body: Any
) -> dict[str, Any]:
    response = client.post(UPLOAD, json=body, headers=headers if headers is not None else bearer(till.token))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def stored(db: Callable[[], Session], redemption_id: str) -> Redemption:
    with db() as s:
        row = s.get(Redemption, uuid.UUID(redemption_id))
        assert row is not None
        s.expunge(row)
        return row


# The bundle -----------------------------------------------------------------------------------------------------


def test_the_bundle_holds_the_keys_status_lists_and_this_locations_benefits(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    here = benefit(
        db,
        till,
        title={"de": "Freier Eintritt", "en": "Free entry"},
        limit_count=1,
        limit_period="month",
        min_children=1,
        child_age_min=3,
        child_age_max=12,
        weekdays=0b0011111,
        valid_until=dt.date(2099, 12, 31),
    )
    benefit(db, till, here=False, title="Anderswo")
    benefit(db, till, title="Entwurf", status="draft")
    status_entry(db)
    # The lists are signed with the test's key (the app's own secret could not read it), as the worker would.
    with db() as s, s.begin():
        base_url = client.app.state["fk"].settings.base_url
        credential_services.refresh_due_status_lists(s, SECRET, base_url, now())
    response = client.get(BUNDLE, params={"location_id": str(till.location_id)}, headers=bearer(till.token))
    assert response.status_code == 200, response.text
    bundle = response.json()
    assert bundle["location_id"] == str(till.location_id)
    assert bundle["timezone"] == "Europe/Berlin"
    assert (bundle["stale_after"], bundle["leeway"]) == (90, 60)
    assert bundle["jwks"] == client.get("/.well-known/jwks.json").json()
    with db() as s:
        list_ids = s.scalars(select(StatusListRecord.id).where(StatusListRecord.allocated > 0)).all()
    assert list_ids
    assert [entry["id"] for entry in bundle["status_lists"]] == sorted(list_ids)
    for entry in bundle["status_lists"]:
        assert entry["token"] == client.get(f"/api/v1/status-lists/{entry['id']}").text
    assert bundle["benefits"] == [
        {
            "benefit_id": str(here),
            "title": {"de": "Freier Eintritt", "en": "Free entry"},
            "kind": "free_entry",
            "value": None,
            "max_quantity": 1,
            "limit_count": 1,
            "limit_period": "month",
            "min_children": 1,
            "child_age_min": 3,
            "child_age_max": 12,
            "requires_entitlement": False,
            "weekdays": 0b0011111,
            "valid_from": None,
            "valid_until": "2099-12-31",
        }
    ]


def test_the_bundle_only_for_the_partners_own_location_and_its_staff(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    with db() as s, s.begin():
        foreign = add_location(s, add_partner(s, "Museum")).id
    response = client.get(BUNDLE, params={"location_id": str(foreign)}, headers=bearer(till.token))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["location_id"]
    assert client.get(BUNDLE, params={"location_id": str(till.location_id)}).status_code == 401
    csrf = sign_in_as(client, till.cashier)
    response = client.get(BUNDLE, params={"location_id": str(till.location_id)}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200


def test_the_scanner_service_worker_is_served_beside_the_page(client: TestClient[Litestar]) -> None:
    response = client.get("/partner/scanner-sw.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    assert 'const PAGE = "/partner/scanner"' in response.text


# The upload -----------------------------------------------------------------------------------------------------


def test_an_offline_redemption_is_recorded_once_and_a_repeated_upload_answers_the_same(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till, max_quantity=2)
    # A phone code drawn at the till ten minutes ago: stale now, live then.
    occurred = now() - dt.timedelta(minutes=10)
    code = phone_code(db, till, int(occurred.timestamp()))
    sent = item(till, benefit_id, text=code, quantity=2, occurred_at=iso(occurred))
    first = upload(client, till, redemptions=[sent])
    [answer] = first["redemptions"]
    assert (answer["status"], answer["flags"], answer["client_nonce"]) == ("recorded", [], sent["client_nonce"])
    row = stored(db, answer["id"])
    assert (row.offline, row.flags, row.quantity, row.presentation, row.card_number) == (
        True,
        [],
        2,
        "phone",
        till.number,
    )
    assert row.uploaded_at is not None
    assert abs(row.occurred_at - occurred) < dt.timedelta(milliseconds=2)
    # The answer was lost; the till sends the same again.
    again = upload(client, till, redemptions=[sent])
    assert again["redemptions"] == [{**answer, "status": "replayed"}]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == 1
        entries = s.scalars(select(AuditEntry).where(AuditEntry.action == "redemption.upload")).all()
    assert [entry.details["recorded"] for entry in entries] == [1, 0]
    assert entries[1].details["replayed"] == 1


def test_broken_rules_are_recorded_with_flags(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    monthly = benefit(db, till, limit_count=1, limit_period="month")
    teens = benefit(db, till, child_age_min=14)
    elsewhere = benefit(db, till, here=False)
    paused = benefit(db, till, status="paused")
    quota = benefit(db, till, total_quota=1, max_quantity=3)
    code = signed(db, till.number)
    earlier = now() - dt.timedelta(hours=2)
    result = upload(
        client,
        till,
        redemptions=[
            item(till, monthly, text=code, occurred_at=iso(earlier)),
            item(till, monthly, text=code),
            item(till, teens, text=code),
            item(till, elsewhere, text=code),
            item(till, paused, text=code),
            item(till, quota, text=code, quantity=2),
        ],
    )
    flags = [(entry["status"], entry["flags"]) for entry in result["redemptions"]]
    assert flags == [
        ("recorded", []),
        ("recorded", ["limit_reached"]),
        ("recorded", ["not_eligible"]),
        ("recorded", ["not_at_location"]),
        ("recorded", ["benefit_paused"]),
        ("recorded", ["quota_exhausted"]),
    ]
    # Flagged redemptions count: the goods were given.
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Redemption).where(Redemption.benefit_id == monthly)) == 2
        assert stored(db, result["redemptions"][1]["id"]).flags == ["limit_reached"]


def test_a_card_revoked_in_the_meantime_is_flagged_and_an_expired_code_too(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till, make_user: Any
) -> None:
    benefit_id = benefit(db, till)
    mine = status_entry(db)
    code = signed(db, till.number, status=mine)
    with db() as s, s.begin():
        credential_services.set_status(s, *mine, 1)
    entry = status_entry(db)
    expired_at = int((now() - dt.timedelta(days=1)).timestamp())
    expired = signed(db, new_card_number(), status=entry, exp=expired_at)
    result = upload(
        client,
        till,
        redemptions=[item(till, benefit_id, text=code), item(till, benefit_id, text=expired)],
    )
    assert [(e["status"], e["flags"]) for e in result["redemptions"]] == [
        ("recorded", ["revoked"]),
        ("recorded", ["expired"]),
    ]


def test_a_stale_phone_code_and_a_forged_code_with_the_number_read_from_it(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till)
    occurred = now() - dt.timedelta(minutes=10)
    # Drawn five minutes before the till's time: a screenshot.
    stale = phone_code(db, till, int(occurred.timestamp()) - 300)
    code = signed(db, till.number)
    head, payload, signature = code.removeprefix("FK1:").split(".")
    forged = f"FK1:{head}.{payload}.{signature[:-4]}AAAA"
    result = upload(
        client,
        till,
        redemptions=[
            item(till, benefit_id, text=stale, occurred_at=iso(occurred)),
            item(till, benefit_id, text=forged, card_number=till.number),
        ],
    )
    assert [(e["status"], e["flags"]) for e in result["redemptions"]] == [
        ("recorded", ["stale"]),
        ("recorded", ["bad_signature"]),
    ]
    assert stored(db, result["redemptions"][1]["id"]).card_number == till.number


def test_what_cannot_be_stored_is_refused_per_item_and_the_rest_is_recorded(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till)
    with db() as s, s.begin():
        other = add_partner(s, "Museum")
        foreign_location = add_location(s, other)
        foreign_benefit = benefit_of(s, other, foreign_location)
    code = signed(db, till.number)
    result = upload(
        client,
        till,
        redemptions=[
            item(till, foreign_benefit, text=code),
            item(till, benefit_id, text=code, location_id=str(foreign_location.id)),
            item(till, benefit_id, text="not a code"),
            item(till, benefit_id, text=code),
        ],
    )
    assert [(e["status"], e.get("code")) for e in result["redemptions"]] == [
        ("refused", "benefit_not_found"),
        ("refused", "location_not_found"),
        ("refused", "malformed"),
        ("recorded", None),
    ]
    assert [e["id"] for e in result["redemptions"][:3]] == [None, None, None]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == 1


def benefit_of(s: Session, partner: Partner, location: Any) -> uuid.UUID:
    return add_benefit(s, partner, "Fremd", locations=(location,)).id


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"client_nonce": ""}, "redemptions[1].client_nonce"),
        ({"client_nonce": None}, "redemptions[1].client_nonce"),
        ({"benefit_id": "nope"}, "redemptions[1].benefit_id"),
        ({"location_id": None}, "redemptions[1].location_id"),
        ({"quantity": 0}, "redemptions[1].quantity"),
        ({"text": None}, "redemptions[1].text"),
        ({"occurred_at": "yesterday"}, "redemptions[1].occurred_at"),
        ({"occurred_at": "2026-11-23T09:00:00"}, "redemptions[1].occurred_at"),
        ({"occurred_at": iso(now() + dt.timedelta(minutes=30))}, "redemptions[1].occurred_at"),
        ({"occurred_at": iso(now() - dt.timedelta(days=8))}, "redemptions[1].occurred_at"),
    ],
)
def test_a_malformed_item_is_named_and_nothing_is_stored(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till, change: dict[str, Any], field: str
) -> None:
    benefit_id = benefit(db, till)
    code = signed(db, till.number)
    good = item(till, benefit_id, text=code)
    bad = {**item(till, benefit_id, text=code), **change}
    result = upload(client, till, status=422, redemptions=[good, bad])
    assert result["code"] == "invalid_input"
    assert [e["field"] for e in result["errors"]] == [field]
    assert all(e["message"] for e in result["errors"])
    with db() as s:
        assert s.scalar(select(func.count()).select_from(Redemption)) == 0


def test_malformed_verifications_and_too_many_items_are_named(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    at = iso(now())
    here = str(till.location_id)
    result = upload(
        client,
        till,
        status=422,
        verifications=[
            {"reason": "ok", "presentation": "phone", "at": at, "location_id": here},
            {"reason": "fine", "presentation": "phone", "at": at, "location_id": here},
            {"reason": "ok", "presentation": "fax", "at": at, "location_id": here},
        ],
    )
    assert [e["field"] for e in result["errors"]] == ["verifications[1].reason", "verifications[2].presentation"]
    too_many = [{"reason": "ok", "at": at, "location_id": here}] * (offline.MAX_VERIFICATIONS + 1)
    result = upload(client, till, status=422, verifications=too_many)
    assert [e["field"] for e in result["errors"]] == ["verifications"]
    # A wrong JSON type is named by the decoder.
    result = upload(client, till, status=422, redemptions=[{"quantity": "two"}])
    assert "redemptions[0].quantity" in result["errors"][0]["field"]
    with db() as s:
        assert s.scalar(select(func.count()).select_from(VerificationEvent)) == 0


def test_offline_verifications_are_recorded_with_the_tills_time_once(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    at = now() - dt.timedelta(minutes=42)
    events = [
        {"reason": "ok", "presentation": "phone", "at": iso(at), "location_id": str(till.location_id)},
        {
            "reason": "revoked",
            "presentation": "printed",
            "at": iso(at + dt.timedelta(seconds=5)),
            "location_id": str(till.location_id),
        },
        {
            "reason": "malformed",
            "presentation": None,
            "at": iso(at + dt.timedelta(seconds=9)),
            "location_id": str(till.other_location_id),
        },
    ]
    result = upload(client, till, verifications=events)
    assert [e["status"] for e in result["verifications"]] == ["recorded"] * 3
    assert [e["status"] for e in upload(client, till, verifications=events)["verifications"]] == ["replayed"] * 3
    with db() as s:
        rows = s.scalars(select(VerificationEvent).order_by(VerificationEvent.at)).all()
        assert [(r.reason, r.presentation, r.location_id) for r in rows] == [
            ("ok", "phone", till.location_id),
            ("revoked", "printed", till.location_id),
            ("malformed", None, till.other_location_id),
        ]
        assert abs(rows[0].at - at) < dt.timedelta(milliseconds=2)


def test_a_cashier_uploads_with_the_session_and_csrf(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till)
    body = {"redemptions": [item(till, benefit_id, text=signed(db, till.number))]}
    csrf = sign_in_as(client, till.cashier)
    assert client.post(UPLOAD, json=body).json()["code"] == "csrf_failed"
    response = client.post(UPLOAD, json=body, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 200, response.text
    row = stored(db, response.json()["redemptions"][0]["id"])
    assert row.recorded_by_user_id == till.cashier.id


def test_a_suspended_partner_uploads_nothing(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till)
    code = signed(db, till.number)
    with db() as s, s.begin():
        partner = s.get(Partner, till.partner_id)
        assert partner is not None
        partner.status = "suspended"
    csrf = sign_in_as(client, till.cashier)
    response = client.post(
        UPLOAD, json={"redemptions": [item(till, benefit_id, text=code)]}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 403
    assert response.json()["code"] == "partner_suspended"


def test_tills_uploading_at_once_keep_the_limit_right(db: Callable[[], Session], till: Till, migrated_db: str) -> None:
    # Several tills were offline at once and each gave the once-a-month benefit to the same card: all are
    # recorded (the goods were given), and every one but the first is flagged, however the uploads interleave.
    postgres = not migrated_db.startswith("sqlite")
    tills = 16 if postgres else 6
    benefit_id = benefit(db, till, limit_count=1, limit_period="month")
    code = signed(db, till.number)
    engine = make_sync_engine(migrated_db, **({"pool_size": tills, "max_overflow": 0} if postgres else {}))
    factory = make_sync_sessionmaker(engine)
    go = threading.Event()
    started = now()

    def one(index: int) -> list[str]:
        go.wait(timeout=60)
        body = item(till, benefit_id, text=code, occurred_at=iso(started - dt.timedelta(minutes=30 - index)))
        with factory() as s, s.begin():
            result = offline.upload(s, till.principal, KOELN, redemptions=[body], verifications=[], now=now())
        return result.redemptions[0].flags

    try:
        with ThreadPoolExecutor(max_workers=tills) as pool:
            futures = [pool.submit(one, index) for index in range(tills)]
            go.set()
            flags = [future.result() for future in futures]
    finally:
        engine.dispose()
    assert sorted(len(f) for f in flags) == [0] + [1] * (tills - 1)
    assert all(f in ([], ["limit_reached"]) for f in flags)
    with db() as s:
        assert (
            s.scalar(select(func.count()).select_from(Redemption).where(Redemption.benefit_id == benefit_id)) == tills
        )


def test_the_offline_endpoints_are_documented(client: TestClient[Litestar]) -> None:
    spec = client.get("/schema/openapi.json").json()
    bundle = spec["paths"][BUNDLE]["get"]
    upload_operation = spec["paths"][UPLOAD]["post"]
    for operation in (bundle, upload_operation):
        assert operation["summary"]
        assert "uses left" in operation["description"].lower() or "flags" in operation["description"]
        assert {"401", "403", "422"} <= set(operation["responses"])
    assert [p["name"] for p in bundle["parameters"]] == ["location_id"]
    schemas = spec["components"]["schemas"]
    benefit_schema = schemas["OfflineBenefitRead"]["properties"]
    assert {"min_children", "child_age_min", "child_age_max", "requires_entitlement", "weekdays"} <= set(benefit_schema)
    assert benefit_schema["title"]["examples"]
    assert "flags" in schemas["UploadedRedemptionRead"]["properties"]
    assert "/partner/scanner-sw.js" not in spec["paths"]


def test_typed_numbers_uploaded_and_a_key_bound_to_another_location(
    client: TestClient[Litestar], db: Callable[[], Session], till: Till
) -> None:
    benefit_id = benefit(db, till)
    unknown = new_card_number()
    result = upload(
        client,
        till,
        redemptions=[
            item(till, benefit_id, card_number=format_card_number(till.number, "-")),
            item(till, benefit_id, card_number=unknown),
            item(till, benefit_id, card_number="not a number"),
        ],
    )
    assert [(e["status"], e["flags"], e.get("code")) for e in result["redemptions"]] == [
        ("recorded", [], None),
        ("recorded", ["unknown_card"], None),
        ("refused", [], "malformed"),
    ]
    typed, guessed = (stored(db, e["id"]) for e in result["redemptions"][:2])
    assert (typed.presentation, typed.card_number, typed.card_id) == ("manual", till.number, till.family.card_id)
    assert (guessed.card_number, guessed.card_id) == (unknown, None)

    with db() as s, s.begin():
        token = api_keys.create_key(
            s, principal_for_user(till.owner), till.partner_id, "Kasse 2", till.other_location_id
        ).token
    result = upload(client, till, headers=bearer(token), redemptions=[item(till, benefit_id, card_number=till.number)])
    assert [(e["status"], e.get("code")) for e in result["redemptions"]] == [("refused", "location_not_found")]
