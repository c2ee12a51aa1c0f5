"""The API key service on the migrated database: who may manage keys, what is stored, revocation, last use."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte.accounts import api_keys, identity
from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.errors import InvalidInput, NotFound, PermissionDenied
from familienkarte.partners.models import Location, Partner

Factory = Callable[[], Session]


def principal(user: User) -> Principal:
    return identity.principal_for_user(user)


def first_location(db: Factory, partner_id: uuid.UUID) -> uuid.UUID:
    with db() as s:
        location = s.scalar(select(Location.id).where(Location.partner_id == partner_id))
    assert location is not None
    return location


def run(db: Factory, fn: Callable[[Session], Any]) -> Any:
    with db() as s, s.begin():
        return fn(s)


def key_rows(db: Factory) -> list[ApiKey]:
    with db() as s:
        return list(s.scalars(select(ApiKey)))


def test_generated_tokens_parse_back_and_differ() -> None:
    first, second = identity.generate_api_key(), identity.generate_api_key()
    assert first.token != second.token
    parsed = identity.parse_api_key(first.token)
    assert parsed is not None
    assert parsed[0] == first.prefix
    assert identity.hash_secret(parsed[1]) == first.secret_hash


@pytest.mark.parametrize(
    "token", ["", "garbage", "fk_", "fk_abc_secret", "fk_0123456789ab", "fk_0123456789ab_", "xx_0123456789ab_s"]
)
def test_malformed_tokens_do_not_parse(token: str) -> None:
    assert identity.parse_api_key(token) is None


def test_owner_creates_a_key_for_a_location_and_it_authenticates(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    partner_id = owner.partner_id
    location = first_location(db, partner_id)
    meta = RequestMeta(request_id="req-123456", ip="192.0.2.7")

    created = run(
        db, lambda s: api_keys.create_key(s, principal(owner), partner_id, "  Till 1  ", str(location), meta=meta)
    )

    assert created.token.startswith(f"fk_{created.key.prefix}_")
    assert created.key.name == "Till 1"
    assert created.key.location_id == location
    assert created.key.location_name == "Zoo Köln 1"
    assert created.key.active
    who = run(db, lambda s: identity.authenticate_api_key(s, created.token))
    assert who is not None
    assert (who.role, who.partner_id, who.location_id, who.api_key_id) == (
        Role.CASHIER,
        partner_id,
        location,
        created.key.id,
    )
    with db() as s:
        entry = s.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.object_id, entry.partner_id) == ("api_key.create", str(created.key.id), partner_id)
    assert (entry.actor_user_id, entry.request_id, entry.ip) == (owner.id, "req-123456", "192.0.2.7")
    assert created.token not in str(entry.details)


def test_the_secret_is_stored_only_as_a_hash(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Till"))
    parsed = identity.parse_api_key(created.token)
    assert parsed is not None
    secret = parsed[1]
    (row,) = key_rows(db)
    stored = " ".join(str(getattr(row, column.key)) for column in ApiKey.__table__.columns)
    assert secret not in stored
    assert created.token not in stored
    assert row.secret_hash == identity.hash_secret(secret)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PARTNER_MANAGER])
def test_key_staff_manage_any_partners_keys(db: Factory, make_user: Any, make_partner: Any, role: Role) -> None:
    staff = make_user(role)
    partner = make_partner("Hallenbad Süd")
    created = run(db, lambda s: api_keys.create_key(s, principal(staff), partner.id, "Kasse"))
    listed = run(db, lambda s: api_keys.list_keys(s, principal(staff), partner.id))
    assert [k.id for k in listed] == [created.key.id]
    revoked = run(db, lambda s: api_keys.revoke_key(s, principal(staff), partner.id, created.key.id))
    assert revoked.revoked_at is not None
    (row,) = key_rows(db)
    assert row.revoked_by_id == staff.id


@pytest.mark.parametrize("role", [Role.CASHIER, Role.CASEWORKER, Role.ANALYST, Role.FAMILY])
def test_other_roles_cannot_manage_keys(db: Factory, make_user: Any, make_partner: Any, role: Role) -> None:
    partner = make_partner()
    user = make_user(role, partner=partner) if role == Role.CASHIER else make_user(role)
    with pytest.raises(PermissionDenied):
        run(db, lambda s: api_keys.create_key(s, principal(user), partner.id, "Till"))
    with pytest.raises(PermissionDenied):
        run(db, lambda s: api_keys.list_keys(s, principal(user), partner.id))
    assert key_rows(db) == []


def test_an_api_key_cannot_make_keys(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Till"))
    as_key = run(db, lambda s: identity.authenticate_api_key(s, created.token))
    with pytest.raises(PermissionDenied):
        run(db, lambda s: api_keys.create_key(s, as_key, owner.partner_id, "Another"))
    with pytest.raises(PermissionDenied):
        run(db, lambda s: api_keys.revoke_key(s, as_key, owner.partner_id, created.key.id))
    assert len(key_rows(db)) == 1


def test_another_partners_keys_are_not_found(db: Factory, make_user: Any) -> None:
    owner_a = make_user(Role.PARTNER_OWNER)
    owner_b = make_user(Role.PARTNER_OWNER)
    key_b = run(db, lambda s: api_keys.create_key(s, principal(owner_b), owner_b.partner_id, "B's till"))
    a = principal(owner_a)
    with pytest.raises(NotFound):
        run(db, lambda s: api_keys.list_keys(s, a, owner_b.partner_id))
    with pytest.raises(NotFound):
        run(db, lambda s: api_keys.create_key(s, a, owner_b.partner_id, "Sneaky"))
    with pytest.raises(NotFound):
        run(db, lambda s: api_keys.revoke_key(s, a, owner_b.partner_id, key_b.key.id))
    # Nor through A's own partner with B's key id.
    with pytest.raises(NotFound):
        run(db, lambda s: api_keys.revoke_key(s, a, owner_a.partner_id, key_b.key.id))
    (row,) = key_rows(db)
    assert row.revoked_at is None


def test_unknown_partner_is_not_found_for_staff(db: Factory, make_user: Any) -> None:
    admin = make_user(Role.ADMIN)
    with pytest.raises(NotFound):
        run(db, lambda s: api_keys.create_key(s, principal(admin), uuid.uuid4(), "Till"))


@pytest.mark.parametrize(
    ("name", "field"),
    [("", "name"), ("   ", "name"), ("x" * 101, "name")],
)
def test_bad_names_are_refused_and_nothing_stored(db: Factory, make_user: Any, name: str, field: str) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    with pytest.raises(InvalidInput) as refused:
        run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, name))
    assert [e.field for e in refused.value.errors] == [field]
    assert key_rows(db) == []
    with db() as s:
        assert s.scalars(select(AuditEntry)).all() == []


def test_a_name_of_exactly_100_characters_is_fine(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "x" * 100))
    assert created.key.name == "x" * 100


@pytest.mark.parametrize("location", ["other partner's", "unknown", "not-a-uuid"])
def test_a_location_not_of_this_partner_is_refused(
    db: Factory, make_user: Any, make_partner: Any, location: str
) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    values = {
        "other partner's": str(first_location(db, make_partner("Other").id)),
        "unknown": str(uuid.uuid4()),
        "not-a-uuid": "Zoo Köln 1",
    }
    with pytest.raises(InvalidInput) as refused:
        run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Till", values[location]))
    assert [e.field for e in refused.value.errors] == ["location_id"]
    assert key_rows(db) == []


def test_both_fields_wrong_are_reported_together(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    with pytest.raises(InvalidInput) as refused:
        run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "", str(uuid.uuid4())))
    assert {e.field for e in refused.value.errors} == {"name", "location_id"}


def test_revoking_twice_keeps_the_first_revocation(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    other_owner = make_user(Role.PARTNER_OWNER, partner=Partner(id=owner.partner_id))
    created = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Till"))
    first = run(db, lambda s: api_keys.revoke_key(s, principal(owner), owner.partner_id, created.key.id))
    again = run(db, lambda s: api_keys.revoke_key(s, principal(other_owner), owner.partner_id, created.key.id))
    assert again.revoked_at == first.revoked_at
    (row,) = key_rows(db)
    assert row.revoked_by_id == owner.id
    assert run(db, lambda s: identity.authenticate_api_key(s, created.token)) is None
    with db() as s:
        actions = s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["api_key.create", "api_key.revoke"]


def test_list_shows_every_key_newest_first_without_secrets(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    older = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Older"))
    with db() as s, s.begin():
        s.execute(update(ApiKey).where(ApiKey.id == older.key.id).values(created_at=utcnow() - dt.timedelta(days=1)))
    newer = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Newer"))
    run(db, lambda s: api_keys.revoke_key(s, principal(owner), owner.partner_id, older.key.id))
    listed = run(db, lambda s: api_keys.list_keys(s, principal(owner), owner.partner_id))
    assert [(k.name, k.active) for k in listed] == [("Newer", True), ("Older", False)]
    assert not any(hasattr(k, "secret_hash") or hasattr(k, "token") for k in listed)
    assert newer.token not in repr(listed)


def _last_used(db: Factory, key_id: uuid.UUID) -> dt.datetime | None:
    with db() as s:
        return s.scalar(select(ApiKey.last_used_at).where(ApiKey.id == key_id))


def test_last_use_is_written_at_most_once_a_minute(db: Factory, make_user: Any) -> None:
    owner = make_user(Role.PARTNER_OWNER)
    created = run(db, lambda s: api_keys.create_key(s, principal(owner), owner.partner_id, "Till"))
    assert _last_used(db, created.key.id) is None

    run(db, lambda s: identity.authenticate_api_key(s, created.token))
    first = _last_used(db, created.key.id)
    assert first is not None
    assert abs(utcnow() - first) < dt.timedelta(seconds=30)

    run(db, lambda s: identity.authenticate_api_key(s, created.token))
    assert _last_used(db, created.key.id) == first

    # A use more than a minute after the recorded one is recorded.
    earlier = utcnow() - dt.timedelta(minutes=2)
    with db() as s, s.begin():
        s.execute(update(ApiKey).where(ApiKey.id == created.key.id).values(last_used_at=earlier))
    run(db, lambda s: identity.authenticate_api_key(s, created.token))
    latest = _last_used(db, created.key.id)
    assert latest is not None
    assert latest > earlier + dt.timedelta(minutes=1)


def test_partners_overview_counts_active_keys(db: Factory, make_user: Any, make_partner: Any) -> None:
    manager = make_user(Role.PARTNER_MANAGER)
    zoo = make_partner("Zoo", status="approved")
    make_partner("Bad", status="pending")
    run(db, lambda s: api_keys.create_key(s, principal(manager), zoo.id, "One"))
    run(db, lambda s: api_keys.create_key(s, principal(manager), zoo.id, "Two"))
    listed = run(db, lambda s: api_keys.partners_overview(s, principal(manager)))
    assert [(p.name, p.status, p.active_keys) for p in listed] == [("Bad", "pending", 0), ("Zoo", "approved", 2)]


def test_partners_overview_is_for_key_staff_only(db: Factory, make_user: Any) -> None:
    analyst = make_user(Role.ANALYST)
    with pytest.raises(PermissionDenied):
        run(db, lambda s: api_keys.partners_overview(s, principal(analyst)))


def test_portal_start_names_the_partner(db: Factory, make_user: Any, make_partner: Any) -> None:
    partner = make_partner("Theater am Dom", status="pending")
    owner = make_user(Role.PARTNER_OWNER, partner=partner)
    cashier = make_user(Role.CASHIER, partner=partner)
    run(db, lambda s: api_keys.create_key(s, principal(owner), partner.id, "Till"))
    start = run(db, lambda s: api_keys.portal_start(s, principal(owner)))
    assert (start.partner_name, start.partner_status, start.can_manage_keys, start.active_keys) == (
        "Theater am Dom",
        "pending",
        True,
        1,
    )
    assert not run(db, lambda s: api_keys.portal_start(s, principal(cashier))).can_manage_keys
