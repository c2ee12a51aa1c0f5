"""Alembic environment: one metadata, SQLite (batch mode) and PostgreSQL alike."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from familienkarte.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from familienkarte.db import make_sync_engine
    from familienkarte.settings import load_settings

    url = config.get_main_option("sqlalchemy.url") or load_settings().effective_database_url
    engine = make_sync_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("Offline SQL generation is not supported; run against a database.")
run_migrations_online()
