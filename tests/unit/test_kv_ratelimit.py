"""The shared key-value store and the rate limiter, on process memory and (when configured) on real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from familienkarte.errors import RateLimited, Unavailable
from familienkarte.kv import KeyValue, MemoryKeyValue, RedisKeyValue
from familienkarte.ratelimit import Limiter

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
