"""The Redis adapters against a real Redis: drafts, per-chat locks, update de-duplication."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from domain.ports import LockTimeout
from storage.redis_store import RedisChatLock, RedisConversationStore, RedisUpdateDeduper
from tests.integration.test_storage_conversations import (
    check_mutual_exclusion,
    check_round_trip,
    record,
)

pytestmark = pytest.mark.redis


async def test_conversation_store_round_trip_with_ttl(redis_client: Any, redis_prefix: str) -> None:
    store = RedisConversationStore(redis_client, prefix=redis_prefix, ttl=timedelta(hours=2))
    await check_round_trip(store)
    key = f"{redis_prefix}conv:chat:2:user:2"
    assert 7000 < await redis_client.ttl(key) <= 7200
    other = RedisConversationStore(redis_client, prefix=redis_prefix + "other:")
    assert await other.get("chat:2:user:2") is None  # prefixes keep deployments apart


async def test_conversation_store_keeps_timezones_and_unicode(
    redis_client: Any, redis_prefix: str
) -> None:
    store = RedisConversationStore(redis_client, prefix=redis_prefix)
    saved = record(data={"name": "Nguyễn Văn An", "nested": {"list": [1, 2, None]}})
    await store.put(saved)
    loaded = await store.get(saved.key)
    assert loaded == saved
    assert loaded is not None and loaded.updated_at.utcoffset() == timedelta(0)


async def test_lock_excludes_per_chat(redis_client: Any, redis_prefix: str) -> None:
    await check_mutual_exclusion(RedisChatLock(redis_client, prefix=redis_prefix))
    assert await redis_client.keys(f"{redis_prefix}lock:*") == []  # all released


async def test_lock_times_out_and_is_released_on_error(
    redis_client: Any, redis_prefix: str
) -> None:
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=0.1)
    async with lock.lock("c"):
        with pytest.raises(LockTimeout):
            async with lock.lock("c"):
                pass  # pragma: no cover
    with pytest.raises(RuntimeError):
        async with lock.lock("c"):
            raise RuntimeError
    async with lock.lock("c"):
        pass


async def test_an_expired_holder_does_not_release_the_next_holders_lock(
    redis_client: Any, redis_prefix: str
) -> None:
    short = RedisChatLock(redis_client, prefix=redis_prefix, ttl=0.1, wait_timeout=2)
    key = f"{redis_prefix}lock:c"
    second_in = asyncio.Event()
    second_may_leave = asyncio.Event()

    async def slow_first() -> None:
        async with short.lock("c"):
            await second_in.wait()  # the lock expired and the second took it
        # leaving released nothing: the key is the second holder's
        assert await redis_client.exists(key) == 1
        second_may_leave.set()

    async def second() -> None:
        await asyncio.sleep(0.02)
        async with short.lock("c"):
            second_in.set()
            await second_may_leave.wait()
            assert await redis_client.exists(key) == 1

    await asyncio.wait_for(asyncio.gather(slow_first(), second()), timeout=5)
    assert await redis_client.exists(key) == 0


async def test_deduper_marks_each_update_once(redis_client: Any, redis_prefix: str) -> None:
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix, ttl=timedelta(minutes=5))
    results = await asyncio.gather(*(deduper.seen(42) for _ in range(5)))
    assert sorted(results) == [False, True, True, True, True]
    assert await deduper.seen(43) is False
    assert 0 < await redis_client.ttl(f"{redis_prefix}update:42") <= 300
    await deduper.forget(42)
    assert await deduper.seen(42) is False
    assert await deduper.seen(42) is True
