"""The data layer: metadata, base model, engines for the web (async) and the workers (sync), transactions.

Services are plain synchronous code on a ``Session``: the workers call them directly, the web handlers through
``Tx.run``, which runs them on the async engine's connection (``AsyncSession.run_sync``). One implementation
of every rule serves both.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, false, func, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DatabaseError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

from familienkarte.errors import Unavailable
from familienkarte.settings import ConfigError

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC on the way in and out, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime()}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_uuid() -> uuid.UUID:
    return uuid.uuid4()


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


def sync_url(url: str) -> str:
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        return str(u.set(drivername="sqlite"))
    return u.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def async_url(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return str(u.set(drivername="sqlite+aiosqlite"))
    return u.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def describe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _prepare_sqlite_path(url: str) -> None:
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)


def make_sync_engine(url: str, **kwargs: Any) -> Engine:
    _prepare_sqlite_path(url)
    engine = create_engine(sync_url(url), pool_pre_ping=True, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def make_async_engine(url: str, **kwargs: Any) -> AsyncEngine:
    _prepare_sqlite_path(url)
    if make_url(url).get_backend_name() != "sqlite":
        # Fail fast while PostgreSQL is down instead of hanging a till.
        kwargs.setdefault("connect_args", {"timeout": 5})
        kwargs.setdefault("pool_timeout", 5)
    kwargs.setdefault("pool_pre_ping", True)
    engine = create_async_engine(async_url(url), **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    else:
        event.listen(engine.sync_engine, "handle_error", _client_state_errors_are_disconnects)
    return engine


def _client_state_errors_are_disconnects(context: ExceptionContext) -> None:
    """asyncpg's InternalClientError ("cannot switch to state ...") comes from a connection whose server went away
    while it lay in the pool, before asyncpg noticed: a disconnect, so that the connection (and the pool's older
    ones) are replaced and Tx.run runs its service once more, as for any other dead connection."""
    dbapi = context.dialect.loaded_dbapi
    if isinstance(context.original_exception, getattr(dbapi, "InternalClientError", ())):
        context.is_disconnect = True


def explain_database_error(exc: BaseException, url: str) -> str:
    """One line naming the problem with the database and what to do."""
    where = describe_url(url)
    root = exc.__cause__ or getattr(exc, "orig", None) or exc
    if isinstance(root, sqlite3.DatabaseError) and "not a database" in str(root):
        path = make_url(url).database
        return (
            f"The SQLite file {path} is not a database (damaged or something else). "
            "Move it away and start again to create a new one."
        )
    detail = str(root).strip().splitlines()[0] if str(root).strip() else type(root).__name__
    return f"Cannot use the database at {where}: {detail}. Check FK_DATABASE_URL and that the server is running."


def check_database(engine: Engine, url: str) -> None:
    """Raise ConfigError with a clear line when the database cannot be reached or read."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            if engine.dialect.name == "sqlite":
                conn.execute(text("PRAGMA schema_version"))
    except (OperationalError, DatabaseError, InterfaceError, OSError) as exc:
        raise ConfigError(explain_database_error(exc, url)) from None


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def sqlite_write_lock(session: Session, anchor: type[Base]) -> None:
    """Take SQLite's write lock now rather than at the first write, waiting for it as long as busy_timeout allows.

    An UPDATE of ``anchor`` (any mapped class) that matches nothing still starts the transaction (the driver sends BEGIN
    before it) and takes the lock; reads after it are current until the transaction ends.
    """
    key = sa_inspect(anchor).primary_key[0]
    session.execute(update(anchor).where(false()).values({key.name: key}).execution_options(synchronize_session=False))


def serialise(session: Session, lock_id: int, anchor: type[Base]) -> None:
    """Serialise this transaction with every other one that asks for the same lock, until it ends.

    PostgreSQL: a transaction-scoped advisory lock ``lock_id``. SQLite has one writer at a time anyway: its write
    lock, taken through ``anchor``.
    """
    if is_postgresql(session):
        session.execute(select(func.pg_advisory_xact_lock(lock_id)))
    else:
        sqlite_write_lock(session, anchor)


class Tx:
    """Runs one service call in one transaction on the web's async engine."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    async def run(self, fn: Callable[[Session], T]) -> T:
        """``fn`` in a transaction. When its connection turned out dead (invalidated, e.g. the database restarted)
        before ``fn`` returned, nothing was committed, and ``fn`` runs once more on a new connection."""
        for attempt in (1, 2):
            returned = False
            try:
                async with self._sessionmaker() as session, session.begin():
                    result = await session.run_sync(fn)
                    returned = True
                return result
            except (DBAPIError, OSError) as exc:
                if attempt == 1 and not returned and isinstance(exc, DBAPIError) and exc.connection_invalidated:
                    continue
                if _is_connection_problem(exc):
                    raise Unavailable() from exc
                raise
        raise AssertionError("unreachable")

    async def read(self, fn: Callable[[Session], T]) -> T:
        """Like run, for reads: no commit needed, same error handling."""
        return await self.run(fn)


# SQLSTATE classes of a server that cannot be reached or is going down or starting up (asyncpg reports "the
# database system is not yet accepting connections", 57P03, as a plain DBAPIError).
_CONNECTION_SQLSTATES = ("08", "57P")


def _is_connection_problem(exc: BaseException) -> bool:
    if isinstance(exc, OSError | ConnectionError):
        return True
    if isinstance(exc, DBAPIError) and str(getattr(exc.orig, "sqlstate", None) or "").startswith(_CONNECTION_SQLSTATES):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        if exc.connection_invalidated:
            return True
        message = str(exc).lower()
        return any(
            word in message
            for word in ("connect", "connection", "terminating", "server closed", "shutting down", "timeout")
        )
    return False


def make_sync_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def sync_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    with factory() as session, session.begin():
        yield session
