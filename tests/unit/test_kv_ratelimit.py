"""The shared key-value store and the rate limiter, on process memory and (when configured) on real Redis."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest

from familienkarte.errors import RateLimited, Unavailable
from familienkarte.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from familienkarte.ratelimit import LeasedLimiter, Limiter

STORES = ["memory"] + (["redis"] if os.environ.get("FK_REDIS_URL") else [])


@pytest.fixture(params=STORES)
async def kv(request: pytest.FixtureRequest) -> AsyncIterator[KeyValue]:
    store: KeyValue
    if request.param == "redis":
        store = RedisKeyValue(os.environ["FK_REDIS_URL"], f"fktest:{uuid.uuid4().hex}:")
    else:
        store = MemoryKeyValue()
    yield store
    await store.close()


async def test_values_expire_after_their_ttl() -> None:
    now = [1000.0]
    store = MemoryKeyValue(clock=lambda: now[0])
    await store.set("a", b"1", ttl=10)
    assert await store.get("a") == b"1"
    now[0] += 10.5
    assert await store.get("a") is None


async def test_set_get_delete(kv: KeyValue) -> None:
    await kv.set("k", b"value", ttl=60)
    assert await kv.get("k") == b"value"
    assert 0 < await kv.ttl("k") <= 60
    await kv.delete("k")
    assert await kv.get("k") is None


async def test_incr_counts_and_keeps_the_first_expiry(kv: KeyValue) -> None:
    assert await kv.incr("c", ttl=100) == 1
    assert await kv.incr("c", ttl=5) == 2
    assert await kv.incr("c", ttl=5, amount=10) == 12
    assert await kv.ttl("c") > 5


async def test_limiter_refuses_over_the_limit_and_says_how_long(kv: KeyValue) -> None:
    limiter = Limiter(kv, "test", limit=3, window=600)
    for _ in range(3):
        await limiter.consume("someone")
    with pytest.raises(RateLimited) as refused:
        await limiter.consume("someone")
    assert 0 < refused.value.retry_after <= 600
    assert refused.value.params["minutes"] == 10
    # Another subject is not affected, and a reset frees the first.
    await limiter.consume("someone-else")
    await limiter.reset("someone")
    await limiter.check("someone")


async def test_check_does_not_count(kv: KeyValue) -> None:
    limiter = Limiter(kv, "test", limit=1, window=60)
    for _ in range(5):
        await limiter.check("x")
    await limiter.consume("x")
    with pytest.raises(RateLimited):
        await limiter.check("x")


async def test_redis_down_is_unavailable_not_an_internal_error() -> None:
    store = RedisKeyValue("redis://127.0.0.1:1/0", "fk:")
    with pytest.raises(Unavailable):
        await store.get("anything")
    with pytest.raises(Unavailable):
        await store.incr("anything", ttl=5)
    await store.close()


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _counted(kv: KeyValue, name: str, subject: str) -> int:
    raw = await kv.get(f"rl:{name}:{subject}")
    return int(raw) if raw is not None else 0


async def test_leased_limiter_counts_a_quiet_till_one_by_one(kv: KeyValue) -> None:
    clock = _Clock()
    limiter = LeasedLimiter(kv, "scan", limit=600, window=60, clock=clock)
    for use in range(1, 6):
        await limiter.consume("till")
        assert await _counted(kv, "scan", "till") == use
        clock.now += 2  # a family every two seconds: each lease has run out before the next scan


async def test_leased_limiter_takes_bigger_leases_for_a_busy_till_and_wastes_little(kv: KeyValue) -> None:
    clock = _Clock()
    limiter = LeasedLimiter(kv, "scan", limit=100_000, window=60, clock=clock)
    assert limiter.max_lease == 64
    for _ in range(1000):
        await limiter.consume("till")
    counted = await _counted(kv, "scan", "till")
    # Counted in leases of 1, 2, 4, ... 64: far fewer round trips, and never more than one lease ahead.
    assert 1000 <= counted < 1000 + limiter.max_lease


async def test_leased_limiter_never_lets_more_than_the_limit_through(kv: KeyValue) -> None:
    clock = _Clock()
    limiter = LeasedLimiter(kv, "scan", limit=500, window=60, clock=clock)
    other = LeasedLimiter(kv, "scan", limit=500, window=60, clock=clock)  # a second web process
    allowed, retry_after = 0, []
    for use in range(700):
        try:
            await (limiter if use % 3 else other).consume("till")
        except RateLimited as refused:
            retry_after.append(refused.retry_after)
        else:
            allowed += 1
    assert allowed <= 500
    assert len(retry_after) == 700 - allowed
    assert all(0 < seconds <= 60 for seconds in retry_after)
    # Each process may have counted at most one lease it did not use.
    assert allowed >= 500 - 2 * limiter.max_lease


async def test_leased_limiter_drops_an_unused_lease_after_its_time(kv: KeyValue) -> None:
    clock = _Clock()
    limiter = LeasedLimiter(kv, "scan", limit=100_000, window=600, clock=clock)
    for _ in range(100):
        await limiter.consume("till")
    before = await _counted(kv, "scan", "till")
    clock.now += limiter.lease_seconds + 0.1
    await limiter.consume("till")
    # A new lease of one: the idle till counts exactly again.
    assert await _counted(kv, "scan", "till") == before + 1


async def test_leased_limiter_keeps_leases_taken_at_the_same_time(kv: KeyValue) -> None:
    clock = _Clock()
    limiter = LeasedLimiter(kv, "scan", limit=100_000, window=600, clock=clock)
    for _ in range(10):
        await limiter.consume("till")
    # Many requests of one till at once: every lease they take is kept, so nothing counted goes unused.
    await asyncio.gather(*(limiter.consume("till") for _ in range(500)))
    counted = await _counted(kv, "scan", "till")
    assert 510 <= counted < 510 + limiter.max_lease
