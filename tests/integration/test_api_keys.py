"""Partner API keys over HTTP: /api/v1/me, creating, listing and revoking keys, scoping, CSRF, audit."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import parse_api_key
from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.partners.models import Location, Partner
from tests.helpers import bearer, sign_in_as, sign_out

Factory = Callable[[], Session]
Client = TestClient[Litestar]


@pytest.fixture(autouse=True)
def english(client: Client) -> None:
    client.headers["Accept-Language"] = "en"


def keys_url(partner_id: uuid.UUID) -> str:
    return f"/api/v1/partners/{partner_id}/api-keys"


def locations_of(db: Factory, partner_id: uuid.UUID) -> list[uuid.UUID]:
    with db() as s:
        return list(s.scalars(select(Location.id).where(Location.partner_id == partner_id).order_by(Location.name)))


def key_rows(db: Factory) -> list[ApiKey]:
    with db() as s:
        return list(s.scalars(select(ApiKey)))


def audit_actions(db: Factory) -> list[tuple[str, uuid.UUID | None, uuid.UUID | None]]:
    with db() as s:
        rows = s.execute(
            select(AuditEntry.action, AuditEntry.partner_id, AuditEntry.actor_user_id).order_by(AuditEntry.id)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def create_key(client: Client, user: User, partner_id: uuid.UUID, **body: Any) -> dict[str, Any]:
    csrf = sign_in_as(client, user)
    response = client.post(keys_url(partner_id), json={"name": "Till 1", **body}, headers={"X-CSRF-Token": csrf})
    assert response.status_code == 201, response.text
    sign_out(client)
    return response.json()  # type: ignore[no-any-return]


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    return body


# --- who am I ---------------------------------------------------------------------------------------------------


def test_a_new_key_acts_as_its_partner_and_location(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    location = locations_of(db, owner.partner_id)[0]
    created = create_key(client, owner, owner.partner_id, location_id=str(location))
    assert created["token"].startswith("fk_")
    assert created["key"]["location_id"] == str(location)

    me = client.get("/api/v1/me", headers=bearer(created["token"]))

    assert me.status_code == 200
    assert me.json() == {
        "auth": "api_key",
        "role": "cashier",
        "display_name": "Zoo Köln: Till 1",
        "user_id": None,
        "email": None,
        "partner_id": str(owner.partner_id),
        "location_id": str(location),
        "api_key_id": created["key"]["id"],
    }


def test_me_with_a_session(client: Client, make_user: Any) -> None:
    manager = make_user(Role.PARTNER_MANAGER, display_name="Petra Partner")
    sign_in_as(client, manager)
    me = client.get("/api/v1/me").json()
    assert (me["auth"], me["role"], me["display_name"], me["user_id"]) == (
        "session",
        "partner_manager",
        "Petra Partner",
        str(manager.id),
    )
    assert me["partner_id"] is None


def test_me_without_credentials_is_401(client: Client) -> None:
    assert_problem(client.get("/api/v1/me"), 401, "not_authenticated")


def test_a_key_is_judged_alone_even_with_a_session_cookie(client: Client, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    sign_in_as(client, make_user(Role.ADMIN))
    response = client.get("/api/v1/me", headers=bearer("fk_000000000000_not-a-real-secret"))
    assert_problem(response, 401, "not_authenticated")
    created = create_key(client, owner, owner.partner_id)
    sign_in_as(client, make_user(Role.ADMIN))
    assert client.get("/api/v1/me", headers=bearer(created["token"])).json()["role"] == "cashier"


def _wrong_secret(token: str) -> str:
    parsed = parse_api_key(token)
    assert parsed is not None
    return f"fk_{parsed[0]}_{'A' * len(parsed[1])}"


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer garbage",
        "Bearer ",
        "Bearer fk_",
        "Bearer fk_123_short",
        "Bearer {wrong_secret}",
        "Bearer {token}x",
        "Bearer {prefix_only}",
        "Basic dXNlcjpwYXNz",
        "{token}",
    ],
)
def test_bad_bearers_get_401(client: Client, make_user: Any, authorization: str) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    token = create_key(client, owner, owner.partner_id)["token"]
    header = authorization.format(token=token, wrong_secret=_wrong_secret(token), prefix_only=token[: len("fk_") + 13])
    response = client.get("/api/v1/me", headers={"Authorization": header})
    assert_problem(response, 401, "not_authenticated")
    # The real key still works.
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 200


# --- last use ---------------------------------------------------------------------------------------------------


def _last_used(db: Factory, key_id: str) -> dt.datetime | None:
    with db() as s:
        return s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == uuid.UUID(key_id)))


def test_last_use_is_kept_to_the_minute(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = create_key(client, owner, owner.partner_id)
    key_id = created["key"]["id"]
    assert _last_used(db, key_id) is None

    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    first = _last_used(db, key_id)
    assert first is not None
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    assert _last_used(db, key_id) == first, "rewritten within a minute"

    with db() as s, s.begin():
        s.execute(
            update(ApiKey)
            .where(ApiKey.id == uuid.UUID(key_id))
            .values(last_used_at=utcnow() - dt.timedelta(seconds=61))
        )
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    latest = _last_used(db, key_id)
    assert latest is not None
    assert latest >= first

    sign_in_as(client, owner)
    listed = client.get(keys_url(owner.partner_id)).json()
    assert listed[0]["last_used_at"] is not None


# --- listing, creating, revoking ----------------------------------------------------------------------------------


def test_list_shows_keys_but_never_a_secret(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = create_key(client, owner, owner.partner_id)
    sign_in_as(client, owner)
    response = client.get(keys_url(owner.partner_id))
    assert response.status_code == 200
    (key,) = response.json()
    assert set(key) == {
        "id",
        "partner_id",
        "name",
        "prefix",
        "location_id",
        "location_name",
        "created_at",
        "last_used_at",
        "revoked_at",
        "active",
    }
    assert (key["name"], key["active"], key["prefix"]) == ("Till 1", True, created["key"]["prefix"])
    (row,) = key_rows(db)
    assert created["token"] not in response.text
    assert row.secret_hash not in response.text


def test_the_secret_is_not_stored_in_clear(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    token = create_key(client, owner, owner.partner_id)["token"]
    parsed = parse_api_key(token)
    assert parsed is not None
    with db() as s:
        rows = [s.execute(text(f"SELECT * FROM {table}")).all() for table in ("api_keys", "audit_log")]
    stored = repr(rows)
    assert parsed[1] not in stored
    assert token not in stored
    assert parsed[0] in stored  # the prefix is kept to find the key


def test_revoked_key_gets_401_and_revoking_again_is_fine(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = create_key(client, owner, owner.partner_id)
    url = f"{keys_url(owner.partner_id)}/{created['key']['id']}/revoke"
    csrf = sign_in_as(client, owner)

    first = client.post(url, headers={"X-CSRF-Token": csrf})
    assert first.status_code == 200
    assert first.json()["active"] is False
    again = client.post(url, headers={"X-CSRF-Token": csrf})
    assert again.status_code == 200
    assert again.json()["revoked_at"] == first.json()["revoked_at"]

    sign_out(client)
    assert_problem(client.get("/api/v1/me", headers=bearer(created["token"])), 401, "not_authenticated")
    (row,) = key_rows(db)
    assert row.revoked_by_id == owner.id


@pytest.mark.parametrize("status", ["suspended", "rejected", "pending", "changes_requested", "unconfirmed"])
def test_keys_of_a_partner_that_is_not_approved_get_401(
    client: Client, db: Factory, make_user: Any, status: str
) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = create_key(client, owner, owner.partner_id)
    assert client.get("/api/v1/me", headers=bearer(created["token"])).status_code == 200
    with db() as s, s.begin():
        s.execute(update(Partner).where(Partner.id == owner.partner_id).values(status=status))
    assert_problem(client.get("/api/v1/me", headers=bearer(created["token"])), 401, "not_authenticated")


def test_create_and_revoke_are_audited(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = create_key(client, owner, owner.partner_id)
    csrf = sign_in_as(client, owner)
    url = f"{keys_url(owner.partner_id)}/{created['key']['id']}/revoke"
    client.post(url, headers={"X-CSRF-Token": csrf})
    client.post(url, headers={"X-CSRF-Token": csrf})
    assert audit_actions(db) == [
        ("api_key.create", owner.partner_id, owner.id),
        ("api_key.revoke", owner.partner_id, owner.id),
    ]


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PARTNER_MANAGER])
def test_key_staff_manage_any_partner(client: Client, db: Factory, make_user: Any, role: Role) -> None:
    partner_owner = make_user(Role.PARTNER_OWNER)
    staff = make_user(role)
    created = create_key(client, staff, partner_owner.partner_id)
    csrf = sign_in_as(client, staff)
    assert [k["id"] for k in client.get(keys_url(partner_owner.partner_id)).json()] == [created["key"]["id"]]
    revoke = f"{keys_url(partner_owner.partner_id)}/{created['key']['id']}/revoke"
    assert client.post(revoke, headers={"X-CSRF-Token": csrf}).json()["active"] is False
    assert audit_actions(db) == [
        ("api_key.create", partner_owner.partner_id, staff.id),
        ("api_key.revoke", partner_owner.partner_id, staff.id),
    ]


def test_unknown_partner_is_404_for_staff(client: Client, make_user: Any) -> None:
    csrf = sign_in_as(client, make_user(Role.ADMIN))
    response = client.post(keys_url(uuid.uuid4()), json={"name": "Till"}, headers={"X-CSRF-Token": csrf})
    assert_problem(response, 404, "not_found")


# --- scoping ------------------------------------------------------------------------------------------------------


def test_owner_of_a_cannot_touch_the_keys_of_b(client: Client, db: Factory, make_user: Any) -> None:
    owner_a = make_user(Role.PARTNER_OWNER)
    owner_b = make_user(Role.PARTNER_OWNER, partner=None)
    key_b = create_key(client, owner_b, owner_b.partner_id)
    csrf = sign_in_as(client, owner_a)
    headers = {"X-CSRF-Token": csrf}

    assert_problem(client.get(keys_url(owner_b.partner_id)), 404, "not_found")
    assert_problem(client.post(keys_url(owner_b.partner_id), json={"name": "x"}, headers=headers), 404, "not_found")
    revoke_b = f"{keys_url(owner_b.partner_id)}/{key_b['key']['id']}/revoke"
    assert_problem(client.post(revoke_b, headers=headers), 404, "not_found")
    # B's key id under A's own partner is no way round.
    revoke_via_a = f"{keys_url(owner_a.partner_id)}/{key_b['key']['id']}/revoke"
    assert_problem(client.post(revoke_via_a, headers=headers), 404, "not_found")

    (row,) = key_rows(db)
    assert row.revoked_at is None
    assert client.get("/api/v1/me", headers=bearer(key_b["token"])).status_code == 200


def test_a_cashier_cannot_manage_keys(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    cashier = make_user(Role.CASHIER, partner=Partner(id=owner.partner_id))
    key = create_key(client, owner, owner.partner_id)
    csrf = sign_in_as(client, cashier)
    headers = {"X-CSRF-Token": csrf}
    assert_problem(client.get(keys_url(owner.partner_id)), 403, "forbidden")
    assert_problem(client.post(keys_url(owner.partner_id), json={"name": "x"}, headers=headers), 403, "forbidden")
    revoke = f"{keys_url(owner.partner_id)}/{key['key']['id']}/revoke"
    assert_problem(client.post(revoke, headers=headers), 403, "forbidden")
    assert len(key_rows(db)) == 1


def test_an_api_key_cannot_manage_keys(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    key = create_key(client, owner, owner.partner_id)
    headers = bearer(key["token"])
    assert_problem(client.get(keys_url(owner.partner_id), headers=headers), 403, "forbidden")
    assert_problem(client.post(keys_url(owner.partner_id), json={"name": "x"}, headers=headers), 403, "forbidden")
    revoke = f"{keys_url(owner.partner_id)}/{key['key']['id']}/revoke"
    assert_problem(client.post(revoke, headers=headers), 403, "forbidden")
    (row,) = key_rows(db)
    assert row.revoked_at is None


# --- bad input ----------------------------------------------------------------------------------------------------


def test_location_of_another_partner_is_a_field_error(
    client: Client, db: Factory, make_user: Any, make_partner: Any
) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    foreign = locations_of(db, make_partner("Anderer Partner").id)[0]
    csrf = sign_in_as(client, owner)
    response = client.post(
        keys_url(owner.partner_id), json={"name": "Till", "location_id": str(foreign)}, headers={"X-CSRF-Token": csrf}
    )
    body = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in body["errors"]] == ["location_id"]
    assert body["errors"][0]["message"] == "Choose one of this partner's locations, or none."
    assert key_rows(db) == []
    assert audit_actions(db) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": 42}, "name"),
        ({"name": "Till", "location_id": "not-a-uuid"}, "location_id"),
    ],
)
def test_bad_input_is_422_with_the_field_named(
    client: Client, db: Factory, make_user: Any, body: dict[str, Any], field: str
) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    csrf = sign_in_as(client, owner)
    response = client.post(keys_url(owner.partner_id), json=body, headers={"X-CSRF-Token": csrf})
    problem = assert_problem(response, 422, "invalid_input")
    assert [e["field"] for e in problem["errors"]] == [field]
    assert all(e["message"] for e in problem["errors"])
    assert key_rows(db) == []


def test_too_long_name_says_the_limit(client: Client, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    csrf = sign_in_as(client, owner)
    response = client.post(keys_url(owner.partner_id), json={"name": "x" * 101}, headers={"X-CSRF-Token": csrf})
    assert response.json()["errors"][0]["message"] == "The name may have at most 100 characters."


# --- CSRF ---------------------------------------------------------------------------------------------------------


def test_session_post_without_csrf_header_is_refused(client: Client, db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    key = create_key(client, owner, owner.partner_id)
    sign_in_as(client, owner)

    assert_problem(client.post(keys_url(owner.partner_id), json={"name": "x"}), 403, "csrf_failed")
    wrong = {"X-CSRF-Token": "not-the-token"}
    assert_problem(client.post(keys_url(owner.partner_id), json={"name": "x"}, headers=wrong), 403, "csrf_failed")
    revoke = f"{keys_url(owner.partner_id)}/{key['key']['id']}/revoke"
    assert_problem(client.post(revoke), 403, "csrf_failed")

    (row,) = key_rows(db)
    assert row.revoked_at is None
    assert audit_actions(db) == [("api_key.create", owner.partner_id, owner.id)]


# --- documentation ------------------------------------------------------------------------------------------------


def test_the_api_is_documented(client: Client) -> None:
    paths = client.get("/schema/openapi.json").json()["paths"]
    me = paths["/api/v1/me"]["get"]
    assert me["summary"]
    assert me["description"]
    assert me["tags"] == ["accounts"]
    keys = paths["/api/v1/partners/{partner_id}/api-keys"]
    assert keys["get"]["summary"] == "List a partner's API keys"
    assert keys["post"]["summary"] == "Create an API key"
    responses = keys["post"]["responses"]
    assert "201" in responses
    for status in ("400", "401", "403", "404", "422"):
        assert "application/problem+json" in responses[status]["content"], status
    revoke = paths["/api/v1/partners/{partner_id}/api-keys/{key_id}/revoke"]["post"]
    assert revoke["tags"] == ["api keys"]
    assert not any(path.startswith(("/partner", "/staff")) for path in paths)
