"""Partner API keys: create (the token is shown once), list, revoke.

A key belongs to one partner and optionally one location; only a hash of its secret is stored
(``identity.generate_api_key``). Partner owners manage the keys of their own partner, staff with the role
``admin`` or ``partner_manager`` those of any partner. A key never manages keys. Another partner's records are
reported as not found, so that their ids cannot be probed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from familienkarte.accounts.identity import generate_api_key
from familienkarte.accounts.models import ApiKey
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import Role
from familienkarte.audit.services import record
from familienkarte.db import utcnow
from familienkarte.errors import N_, FieldError, InvalidInput, NotFound, PermissionDenied
from familienkarte.partners.models import Location, Partner

NAME_MAX_LENGTH = 100
# Staff who may manage the keys of every partner.
KEY_STAFF_ROLES = frozenset({Role.ADMIN, Role.PARTNER_MANAGER})


@dataclass(frozen=True)
class LocationChoice:
    id: uuid.UUID
    name: str


@dataclass(frozen=True)
class ApiKeyView:
    """What may be shown about a key: never its secret or the secret's hash."""

    id: uuid.UUID
    partner_id: uuid.UUID
    name: str
    prefix: str
    location_id: uuid.UUID | None
    location_name: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key and its token. The token exists only here: it is not stored and cannot be shown again."""

    key: ApiKeyView
    token: str


@dataclass(frozen=True)
class PartnerKeys:
    """A partner's keys and the locations a new key may be bound to (the key management page)."""

    partner_id: uuid.UUID
    partner_name: str
    partner_status: str
    locations: list[LocationChoice]
    keys: list[ApiKeyView]


@dataclass(frozen=True)
class PartnerSummary:
    id: uuid.UUID
    name: str
    status: str
    active_keys: int


@dataclass(frozen=True)
class PortalStart:
    """What the partner portal's start page says about the signed-in partner user's organisation."""

    partner_id: uuid.UUID
    partner_name: str
    partner_status: str
    can_manage_keys: bool
    active_keys: int


def _managed_partner(session: Session, principal: Principal, partner_id: uuid.UUID) -> Partner:
    """The partner whose keys the principal may manage; another partner is "not found" to a partner owner."""
    if principal.is_api_key:
        raise PermissionDenied(N_("An API key cannot manage API keys. Please sign in."))
    if principal.role in KEY_STAFF_ROLES:
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound()
        return partner
    if principal.role == Role.PARTNER_OWNER:
        if principal.partner_id != partner_id:
            raise NotFound()
        partner = session.get(Partner, partner_id)
        if partner is None:
            raise NotFound()
        return partner
    raise PermissionDenied()


def _views(session: Session, partner_id: uuid.UUID, key_id: uuid.UUID | None = None) -> list[ApiKeyView]:
    query = (
        select(ApiKey, Location.name)
        .outerjoin(Location, Location.id == ApiKey.location_id)
        .where(ApiKey.partner_id == partner_id)
    )
    if key_id is not None:
        query = query.where(ApiKey.id == key_id)
    rows = session.execute(query.order_by(ApiKey.created_at.desc(), ApiKey.name)).all()
    return [
        ApiKeyView(
            id=key.id,
            partner_id=key.partner_id,
            name=key.name,
            prefix=key.prefix,
            location_id=key.location_id,
            location_name=location_name,
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            revoked_at=key.revoked_at,
        )
        for key, location_name in rows
    ]


def _locations(session: Session, partner_id: uuid.UUID) -> list[LocationChoice]:
    rows = session.execute(
        select(Location.id, Location.name).where(Location.partner_id == partner_id).order_by(Location.name)
    ).all()
    return [LocationChoice(id, name) for id, name in rows]


def _active_key_count(session: Session, partner_id: uuid.UUID) -> int:
    query = select(func.count()).where(ApiKey.partner_id == partner_id, ApiKey.revoked_at.is_(None))
    return session.scalar(query) or 0


def list_keys(session: Session, principal: Principal, partner_id: uuid.UUID) -> list[ApiKeyView]:
    """The partner's keys, newest first, revoked ones included."""
    _managed_partner(session, principal, partner_id)
    return _views(session, partner_id)


def partner_keys(session: Session, principal: Principal, partner_id: uuid.UUID) -> PartnerKeys:
    """The partner, its locations and its keys, for the key management pages."""
    partner = _managed_partner(session, principal, partner_id)
    return PartnerKeys(
        partner_id=partner.id,
        partner_name=partner.name,
        partner_status=partner.status,
        locations=_locations(session, partner.id),
        keys=_views(session, partner.id),
    )


def _parse_location(value: uuid.UUID | str | None) -> uuid.UUID | FieldError | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    if not value.strip():
        return None
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        return FieldError("location_id", N_("Choose one of this partner's locations, or none."))


def create_key(
    session: Session,
    principal: Principal,
    partner_id: uuid.UUID,
    name: str,
    location_id: uuid.UUID | str | None = None,
    *,
    meta: RequestMeta | None = None,
) -> CreatedApiKey:
    """Make a key for the partner (and, if given, only for one of its locations). The token is returned once."""
    partner = _managed_partner(session, principal, partner_id)
    errors: list[FieldError] = []
    name = (name or "").strip()
    if not name:
        errors.append(FieldError("name", N_("Enter a name for the key, for example the till it is for.")))
    elif len(name) > NAME_MAX_LENGTH:
        errors.append(FieldError("name", N_("The name may have at most %(max)s characters."), {"max": NAME_MAX_LENGTH}))
    location = _parse_location(location_id)
    if isinstance(location, FieldError):
        errors.append(location)
        location = None
    elif location is not None:
        owner = session.scalar(select(Location.partner_id).where(Location.id == location))
        if owner != partner.id:
            errors.append(FieldError("location_id", N_("Choose one of this partner's locations, or none.")))
    if errors:
        raise InvalidInput(errors)

    new = generate_api_key()
    key = ApiKey(
        partner_id=partner.id,
        location_id=location,
        name=name,
        prefix=new.prefix,
        secret_hash=new.secret_hash,
        created_by_id=principal.user_id,
    )
    session.add(key)
    session.flush()
    record(
        session,
        principal,
        "api_key.create",
        "api_key",
        key.id,
        partner_id=partner.id,
        details={"name": name, "prefix": new.prefix, "location_id": str(location) if location else None},
        meta=meta,
    )
    return CreatedApiKey(_views(session, partner.id, key.id)[0], new.token)


def revoke_key(
    session: Session,
    principal: Principal,
    partner_id: uuid.UUID,
    key_id: uuid.UUID,
    *,
    meta: RequestMeta | None = None,
) -> ApiKeyView:
    """Revoke a key at once. Revoking a revoked key changes nothing: the first time and revoker are kept."""
    _managed_partner(session, principal, partner_id)
    # One conditional update, so that two revocations at the same moment record one time and one audit entry.
    result = session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.partner_id == partner_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow(), revoked_by_id=principal.user_id)
        .execution_options(synchronize_session=False)
    )
    views = _views(session, partner_id, key_id)
    if not views:
        raise NotFound()
    if result.rowcount:  # type: ignore[attr-defined]
        record(
            session,
            principal,
            "api_key.revoke",
            "api_key",
            key_id,
            partner_id=partner_id,
            details={"name": views[0].name, "prefix": views[0].prefix},
            meta=meta,
        )
    return views[0]


def partners_overview(session: Session, principal: Principal) -> list[PartnerSummary]:
    """Every partner with its status and number of active keys, for staff who manage keys."""
    if principal.is_api_key or principal.role not in KEY_STAFF_ROLES:
        raise PermissionDenied()
    active = (
        select(ApiKey.partner_id, func.count().label("n"))
        .where(ApiKey.revoked_at.is_(None))
        .group_by(ApiKey.partner_id)
        .subquery()
    )
    rows = session.execute(
        select(Partner.id, Partner.name, Partner.status, func.coalesce(active.c.n, 0))
        .outerjoin(active, active.c.partner_id == Partner.id)
        .order_by(Partner.name, Partner.id)
    ).all()
    return [PartnerSummary(id, name, status, int(count)) for id, name, status, count in rows]


def portal_start(session: Session, principal: Principal) -> PortalStart:
    """The signed-in partner user's organisation, for the partner portal's start page."""
    if not principal.is_partner or principal.partner_id is None:
        raise PermissionDenied()
    partner = session.get(Partner, principal.partner_id)
    if partner is None:
        raise NotFound()
    can_manage = principal.role == Role.PARTNER_OWNER and not principal.is_api_key
    return PortalStart(
        partner_id=partner.id,
        partner_name=partner.name,
        partner_status=partner.status,
        can_manage_keys=can_manage,
        active_keys=_active_key_count(session, partner.id) if can_manage else 0,
    )
