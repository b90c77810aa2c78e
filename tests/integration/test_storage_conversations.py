"""Conversation drafts in SQL (both backends) and the in-process stand-ins for Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from domain.model import ConversationRecord
from domain.ports import ChatLock, ConversationStore, LockTimeout, UpdateDeduper, UpdateTurns
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.local_store import (
    CachedConversationStore,
    LocalChatLock,
    LockedUpdateTurns,
    MemoryConversationStore,
    MemoryUpdateDeduper,
)
from tests.integration.test_storage_accounts import StatementLog

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


def record(key: str = "chat:1:user:1", **fields: object) -> ConversationRecord:
    values: dict[str, object] = {
        "key": key,
        "state": "checkout.plan_promotion",
        "data": {"service": "SMARTCA", "addons": ["SMARTCA-TSA"], "note": "Đăng ký", "n": 1},
        "version": 3,
        "updated_at": NOW,
    }
    values.update(fields)
    return ConversationRecord(**values)  # type: ignore[arg-type]


async def check_round_trip(store: ConversationStore) -> None:
    assert await store.get("chat:1:user:1") is None
    await store.put(record())
    assert await store.get("chat:1:user:1") == record()
    newer = record(state="checkout.contact", data={}, version=4, updated_at=NOW + timedelta(1))
    await store.put(newer)
    await store.put(record("chat:2:user:2"))
    assert await store.get("chat:1:user:1") == newer
    await store.delete("chat:1:user:1")
    await store.delete("chat:1:user:1")  # deleting nothing is fine
    assert await store.get("chat:1:user:1") is None
    assert await store.get("chat:2:user:2") == record("chat:2:user:2")


async def test_sql_store_round_trip_one_statement_per_call(database: Database) -> None:
    store = SqlConversationStore(database.engine)
    await check_round_trip(store)
    with StatementLog(database) as log:
        await store.put(record())
        await store.get("chat:1:user:1")
        await store.delete("chat:1:user:1")
    assert len(log.statements) == 3


async def test_sql_store_purges_old_drafts(database: Database) -> None:
    store = SqlConversationStore(database.engine)
    await store.put(record("old", updated_at=NOW - timedelta(days=2)))
    await store.put(record("fresh"))
    assert await store.purge(NOW - timedelta(days=1)) == 1
    assert await store.get("old") is None
    assert await store.get("fresh") == record("fresh")


async def test_sql_store_reads_and_writes_concurrently(database: Database) -> None:
    store = SqlConversationStore(database.engine)

    async def step(i: int) -> None:
        await store.put(record(f"chat:{i}", version=i))
        stored = await store.get(f"chat:{i}")
        assert stored is not None and stored.version == i

    await asyncio.gather(*(step(i) for i in range(10)))


async def test_memory_store_round_trip_and_json_only() -> None:
    store = MemoryConversationStore()
    await check_round_trip(store)
    with pytest.raises(TypeError):
        await store.put(record(data={"when": NOW}))
    saved = record()
    await store.put(saved)
    fetched = await store.get(saved.key)
    assert fetched is not None
    fetched.data["n"] = 99  # the stored copy is not shared
    assert await store.get(saved.key) == saved


async def check_mutual_exclusion(lock: ChatLock) -> None:
    inside: list[str] = []
    log: list[str] = []

    async def hold(name: str, key: str) -> None:
        async with lock.lock(key):
            inside.append(name)
            assert len([n for n in inside if n.startswith(key)]) == 1
            log.append(f"{name} in")
            await asyncio.sleep(0.05)
            log.append(f"{name} out")
            inside.remove(name)

    await asyncio.gather(hold("a1", "a"), hold("a2", "a"), hold("b1", "b"))
    a_events = [e for e in log if e.startswith("a")]
    assert a_events in (
        ["a1 in", "a1 out", "a2 in", "a2 out"],
        ["a2 in", "a2 out", "a1 in", "a1 out"],
    )
    # b ran alongside a: it entered before the first a left
    assert log.index("b1 in") < log.index(a_events[1])


async def test_local_lock_excludes_per_key_and_times_out() -> None:
    patient = LocalChatLock(wait_timeout=5)
    await check_mutual_exclusion(patient)
    assert len(patient) == 0  # nothing left behind

    lock = LocalChatLock(wait_timeout=0.05)
    async with lock.lock("c"):
        with pytest.raises(LockTimeout):
            async with lock.lock("c"):
                pass  # pragma: no cover
    async with lock.lock("c"):  # usable again after the timeout
        pass
    assert len(lock) == 0

    with pytest.raises(RuntimeError):
        async with lock.lock("d"):
            raise RuntimeError
    async with lock.lock("d"):  # released by the error
        pass


async def test_memory_deduper_remembers_a_bounded_number_of_updates() -> None:
    deduper: UpdateDeduper = MemoryUpdateDeduper(max_size=3)
    assert await deduper.done(1) is False
    for i in (1, 2, 3):
        await deduper.mark_done(i)
    assert [await deduper.done(i) for i in (1, 2, 3)] == [True, True, True]
    await deduper.mark_done(1)  # 1 becomes the most recent
    await deduper.mark_done(4)  # 2 is forgotten
    assert [await deduper.done(i) for i in (1, 2, 3, 4)] == [True, False, True, True]
    await deduper.forget(1)
    assert await deduper.done(1) is False
    with pytest.raises(ValueError, match="max_size"):
        MemoryUpdateDeduper(max_size=0)


async def check_update_turns(turns: UpdateTurns, done: Callable[[int], Awaitable[bool]]) -> None:
    """An update is marked done only by a finished turn, and only as its lock is released;
    a later turn for it (a redelivery) sees the mark. ``done`` reads the mark as the update
    gate would."""
    async with turns.turn("c", 7) as turn:
        assert turn.done_before is False
        turn.finished = True
        assert await done(7) is False  # not before the release
    assert await done(7) is True
    async with turns.turn("c", 7) as turn:
        assert turn.done_before is True
    with pytest.raises(RuntimeError):
        async with turns.turn("c", 8) as turn:
            raise RuntimeError  # the handler failed: not finished
    async with turns.turn("c", 8) as turn:  # the lock was released all the same
        assert turn.done_before is False  # and the update not marked
    assert await done(8) is False


async def test_locked_turns_read_and_mark_under_the_lock() -> None:
    deduper = MemoryUpdateDeduper()
    await check_update_turns(LockedUpdateTurns(LocalChatLock(), deduper), deduper.done)


async def test_cached_store_reads_from_memory_and_writes_through(database: Database) -> None:
    sql = SqlConversationStore(database.engine)
    store = CachedConversationStore(sql)
    await check_round_trip(store)
    await store.put(record())
    with StatementLog(database) as log:
        first = await store.get("chat:1:user:1")
        assert first == record()
        assert first is not None
        first.data["draft"] = "changed by the caller"  # the cache keeps its own copy
        assert await store.get("chat:1:user:1") == record()
    assert log.statements == []
    assert await sql.get("chat:1:user:1") == record()  # written through
    await store.delete("chat:1:user:1")
    assert await sql.get("chat:1:user:1") is None
    with StatementLog(database) as log:
        assert await store.get("chat:1:user:1") is None
    assert len(log.statements) == 1  # a miss asks the database


async def test_cached_store_reads_a_draft_once_then_forgets_the_oldest(database: Database) -> None:
    sql = SqlConversationStore(database.engine)
    await sql.put(record("a"))
    await sql.put(record("b"))
    store = CachedConversationStore(sql, max_size=1)
    with StatementLog(database) as log:
        assert await store.get("a") == record("a")
        assert await store.get("a") == record("a")
        assert await store.get("b") == record("b")  # "a" is forgotten
        assert await store.get("a") == record("a")
    assert len(log.statements) == 3
    with pytest.raises(TypeError):
        await store.put(record("c", data={"when": NOW}))
    assert await sql.get("c") is None


async def test_cached_store_purges_both(database: Database) -> None:
    sql = SqlConversationStore(database.engine)
    store = CachedConversationStore(sql)
    await store.put(record("old", updated_at=NOW - timedelta(days=2)))
    await store.put(record("fresh"))
    assert await store.purge(NOW - timedelta(days=1)) == 1
    assert await store.get("old") is None
    assert await store.get("fresh") == record("fresh")
