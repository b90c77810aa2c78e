"""The Redis flood limiter serves waiters in arrival order, whichever process they are in,
and a waiter that gave up or died does not hold the queue (bot/flood_control.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot import flood_control
from bot.flood_control import FloodLimits, RedisFloodLimiter

pytestmark = pytest.mark.redis


async def queued(redis_client: Any, key: str, count: int) -> None:
    """Wait until ``count`` waiters are in the queue ``key`` (Redis has no notification)."""
    for _ in range(3000):
        if await redis_client.zcard(key) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} never held {count} waiters")


async def test_waiters_of_two_processes_on_one_chat_go_in_arrival_order(
    redis_client: Any, redis_prefix: str
) -> None:
    limits = FloodLimits(chat_interval=0.05, global_rate=30, poll=0.05)
    processes = [
        RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1) for _ in range(2)
    ]
    queue = f"{redis_prefix}flood:1:queue:chat:7"
    first = await processes[0].acquire("7")
    served: list[int] = []

    async def message(n: int) -> None:
        limiter = processes[n % 2]
        permit = await limiter.acquire("7")
        served.append(n)
        await limiter.release(permit)

    tasks = []
    for n in range(10):
        tasks.append(asyncio.create_task(message(n)))
        await queued(redis_client, queue, n + 1)  # n is in the queue before n + 1 asks
    await processes[0].release(first)
    await asyncio.gather(*tasks)

    assert served == list(range(10))
    assert await redis_client.exists(queue, f"{redis_prefix}flood:1:queue:all") == 0


async def test_near_the_global_limit_chats_are_served_in_arrival_order(
    redis_client: Any, redis_prefix: str
) -> None:
    # one slot: with k free slots the k oldest ready waiters may take them in any order
    limits = FloodLimits(chat_interval=0.0, global_rate=1, global_window=0.05, poll=0.05)
    limiter = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    holders = [await limiter.acquire("a")]
    served: list[int] = []

    async def message(n: int) -> None:
        permit = await limiter.acquire(f"chat{n}")
        served.append(n)
        await limiter.release(permit)

    tasks = []
    for n in range(12):
        tasks.append(asyncio.create_task(message(n)))
        await queued(redis_client, f"{redis_prefix}flood:1:queue:all", n + 1)
    for permit in holders:
        await limiter.release(permit)
    await asyncio.gather(*tasks)
    assert served == list(range(12))


async def test_a_cancelled_waiter_leaves_the_queue(redis_client: Any, redis_prefix: str) -> None:
    limits = FloodLimits(chat_interval=0.05, poll=0.05)
    limiter = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    queue = f"{redis_prefix}flood:1:queue:chat:3"
    first = await limiter.acquire("3")
    waiter = asyncio.create_task(limiter.acquire("3"))
    await queued(redis_client, queue, 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert await redis_client.zcard(queue) == 0
    await limiter.release(first)
    assert (await limiter.acquire("3")).chat == "3"


async def test_a_dead_waiter_is_dropped_from_the_queue(
    redis_client: Any, redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(flood_control, "_STALE_GRACE", 0.2)
    limits = FloodLimits(chat_interval=0.05, poll=0.05)
    limiter = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    first = await limiter.acquire("4")
    wait, _, _ = await limiter._try("4", "dead-waiter", 0)  # queues first, then never looks again
    assert wait > 0
    await limiter.release(first)
    permit = await limiter.acquire("4")  # served once the dead waiter is dropped
    await limiter.release(permit)
    queue = f"{redis_prefix}flood:1:queue:chat:4"
    assert await redis_client.zscore(queue, "dead-waiter") is None


async def test_a_released_chat_is_waited_for_with_one_more_look(
    redis_client: Any, redis_prefix: str
) -> None:
    """The wait for a chat whose previous message was answered is known on Redis' clock: the
    waiter sleeps it in one go and looks once more, instead of every ``poll``; the interval
    after the answer is kept."""
    limits = FloodLimits(chat_interval=0.3, poll=0.02)
    limiter = RedisFloodLimiter(redis_client, limits, prefix=redis_prefix, bot_id=1)
    looks: list[int] = []
    script = limiter._acquire

    async def counted(**kwargs: Any) -> Any:
        looks.append(1)
        return await script(**kwargs)

    limiter._acquire = counted  # type: ignore[assignment]
    await limiter.release(await limiter.acquire("5"))
    answered = time.monotonic()
    looks.clear()
    permit = await limiter.acquire("5")
    assert time.monotonic() - answered >= 0.3
    assert len(looks) == 2  # polled every 20 ms, it took about 15 looks
    await limiter.release(permit)
