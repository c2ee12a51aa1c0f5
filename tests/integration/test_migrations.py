"""The migrations build exactly the models' schema, on SQLite and on PostgreSQL, and can be undone.

Each test gets a database of its own (a new SQLite file, or a new database on the FK_TEST_DATABASE_URL server),
so the session's shared test database is never touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text

from familienkarte.db import NAMING_CONVENTION, make_sync_engine
from familienkarte.migrate import alembic_config, drift, upgrade
from familienkarte.models import Base
from tests.conftest import _postgres_database

VERSION_TABLE = "alembic_version"


@pytest.fixture
def empty_db(tmp_path: Path) -> Iterator[str]:
    server = os.environ.get("FK_TEST_DATABASE_URL")
    if server:
        yield from _postgres_database(server)
    else:
        yield f"sqlite:///{tmp_path / 'migrations.db'}"


@pytest.fixture
def engine(empty_db: str) -> Iterator[Engine]:
    engine = make_sync_engine(empty_db)
    yield engine
    engine.dispose()


def downgrade(url: str, revision: str) -> None:
    engine = make_sync_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar_one_or_none()


def revisions(url: str) -> list[str]:
    """Every revision from the first to head."""
    script = ScriptDirectory.from_config(alembic_config(url))
    return [rev.revision for rev in reversed(list(script.walk_revisions("base", "heads")))]


def head(url: str) -> str:
    heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
    assert len(heads) == 1, f"the migrations have {len(heads)} heads; merge them: {heads}"
    return heads[0]


def test_the_naming_convention_is_on_the_metadata() -> None:
    # Without it, constraints get names chosen by the database, and later migrations cannot drop them on SQLite.
    assert Base.metadata.naming_convention == NAMING_CONVENTION
    for key in ("ix", "uq", "ck", "fk", "pk"):
        assert key in Base.metadata.naming_convention


def test_every_constraint_and_index_of_the_models_has_a_conventional_name() -> None:
    wrong = []
    for table in Base.metadata.sorted_tables:
        for constraint in table.constraints:
            name = str(constraint.name or "")
            prefix = {
                "PrimaryKeyConstraint": "pk_",
                "ForeignKeyConstraint": "fk_",
                "UniqueConstraint": "uq_",
                "CheckConstraint": "ck_",
            }[type(constraint).__name__]
            if not name.startswith(prefix):
                wrong.append(f"{table.name}: {type(constraint).__name__} {name!r}")
        wrong += [
            f"{table.name}: index {index.name!r}" for index in table.indexes if not str(index.name).startswith("ix_")
        ]
    assert wrong == []


def test_upgrade_from_empty_builds_every_table_of_the_models(empty_db: str, engine: Engine) -> None:
    assert tables(engine) == set()
    upgrade(empty_db)
    assert tables(engine) == set(Base.metadata.tables) | {VERSION_TABLE}
    assert current_revision(engine) == head(empty_db)


def test_the_migrated_database_has_the_conventional_names(empty_db: str, engine: Engine) -> None:
    upgrade(empty_db)
    inspector = inspect(engine)
    wrong = []
    for table in inspector.get_table_names():
        if table == VERSION_TABLE:
            continue
        named = [("pk_", inspector.get_pk_constraint(table).get("name"))]
        named += [("fk_", fk.get("name")) for fk in inspector.get_foreign_keys(table)]
        named += [("uq_", uq.get("name")) for uq in inspector.get_unique_constraints(table)]
        # PostgreSQL lists the index behind each unique constraint too; its name is the constraint's.
        named += [("ix_", ix.get("name")) for ix in inspector.get_indexes(table) if "duplicates_constraint" not in ix]
        wrong += [f"{table}: {name!r}" for prefix, name in named if not str(name).startswith(prefix)]
    assert wrong == []


def test_models_and_migrations_do_not_drift(empty_db: str) -> None:
    upgrade(empty_db)
    assert drift(empty_db) is None


def test_drift_is_reported_when_the_schema_differs(empty_db: str, engine: Engine) -> None:
    # The check above is worth something only if it can fail: lose an index the models declare.
    upgrade(empty_db)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_users_partner_id"))
    difference = drift(empty_db)
    assert difference is not None
    assert "ix_users_partner_id" in difference


def test_downgrade_to_base_removes_everything_and_upgrade_works_again(empty_db: str, engine: Engine) -> None:
    upgrade(empty_db)
    downgrade(empty_db, "base")
    assert tables(engine) == {VERSION_TABLE}
    assert current_revision(engine) is None

    upgrade(empty_db)
    assert tables(engine) == set(Base.metadata.tables) | {VERSION_TABLE}
    assert drift(empty_db) is None


def test_every_revision_can_be_undone_and_redone(empty_db: str, engine: Engine) -> None:
    # One step at a time, so that a faulty downgrade is found in the revision that has it.
    for revision in revisions(empty_db):
        upgrade(empty_db, revision)
        before = tables(engine)
        downgrade(empty_db, "-1")
        upgrade(empty_db, revision)
        assert tables(engine) == before, revision
        assert current_revision(engine) == revision
    assert current_revision(engine) == head(empty_db)
