"""The update gate on Redis: the de-duplication check and the contact cache's read are one
round trip (bot.contacts.RedisFirstRead), with what each did apart kept."""

from __future__ import annotations

from typing import Any

import pytest
from aiogram.types import Update

from bot.contacts import ContactRecorder, RedisContactCache, RedisFirstRead
from bot.metrics import Metrics
from bot.middlewares import UpdateGate
from domain.usecases.outbox import Contact
from storage.redis_store import RedisUpdateDeduper
from tests.integration.test_redis_turns import counting

pytestmark = pytest.mark.redis


def message(update_id: int, user_id: int, first_name: str = "Lan") -> Update:
    user = {"id": user_id, "is_bot": False, "first_name": first_name}
    return Update.model_validate(
        {
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "chat": {"id": user_id, "type": "private"},
                "from": user,
                "text": "/help",
            },
        }
    )


class Recorded:
    def __init__(self) -> None:
        self.contacts: list[Contact] = []

    async def __call__(self, contact: Contact) -> None:
        self.contacts.append(contact)


async def nobody_blocked(user_id: int) -> None:
    raise AssertionError("no one blocked the bot")  # pragma: no cover


async def test_the_gate_asks_once_records_new_senders_and_skips_repeats(
    redis_client: Any, redis_prefix: str
) -> None:
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
    cache = RedisContactCache(redis_client, redis_prefix)
    recorded = Recorded()
    recorder = ContactRecorder(recorded, cache, blocked=nobody_blocked)  # type: ignore[arg-type]
    metrics = Metrics()
    first_read = RedisFirstRead(redis_client, deduper, cache)
    gate = UpdateGate(deduper, metrics, recorder, first_read)
    handled: list[int] = []
    assert await first_read(1, 42) == (False, None)  # (the script loaded)

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)

    with counting(redis_client) as calls:
        await gate(handler, message(1, 42), {})  # a new sender: recorded, cached
        assert calls == ["EVALSHA", "SET", "SET"]  # the first read, the cache, the done mark
        del calls[:]
        await gate(handler, message(2, 42), {})  # known and unchanged: not written again
        assert calls == ["EVALSHA", "SET"]
        del calls[:]
        await gate(handler, message(3, 42, "Lan Anh"), {})  # a changed profile is written
        del calls[:]
        other_replica = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
        await other_replica.mark_done(4)
        await gate(handler, message(4, 42), {})  # handled elsewhere: skipped
        assert calls[-1:] == ["EVALSHA"]
    assert handled == [1, 2, 3]
    assert [c.first_name for c in recorded.contacts] == ["Lan", "Lan Anh"]
    assert await cache.get(42) == "Lan Anh\x1f\x1f"
    assert metrics.duplicates._value.get() == 1


async def test_the_gate_asks_apart_when_the_first_read_fails(
    redis_client: Any, redis_prefix: str
) -> None:
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
    cache = RedisContactCache(redis_client, redis_prefix)
    recorded = Recorded()
    recorder = ContactRecorder(recorded, cache, blocked=nobody_blocked)  # type: ignore[arg-type]

    class Broken:
        async def __call__(self, update_id: int, user_id: int) -> tuple[bool, str | None]:
            raise ConnectionError("no script")

        async def leave(self) -> None:  # pragma: no cover
            raise AssertionError("nothing was read")

    gate = UpdateGate(deduper, Metrics(), recorder, Broken())
    handled: list[int] = []

    async def handler(event: Any, data: dict[str, Any]) -> None:
        handled.append(event.update_id)

    await RedisUpdateDeduper(redis_client, prefix=redis_prefix).mark_done(5)
    await gate(handler, message(5, 43), {})  # still known done: the deduper was asked
    await gate(handler, message(6, 43), {})
    await gate(handler, message(7, 43), {})  # the cache was read apart: not written twice
    assert handled == [6, 7]
    assert len(recorded.contacts) == 1
