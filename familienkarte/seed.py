"""Accounts made outside the web: ``familienkarte staff create`` and the demo's data.

Services like every other: a session in, domain errors out; the command line only prints.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import hash_password
from familienkarte.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from familienkarte.accounts.services import normalise_email, password_problems
from familienkarte.audit.services import record
from familienkarte.credentials.services import ensure_active_key
from familienkarte.db import utcnow
from familienkarte.errors import N_, FieldError, InvalidInput
from familienkarte.partners.models import Location, Partner

EMAIL_MAX_LENGTH = 320
NAME_MAX_LENGTH = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def generate_password() -> str:
    """A random password of 20 characters (about 120 bits), above every length rule."""
    return secrets.token_urlsafe(15)


@dataclass(frozen=True)
class CreatedStaff:
    user: User
    password: str


def create_staff_with_password(
    session: Session, *, email: str, role: str, display_name: str = "", password: str | None = None
) -> CreatedStaff:
    """Create a staff account that signs in with ``password`` (a random one when None) right away.

    For the first administrator of a deployment and for scripts; the staff area invites by e-mail instead.
    """
    address = normalise_email(email)
    errors: list[FieldError] = []
    if len(address) > EMAIL_MAX_LENGTH or not _EMAIL.match(address):
        errors.append(FieldError("email", N_("Please enter a valid e-mail address, for example name@example.org.")))
    elif session.scalar(select(User.id).where(User.email == address)) is not None:
        errors.append(FieldError("email", N_("An account with this e-mail address exists already.")))
    try:
        chosen: Role | None = Role(role)
    except ValueError:
        chosen = None
    if chosen is None or chosen not in STAFF_ROLES:
        errors.append(FieldError("role", N_("Please choose one of the listed roles.")))
    name = display_name.strip() or address.partition("@")[0]
    if len(name) > NAME_MAX_LENGTH:
        errors.append(FieldError("name", N_("Please use at most %(count)s characters."), {"count": NAME_MAX_LENGTH}))
    secret = generate_password() if password is None else password
    errors += password_problems(secret, secret, address)
    if errors or chosen is None:
        raise InvalidInput(errors)
    user = User(email=address, display_name=name, role=chosen.value, password_hash=hash_password(secret))
    session.add(user)
    session.flush()
    record(session, None, "staff_user.created", "user", user.id, details={"email": address, "role": chosen.value})
    return CreatedStaff(user, secret)


# The demo --------------------------------------------------------------------------------------------------------

DEMO_PARTNER = "Zoo Köln"
DEMO_LOCATION = "Zoo Köln, Haupteingang Riehler Straße"


@dataclass(frozen=True)
class DemoAccount:
    role: Role
    email: str
    name: str


DEMO_ACCOUNTS = (
    DemoAccount(Role.ADMIN, "admin@demo.example.org", "Demo Administration"),
    DemoAccount(Role.CASEWORKER, "sachbearbeitung@demo.example.org", "Demo Sachbearbeitung"),
    DemoAccount(Role.PARTNER_MANAGER, "partnerbetreuung@demo.example.org", "Demo Partnerbetreuung"),
    DemoAccount(Role.ANALYST, "statistik@demo.example.org", "Demo Statistik"),
    DemoAccount(Role.PARTNER_OWNER, "zoo@demo.example.org", "Zoo Köln, Leitung"),
    DemoAccount(Role.CASHIER, "kasse@demo.example.org", "Zoo Köln, Kasse"),
    DemoAccount(Role.FAMILY, "familie@demo.example.org", "Familie Demo"),
)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str | None


def _demo_partner(session: Session) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.name == DEMO_PARTNER).order_by(Partner.created_at))
    if partner is None:
        partner = Partner(name=DEMO_PARTNER, status="approved")
        session.add(partner)
        session.flush()
        session.add(Location(partner_id=partner.id, name=DEMO_LOCATION))
    return partner


def seed_demo(session: Session, known_passwords: Mapping[str, str], secret_key: str | None = None) -> list[DemoLogin]:
    """Create the demo's partner and accounts where missing; return every demo login.

    ``known_passwords`` (e-mail to password) are the ones handed out before: an account keeps its password
    across restarts. An account without a known password (first start, or the logins file was lost) gets a
    new random one. With the deployment's ``secret_key``, an active issuer key is made if there is none, so the
    JWKS is not empty from the start. Running this again changes nothing.
    """
    if secret_key is not None:
        ensure_active_key(session, secret_key)
    partner = _demo_partner(session)
    logins = []
    for account in DEMO_ACCOUNTS:
        user = session.scalar(select(User).where(User.email == account.email))
        password: str | None = None
        fresh = False
        if account.role != Role.FAMILY:
            password = known_passwords.get(account.email)
            fresh = password is None
            password = password or generate_password()
        if user is None:
            user = User(
                email=account.email,
                display_name=account.name,
                role=account.role.value,
                partner_id=partner.id if account.role in PARTNER_ROLES else None,
                password_hash=hash_password(password) if password else None,
                email_confirmed_at=utcnow(),
            )
            session.add(user)
        elif password is not None and fresh:
            user.password_hash = hash_password(password)
        logins.append(DemoLogin(account.role.value, account.email, password))
    session.flush()
    return logins
