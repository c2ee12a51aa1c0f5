"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with FK_TEST_DATABASE_URL), the app, users.

The schema is always built by the migrations, never by ``create_all``, so the tests also prove the migrations.
Each test starts from empty tables.
"""

from __future__ import annotations

import functools
import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import create_engine, delete, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from familienkarte import models
from familienkarte.accounts.models import User
from familienkarte.accounts.passwords import hash_password
from familienkarte.accounts.roles import PARTNER_ROLES, Role
from familienkarte.db import make_sync_engine, make_sync_sessionmaker, sync_url
from familienkarte.migrate import upgrade
from familienkarte.partners.models import Location, Partner
from familienkarte.settings import Settings

PASSWORD = "correct horse battery staple"
BASE_URL = "https://testserver.local"


def _postgres_database(server_url: str) -> Iterator[str]:
    """A fresh database on the PostgreSQL server for this test session, dropped afterwards."""
    name = f"fk_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(sync_url(server_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = os.environ.get("FK_TEST_DATABASE_URL")
    if server:
        yield from _postgres_database(server)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def migrated_db(db_url: str) -> str:
    upgrade(db_url)
    return db_url


@pytest.fixture(scope="session")
def sync_engine(migrated_db: str) -> Iterator[Any]:
    engine = make_sync_engine(migrated_db)
    yield engine
    engine.dispose()


def _empty_all_tables(engine: Any) -> None:
    with engine.begin() as conn:
        for table in reversed(models.Base.metadata.sorted_tables):
            conn.execute(delete(table))


@pytest.fixture
def db(sync_engine: Any) -> Iterator[Callable[[], Session]]:
    """A session factory on the migrated database; every table is emptied after the test."""
    factory = make_sync_sessionmaker(sync_engine)
    yield factory
    _empty_all_tables(sync_engine)


@pytest.fixture
def settings(migrated_db: str, tmp_path: Path) -> Settings:
    from tests.helpers import make_test_settings

    return make_test_settings(tmp_path / "var", migrated_db, FK_BASE_URL=BASE_URL)


@pytest.fixture
def app(settings: Settings, db: Callable[[], Session]) -> Litestar:
    from familienkarte.app import create_app

    return create_app(settings)


@pytest.fixture
def client(app: Litestar) -> Iterator[TestClient[Litestar]]:
    with TestClient(app, base_url=BASE_URL) as test_client:
        yield test_client


@pytest.fixture
def make_partner(db: Callable[[], Session]) -> Callable[..., Partner]:
    def make(name: str = "Zoo Köln", status: str = "approved", locations: int = 1) -> Partner:
        with db() as session, session.begin():
            partner = Partner(name=name, status=status)
            session.add(partner)
            session.flush()
            for index in range(locations):
                session.add(Location(partner_id=partner.id, name=f"{name} {index + 1}"))
        return partner

    return make


@functools.cache
def _password_hash(password: str) -> str:
    # argon2 is slow on purpose; the same password's hash is made once per test run.
    return hash_password(password)


@pytest.fixture
def make_user(db: Callable[[], Session], make_partner: Callable[..., Partner]) -> Callable[..., User]:
    """A user with the given role; partner roles get a partner of their own unless one is given."""

    def make(
        role: Role | str = Role.ADMIN,
        email: str | None = None,
        password: str | None = PASSWORD,
        partner: Partner | None = None,
        **fields: Any,
    ) -> User:
        role = Role(role)
        if role in PARTNER_ROLES and partner is None:
            partner = make_partner()
        with db() as session, session.begin():
            user = User(
                email=email or f"{role.value}-{uuid.uuid4().hex[:8]}@example.org",
                display_name=fields.pop("display_name", role.value.title()),
                role=role.value,
                partner_id=partner.id if partner else None,
                password_hash=_password_hash(password) if password and role != Role.FAMILY else None,
                **fields,
            )
            session.add(user)
        return user

    return make


def csrf_from(html: str) -> str:
    """The CSRF token of the first form on a page."""
    marker = 'name="csrf_token" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]
