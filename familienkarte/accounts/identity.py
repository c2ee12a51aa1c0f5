"""Who is asking: the session's user or the request's API key, resolved once per request by ``AuthMiddleware``."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte.accounts.api_key_cache import NOT_AUTH_RELEVANT
from familienkarte.accounts.models import ApiKey, User
from familienkarte.accounts.principal import Principal
from familienkarte.accounts.roles import Role
from familienkarte.db import utcnow
from familienkarte.partners.models import Partner

API_KEY_PREFIX = "fk_"
# last_used_at is written at most this often per key, so that a busy till does not write on every scan.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)
# Only an approved partner's API keys work: not while it waits for approval, is asked for changes, was rejected
# or is suspended.
ACTIVE_PARTNER_STATUS = "approved"


@dataclass(frozen=True)
class NewApiKey:
    """A freshly made key: ``token`` is shown once and never stored."""

    token: str
    prefix: str
    secret_hash: str


def hash_secret(secret: str) -> str:
    # The secret has 256 bits of entropy: a plain SHA-256 is enough and keeps every API request cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_api_key() -> NewApiKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    return NewApiKey(f"{API_KEY_PREFIX}{prefix}_{secret}", prefix, hash_secret(secret))


def parse_api_key(token: str) -> tuple[str, str] | None:
    if not token.startswith(API_KEY_PREFIX):
        return None
    prefix, sep, secret = token[len(API_KEY_PREFIX) :].partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix, secret


def principal_for_user(user: User) -> Principal:
    return Principal(
        role=Role(user.role),
        user_id=user.id,
        partner_id=user.partner_id,
        email=user.email,
        display_name=user.display_name,
        totp_enabled=user.totp_enabled_at is not None,
    )


def load_session_user(session: Session, user_id: uuid.UUID, epoch: int) -> Principal | None:
    """The signed-in user, or None when they were deactivated or signed out everywhere since."""
    user = session.get(User, user_id)
    if user is None or not user.is_active or user.session_epoch != epoch:
        return None
    return principal_for_user(user)


def authenticate_api_key(session: Session, token: str) -> Principal | None:
    """The partner behind a valid, unrevoked key; updates its last-used time."""
    parsed = parse_api_key(token)
    if parsed is None:
        return None
    prefix, secret = parsed
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))
    if key is None or key.revoked_at is not None:
        return None
    if not hmac.compare_digest(key.secret_hash, hash_secret(secret)):
        return None
    partner = session.execute(select(Partner.name, Partner.status).where(Partner.id == key.partner_id)).one_or_none()
    if partner is None or partner.status != ACTIVE_PARTNER_STATUS:
        # A suspended or rejected partner's tills are shut out without revoking their keys (at once in this
        # process, within api_key_cache.TTL_SECONDS in others).
        return None
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key.id)
            .values(last_used_at=now)
            # Nothing authentication depends on: remembered keys stay remembered (api_key_cache).
            .execution_options(**{NOT_AUTH_RELEVANT: True})
        )
    return Principal(
        role=Role.CASHIER,
        api_key_id=key.id,
        partner_id=key.partner_id,
        location_id=key.location_id,
        display_name=f"{partner.name}: {key.name}",
    )
