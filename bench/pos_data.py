"""The point-of-sale benchmark's data: a partner with a till, a benefit, and cards on phones; fresh phone codes.

:func:`prepare` fills a migrated database through the project's own code where it matters: the issuer key
(``ensure_active_key``), the partner's API key (``api_keys.create_key``) and every phone credential
(``activate_phone``: a status entry of its own, signed by the issuer key, bound to a device key). The households
and cards behind them are plain rows, written in bulk. What the load needs afterwards (the token, the ids, each
phone's credential and device key, the issuer's public key) is returned as a :class:`Fixture`, kept as JSON.

:func:`write_presentations` draws every phone's code at the current time, one ``FK1:`` line per phone, for the
wrk scripts; the server calls a code ``stale`` 90 seconds after it was drawn, so it is written right before
each load run.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import insert
from sqlalchemy.orm import Session

import familienkarte.models  # noqa: F401  (every table known, for the foreign keys)
from familienkarte.accounts import api_keys
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import User
from familienkarte.accounts.roles import Role
from familienkarte.benefits.models import Benefit, BenefitKind, BenefitStatus, benefit_locations
from familienkarte.cards.credentials import activate_phone
from familienkarte.cards.models import Card, Child, Household, HouseholdAdult
from familienkarte.city import City
from familienkarte.credentials import services as credential_services
from familienkarte.credentials.card_numbers import new_card_number
from familienkarte.credentials.fk1 import encode_device_key, present_phone, public_jwk
from familienkarte.partners.models import Location, Partner, PartnerStatus

BATCH = 1000


@dataclass(frozen=True)
class Phone:
    credential: str
    # The device's private P-256 scalar, as a decimal string (JSON has no big integers).
    private_value: str

    def present(self, t: int) -> str:
        key = ec.derive_private_key(int(self.private_value), ec.SECP256R1())
        return present_phone(self.credential, t, key)


@dataclass(frozen=True)
class Fixture:
    database_url: str
    secret_key: str
    token: str
    partner_id: str
    location_id: str
    benefit_id: str
    # The issuer's public keys as JWKs, for the bare endpoint.
    issuer_jwks: list[dict[str, str]]
    phones: list[Phone]

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Fixture:
        raw: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        raw["phones"] = [Phone(**phone) for phone in raw["phones"]]
        return cls(**raw)


def _households(session: Session, count: int, today: dt.date) -> list[uuid.UUID]:
    """``count`` households of two adults (the first with a family user) and two children, each with an active
    card; returns the family users' ids."""
    users: list[dict[str, Any]] = []
    households: list[dict[str, Any]] = []
    adults: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    cards: list[dict[str, Any]] = []
    numbers: set[str] = set()
    for n in range(count):
        user_id, household_id = uuid.uuid4(), uuid.uuid4()
        users.append({"id": user_id, "email": f"family{n}@bench.example", "display_name": "", "role": "family"})
        households.append(
            {
                "id": household_id,
                "street": "Benchstraße",
                "house_number": str(n + 1),
                "postal_code": "50667",
                "city_name": "Köln",
                "district": "Innenstadt",
                "address_key": f"50667|benchstrasse|{n + 1}",
                "locale": "de",
            }
        )
        for position, (first, user) in enumerate((("Alex", user_id), ("Sam", None))):
            adults.append(
                {
                    "id": uuid.uuid4(),
                    "household_id": household_id,
                    "position": position,
                    "first_name": first,
                    "last_name": f"Bench{n}",
                    "email": f"family{n}-{position}@bench.example",
                    "user_id": user,
                }
            )
        for position, years in enumerate((3, 9)):
            children.append(
                {
                    "id": uuid.uuid4(),
                    "household_id": household_id,
                    "position": position,
                    "first_name": f"Kind{position}",
                    "birth_date": today.replace(year=today.year - years, day=1),
                }
            )
        number = new_card_number()
        while number in numbers:
            number = new_card_number()
        numbers.add(number)
        cards.append(
            {
                "id": uuid.uuid4(),
                "household_id": household_id,
                "number": number,
                "status": "active",
                "valid_from": today - dt.timedelta(days=30),
                "valid_until": today + dt.timedelta(days=365),
            }
        )
    for table, rows in ((User, users), (Household, households), (HouseholdAdult, adults), (Child, children)):
        for start in range(0, len(rows), BATCH):
            session.execute(insert(table), rows[start : start + BATCH])
    for start in range(0, len(cards), BATCH):
        session.execute(insert(Card), cards[start : start + BATCH])
    return [row["id"] for row in users]


def prepare(session: Session, city: City, secret: str, database_url: str, *, cards: int) -> Fixture:
    """Everything the load needs, in ``session``'s database (commit afterwards)."""
    now = dt.datetime.now(dt.UTC)
    credential_services.ensure_active_key(session, secret, now)
    partner = Partner(name="Bench Zoo", status=PartnerStatus.APPROVED.value, category="leisure")
    session.add(partner)
    session.flush()
    location = Location(partner_id=partner.id, name="Bench Zoo, main entrance")
    owner = User(
        email="owner@bench.example", display_name="Owner", role=Role.PARTNER_OWNER.value, partner_id=partner.id
    )
    session.add_all([location, owner])
    session.flush()
    benefit = Benefit(
        partner_id=partner.id,
        status=BenefitStatus.PUBLISHED.value,
        category="leisure",
        kind=BenefitKind.FREE_ENTRY.value,
        title={"de": "Freier Eintritt", "en": "Free entry"},
        published_at=now - dt.timedelta(days=1),
    )
    session.add(benefit)
    session.flush()
    session.execute(insert(benefit_locations), [{"benefit_id": benefit.id, "location_id": location.id}])
    token = api_keys.create_key(session, principal_for_user(owner), partner.id, "Bench till", location.id).token

    phones = []
    for user_id in _households(session, cards, city.today(now)):
        user = session.get(User, user_id)
        assert user is not None
        device = ec.generate_private_key(ec.SECP256R1())
        issued = activate_phone(
            session, principal_for_user(user), city, encode_device_key(device.public_key()), "Bench phone", now, secret
        )
        phones.append(Phone(issued.credential, str(device.private_numbers().private_value)))
        session.expunge_all()  # keeps the identity map small over thousands of cards
    keys = credential_services.published_keys(session, now)
    return Fixture(
        database_url=database_url,
        secret_key=secret,
        token=token,
        partner_id=str(partner.id),
        location_id=str(location.id),
        benefit_id=str(benefit.id),
        issuer_jwks=[public_jwk(key) for key in keys],
        phones=phones,
    )


def new_secret() -> str:
    return secrets.token_urlsafe(48)


def write_presentations(fixture: Fixture, path: Path, t: int | None = None) -> int:
    """Every phone's code drawn at ``t`` (now), one per line; returns the number written."""
    t = int(time.time()) if t is None else t
    lines = [phone.present(t) for phone in fixture.phones]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return len(lines)
