"""Fixed-window counters on the shared key-value store.

While the shared store (Redis) cannot be reached, every process counts in its own memory instead: a limit then
holds per web process rather than across all of them, and a till keeps working. The memory's counts start from
zero when Redis goes and are dropped when it answers again (Redis has its own, or none after a restart). Each
process tries Redis again at most every ``RETRY_SHARED_SECONDS``, so an unreachable Redis that times out costs a
request its timeout at most that often.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from familienkarte.errors import RateLimited, Unavailable
from familienkarte.kv import KeyValue, MemoryKeyValue

log = logging.getLogger("familienkarte.ratelimit")

T = TypeVar("T")

RETRY_SHARED_SECONDS: Final = 5.0


class _LocalFallback:
    """This process's counters while the shared store is down, shared by every limiter of the process."""

    def __init__(self) -> None:
        self.store = MemoryKeyValue()
        self.down_until = 0.0

    async def run(self, kv: KeyValue, use: Callable[[KeyValue], Awaitable[T]]) -> T:
        if isinstance(kv, MemoryKeyValue):
            return await use(kv)
        if time.monotonic() >= self.down_until:
            try:
                result = await use(kv)
            except Unavailable:
                if not self.down_until:
                    log.warning("the shared store is unreachable: rate limits count in this process until it is back")
                self.down_until = time.monotonic() + RETRY_SHARED_SECONDS
            else:
                if self.down_until:
                    log.warning("the shared store is back: rate limits are shared again")
                    self.down_until = 0.0
                    await self.store.close()
                return result
        return await use(self.store)


_fallback = _LocalFallback()


def limit_key(name: str, subject: str) -> str:
    """The shared store's key of ``subject``'s count under the limit ``name`` (both kinds of limiter)."""
    return f"rl:{name}:{subject}"


class Limiter:
    def __init__(self, kv: KeyValue, name: str, limit: int, window: int) -> None:
        self.kv, self.name, self.limit, self.window = kv, name, limit, window

    def _key(self, subject: str) -> str:
        return limit_key(self.name, subject)

    async def check(self, subject: str) -> None:
        """Raise RateLimited when the subject has used up its window, without counting."""
        key = self._key(subject)

        async def check(kv: KeyValue) -> None:
            raw = await kv.get(key)
            if raw is not None and int(raw) >= self.limit:
                raise RateLimited(retry_after=await kv.ttl(key) or self.window)

        await _fallback.run(self.kv, check)

    async def hit(self, subject: str) -> int:
        key = self._key(subject)
        return await _fallback.run(self.kv, lambda kv: kv.incr(key, self.window))

    async def consume(self, subject: str) -> None:
        """Count one use and raise RateLimited when it is over the limit."""
        key = self._key(subject)

        async def consume(kv: KeyValue) -> None:
            if await kv.incr(key, self.window) > self.limit:
                raise RateLimited(retry_after=await kv.ttl(key) or self.window)

        await _fallback.run(self.kv, consume)

    async def reset(self, subject: str) -> None:
        key = self._key(subject)
        await _fallback.run(self.kv, lambda kv: kv.delete(key))


class LeasedLimiter:
    """A generous fixed-window limit (a till's scans) counted in the shared store by leases rather than one
    round trip per use.

    Each process takes a lease of uses at a time (``INCRBY``) and spends it in memory. The lease starts at one use
    and doubles while the process uses its leases up within ``lease_seconds``, up to ``max_lease``; a quiet till
    counts one by one, exactly like :class:`Limiter`. A lease not used up within ``lease_seconds`` is dropped, so
    uses counted but not made are at most ``max_lease`` per process and subject: a subject may be refused that much
    early, never let through more than the limit (plus leases taken in the window before, when a window ends while
    a process still holds one). A lease is granted only up to what the window has left.
    """

    def __init__(
        self, kv: KeyValue, name: str, limit: int, window: int, *, lease_seconds: float = 1.0, clock: Any = None
    ) -> None:
        self.kv, self.name, self.limit, self.window = kv, name, limit, window
        # At most 2 % of the limit held per process, so that leases taken and not used cost a subject little.
        self.max_lease = max(1, min(64, limit // 50))
        self.lease_seconds = lease_seconds
        self._clock: Callable[[], float] = clock or time.monotonic
        self._leases: dict[str, _Lease] = {}
        self._refills: dict[str, asyncio.Event] = {}

    async def consume(self, subject: str) -> None:
        """Count one use and raise RateLimited when the window has none left."""
        while True:
            now = self._clock()
            lease = self._leases.get(subject)
            if lease is not None and now < lease.until and lease.left > 0:
                lease.left -= 1
                return
            refill = self._refills.get(subject)
            if refill is None:
                break
            # Another request of this subject is taking a lease: wait for it rather than take one more each.
            await refill.wait()
        # A lease used up in time means a busy till: take twice as much at once. Otherwise one by one.
        size = min(lease.size * 2, self.max_lease) if lease is not None and now < lease.until else 1
        done = self._refills[subject] = asyncio.Event()
        try:
            await self._take(subject, size, now)
        finally:
            del self._refills[subject]
            done.set()

    async def _take(self, subject: str, size: int, now: float) -> None:
        key = limit_key(self.name, subject)
        count = await _fallback.run(self.kv, lambda kv: kv.incr(key, self.window, size))
        granted = min(size, self.limit - (count - size))
        if granted <= 0:
            self._leases.pop(subject, None)
            retry_after = await _fallback.run(self.kv, lambda kv: kv.ttl(key))
            raise RateLimited(retry_after=retry_after or self.window)
        if len(self._leases) > 10_000:
            self._leases = {held: lease for held, lease in self._leases.items() if now < lease.until}
        self._leases[subject] = _Lease(left=granted - 1, size=size, until=now + self.lease_seconds)


@dataclass
class _Lease:
    left: int
    size: int
    until: float
