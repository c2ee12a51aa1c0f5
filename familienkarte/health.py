"""Readiness checks: can this process reach its database and its broker?"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from familienkarte.kv import KeyValue

log = logging.getLogger("familienkarte.health")
CHECK_TIMEOUT = 3.0


@dataclass(frozen=True)
class Readiness:
    checks: dict[str, str]

    @property
    def ready(self) -> bool:
        return all(value == "ok" for value in self.checks.values())

    @property
    def failing(self) -> list[str]:
        return [name for name, value in self.checks.items() if value != "ok"]


async def _database(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _broker_sync(url: str) -> None:
    # Kombu's own connection check works for every transport we accept (Redis, AMQP, the SQLite transport).
    from kombu.connection import Connection

    with Connection(  # type: ignore[no-untyped-call]
        url, connect_timeout=CHECK_TIMEOUT, transport_options={"max_retries": 0}
    ) as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)


async def _run(name: str, coro: object) -> tuple[str, str]:
    try:
        await asyncio.wait_for(coro, CHECK_TIMEOUT + 1)  # type: ignore[arg-type]
    except Exception as exc:
        log.warning("readiness check %s failed: %s", name, exc)
        return name, "unavailable"
    return name, "ok"


async def check_readiness(engine: AsyncEngine, broker_url: str, kv: KeyValue, uses_redis: bool) -> Readiness:
    checks = [
        _run("database", _database(engine)),
        _run("broker", asyncio.to_thread(_broker_sync, broker_url)),
    ]
    if uses_redis:
        checks.append(_run("redis", kv.ping()))
    results = await asyncio.gather(*checks)
    return Readiness(dict(results))


def broker_kind(url: str) -> str:
    return urlsplit(url).scheme.split("+")[0]
