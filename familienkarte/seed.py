"""Accounts made outside the web: ``familienkarte staff create`` and the demo's data.

Services like every other: a session in, domain errors out; the command line only prints.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import hash_password
from familienkarte.accounts.roles import PARTNER_ROLES, STAFF_ROLES, Role
from familienkarte.accounts.services import normalise_email, password_problems
from familienkarte.audit.services import record
from familienkarte.benefits import fields
from familienkarte.benefits.models import ALL_WEEKDAYS, Benefit, BenefitKind, BenefitStatus, LimitPeriod
from familienkarte.credentials.services import ensure_active_key
from familienkarte.db import utcnow
from familienkarte.errors import N_, FieldError, InvalidInput
from familienkarte.partners.models import Location, Partner
from familienkarte.partners.services import TERMS_VERSION
from familienkarte.partners.vocabulary import WEEKDAYS

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


# The demo partner's profile and its location (address, position in Köln, opening hours), as a partner would
# enter them in the portal.
DEMO_PROFILE: dict[str, Any] = {
    "legal_form": "ag",
    "website": "https://www.koelnerzoo.de",
    "category": "leisure",
    "description": {
        "de": "Der Kölner Zoo zeigt über 10.000 Tiere aus aller Welt, mit Aquarium, Regenwaldhaus und Elefantenpark.",
        "en": "Cologne Zoo shows more than 10,000 animals from all over the world, with an aquarium, a rainforest "
        "house and an elephant park.",
    },
    "contact_email": "zoo@demo.example.org",
    "phone": "0221 5601-0",
    "terms_version": TERMS_VERSION,
}
_DAILY = [["09:00", "18:00"]]
DEMO_LOCATION_DATA: dict[str, Any] = {
    "street": "Riehler Straße",
    "house_number": "173",
    "postal_code": "50735",
    "district": "Nippes",
    "latitude": 50.958_54,
    "longitude": 6.973_16,
    "opening_hours": {day: list(_DAILY) for day in WEEKDAYS},
    "hours_note": {
        "de": "Im Winter (November bis Februar) bis 17:00 Uhr geöffnet.",
        "en": "In winter (November to February) open until 5 pm.",
    },
    "accessibility": ["step_free", "accessible_toilet", "baby_changing", "pram_friendly"],
    "accessibility_note": {
        "de": "Rollstühle und Bollerwagen können am Haupteingang ausgeliehen werden.",
        "en": "Wheelchairs and handcarts can be borrowed at the main entrance.",
    },
    "phone": "0221 5601-0",
}


def _demo_partner(session: Session) -> Partner:
    partner = session.scalar(select(Partner).where(Partner.name == DEMO_PARTNER).order_by(Partner.created_at))
    if partner is None:
        partner = Partner(name=DEMO_PARTNER, status="approved")
        session.add(partner)
        session.flush()
        session.add(Location(partner_id=partner.id, name=DEMO_LOCATION))
        session.flush()
    # A demo database from before partners had profiles gets the profile once; what was changed since stays.
    if partner.category is None:
        for key, value in DEMO_PROFILE.items():
            setattr(partner, key, value)
        partner.terms_accepted_at = utcnow()
    location = session.scalar(select(Location).where(Location.partner_id == partner.id, Location.name == DEMO_LOCATION))
    if location is not None and location.street is None:
        for key, value in DEMO_LOCATION_DATA.items():
            setattr(location, key, value)
    return partner


# The demo partner's published benefits; fields not named take the defaults of DEMO_BENEFIT_DEFAULTS.
DEMO_BENEFIT_DEFAULTS: dict[str, object] = {
    "value": None,
    "conditions": {},
    "valid_from": None,
    "valid_until": None,
    "weekdays": ALL_WEEKDAYS,
    "min_children": 0,
    "child_age_min": None,
    "child_age_max": None,
    "requires_entitlement": False,
    "limit_count": None,
    "limit_period": None,
    "total_quota": None,
    "max_quantity": 1,
}
DEMO_BENEFITS: tuple[dict[str, object], ...] = (
    {
        "category": "leisure",
        "kind": BenefitKind.PERCENT_OFF.value,
        "value": 20,
        "title": {"de": "20 % Rabatt auf den Eintritt", "en": "20% off admission"},
        "description": {
            "de": "Für alle Mitglieder der Familie, die auf der Karte stehen.",
            "en": "For every member of the family on the card.",
        },
        "conditions": {"de": "Nicht mit anderen Rabatten kombinierbar.", "en": "Not combinable with other discounts."},
        "limit_count": 1,
        "limit_period": LimitPeriod.DAY.value,
        "max_quantity": 6,
    },
    {
        "category": "leisure",
        "kind": BenefitKind.FREE_ENTRY.value,
        "title": {"de": "Freier Eintritt für Kinder bis 5 Jahre", "en": "Free entry for children up to 5"},
        "description": {
            "de": "Kleine Kinder besuchen den Zoo kostenlos.",
            "en": "Young children visit the zoo for free.",
        },
        "child_age_max": 5,
        "max_quantity": 4,
    },
)


def _demo_benefits(session: Session, partner: Partner) -> None:
    """The demo partner's published benefits at its locations, each made once (known by its German title)."""
    location_ids = sorted(
        str(location_id)
        for location_id in session.scalars(
            select(Location.id).where(Location.partner_id == partner.id, Location.is_active)
        )
    )
    existing = {
        (benefit.title or {}).get("de")
        for benefit in session.scalars(select(Benefit).where(Benefit.partner_id == partner.id))
    }
    now = utcnow()
    for demo in DEMO_BENEFITS:
        content: dict[str, Any] = {**DEMO_BENEFIT_DEFAULTS, **demo, "location_ids": location_ids}
        if content["title"]["de"] in existing:
            continue
        benefit = Benefit(
            partner_id=partner.id,
            status=BenefitStatus.PUBLISHED.value,
            submitted_at=now,
            published_at=now,
            moderated_at=now,
            **fields.column_values(content),
        )
        session.add(benefit)
        session.flush()
        fields.apply_content(session, benefit, content)


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
    _demo_benefits(session, partner)
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
