"""What one web process holds for its lifetime: settings, database engine, key-value store and limiters."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from familienkarte.db import Tx, make_async_engine
from familienkarte.kv import KeyValue, make_kv
from familienkarte.ratelimit import Limiter
from familienkarte.settings import Settings


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    tx: Tx
    kv: KeyValue
    # Failed sign-ins per account and per address; e-mailed sign-in links per address.
    login_limiter: Limiter
    login_ip_limiter: Limiter
    link_limiter: Limiter

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_async_engine(settings.effective_database_url)
        kv = make_kv(settings.redis_url, settings.redis_prefix)
        window = settings.login_window_seconds
        return cls(
            settings=settings,
            engine=engine,
            tx=Tx(async_sessionmaker(engine, expire_on_commit=False)),
            kv=kv,
            login_limiter=Limiter(kv, "login", settings.login_max_attempts, window),
            # One address may be shared (an office, a family's router): it gets more room than one account.
            login_ip_limiter=Limiter(kv, "login-ip", settings.login_max_attempts * 4, window),
            link_limiter=Limiter(kv, "login-link", settings.login_max_attempts, window),
        )

    async def close(self) -> None:
        await self.engine.dispose()
        await self.kv.close()
