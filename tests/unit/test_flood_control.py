"""Flood-control arithmetic on a fake clock: the sliding window with leases of
:mod:`bot.flood_control` (the Redis script does the same; tests/integration checks it there)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from types import SimpleNamespace

import pytest

from bot.flood_control import FloodLimits, LocalFloodLimiter, SlotWindow, limited_chat


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a limiter never sleeps for nothing"
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(clock: FakeClock, **limits: float) -> LocalFloodLimiter:
    return LocalFloodLimiter(FloodLimits(**limits), clock=clock, sleep=clock.sleep)  # type: ignore[arg-type]


# -- SlotWindow ---------------------------------------------------------------------------------


def test_one_slot_is_busy_in_flight_then_for_hold_after_release() -> None:
    window = SlotWindow(1)
    assert window.wait(0.0) == 0.0
    window.take(0.0, "a", lease=90.0)
    assert window.wait(0.5) == pytest.approx(89.5)  # in flight: until the lease runs out
    window.release(0.3, "a", hold=1.0)
    assert window.wait(0.5) == pytest.approx(0.8)
    assert window.wait(1.3) == 0.0
    assert window.empty(1.3)


def test_n_slots_wait_for_the_earliest_to_free() -> None:
    window = SlotWindow(3)
    for i, token in enumerate("abc"):
        window.take(i * 0.1, token, lease=90.0)
    assert window.wait(0.25) > 80
    window.release(0.4, "b", hold=1.0)
    window.release(0.5, "a", hold=1.0)
    assert window.wait(0.6) == pytest.approx(0.8)  # b frees at 1.4
    assert window.wait(1.4) == 0.0
    window.take(1.4, "d", lease=90.0)
    assert window.wait(1.4) == pytest.approx(0.1)  # a frees at 1.5


def test_a_lost_holder_is_freed_by_its_lease_and_a_late_release_changes_nothing() -> None:
    window = SlotWindow(1)
    window.take(0.0, "dead", lease=5.0)
    assert window.wait(4.9) == pytest.approx(0.1)
    assert window.wait(5.0) == 0.0
    window.take(5.0, "next", lease=5.0)
    window.release(6.0, "dead", hold=100.0)
    assert window.wait(10.0) == 0.0


# -- LocalFloodLimiter ---------------------------------------------------------------------------


async def test_messages_to_one_chat_start_an_interval_after_the_previous_answer() -> None:
    clock = FakeClock()
    flood = limiter(clock, chat_interval=1.0, global_rate=30)
    starts = []
    for _ in range(5):
        permit = await flood.acquire("42")
        starts.append(clock.now)
        clock.now += 0.2  # the request takes 200 ms
        await flood.release(permit)
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx([1.2] * 4)


async def test_a_message_waits_for_the_one_in_flight_to_its_chat() -> None:
    clock = FakeClock()
    flood = limiter(clock, chat_interval=1.0, poll=0.2)
    first = await flood.acquire("7")

    async def sleep(seconds: float) -> None:
        await clock.sleep(seconds)
        if len(clock.sleeps) == 1:
            await flood.release(first)  # the first message is answered during the first pause

    flood._sleep = sleep
    permit = await flood.acquire("7")
    assert clock.now == pytest.approx(1000.0 + 0.2 + 1.0)
    assert permit.waited == pytest.approx(1.2)
    # polls while the first is in flight, then sleeps the known hold after it in one go
    assert clock.sleeps == pytest.approx([0.2, 1.0])


async def test_a_released_chat_is_waited_for_in_one_sleep() -> None:
    """Once the chat's previous message was answered, the wait is known to the end (a release
    holds a slot for ``chat_interval`` at least, so nothing frees it sooner): one sleep, not a
    look every ``poll``. A longer hold (a 429's) is still polled."""
    clock = FakeClock()
    flood = limiter(clock, chat_interval=1.0, poll=0.2)
    await flood.release(await flood.acquire("8"))
    clock.now += 0.3
    again = await flood.acquire("8")
    assert clock.sleeps == pytest.approx([0.7])
    assert again.waited == pytest.approx(0.7)
    await flood.release(again, hold=2.0)
    clock.sleeps.clear()
    await flood.acquire("8")
    assert clock.sleeps == pytest.approx([0.2] * 5 + [1.0])


async def test_other_chats_are_not_held_up_by_a_busy_chat() -> None:
    clock = FakeClock()
    flood = limiter(clock)
    await flood.acquire("1")
    permit = await flood.acquire("2")
    assert permit.waited == 0.0 and clock.sleeps == []


async def test_global_rate_counts_in_flight_and_recently_answered_messages() -> None:
    clock = FakeClock()
    flood = limiter(clock, global_rate=30, global_window=1.0)
    permits = [await flood.acquire(str(chat)) for chat in range(30)]
    assert clock.sleeps == []
    clock.now += 0.1
    for permit in permits:
        await flood.release(permit)
    late = await flood.acquire("31")
    assert late.waited == pytest.approx(1.0)  # answered at +0.1, counted one window more
    assert clock.now == pytest.approx(1001.1)


async def test_a_429_holds_the_chat_for_retry_after() -> None:
    clock = FakeClock()
    flood = limiter(clock, chat_interval=1.0)
    permit = await flood.acquire("9")
    await flood.release(permit, hold=5.0)
    again = await flood.acquire("9")
    assert again.waited == pytest.approx(5.0)


async def test_a_media_group_holds_its_chat_one_interval_per_item() -> None:
    clock = FakeClock()
    flood = limiter(clock, chat_interval=1.0)
    permit = await flood.acquire("9", weight=3)
    await flood.release(permit)
    assert (await flood.acquire("9")).waited == pytest.approx(3.0)


async def test_zero_interval_turns_the_chat_limit_off() -> None:
    clock = FakeClock()
    flood = limiter(clock, chat_interval=0.0)
    for _ in range(3):
        await flood.release(await flood.acquire("5"))
    assert clock.sleeps == []


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        FloodLimits(global_rate=0)
    with pytest.raises(ValueError):
        FloodLimits(chat_interval=-1)


# -- which calls count -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("sendMessage", {"chat_id": 5}, ("5", 1)),
        ("sendPhoto", {"chat_id": 5}, ("5", 1)),
        ("sendDocument", {"chat_id": "@news"}, ("@news", 1)),
        ("sendMediaGroup", {"chat_id": 5, "media": [1, 2, 3]}, ("5", 3)),
        ("copyMessage", {"chat_id": 5}, ("5", 1)),
        ("forwardMessages", {"chat_id": 5, "message_ids": [1, 2]}, ("5", 2)),
        ("sendChatAction", {"chat_id": 5}, None),
        ("editMessageText", {"chat_id": 5}, None),
        ("answerCallbackQuery", {}, None),
        ("deleteMessage", {"chat_id": 5}, None),
        ("setMyCommands", {}, None),
        ("getUpdates", {}, None),
    ],
)
def test_which_calls_count_as_messages(
    method: str, params: dict[str, object], expected: tuple[str, int] | None
) -> None:
    assert limited_chat(method, SimpleNamespace(**params)) == expected


# -- fairness: waiters are served in arrival order ------------------------------------------------


class VirtualTime:
    """A clock for many concurrent tasks: time moves only when every task sleeps, straight to
    the earliest wake-up."""

    def __init__(self) -> None:
        self.now = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        assert seconds > 0, "a limiter never sleeps for nothing"
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._seq), future))
        await future

    async def run(self, tasks: list[asyncio.Task[None]]) -> None:
        while not all(task.done() for task in tasks):
            for _ in range(50):  # let every runnable task reach its next sleep
                await asyncio.sleep(0)
            if self._sleepers:
                wake, _, future = heapq.heappop(self._sleepers)
                self.now = max(self.now, wake)
                if not future.done():  # a cancelled sleeper
                    future.set_result(None)
        for task in tasks:
            task.result()


async def test_waiters_on_one_chat_are_served_in_arrival_order_within_n_intervals() -> None:
    clock = VirtualTime()
    flood = LocalFloodLimiter(
        FloodLimits(chat_interval=1.0, global_rate=30, poll=0.2),
        clock=clock,
        sleep=clock.sleep,
    )
    arrived: dict[int, float] = {}
    served: list[tuple[int, float]] = []

    async def message(n: int) -> None:
        arrived[n] = clock.now
        permit = await flood.acquire("42")
        served.append((n, clock.now))
        await flood.release(permit)  # answered at once

    tasks = []
    for n in range(12):
        tasks.append(asyncio.create_task(message(n)))
        await asyncio.sleep(0)  # n asks before n + 1
    await clock.run(tasks)

    assert [n for n, _ in served] == list(range(12))
    # the n-th waiter is served after n intervals, late by at most one poll
    for n, at in served:
        assert at - arrived[n] <= n * 1.0 + 0.2 + 1e-9, (n, at - arrived[n])
    assert flood._chat_queues == {} and len(flood._all_queue) == 0


async def test_a_waiter_near_the_global_limit_is_not_overtaken_by_newcomers() -> None:
    clock = VirtualTime()
    flood = LocalFloodLimiter(
        FloodLimits(chat_interval=0.0, global_rate=1, global_window=1.0, poll=0.2),
        clock=clock,
        sleep=clock.sleep,
    )
    served: list[str] = []

    async def message(name: str, chat: str, after: float) -> None:
        if after:
            await clock.sleep(after)
        permit = await flood.acquire(chat)
        served.append(name)
        await flood.release(permit)

    # "first" holds the bot's one slot; "old" comes just after; a newcomer arrives exactly
    # when the slot frees, every second, when "old" is between two looks
    tasks = [asyncio.create_task(message("first", "0", 0.0))]
    await asyncio.sleep(0)
    tasks.append(asyncio.create_task(message("old", "1", 0.05)))
    tasks += [asyncio.create_task(message(f"new{k}", f"n{k}", 1.0 * k)) for k in range(1, 6)]
    await clock.run(tasks)

    assert served == ["first", "old", "new1", "new2", "new3", "new4", "new5"]
    assert len(flood._all_queue) == 0


async def test_a_cancelled_waiter_leaves_the_queue_and_the_next_one_goes() -> None:
    clock = VirtualTime()
    flood = LocalFloodLimiter(FloodLimits(chat_interval=1.0), clock=clock, sleep=clock.sleep)
    first = await flood.acquire("5")
    served: list[str] = []

    async def message(name: str) -> None:
        await flood.release(await flood.acquire("5"))
        served.append(name)

    gone = asyncio.create_task(message("gone"))
    await asyncio.sleep(0)
    kept = asyncio.create_task(message("kept"))
    await asyncio.sleep(0)
    gone.cancel()
    await flood.release(first)
    await clock.run([kept])
    assert served == ["kept"] and gone.cancelled()
    assert flood._chat_queues == {}
