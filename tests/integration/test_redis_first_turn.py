"""The update gate's first read takes the turn's lock of the sender's private chat
(``bot.contacts.RedisFirstRead`` with the turns, ``RedisUpdateTurns.first_read``): the turn of
that update starts from it, one round trip fewer; a lock no turn took is released by the gate
(real Redis)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.contacts import ContactRecorder, RedisContactCache, RedisFirstRead
from bot.metrics import Metrics
from bot.middlewares import UpdateGate
from storage.redis_turns import RedisUpdateTurns
from tests.integration.test_redis_gate import Recorded, message, nobody_blocked
from tests.integration.test_redis_turns import counting, make, parts
from tests.integration.test_storage_conversations import record

pytestmark = pytest.mark.redis

BOT = 7
USER = 42
KEY = f"{BOT}:{USER}"


def gate_of(redis_client: Any, prefix: str) -> tuple[UpdateGate, RedisUpdateTurns, Recorded]:
    turns = make(redis_client, prefix)
    cache = RedisContactCache(redis_client, prefix)
    recorded = Recorded()
    recorder = ContactRecorder(recorded, cache, blocked=nobody_blocked)  # type: ignore[arg-type]
    first_read = RedisFirstRead(redis_client, turns.deduper, cache, turns, BOT)
    return UpdateGate(turns.deduper, Metrics(), recorder, first_read), turns, recorded


async def nothing_held(redis_client: Any, prefix: str) -> bool:
    held = await redis_client.keys(f"{prefix}lock:*") + await redis_client.keys(f"{prefix}queue:*")
    return not held


async def test_the_turn_starts_from_the_lock_the_first_read_took(
    redis_client: Any, redis_prefix: str
) -> None:
    gate, turns, recorded = gate_of(redis_client, redis_prefix)
    store, journal = parts(turns)
    await store.put(record(KEY, version=1))
    seen: list[Any] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        key = f"{BOT}:{event.message.chat.id}"
        async with turns.turn(key, event.update_id) as turn:
            seen.append(await store.get(key))
            await store.put(record(key, version=event.update_id))
            turn.finished = True

    await gate(handler, message(10, 43), {})  # another user's: the scripts loaded
    seen.clear()
    with counting(redis_client) as calls:
        await gate(handler, message(11, USER), {})  # a new sender: recorded, cached
    # the first read with the lock and the draft, the contact cache, the turn's end
    assert calls == ["EVALSHA", "SET", "EVALSHA"]
    with counting(redis_client) as calls:
        await gate(handler, message(12, USER), {})
    assert calls == ["EVALSHA", "EVALSHA"]
    assert seen == [record(KEY, version=1), record(KEY, version=11)]
    assert await store.get(KEY) == record(KEY, version=12)
    assert await redis_client.exists(turns.deduper.key(11), turns.deduper.key(12)) == 2
    assert await journal.load(12) == {}
    assert [c.user_id for c in recorded.contacts] == [43, USER]
    assert await redis_client.keys(f"{redis_prefix}queue:*") == []
    assert await redis_client.keys(f"{redis_prefix}lock:{KEY}") == []


async def test_a_lock_no_turn_took_is_released(redis_client: Any, redis_prefix: str) -> None:
    gate, turns, _ = gate_of(redis_client, redis_prefix)
    handled: list[int] = []

    async def no_turn(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)

    async def other_chat(event: Any, data: dict[str, Any]) -> None:
        async with turns.turn(f"{BOT}:99", event.update_id) as turn:
            turn.finished = True

    async def fails(event: Any, data: dict[str, Any]) -> None:
        raise RuntimeError("the handler failed")

    await gate(no_turn, message(21, USER), {})
    assert handled == [21]
    assert await nothing_held(redis_client, redis_prefix)
    await gate(other_chat, message(22, USER), {})
    assert await nothing_held(redis_client, redis_prefix)
    with pytest.raises(RuntimeError):
        await gate(fails, message(23, USER), {})
    assert await nothing_held(redis_client, redis_prefix)
    # the chat is free at once for the next update's turn
    with counting(redis_client) as calls:
        async with turns.turn(KEY, 24) as turn:
            turn.finished = True
    assert calls == ["EVALSHA", "EVALSHA"]


async def test_a_repeat_takes_nothing(redis_client: Any, redis_prefix: str) -> None:
    gate, _, _ = gate_of(redis_client, redis_prefix)
    await make(redis_client, redis_prefix).deduper.mark_done(31)  # another replica's mark
    handled: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)  # pragma: no cover

    await gate(handler, message(31, USER), {})
    assert handled == []
    assert await nothing_held(redis_client, redis_prefix)


async def test_a_busy_chat_is_waited_for_in_the_turn(redis_client: Any, redis_prefix: str) -> None:
    gate, turns, _ = gate_of(redis_client, redis_prefix)
    order: list[str] = []
    holding, release = asyncio.Event(), asyncio.Event()

    async def earlier_update() -> None:  # another replica's turn of an earlier update
        async with make(redis_client, redis_prefix).turn(KEY, 40) as turn:
            holding.set()
            await release.wait()
            order.append("earlier")
            turn.finished = True

    async def handler(event: Any, data: dict[str, Any]) -> None:
        async with turns.turn(KEY, event.update_id) as turn:
            order.append("later")
            turn.finished = True

    other = asyncio.create_task(earlier_update())
    await holding.wait()
    later = asyncio.create_task(gate(handler, message(41, USER), {}))
    await asyncio.sleep(0.1)
    assert order == []  # queued behind the holder
    release.set()
    await asyncio.gather(other, later)
    assert order == ["earlier", "later"]
    assert await nothing_held(redis_client, redis_prefix)
