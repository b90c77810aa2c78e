"""An update's turn on Redis with the chat's draft and the update's journal: the lock's script
reads both, the end's script saves the draft; what a redelivery finds after each way a turn
can end (real Redis)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest

from bot.replay import START, Replay, fingerprint
from storage.redis_store import RedisChatLock, RedisConversationStore, RedisUpdateDeduper
from storage.redis_turns import RedisUpdateJournal, RedisUpdateTurns
from tests.integration.test_storage_conversations import check_update_turns, record

pytestmark = pytest.mark.redis


def make(redis_client: Any, prefix: str) -> RedisUpdateTurns:
    store = RedisConversationStore(redis_client, prefix=prefix, ttl=timedelta(minutes=5))
    return RedisUpdateTurns(
        RedisChatLock(redis_client, prefix=prefix),
        RedisUpdateDeduper(redis_client, prefix=prefix, ttl=timedelta(minutes=5)),
        RedisUpdateJournal(redis_client, prefix=prefix, ttl=timedelta(minutes=5)),
        store,
    )


def parts(turns: RedisUpdateTurns) -> tuple[RedisConversationStore, RedisUpdateJournal]:
    assert turns.store is not None and turns.journal is not None
    return turns.store, turns.journal


_HANDSHAKE = frozenset({"HELLO", "AUTH", "CLIENT", "SELECT"})


@contextmanager
def counting(redis_client: Any) -> Iterator[list[str]]:
    """The commands sent on ``redis_client``'s connections inside the block (as they go out:
    ``storage.redis_scripts.RedisScript`` sends a script without ``execute_command``), but not
    a new connection's handshake."""
    calls: list[str] = []
    connection_class = redis_client.connection_pool.connection_class
    own = connection_class.__dict__.get("send_command")
    send = connection_class.send_command

    async def counted(self: Any, *args: Any, **options: Any) -> Any:
        name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
        if name not in _HANDSHAKE:
            calls.append(name)
        return await send(self, *args, **options)

    connection_class.send_command = counted
    try:
        yield calls
    finally:
        if own is None:
            del connection_class.send_command
        else:
            connection_class.send_command = own


async def test_the_contract_holds_with_the_draft_read_by_the_lock(
    redis_client: Any, redis_prefix: str
) -> None:
    turns = make(redis_client, redis_prefix)
    other_replica = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
    await check_update_turns(turns, other_replica.done)


async def test_a_turn_reads_and_saves_the_draft_in_its_two_round_trips(
    redis_client: Any, redis_prefix: str
) -> None:
    """The draft and the journal come with the lock; the draft's save, the mark, the journal's
    deletion and the release go in one script; the journal's start rides on its first write."""
    turns = make(redis_client, redis_prefix)
    store, journal = parts(turns)
    before = record("c", version=1)
    await store.put(before)
    with counting(redis_client) as calls:
        async with turns.turn("c", 5) as turn:
            got = await store.get("c")
            assert got == before
            assert await journal.start(5, START, fingerprint(got)) == {}
            await store.put(record("c", version=2))
            assert await store.get("c") == record("c", version=2)  # the turn sees its own save
            turn.finished = True
    assert calls == ["EVALSHA", "EVALSHA"]
    assert await store.get("c") == record("c", version=2)
    assert 0 < await redis_client.ttl(store.name("c")) <= 300
    assert await redis_client.exists(turns.deduper.key(5))
    assert await journal.load(5) == {}
    assert await redis_client.keys(f"{redis_prefix}lock:*") == []


async def test_the_journals_start_is_written_with_its_first_request(
    redis_client: Any, redis_prefix: str
) -> None:
    turns = make(redis_client, redis_prefix)
    store, journal = parts(turns)
    with counting(redis_client) as calls:
        async with turns.turn("c", 6):
            assert await journal.start(6, START, "fp") == {}
            assert calls == ["EVALSHA"]  # the lock's script only
            await journal.write(6, "0", '{"method": "sendMessage"}')
            await journal.write(6, "0", '{"method": "sendMessage", "result": 1}')
    # unfinished (a replica dying after the request): a redelivery replays from it
    assert await journal.load(6) == {START: "fp", "0": '{"method": "sendMessage", "result": 1}'}
    assert 0 < await redis_client.ttl(journal.key(6)) <= 300
    async with turns.turn("c", 6) as turn:
        assert not turn.done_before
        replay = Replay(journal, 6)
        assert await replay.begin("fp")
        assert replay.replaying
        assert replay.recorded == {START: "fp", "0": '{"method": "sendMessage", "result": 1}'}
    assert not await redis_client.exists(store.name("c"))  # nothing was saved


async def test_a_redelivery_reads_the_journal_left_before_its_lock(
    redis_client: Any, redis_prefix: str
) -> None:
    """The start of an earlier handling is kept, not overwritten, and the journal is returned
    as it was (the replay's comparison of states depends on it)."""
    turns = make(redis_client, redis_prefix)
    _, journal = parts(turns)
    await journal.write(7, START, "first")
    await journal.write(7, "0", '{"method": "editMessageText"}')
    async with turns.turn("c", 7):
        assert await journal.start(7, START, "second") == {
            START: "first",
            "0": '{"method": "editMessageText"}',
        }
        await journal.write(7, "1", '{"method": "sendMessage"}')
    assert (await journal.load(7))[START] == "first"


async def test_an_unfinished_turn_that_saved_leaves_the_update_to_be_skipped(
    redis_client: Any, redis_prefix: str
) -> None:
    """A handler that saved the draft and then failed (no request made): the draft is written
    as the lock is released, after the journal's start, so a redelivery takes the update as
    done instead of applying it a second time to the new draft."""
    turns = make(redis_client, redis_prefix)
    store, journal = parts(turns)
    await store.put(record("c", version=1))
    with pytest.raises(RuntimeError):
        async with turns.turn("c", 8):
            got = await store.get("c")
            assert await journal.start(8, START, fingerprint(got)) == {}
            await store.put(record("c", version=2))
            raise RuntimeError("the handler failed after saving")
    assert await store.get("c") == record("c", version=2)
    assert not await redis_client.exists(turns.deduper.key(8))
    async with turns.turn("c", 8) as turn:
        assert not turn.done_before
        replay = Replay(journal, 8)
        assert not await replay.begin(fingerprint(await store.get("c")))
        assert replay.done_before


async def test_a_failed_end_still_saves_the_draft_after_the_journals_start(
    redis_client: Any, redis_prefix: str
) -> None:
    turns = make(redis_client, redis_prefix)
    store, journal = parts(turns)
    await store.put(record("c", version=1))

    async def broken(**_: Any) -> Any:
        raise ConnectionError("Redis went away at the end")

    turns._end = broken  # type: ignore[assignment]
    with pytest.raises(ConnectionError):
        async with turns.turn("c", 9) as turn:
            got = await store.get("c")
            await journal.start(9, START, fingerprint(got))
            await store.put(record("c", version=2))
            turn.finished = True
    assert await store.get("c") == record("c", version=2)
    assert (await journal.load(9))[START] == fingerprint(record("c", version=1))
    assert not await redis_client.exists(turns.deduper.key(9))


async def test_a_deleted_draft_is_deleted_by_the_end(redis_client: Any, redis_prefix: str) -> None:
    turns = make(redis_client, redis_prefix)
    store, _ = parts(turns)
    await store.put(record("c"))
    async with turns.turn("c", 10) as turn:
        await store.delete("c")
        assert await store.get("c") is None
        assert await redis_client.exists(store.name("c"))  # not yet
        turn.finished = True
    assert not await redis_client.exists(store.name("c"))


async def test_other_drafts_and_updates_go_to_redis_at_once(
    redis_client: Any, redis_prefix: str
) -> None:
    """Only the turn's own chat and update are answered from the turn, and only while it
    runs: another chat's draft, another update's journal, and anything after the turn."""
    turns = make(redis_client, redis_prefix)
    store, journal = parts(turns)
    other = RedisConversationStore(redis_client, prefix=redis_prefix)
    async with turns.turn("c", 11) as turn:
        await store.put(record("d"))
        assert await redis_client.exists(store.name("d"))
        await redis_client.set(store.name("c"), "changed behind the turn's back")
        await other.put(record("c", version=4))  # another store object: not the turn's
        assert await other.get("c") == record("c", version=4)
        assert await store.get("c") is None  # the turn's own read, from its lock script
        await journal.write(12, START, "x")
        assert await journal.load(12) == {START: "x"}
        turn.finished = True
    assert await store.get("c") == record("c", version=4)  # the turn saved nothing
    await store.put(record("c", version=5))
    assert await other.get("c") == record("c", version=5)


async def test_a_turn_for_a_done_update_reads_no_draft(
    redis_client: Any, redis_prefix: str
) -> None:
    turns = make(redis_client, redis_prefix)
    store, _ = parts(turns)
    async with turns.turn("c", 13) as turn:
        turn.finished = True
    await store.put(record("c", version=6))
    fresh = make(redis_client, redis_prefix)  # another replica: 13 not known in memory
    fresh_store, _ = parts(fresh)
    async with fresh.turn("c", 13) as turn:
        assert turn.done_before
        with counting(redis_client) as calls:
            assert await fresh_store.get("c") == record("c", version=6)
        assert calls == ["GET"]
