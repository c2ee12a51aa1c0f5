"""Ownership: nobody reads or changes what is not theirs, whatever id they put into a URL or a body.

Two partners (A and B, each with locations, a published and a draft benefit, an owner, a cashier, an API key and a
redemption) and two families (A and B, each with a card, a phone credential, a printed card and a second adult), and
one analyst each with an export of their own. Every route that takes an id in its path, query or body is called by
A's users (and A's API key, where the route admits keys) with B's ids. Each attempt must be refused (403, 404, or
422 naming the field for an id in a body), answer exactly as for an id that exists nowhere (so ids cannot be
probed), and change no row in any table. Then each route is called once more with A's own ids, which must work:
the refusals come from ownership, not from a malformed request.

The routes are read from the app: a route that takes an id and is neither in ``ATTEMPTS`` nor in ``NOT_OWNED``
(with the reason why no other party's object applies) fails ``test_every_route_with_an_id_is_covered``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte import models
from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.cards import printing
from familienkarte.cards.credential_models import PrintJob
from familienkarte.cards.models import Card, HouseholdAdult
from familienkarte.credentials.card_numbers import format_card_number
from familienkarte.db import utcnow
from familienkarte.partners.models import Location, Partner
from familienkarte.redemptions.models import Redemption
from familienkarte.settings import Settings
from familienkarte.statistics.export_models import ExportJob
from tests.conftest import BASE_URL
from tests.helpers import OTHER_FAMILY, bearer, sign_in_as, sign_out
from tests.integration.test_applications import KOELN
from tests.integration.test_card_api import activate
from tests.integration.test_card_credentials import Family, Phone, issue_family_card
from tests.integration.test_catalogue import add_benefit
from tests.integration.test_partner_benefits import benefit_form
from tests.integration.test_route_matrix import Endpoint, endpoints
from tests.integration.test_verifications import Till, make_till

Client = TestClient[Litestar]
Factory = Callable[[], Session]
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass(frozen=True)
class Side:
    """One party's objects: a partner with its people and things, a family with its card, an analyst."""

    till: Till
    key_id: uuid.UUID
    benefit_id: uuid.UUID
    draft_benefit_id: uuid.UUID
    redemption_id: uuid.UUID
    family: Family
    credential_id: uuid.UUID
    print_job_id: uuid.UUID
    second_adult_id: uuid.UUID
    analyst: User
    export_job_id: uuid.UUID

    @property
    def partner_id(self) -> uuid.UUID:
        return self.till.partner_id

    @property
    def location_id(self) -> uuid.UUID:
        return self.till.location_id


@dataclass(frozen=True)
class Call:
    """One request: path parameters, and a query, JSON or form body, any of which may carry ids."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, str] | None = None
    json: Any = None
    form: dict[str, str] | None = None
    # Where the other party's id sits outside the path; a refusal names it (422) or refuses it in an item.
    body_field: str | None = None
    # The callers this attempt is about (None: every caller of the route); staff, for instance, may use any
    # partner's id, so only an object under the wrong parent is an attempt for them.
    only: frozenset[str] | None = None


# (mine, theirs) -> the call. With theirs = B the call is the attack; with theirs = A, the control.
Build = Callable[[Side, Side], Call]


def _nonce() -> str:
    return uuid.uuid4().hex


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _upload(mine: Side, benefit_id: uuid.UUID, location_id: uuid.UUID) -> dict[str, Any]:
    return {
        "client_nonce": _nonce(),
        "card_number": mine.till.number,
        "benefit_id": str(benefit_id),
        "location_id": str(location_id),
        "quantity": 1,
        "occurred_at": _iso(utcnow() - dt.timedelta(minutes=10)),
    }


def _benefit(locations: list[uuid.UUID]) -> dict[str, str]:
    return benefit_form(locations, **{"title-de": f"Ermäßigung {uuid.uuid4().hex[:6]}"})


OWNER = frozenset({Role.PARTNER_OWNER.value})

ATTEMPTS: dict[tuple[str, str], list[Build]] = {
    # Partner API keys, managed by the partner's owner.
    ("GET", "/api/v1/partners/{partner_id}/api-keys"): [lambda m, t: Call({"partner_id": t.partner_id}, only=OWNER)],
    ("POST", "/api/v1/partners/{partner_id}/api-keys"): [
        lambda m, t: Call({"partner_id": t.partner_id}, json={"name": "Kasse"}, only=OWNER),
        lambda m, t: Call(
            {"partner_id": m.partner_id},
            json={"name": "Kasse", "location_id": str(t.location_id)},
            body_field="location_id",
        ),
    ],
    ("POST", "/api/v1/partners/{partner_id}/api-keys/{key_id}/revoke"): [
        lambda m, t: Call({"partner_id": t.partner_id, "key_id": t.key_id}, only=OWNER),
        lambda m, t: Call({"partner_id": m.partner_id, "key_id": t.key_id}),
    ],
    ("POST", "/partner/keys"): [
        lambda m, t: Call(form={"name": "Kasse", "location_id": str(t.location_id)}, body_field="location_id")
    ],
    ("POST", "/partner/keys/{key_id}/revoke"): [lambda m, t: Call({"key_id": t.key_id})],
    # Staff manage every partner's keys, but a key only under its own partner.
    ("POST", "/staff/partners/{partner_id}/keys"): [
        lambda m, t: Call(
            {"partner_id": m.partner_id},
            form={"name": "Kasse", "location_id": str(t.location_id)},
            body_field="location_id",
        )
    ],
    ("POST", "/staff/partners/{partner_id}/keys/{key_id}/revoke"): [
        lambda m, t: Call({"partner_id": m.partner_id, "key_id": t.key_id})
    ],
    # The partner's locations, cashiers and benefits.
    ("GET", "/partner/locations/{location_id}"): [lambda m, t: Call({"location_id": t.location_id})],
    ("POST", "/partner/locations/{location_id}"): [
        lambda m, t: Call({"location_id": t.location_id}, form={"name": "Umbenannt", "street": "Ring 1"})
    ],
    ("POST", "/partner/locations/{location_id}/deactivate"): [lambda m, t: Call({"location_id": t.location_id})],
    ("POST", "/partner/cashiers/{user_id}/deactivate"): [lambda m, t: Call({"user_id": t.till.cashier.id})],
    ("POST", "/partner/cashiers/{user_id}/resend"): [lambda m, t: Call({"user_id": t.till.cashier.id})],
    ("GET", "/partner/benefits/{benefit_id}"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
    ("GET", "/partner/benefits/{benefit_id}/preview"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
    ("POST", "/partner/benefits/new"): [
        lambda m, t: Call(form=_benefit([t.location_id]), body_field="locations"),
    ],
    ("POST", "/partner/benefits/{benefit_id}"): [
        lambda m, t: Call({"benefit_id": t.draft_benefit_id}, form=_benefit([m.location_id])),
        lambda m, t: Call({"benefit_id": m.draft_benefit_id}, form=_benefit([t.location_id]), body_field="locations"),
    ],
    ("POST", "/partner/benefits/{benefit_id}/submit"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
    ("POST", "/partner/benefits/{benefit_id}/withdraw"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
    ("POST", "/partner/benefits/{benefit_id}/{switch_name}"): [
        lambda m, t: Call({"benefit_id": t.benefit_id, "switch_name": "pause"})
    ],
    # At the till.
    ("POST", "/api/v1/verifications"): [
        lambda m, t: Call(
            json={"card_number": m.till.number, "location_id": str(t.location_id)}, body_field="location_id"
        )
    ],
    ("POST", "/api/v1/redemptions"): [
        lambda m, t: Call(
            json={
                "benefit_id": str(t.benefit_id),
                "location_id": str(m.location_id),
                "card_number": m.till.number,
                "client_nonce": _nonce(),
            },
            body_field="benefit_id",
        ),
        lambda m, t: Call(
            json={
                "benefit_id": str(m.benefit_id),
                "location_id": str(t.location_id),
                "card_number": m.till.number,
                "client_nonce": _nonce(),
            },
            body_field="location_id",
        ),
    ],
    ("POST", "/api/v1/redemptions/{redemption_id}/void"): [
        lambda m, t: Call({"redemption_id": t.redemption_id}, json={"reason": "Falsch gebucht"})
    ],
    ("GET", "/api/v1/pos/offline-bundle"): [
        lambda m, t: Call(query={"location_id": str(t.location_id)}, body_field="location_id")
    ],
    ("POST", "/api/v1/redemptions/uploads"): [
        lambda m, t: Call(json={"redemptions": [_upload(m, t.benefit_id, m.location_id)]}, body_field="redemptions"),
        lambda m, t: Call(json={"redemptions": [_upload(m, m.benefit_id, t.location_id)]}, body_field="redemptions"),
    ],
    # The family's card.
    ("POST", "/card/credentials/{credential_id}/revoke"): [lambda m, t: Call({"credential_id": t.credential_id})],
    ("POST", "/api/v1/me/card/credentials/{credential_id}/renew"): [
        lambda m, t: Call({"credential_id": t.credential_id})
    ],
    ("GET", "/card/prints/{job_id}/card.pdf"): [lambda m, t: Call({"job_id": t.print_job_id})],
    ("GET", "/card/data/adults/{adult_id}/remove"): [lambda m, t: Call({"adult_id": t.second_adult_id})],
    ("POST", "/card/data/adults/{adult_id}/remove"): [lambda m, t: Call({"adult_id": t.second_adult_id})],
    # Staff find a card's credentials and printed cards under that card only.
    ("POST", "/staff/cards/{card_id}/credentials/{credential_id}/revoke"): [
        lambda m, t: Call(
            {"card_id": m.family.card_id, "credential_id": t.credential_id}, form={"reason": "Verloren gemeldet"}
        )
    ],
    ("GET", "/staff/cards/{card_id}/prints/{job_id}/card.pdf"): [
        lambda m, t: Call({"card_id": m.family.card_id, "job_id": t.print_job_id})
    ],
    # An analyst's exports are theirs (and an administrator's).
    ("GET", "/staff/statistics/exports/{job_id}"): [lambda m, t: Call({"job_id": t.export_job_id})],
    ("GET", "/staff/statistics/exports/{job_id}/status"): [lambda m, t: Call({"job_id": t.export_job_id})],
    ("GET", "/staff/statistics/exports/{job_id}/file"): [lambda m, t: Call({"job_id": t.export_job_id})],
    # Public pages show published things only: B's draft is as unknown as an id that exists nowhere.
    ("GET", "/benefits/{benefit_id}"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
    ("GET", "/api/v1/benefits/{benefit_id}"): [lambda m, t: Call({"benefit_id": t.draft_benefit_id})],
}

STAFF_WIDE = "staff act on every partner, card, application or account by their role (test_route_matrix)"
_STAFF_WIDE_ROUTES = [
    ("GET", "/staff/users/{user_id}"),
    ("POST", "/staff/users/{user_id}/activate"),
    ("POST", "/staff/users/{user_id}/deactivate"),
    ("POST", "/staff/users/{user_id}/role"),
    ("POST", "/staff/users/{user_id}/reset-totp"),
    ("POST", "/staff/users/{user_id}/password-link"),
    ("GET", "/staff/partners/{partner_id}/keys"),
    ("GET", "/staff/applications/{application_id}"),
    ("POST", "/staff/applications/{application_id}/approve"),
    ("POST", "/staff/applications/{application_id}/reject"),
    ("POST", "/staff/applications/{application_id}/request-info"),
    ("GET", "/staff/cards/{card_id}"),
    ("POST", "/staff/cards/{card_id}/status/{change_name}"),
    ("POST", "/staff/cards/{card_id}/prints"),
    ("GET", "/staff/partner-queue/{partner_id}"),
    ("GET", "/staff/partner-queue/{partner_id}/logo"),
    ("POST", "/staff/partner-queue/{partner_id}/{decision}"),
    ("GET", "/staff/benefit-queue/{benefit_id}"),
    ("POST", "/staff/benefit-queue/{benefit_id}/{decision}"),
    ("GET", "/staff/imports/example/{filename}"),
]
NOT_OWNED = dict.fromkeys(_STAFF_WIDE_ROUTES, STAFF_WIDE)
NOT_OWNED |= {
    ("GET", "/partners/{partner_id}"): "public page of an approved partner; others are not found (test_catalogue)",
    ("GET", "/partners/{partner_id}/logo"): "public logo of an approved partner (test_logos)",
    ("GET", "/api/v1/status-lists/{list_id}"): "public by design: a list of status bits, no card or person in it",
    ("GET", "/login/family/{token}"): "a random one-time token, not an id",
    ("POST", "/login/family/{token}"): "a random one-time token, not an id",
    ("GET", "/password/set/{token}"): "a random one-time token, not an id",
    ("POST", "/password/set/{token}"): "a random one-time token, not an id",
    ("GET", "/card/data/email/confirm/{token}"): "a random one-time token, not an id",
    ("POST", "/card/data/email/confirm/{token}"): "a random one-time token, not an id",
    ("GET", "/partner/register/confirm/{token}"): "a random one-time token, not an id",
    ("POST", "/partner/register/confirm/{token}"): "a random one-time token, not an id",
}
# Ids outside the path: the JSON and form bodies and the query parameters that carry one (forms are read as plain
# dicts, so they are named here rather than found).
BODY_IDS = {
    ("POST", "/api/v1/partners/{partner_id}/api-keys"),
    ("POST", "/partner/keys"),
    ("POST", "/staff/partners/{partner_id}/keys"),
    ("POST", "/partner/benefits/new"),
    ("POST", "/partner/benefits/{benefit_id}"),
    ("POST", "/api/v1/verifications"),
    ("POST", "/api/v1/redemptions"),
    ("GET", "/api/v1/pos/offline-bundle"),
    ("POST", "/api/v1/redemptions/uploads"),
}


def _struct_has_id(kind: Any, seen: set[Any] | None = None) -> bool:
    """Whether a msgspec body type has a field (at any depth) whose name is an id."""
    seen = seen if seen is not None else set()
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)) or kind in seen:
        return False
    seen.add(kind)
    for item in msgspec.structs.fields(kind):
        if item.name == "id" or item.name.endswith(("_id", "_ids")):
            return True
        for inner in getattr(item.type, "__args__", ()):
            if _struct_has_id(inner, seen):
                return True
    return False


def takes_an_id(endpoint: Endpoint) -> bool:
    if "{" in endpoint.path_format or (endpoint.method, endpoint.path_format) in BODY_IDS:
        return True
    for name, parameter in endpoint.handler.parsed_fn_signature.parameters.items():
        annotation = parameter.annotation
        if name.endswith("_id") or _struct_has_id(annotation):
            return True
    return False


def test_every_route_with_an_id_is_covered(app: Litestar) -> None:
    with_ids = {(e.method, e.path_format) for e in endpoints(app) if takes_an_id(e)}
    uncovered = sorted(with_ids - set(ATTEMPTS) - set(NOT_OWNED))
    assert uncovered == [], f"routes taking an id with no attempt by another party: {uncovered}"
    stale = sorted((set(ATTEMPTS) | set(NOT_OWNED)) - {(e.method, e.path_format) for e in endpoints(app)})
    assert stale == [], f"routes named here that the app no longer has: {stale}"


def test_ids_in_urls_are_random_uuids(app: Litestar, db: Factory, make_partner: Any) -> None:
    """Path ids are UUIDs (version 4, random), never counters, so one cannot be had from another."""
    not_uuid = [
        f"{e} {name}"
        for e in endpoints(app)
        for name, parameter in e.handler.parsed_fn_signature.parameters.items()
        if name.endswith("_id") and "{" + name + "}" in e.path_format and parameter.annotation is not uuid.UUID
    ]
    assert not_uuid == ["GET /api/v1/status-lists/{list_id} (status_list) list_id"]
    # The rows behind them get random (version 4) UUIDs from the database layer, not counters.
    ids = [make_partner(f"Partner {n}").id for n in range(3)]
    assert all(i.version == 4 for i in ids)
    assert len(set(ids)) == 3


# --- the two parties ------------------------------------------------------------------------------------------


def _side(client: Client, db: Factory, settings: Settings, make_user: Any, family: Family) -> Side:
    till = make_till(db, make_user, family)
    with db() as s, s.begin():
        partner = s.get(Partner, till.partner_id)
        location = s.get(Location, till.location_id)
        assert partner is not None
        assert location is not None
        benefit_id = add_benefit(s, partner, "Freier Eintritt", locations=(location,)).id
        draft_id = add_benefit(s, partner, "Entwurf", locations=(location,), status="draft").id
        key_id = s.scalars(select(ApiKey.id).where(ApiKey.partner_id == till.partner_id)).one()
        second_adult_id = s.scalars(
            select(HouseholdAdult.id)
            .join(Card, Card.household_id == HouseholdAdult.household_id)
            .where(Card.id == family.card_id, HouseholdAdult.position == 1)
        ).one()
    redeemed = client.post(
        "/api/v1/redemptions",
        json={
            "benefit_id": str(benefit_id),
            "location_id": str(till.location_id),
            "card_number": format_card_number(till.number),
            "client_nonce": _nonce(),
        },
        headers=bearer(till.token),
    )
    assert redeemed.status_code == 201, redeemed.text
    credential_id = uuid.UUID(activate(client, sign_in_as(client, family.users[0]), Phone.new())["credential_id"])
    csrf = sign_in_as(client, family.users[0])
    assert client.post("/card/prints", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    with db() as s, s.begin():
        job_id = s.scalars(select(PrintJob.id).where(PrintJob.card_id == family.card_id)).one()
        assert printing.render_print_job(s, job_id, KOELN, settings.secret_key, utcnow(), base_url=BASE_URL)
    analyst = make_user(Role.ANALYST)
    with db() as s, s.begin():
        export = ExportJob(
            requested_by_id=analyst.id,
            table="partners",
            format="csv",
            locale="de",
            status="done",
            progress=100,
            rows=1,
            filename="partner.csv",
            content=b"Partner;Karten\n",
            finished_at=utcnow(),
            expires_at=utcnow() + dt.timedelta(days=1),
        )
        s.add(export)
        s.flush()
        export_id = export.id
    sign_out(client)
    return Side(
        till,
        key_id,
        benefit_id,
        draft_id,
        uuid.UUID(redeemed.json()["id"]),
        family,
        credential_id,
        job_id,
        second_adult_id,
        analyst,
        export_id,
    )


@dataclass(frozen=True)
class World:
    a: Side
    b: Side
    staff: dict[str, User]


def build_world(client: Client, db: Factory, settings: Settings, make_user: Any) -> World:
    family_a = issue_family_card(db, make_user)
    family_b = issue_family_card(db, make_user, **OTHER_FAMILY)
    a = _side(client, db, settings, make_user, family_a)
    b = _side(client, db, settings, make_user, family_b)
    staff = {role.value: make_user(role) for role in (Role.ADMIN, Role.PARTNER_MANAGER, Role.CASEWORKER)}
    return World(a, b, staff)


@pytest.fixture
def world(client: Client, db: Factory, settings: Settings, make_user: Any) -> World:
    return build_world(client, db, settings, make_user)


# --- calling --------------------------------------------------------------------------------------------------


def callers(endpoint: Endpoint, world: World) -> Iterator[tuple[str, User | str | None]]:
    """A's people allowed on the route (and A's key where the route admits keys); anonymous for public routes."""
    roles = endpoint.roles
    if not isinstance(roles, frozenset):
        yield "anonymous", None
        return
    mine: dict[str, User] = {
        Role.PARTNER_OWNER.value: world.a.till.owner,
        Role.CASHIER.value: world.a.till.cashier,
        Role.FAMILY.value: world.a.family.users[0],
        Role.ANALYST.value: world.a.analyst,
    }
    for role in sorted(roles):
        if role in mine:
            yield role, mine[role]
        elif role in world.staff and role != Role.ADMIN.value:
            # Staff work on every partner and card; what is checked for them is that an object is found under
            # its own parent only. An administrator may do all the others may (and read every export).
            yield role, world.staff[role]
    if endpoint.handler.opt.get("api_key"):
        yield "api key", world.a.till.token


def send(client: Client, endpoint: Endpoint, caller: User | str | None, call: Call) -> Any:
    sign_out(client)
    headers: dict[str, str] = {"Accept-Language": "en"}
    form = dict(call.form) if call.form is not None else None
    if isinstance(caller, str):
        headers |= bearer(caller)
    elif caller is not None:
        csrf = sign_in_as(client, caller)
        if endpoint.method in UNSAFE:
            if form is not None or call.json is None:
                form = {**(form or {}), "csrf_token": csrf}
            else:
                headers["X-CSRF-Token"] = csrf
    url = endpoint.path_format.format(**{k: str(v) for k, v in call.path.items()})
    return client.request(
        endpoint.method,
        url,
        params=call.query,
        json=call.json,
        data=form,
        headers=headers,
        follow_redirects=False,
    )


def dump(db: Factory) -> dict[str, list[str]]:
    """Every row of every table. Only an API key's last use may change: it is how A's key was used."""
    rows: dict[str, list[str]] = {}
    with db() as s:
        for table in models.Base.metadata.sorted_tables:
            columns = [c for c in table.columns if not (table.name == "api_keys" and c.name == "last_used_at")]
            rows[table.name] = sorted(repr(tuple(row)) for row in s.execute(select(*columns)))
    return rows


def changed_tables(db: Factory, before: dict[str, list[str]], after: dict[str, list[str]], mine: Side) -> list[str]:
    """The tables that changed, but for audit entries of A's own action on A's own partner (an upload's summary)."""
    changed = [t for t in before if before[t] != after[t]]
    if "audit_log" in changed and set(before["audit_log"]) <= set(after["audit_log"]):
        known = len(before["audit_log"])
        with db() as s:
            entries = s.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[known:]
        if all(
            (e.object_type, e.object_id, e.partner_id) == ("partner", str(mine.partner_id), mine.partner_id)
            for e in entries
        ):
            changed.remove("audit_log")
    return changed


def answer(response: Any, call: Call) -> tuple[Any, ...]:
    """What a caller learns from a refusal: the status, and for JSON the code and the fields or item codes."""
    if "json" not in response.headers.get("content-type", ""):
        return (response.status_code,)
    body = response.json()
    if not isinstance(body, dict):
        return (response.status_code, body)
    if "redemptions" in body:
        items = [(item.get("status"), item.get("code"), item.get("id")) for item in body["redemptions"]]
        return (response.status_code, items)
    return (response.status_code, body.get("code"), sorted(e.get("field") for e in body.get("errors") or []))


def randomized(call: Call, theirs: Side) -> Call:
    """The same call with each of the other party's ids replaced by an id that exists nowhere."""
    ids = {str(v) for v in dataclasses.astuple(theirs) if isinstance(v, uuid.UUID)}
    ids |= {str(theirs.partner_id), str(theirs.location_id), str(theirs.till.cashier.id)}
    fresh: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, uuid.UUID | str) and str(value) in ids:
            return fresh.setdefault(str(value), str(uuid.uuid4()))
        if isinstance(value, dict):
            return {k: swap(v) for k, v in value.items()}
        if isinstance(value, list):
            return [swap(v) for v in value]
        return value

    return dataclasses.replace(
        call, path=swap(call.path), query=swap(call.query), json=swap(call.json), form=swap(call.form)
    )


def refused(response: Any, call: Call) -> str | None:
    status = response.status_code
    if call.body_field is None:
        return None if status in (403, 404) else f"expected 403 or 404, got {status} {response.text[:200]}"
    if call.body_field == "redemptions":
        items = response.json().get("redemptions", [])
        ok = status == 200 and [i["status"] for i in items] == ["refused"]
        return None if ok else f"expected the item refused, got {status} {response.text[:200]}"
    if status in (403, 404):
        return None
    if "json" in response.headers.get("content-type", ""):
        named = call.body_field in [e.get("field") for e in response.json().get("errors") or []]
    else:
        named = f'id="error-{call.body_field}"' in response.text
    return (
        None
        if status == 422 and named
        else f"expected 422 naming {call.body_field}, got {status} {response.text[:300]}"
    )


# Controls that end something A's other controls need (a key, a cashier, a location) run last.
_ENDING = ("/revoke", "/deactivate", "/remove", "/withdraw", "/{switch_name}")


def _control_order(endpoint: Endpoint) -> tuple[bool, bool]:
    return endpoint.method != "GET", endpoint.path_format.endswith(_ENDING)


def test_no_one_reaches_another_partys_objects(client: Client, app: Litestar, db: Factory, world: World) -> None:
    covered = [e for e in endpoints(app) if (e.method, e.path_format) in ATTEMPTS]
    assert len(covered) == len(ATTEMPTS)
    failures: list[str] = []
    controls: list[tuple[Endpoint, str, User | str | None, Call]] = []
    attempts = 0
    for endpoint in covered:
        for build in ATTEMPTS[(endpoint.method, endpoint.path_format)]:
            for name, caller in callers(endpoint, world):
                label = f"{endpoint} as A's {name}"
                call = build(world.a, world.b)
                if call.only is not None and name not in call.only:
                    continue
                before = dump(db)
                response = send(client, endpoint, caller, call)
                after = dump(db)
                attempts += 1
                wrong = refused(response, call)
                if wrong:
                    failures.append(f"{label}: {wrong}")
                changed = changed_tables(db, before, after, world.a)
                if changed:
                    failures.append(f"{label}: changed {changed}")
                unknown = send(client, endpoint, caller, randomized(call, world.b))
                if answer(response, call) != answer(unknown, call):
                    failures.append(
                        f"{label}: answers {answer(response, call)} for B's id but "
                        f"{answer(unknown, call)} for an unknown one"
                    )
                controls.append((endpoint, label, caller, build(world.a, world.a)))
    print(f"\nownership: {attempts} attempts on {len(covered)} routes")
    assert failures == [], "\n".join(failures)
    # A's own ids pass the same checks that refused B's: the refusals were about ownership.
    for endpoint, label, caller, call in sorted(controls, key=lambda c: _control_order(c[0])):
        if caller is None:
            continue
        response = send(client, endpoint, caller, call)
        if response.status_code in (401, 403, 404) or (call.body_field and refused(response, call) is None):
            errors = [" ".join(e.split()) for e in re.findall(r"id=\"error-[^\"]*\"[^>]*>(.*?)</", response.text, re.S)]
            failures.append(f"{label} with A's own ids: {response.status_code} {errors or response.text[:200]}")
    assert failures == [], "\n".join(failures)


# --- card numbers typed by hand -------------------------------------------------------------------------------

VERIFICATION_FIELDS = {"valid", "reason", "message", "presentation", "code_checked", "card", "benefits", "location_id"}
CARD_FACTS = {"number", "adults", "children_ages", "expected_children", "valid_until", "ask_for_id"}


def _personal_values(db: Factory, side: Side) -> list[str]:
    """What identifies family B beyond its card number: names, addresses, birth dates and internal ids."""
    with db() as s:
        card = s.get(Card, side.family.card_id)
        assert card is not None
        adults = s.scalars(select(HouseholdAdult).where(HouseholdAdult.household_id == card.household_id)).all()
        values = [str(card.id), str(card.household_id), str(side.credential_id), str(side.print_job_id)]
        values += [str(a.id) for a in adults] + [str(u.id) for u in side.family.users]
        values += [u.email for u in side.family.users]
    return values + [v for k, v in OTHER_FAMILY.items() if v and ("name" in k or k == "street")]


def test_a_typed_card_number_tells_the_cashier_the_facts_and_nothing_more(
    client: Client, db: Factory, world: World
) -> None:
    a, b = world.a, world.b
    body = {"card_number": format_card_number(b.till.number, "-"), "location_id": str(a.location_id)}
    response = client.post("/api/v1/verifications", json=body, headers=bearer(a.till.token))
    assert response.status_code == 200, response.text
    result = response.json()
    assert set(result) == VERIFICATION_FIELDS
    assert set(result["card"]) == CARD_FACTS
    assert (result["reason"], result["code_checked"], result["card"]["ask_for_id"]) == ("ok", False, True)
    # Only A's own benefits are offered, and nothing of B's household is in the answer.
    assert {o["benefit_id"] for o in result["benefits"]} <= {str(a.benefit_id), str(a.draft_benefit_id)}
    leaked = [value for value in _personal_values(db, b) if value.lower() in response.text.lower()]
    assert leaked == []
    # Children are given as ages, never as birth dates.
    assert "2019-04" not in response.text
    # A number with a wrong check character is refused like any garbage, so a near miss says nothing about
    # the card it nearly names.
    wrong = b.till.number[:-1] + ("2" if b.till.number[-1] != "2" else "3")
    garbage = client.post(
        "/api/v1/verifications",
        json={"card_number": wrong, "location_id": str(a.location_id)},
        headers=bearer(a.till.token),
    ).json()
    assert (garbage["reason"], garbage["card"], garbage["benefits"]) == ("malformed", None, [])


def test_another_partners_nonce_replays_nothing_of_theirs(client: Client, db: Factory, world: World) -> None:
    """Idempotency is per partner: B's nonce sent by A's till records A's own redemption, never answers B's."""
    a, b = world.a, world.b
    with db() as s:
        theirs = s.get(Redemption, b.redemption_id)
        assert theirs is not None
        nonce = theirs.client_nonce
    body = {
        "benefit_id": str(a.benefit_id),
        "location_id": str(a.location_id),
        "card_number": a.till.number,
        "client_nonce": nonce,
    }
    response = client.post("/api/v1/redemptions", json=body, headers=bearer(a.till.token))
    assert response.status_code == 201, response.text
    assert response.headers.get("idempotent-replayed") != "true"
    assert response.json()["id"] != str(b.redemption_id)
    assert response.json()["benefit_id"] == str(a.benefit_id)
