"""What one web process holds for its lifetime: settings, database engine, key-value store, limiters and the
batched log of verifications."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from familienkarte.catalogue.counts import CATALOGUE_COUNTS, CatalogueCounts
from familienkarte.credentials.services import VERIFIER_CACHE, VerifierCache
from familienkarte.db import Tx, make_async_engine
from familienkarte.kv import KeyValue, make_kv
from familienkarte.ratelimit import LeasedLimiter, Limiter
from familienkarte.redemptions.batching import CardRowLoader, RedemptionBatcher
from familienkarte.redemptions.memory import PointOfSaleMemory
from familienkarte.redemptions.verification_log import VerificationLog
from familienkarte.settings import Settings

# Connections each web process keeps open to PostgreSQL. With SQLAlchemy's default (5 kept open, 10 more when
# busy), a busy till's requests beyond five at a time each opened a connection and closed it again, which costs
# more than the request itself. Now busy requests wait for a free connection (at most the pool timeout) instead.
# Two web processes use 20 of PostgreSQL's default 100 connections.
POOL_SIZE: Final = 10
POOL_OVERFLOW: Final = 0
# A partner's typed card numbers together may reach this many times one till's limit.
TYPING_TILLS: Final = 5


def _pool(url: str) -> dict[str, int | bool]:
    if make_url(url).get_backend_name() == "sqlite":
        return {}
    # No pre-ping: it cost three round trips (BEGIN, a ping, ROLLBACK) on every checkout, as much as a till's whole
    # redemption. A connection that died in the pool fails its first statement instead; SQLAlchemy then replaces
    # it and every older one, and Tx.run runs the service once more on a new connection (asyncpg's
    # InternalClientError counts as such a disconnect: familienkarte.db). tests/integration/test_pos_memory.py
    # and test_faults_database.py kill the connections and restart the server under load.
    return {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_pre_ping": False}


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
    # A till's verifications and redemptions (generous, counted in leases), and card numbers typed by hand (tight,
    # counted one by one): per API key or cashier.
    pos_scan_limiter: LeasedLimiter
    pos_typed_limiter: Limiter
    # Typed numbers of all a partner's keys and cashiers together: more keys or cashiers do not multiply guesses.
    pos_typed_partner_limiter: Limiter
    # Verification statistics, written in batches by a background thread (flushed and stopped in close).
    verification_log: VerificationLog
    # The issuer keys and status lists every session of the process verifies with, and what every scan at a till
    # reads (partners, locations, benefits, cards): remembered for a few seconds (see their modules).
    verifier: VerifierCache
    pos_memory: PointOfSaleMemory
    # Redemptions waiting at the same moment share a transaction, and scans of cards not remembered read their
    # rows together (see their module).
    redemptions: RedemptionBatcher
    card_rows: CardRowLoader

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        engine = make_async_engine(settings.effective_database_url, **_pool(settings.effective_database_url))
        kv = make_kv(settings.redis_url, settings.redis_prefix)
        window = settings.login_window_seconds
        verifier = VerifierCache()
        pos_memory = PointOfSaleMemory()
        # Every session of the web process verifies with the process's remembered keys and status lists, and reads
        # the catalogue's counts it remembers.
        counts = CatalogueCounts(settings.catalogue_cache_seconds)
        tx = Tx(
            async_sessionmaker(
                engine, expire_on_commit=False, info={VERIFIER_CACHE: verifier, CATALOGUE_COUNTS: counts}
            )
        )
        return cls(
            settings=settings,
            engine=engine,
            tx=tx,
            kv=kv,
            login_limiter=Limiter(kv, "login", settings.login_max_attempts, window),
            # One address may be shared (an office, a family's router): it gets more room than one account.
            login_ip_limiter=Limiter(kv, "login-ip", settings.login_max_attempts * 4, window),
            link_limiter=Limiter(kv, "login-link", settings.login_max_attempts, window),
            pos_scan_limiter=LeasedLimiter(kv, "pos-scan", *settings.pos_scan_limit),
            pos_typed_limiter=Limiter(kv, "pos-typed", *settings.pos_typed_limit),
            pos_typed_partner_limiter=Limiter(
                kv, "pos-typed-partner", settings.pos_typed_limit[0] * TYPING_TILLS, settings.pos_typed_limit[1]
            ),
            verification_log=VerificationLog.for_database(settings.effective_database_url),
            verifier=verifier,
            pos_memory=pos_memory,
            redemptions=RedemptionBatcher(tx),
            card_rows=CardRowLoader(tx, pos_memory),
        )

    async def close(self) -> None:
        # First the statistics still held (a blocking write, off the event loop), then the connections.
        await asyncio.to_thread(self.verification_log.close)
        await self.engine.dispose()
        await self.kv.close()
