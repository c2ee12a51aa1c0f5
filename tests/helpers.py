"""Helpers for tests that need a signed-in person without going through a sign-in page."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy.orm import Session

from familienkarte.accounts.models import User
from familienkarte.accounts.sessions import cookie_name
from familienkarte.benefits.models import Benefit
from familienkarte.partners.models import Location, Partner
from familienkarte.runtime import Runtime
from familienkarte.settings import Settings, load_settings

SESSION_TTL = 3600


def sign_in_as(client: TestClient[Litestar], user: User) -> str:
    """Give the client a server-side session of ``user``, as a sign-in would; returns its CSRF token."""
    runtime: Runtime = client.app.state["fk"]
    sid = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    now = time.time()
    payload: dict[str, Any] = {
        "user_id": str(user.id),
        "epoch": user.session_epoch or 0,
        "csrf": csrf,
        "_born": now,
        "_seen": now,
    }
    with client.portal() as portal:
        portal.call(runtime.kv.set, f"session:{sid}", json.dumps(payload).encode(), SESSION_TTL)
    sign_out(client)
    client.cookies.set(cookie_name(runtime.settings), sid, domain=_host(client))
    return csrf


def sign_out(client: TestClient[Litestar]) -> None:
    """Forget the client's session cookie (the session itself simply expires)."""
    client.cookies.delete(cookie_name(client.app.state["fk"].settings))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _host(client: TestClient[Litestar]) -> str:
    return urlsplit(str(client.base_url)).hostname or "testserver.local"


def make_test_settings(data_dir: Path, database_url: str, **extra: str) -> Settings:
    """Settings for a test: test mode, this run's database, and Redis when FK_REDIS_URL is set.

    Each call gets its own Redis key space, so sessions, rate limits and queued tasks never leak between tests.
    """
    env = {
        "FK_ENV": "test",
        "FK_DATA_DIR": str(data_dir),
        "FK_DATABASE_URL": database_url,
        "FK_LOG_FORMAT": "text",
        **extra,
    }
    if os.environ.get("FK_REDIS_URL"):
        env["FK_REDIS_URL"] = os.environ["FK_REDIS_URL"]
        env["FK_REDIS_PREFIX"] = f"fktest:{uuid.uuid4().hex[:12]}:"
    return load_settings(env)


def cli_env(data_dir: Path, database_url: str) -> dict[str, str | None]:
    """The environment of a command run in the test's process (``CliRunner``): test mode, this run's database, text
    logs and no Redis (None removes a variable the environment may hold)."""
    return {
        "FK_ENV": "test",
        "FK_DATA_DIR": str(data_dir),
        "FK_DATABASE_URL": database_url,
        "FK_LOG_FORMAT": "text",
        "FK_REDIS_URL": None,
    }


# --- partners, locations and benefits for the statistics tests ---

# When the partners, locations and benefits are set up: long before the tests' facts (the tests' clock is in the
# past, and a rollup rebuild looks for locations and benefits changed since its last run).
SET_UP_AT = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@dataclass(frozen=True)
class MadePartner:
    id: uuid.UUID
    locations: tuple[uuid.UUID, ...]
    benefits: tuple[uuid.UUID, ...]


def make_partner(
    s: Session,
    name: str,
    locations: Sequence[tuple[str, str | None]] = (),
    benefits: Sequence[Mapping[str, Any]] = (),
) -> MadePartner:
    """An approved partner with its locations, each (name, district), and its benefits: published free entries
    of category "culture" unless a benefit's fields say otherwise (``{"category": "sport", "title": {...}}``).
    Locations and benefits are set up at ``SET_UP_AT`` unless their fields say otherwise."""
    partner = Partner(name=name, status="approved")
    s.add(partner)
    s.flush()
    since = {"created_at": SET_UP_AT, "updated_at": SET_UP_AT}
    places = [Location(partner_id=partner.id, name=place, district=district, **since) for place, district in locations]
    defaults = {"category": "culture", "kind": "free_entry", "status": "published", **since}
    offers = [Benefit(partner_id=partner.id, **{**defaults, **fields}) for fields in benefits]
    s.add_all([*places, *offers])
    s.flush()
    return MadePartner(partner.id, tuple(place.id for place in places), tuple(offer.id for offer in offers))


@dataclass(frozen=True)
class Place:
    """The zoo of the rollup tests."""

    partner_id: uuid.UUID
    centre: uuid.UUID  # a location in "Innenstadt"
    outskirts: uuid.UUID  # a location without a district
    culture: uuid.UUID  # a benefit of category "culture"
    sport: uuid.UUID  # a benefit of category "sport"


def make_place(db: Callable[[], Session]) -> Place:
    """The zoo: a partner with a location in "Innenstadt", one without a district, a culture and a sport benefit."""
    with db() as s, s.begin():
        zoo = make_partner(
            s,
            "Zoo Köln",
            [("Zoo", "Innenstadt"), ("Zoo Außenstelle", None)],
            [{"category": "culture"}, {"category": "sport"}],
        )
    centre, outskirts = zoo.locations
    culture, sport = zoo.benefits
    return Place(zoo.id, centre, outskirts, culture, sport)


# A second household's application (fields over those of tests.integration.test_applications.form()).
OTHER_FAMILY = {
    "adult-0-first_name": "Lena",
    "adult-0-last_name": "Schwarzkopf",
    "adult-0-email": "lena.schwarzkopf@example.org",
    "adult-1-first_name": "Tomasz",
    "adult-1-last_name": "Nowak",
    "adult-1-email": "tomasz.nowak@example.org",
    "child-0-first_name": "Mila",
    "street": "Subbelrather Straße",
    "house_number": "7",
}
