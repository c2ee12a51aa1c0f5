"""Fixed-window counters on the shared key-value store."""

from __future__ import annotations

from familienkarte.errors import RateLimited
from familienkarte.kv import KeyValue


class Limiter:
    def __init__(self, kv: KeyValue, name: str, limit: int, window: int) -> None:
        self.kv, self.name, self.limit, self.window = kv, name, limit, window

    def _key(self, subject: str) -> str:
        return f"rl:{self.name}:{subject}"

    async def check(self, subject: str) -> None:
        """Raise RateLimited when the subject has used up its window, without counting."""
        raw = await self.kv.get(self._key(subject))
        if raw is not None and int(raw) >= self.limit:
            raise RateLimited(retry_after=await self.kv.ttl(self._key(subject)) or self.window)

    async def hit(self, subject: str) -> int:
        return await self.kv.incr(self._key(subject), self.window)

    async def consume(self, subject: str) -> None:
        """Count one use and raise RateLimited when it is over the limit."""
        if await self.hit(subject) > self.limit:
            raise RateLimited(retry_after=await self.kv.ttl(self._key(subject)) or self.window)

    async def reset(self, subject: str) -> None:
        await self.kv.delete(self._key(subject))
