"""The Redis adapters against a real Redis: drafts, per-chat locks, update de-duplication."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from domain.ports import LockTimeout
from storage.redis_store import (
    RedisChatLock,
    RedisConversationStore,
    RedisUpdateDeduper,
    connect,
)
from storage.redis_turns import RedisUpdateJournal, RedisUpdateTurns
from tests.integration.test_redis_turns import counting
from tests.integration.test_storage_conversations import (
    check_mutual_exclusion,
    check_round_trip,
    check_update_turns,
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


async def test_a_holder_whose_lock_was_taken_over_does_not_release_the_new_holders(
    redis_client: Any, redis_prefix: str
) -> None:
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=2)
    key = f"{redis_prefix}lock:c"
    async with lock.lock("c"):
        # the holder froze past the ttl and another replica took the lock meanwhile
        await redis_client.set(key, "other-replica", px=5000)
    assert await redis_client.get(key) == b"other-replica"


async def test_the_watchdog_keeps_a_slow_holders_lock(redis_client: Any, redis_prefix: str) -> None:
    lock = RedisChatLock(redis_client, prefix=redis_prefix, ttl=0.3, wait_timeout=0.2)
    async with lock.lock("c"):
        await asyncio.sleep(0.9)  # three times the ttl
        with pytest.raises(LockTimeout):
            async with lock.lock("c"):
                pass  # pragma: no cover
        assert await redis_client.pttl(f"{redis_prefix}lock:c") > 0
    assert lock.extensions >= 2
    assert await redis_client.exists(f"{redis_prefix}lock:c") == 0


def _extension_losing_its_cancel(
    lock: RedisChatLock,
) -> tuple[asyncio.Event, asyncio.Future[None], list[int]]:
    """Make ``lock``'s watchdog extension a Redis call that loses a cancel arriving while it
    is in flight, as redis-py's does on Python 3.11: it sends with ``asyncio.wait_for``, which
    returns the answer instead of raising ``CancelledError`` when both arrive together. The
    first extension waits for the returned future; every extension is counted."""
    real = lock._extend
    in_flight = asyncio.Event()
    answer: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    calls: list[int] = []

    async def extend(*, keys: list[str], args: list[Any]) -> Any:
        calls.append(len(calls))
        in_flight.set()
        try:
            await asyncio.shield(answer)
        except asyncio.CancelledError:
            await answer  # the cancel is lost: the call goes on and returns its answer
        return await real(keys=keys, args=args)

    lock._extend = extend  # type: ignore[assignment]
    return in_flight, answer, calls


async def _finishes(task: asyncio.Task[None]) -> bool:
    """Whether ``task`` ends (within 10 s: a guard that turns a hang into a failure, not a
    measure). ``asyncio.wait`` does not cancel it, so a cancel cannot be swallowed here."""
    done, _ = await asyncio.wait([task], timeout=10)
    if not done:
        task.cancel()
    return bool(done)


async def test_a_holder_leaving_while_its_lock_is_extended_releases_it(
    redis_client: Any, redis_prefix: str
) -> None:
    # The lost reply of issue 12: a handler ended just as the watchdog extended its lock; the
    # watchdog, cancelled in the middle of that Redis call, lost the cancel and went on
    # extending, and the holder, awaiting it, never released the chat: every later update of
    # the chat waited behind it, silently.
    lock = RedisChatLock(redis_client, prefix=redis_prefix, ttl=0.3)
    in_flight, answer, calls = _extension_losing_its_cancel(lock)
    loop = asyncio.get_running_loop()

    async def holder() -> None:
        async with lock.lock("c", 1):
            await in_flight.wait()  # the watchdog's extension is on its way
            loop.call_soon(answer.set_result, None)  # its answer comes as the holder leaves

    assert await _finishes(asyncio.create_task(holder())), "the chat was never released"
    assert await redis_client.exists(f"{redis_prefix}lock:c") == 0
    extended = len(calls)
    await asyncio.sleep(0.3)  # three watchdog periods: a watchdog still running would extend
    assert len(calls) == extended

    async def next_update() -> None:
        async with lock.lock("c", 2):
            pass

    assert await _finishes(asyncio.create_task(next_update()))


async def test_a_holder_cancelled_while_its_lock_is_extended_releases_it(
    redis_client: Any, redis_prefix: str
) -> None:
    lock = RedisChatLock(redis_client, prefix=redis_prefix, ttl=0.3)
    in_flight, answer, calls = _extension_losing_its_cancel(lock)
    entered = asyncio.Event()

    async def holder() -> None:
        async with lock.lock("c", 1):
            entered.set()
            await asyncio.sleep(3600)

    task = asyncio.create_task(holder())
    await entered.wait()
    await in_flight.wait()
    task.cancel()  # e.g. the bot shutting down
    asyncio.get_running_loop().call_soon(answer.set_result, None)
    assert await _finishes(task), "the holder never ended"
    assert task.cancelled()  # the cancel reached the holder
    assert await redis_client.exists(f"{redis_prefix}lock:c") == 0
    extended = len(calls)
    await asyncio.sleep(0.3)
    assert len(calls) == extended


async def test_a_holder_cancelled_while_leaving_stays_cancelled(
    redis_client: Any, redis_prefix: str
) -> None:
    # A cancel that reaches the holder while it stops its watchdog is not swallowed with the
    # watchdog's own (the holder was suppressing every CancelledError there).
    lock = RedisChatLock(redis_client, prefix=redis_prefix, ttl=0.3)
    in_flight, answer, _ = _extension_losing_its_cancel(lock)
    leaving = asyncio.Event()

    async def holder() -> None:
        async with lock.lock("c", 1):
            await in_flight.wait()
            leaving.set()

    task = asyncio.create_task(holder())
    await leaving.wait()
    await asyncio.sleep(0)  # the holder now waits for its watchdog
    task.cancel()
    if not answer.done():  # (the cancel may have reached the extension through the holder)
        answer.set_result(None)
    assert await _finishes(task)
    assert task.cancelled()
    assert await redis_client.exists(f"{redis_prefix}lock:c") == 0


async def test_a_crashed_replicas_lock_frees_itself_after_the_ttl(
    redis_client: Any, redis_prefix: str
) -> None:
    # a replica took the lock and died: no watchdog extends it any more
    await redis_client.set(f"{redis_prefix}lock:c", "dead|0", px=200)
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with lock.lock("c"):
        waited = loop.time() - started
    assert 0.1 < waited < 2


async def test_waiters_take_the_lock_in_update_order(redis_client: Any, redis_prefix: str) -> None:
    # two "replicas" (clients of their own) share the lock
    other = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=5)
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=5)
    order: list[int] = []

    async def update(which: RedisChatLock, update_id: int) -> None:
        async with which.lock("c", update_id):
            order.append(update_id)
            await asyncio.sleep(0.01)

    queue = f"{redis_prefix}queue:c"

    async def queued(count: int) -> None:
        # each waiter has joined the queue before the next comes (a sleep alone was not
        # always enough on a loaded machine: a late joiner missed its turn)
        for _ in range(1000):
            if await redis_client.zcard(queue) >= count:
                return
            await asyncio.sleep(0.005)
        raise AssertionError(f"{count} waiters never queued")

    async with lock.lock("c", 1):
        waiters = []
        for count, (update_id, which) in enumerate(
            ((7, lock), (4, other), (9, other), (5, lock)), start=1
        ):
            waiters.append(asyncio.create_task(update(which, update_id)))
            await queued(count)  # they arrive out of order
        background = asyncio.create_task(update(other, 2**53))  # no id: after every update
        await queued(5)
    await asyncio.wait_for(asyncio.gather(*waiters, background), timeout=5)
    assert order == [4, 5, 7, 9, 2**53]
    assert await redis_client.exists(f"{redis_prefix}queue:c") == 0


async def test_a_waiter_that_gave_up_or_died_does_not_block_the_queue(
    redis_client: Any, redis_prefix: str
) -> None:
    queue = f"{redis_prefix}queue:c"
    await redis_client.zadd(queue, {"dead-waiter|1": 1})  # deadline long past
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=0.2)
    async with lock.lock("c", 10):
        pass
    holder = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=5)
    quitter = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=0.1)
    async with holder.lock("c", 20):
        with pytest.raises(LockTimeout):
            async with quitter.lock("c", 21):
                pass  # pragma: no cover
        assert await redis_client.zcard(queue) == 0  # the quitter left the queue
    async with lock.lock("c", 30):
        pass


async def test_deduper_remembers_finished_updates(redis_client: Any, redis_prefix: str) -> None:
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix, ttl=timedelta(minutes=5))
    assert await deduper.done(42) is False  # asking does not claim: a replica may die mid-way
    assert await deduper.done(42) is False
    await deduper.mark_done(42)
    other_replica = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
    assert await other_replica.done(42) is True
    assert await deduper.done(43) is False
    assert 0 < await redis_client.ttl(f"{redis_prefix}update:42") <= 300
    await deduper.forget(42)
    assert await deduper.done(42) is False


async def test_deduper_marks_once_and_knows_its_own_marks(
    redis_client: Any, redis_prefix: str
) -> None:
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix, remember=2)
    key = f"{redis_prefix}update:7"
    await deduper.mark_done(7)  # the chat flow, under the chat's lock
    await redis_client.delete(key)  # (to see whether the next mark writes)
    await deduper.mark_done(7)  # the update gate, afterwards: no second write
    assert await redis_client.exists(key) == 0
    assert await deduper.done(7) is True  # known without asking Redis
    await deduper.mark_done(8)
    await deduper.mark_done(9)  # 7 is forgotten in memory: Redis is asked again
    assert await deduper.done(7) is False
    await deduper.forget(9)
    assert await deduper.done(9) is False
    await deduper.mark_done(9)
    assert await redis_client.exists(f"{redis_prefix}update:9") == 1


async def test_a_free_chat_is_locked_in_one_round_trip(
    redis_client: Any, redis_prefix: str
) -> None:
    lock = RedisChatLock(redis_client, prefix=redis_prefix, wait_timeout=5)
    retries: list[int] = []
    retried = asyncio.Event()
    acquire = lock._acquire

    async def counted(*, keys: list[str], args: list[Any]) -> Any:
        retries.append(1)
        retried.set()
        return await acquire(keys=keys, args=args)

    lock._acquire = counted  # type: ignore[assignment]
    async with lock.lock("c", 1):
        assert await redis_client.exists(f"{redis_prefix}lock:c") == 1
    assert retries == []  # joined the queue and took the lock in one script call
    async with lock.lock("c", 2):
        waiter = asyncio.create_task(_enter(lock, "c", 3))
        await retried.wait()  # the waiter queued, and tries again
    await asyncio.wait_for(waiter, timeout=5)
    assert await redis_client.exists(f"{redis_prefix}queue:c") == 0


async def _enter(lock: RedisChatLock, key: str, order: int) -> None:
    async with lock.lock(key, order):
        pass


async def test_journal_writes_fields_with_a_ttl_and_is_deleted(
    redis_client: Any, redis_prefix: str
) -> None:
    journal = RedisUpdateJournal(redis_client, prefix=redis_prefix, ttl=timedelta(minutes=5))
    assert await journal.load(5) == {}
    await journal.write(5, "start", "abc")
    await journal.write(5, "0", '{"method": "editMessageText"}')
    await journal.write(5, "0", '{"method": "editMessageText", "result": true}')
    assert await journal.load(5) == {
        "start": "abc",
        "0": '{"method": "editMessageText", "result": true}',
    }
    assert 0 < await redis_client.ttl(f"{redis_prefix}journal:5") <= 300
    await journal.delete(5)
    assert await journal.load(5) == {}


async def test_journal_start_reads_it_and_writes_the_start_only_when_it_has_none(
    redis_client: Any, redis_prefix: str
) -> None:
    journal = RedisUpdateJournal(redis_client, prefix=redis_prefix, ttl=timedelta(minutes=5))
    assert await journal.start(6, "start", "abc") == {}
    assert await journal.load(6) == {"start": "abc"}
    assert 0 < await redis_client.ttl(f"{redis_prefix}journal:6") <= 300
    await journal.write(6, "0", '{"method": "sendMessage"}')
    # a redelivery from another state: the journal as it was, its start not overwritten
    assert await journal.start(6, "start", "xyz") == {
        "start": "abc",
        "0": '{"method": "sendMessage"}',
    }
    assert await journal.load(6) == {"start": "abc", "0": '{"method": "sendMessage"}'}


async def test_turns_read_and_mark_under_the_lock(redis_client: Any, redis_prefix: str) -> None:
    turns = RedisUpdateTurns(
        RedisChatLock(redis_client, prefix=redis_prefix),
        RedisUpdateDeduper(redis_client, prefix=redis_prefix),
        RedisUpdateJournal(redis_client, prefix=redis_prefix),
    )
    other_replica = RedisUpdateDeduper(redis_client, prefix=redis_prefix)
    await check_update_turns(turns, other_replica.done)
    assert await redis_client.keys(f"{redis_prefix}lock:*") == []


async def test_a_turn_ends_in_one_script_dropping_the_journal(
    redis_client: Any, redis_prefix: str
) -> None:
    """A free chat's turn is two round trips: the lock taken with the done check, then the
    mark, the journal's deletion and the release together. Unfinished, the journal stays."""
    deduper = RedisUpdateDeduper(redis_client, prefix=redis_prefix, ttl=timedelta(minutes=5))
    journal = RedisUpdateJournal(redis_client, prefix=redis_prefix)
    turns = RedisUpdateTurns(RedisChatLock(redis_client, prefix=redis_prefix), deduper, journal)
    await journal.write(5, "start", "abc")
    await journal.write(6, "start", "abc")
    with counting(redis_client) as calls:
        async with turns.turn("c", 5) as turn:
            turn.finished = True
        async with turns.turn("c", 6):
            pass
    assert calls == ["EVALSHA"] * 4
    assert await journal.load(5) == {}
    assert 0 < await redis_client.ttl(f"{redis_prefix}update:5") <= 300
    assert deduper.knows(5)
    assert await journal.load(6) == {"start": "abc"}  # a redelivery of 6 replays from it
    assert not await redis_client.exists(f"{redis_prefix}update:6")
    assert await redis_client.keys(f"{redis_prefix}lock:*") == []


async def test_a_redelivery_waiting_for_the_chat_sees_the_first_delivery_done(
    redis_client: Any, redis_prefix: str
) -> None:
    """The done check rides on the acquire script also when the chat was busy (the retry)."""
    lock = RedisChatLock(redis_client, prefix=redis_prefix, retry_interval=0.005)
    first = RedisUpdateTurns(lock, RedisUpdateDeduper(redis_client, prefix=redis_prefix))
    second = RedisUpdateTurns(lock, RedisUpdateDeduper(redis_client, prefix=redis_prefix))
    seen: list[bool] = []

    async def redelivery() -> None:
        async with second.turn("c", 9) as turn:
            seen.append(turn.done_before)

    async with first.turn("c", 9) as turn:
        waiter = asyncio.create_task(redelivery())
        await asyncio.sleep(0.05)  # queued behind the first delivery
        assert seen == []
        turn.finished = True
    await asyncio.wait_for(waiter, timeout=5)
    assert seen == [True]


async def test_a_command_whose_answer_does_not_come_times_out(
    redis_url: str, redis_prefix: str
) -> None:
    """Writes are not timed (no task per command), the wait for the answer is."""
    from redis.exceptions import TimeoutError as RedisTimeout

    client = connect(redis_url, socket_timeout=0.2)
    try:
        assert await client.set(f"{redis_prefix}x", "1")
        with pytest.raises(RedisTimeout):  # not asyncio's: the client gave up by itself
            await asyncio.wait_for(client.blpop([f"{redis_prefix}empty"], timeout=0), 5)
        assert await client.get(f"{redis_prefix}x") == b"1"  # a fresh connection
    finally:
        await client.delete(f"{redis_prefix}x")
        await client.aclose()
