"""Shared short-lived state (sessions, rate limits): Redis when configured, process memory in the embedded mode.

Redis is what makes several web processes share sessions and limits; the memory store is the real product mode
for the single process of the one-command demo.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable, Coroutine
from typing import Any, ParamSpec, Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from familienkarte.errors import Unavailable

P = ParamSpec("P")
R = TypeVar("R")


class KeyValue(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl: int) -> None: ...
    async def delete(self, key: str) -> None: ...
    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        """Add ``amount`` and return the count; the key expires ttl seconds after its first increment."""
        ...

    async def ttl(self, key: str) -> int: ...
    async def ping(self) -> None: ...
    async def close(self) -> None: ...


class MemoryKeyValue:
    def __init__(self, clock: object = time.monotonic) -> None:
        self._data: dict[str, tuple[bytes, float]] = {}
        self._lock = asyncio.Lock()
        self._clock = clock

    def _now(self) -> float:
        return float(self._clock())  # type: ignore[operator]

    def _live(self, key: str) -> tuple[bytes, float] | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._now():
            del self._data[key]
            return None
        return item

    async def get(self, key: str) -> bytes | None:
        item = self._live(key)
        return item[0] if item else None

    async def set(self, key: str, value: bytes, ttl: int) -> None:
        self._data[key] = (value, self._now() + ttl)
        if len(self._data) > 10_000:
            for stale in [k for k, (_v, exp) in self._data.items() if exp <= self._now()]:
                del self._data[stale]

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        async with self._lock:
            item = self._live(key)
            if item is None:
                self._data[key] = (str(amount).encode(), self._now() + ttl)
                return amount
            count = int(item[0]) + amount
            self._data[key] = (str(count).encode(), item[1])
            return count

    async def ttl(self, key: str) -> int:
        item = self._live(key)
        return max(0, int(item[1] - self._now())) if item else 0

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        self._data.clear()


def _unavailable_when_down(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, Coroutine[Any, Any, R]]:
    """Redis down is a 503 "briefly unavailable" for the person, not an internal error."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise Unavailable() from exc

    return wrapper


# Count and set the expiry in one command (a script runs atomically): cheaper for every rate-limited request
# than a MULTI/EXEC transaction of two commands. NX keeps the expiry of the window's first increment.
_INCR_SCRIPT = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
return count
"""


class RedisKeyValue:
    def __init__(self, url: str, prefix: str) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
        self._prefix = prefix
        self._incr = self._redis.register_script(_INCR_SCRIPT)

    def _k(self, key: str) -> str:
        return self._prefix + key

    @_unavailable_when_down
    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(self._k(key))
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else bytes(value)

    @_unavailable_when_down
    async def set(self, key: str, value: bytes, ttl: int) -> None:
        await self._redis.set(self._k(key), value, ex=ttl)

    @_unavailable_when_down
    async def delete(self, key: str) -> None:
        await self._redis.delete(self._k(key))

    @_unavailable_when_down
    async def incr(self, key: str, ttl: int, amount: int = 1) -> int:
        return int(await self._incr(keys=[self._k(key)], args=[ttl, amount]))

    @_unavailable_when_down
    async def ttl(self, key: str) -> int:
        return max(0, int(await self._redis.ttl(self._k(key))))

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()


def make_kv(redis_url: str, prefix: str) -> KeyValue:
    return RedisKeyValue(redis_url, prefix) if redis_url else MemoryKeyValue()
