"""The outbox worker between rounds: it sleeps until the next pending row is due (not the
whole poll interval), looks again after a round that sent something, and takes the depth
gauges from its last look while it sleeps. The poll interval here is an hour: whatever
happens within the test's wait was caused by a due time or a wake, not by the poll."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, cast

from aiogram import Bot

from bot.metrics import Metrics
from bot.outbox import POLL_SECONDS_POSTGRES, POLL_SECONDS_SQLITE, OutboxWorker, poll_interval
from bot.render import Renderer
from domain.catalog import Catalog
from domain.outbox import Notice, NoticeKind, OutboxMessage, OutboxStats, OutboxStatus
from domain.outbox import PendingOutlook as Outlook

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.moment = NOW

    def now(self) -> datetime:
        return self.moment


def _row(row_id: int) -> OutboxMessage:
    notice = Notice(NoticeKind.ORDER_EXPIRED, 42, "vi", {"order": "A1", "total": 1})
    return OutboxMessage(row_id, notice, OutboxStatus.PENDING, 0, NOW, NOW)


class Claim:
    """Each call answers the next scripted round: rows claimed, or an outlook (nothing due)."""

    worker = "w"
    lease = timedelta(seconds=120)

    def __init__(self, *rounds: list[OutboxMessage] | Outlook) -> None:
        self._rounds = list(rounds)
        self.outlook: Outlook | None = None
        self.calls = 0
        self.called = asyncio.Event()

    async def __call__(self, batch: int) -> list[OutboxMessage]:
        self.calls += 1
        self.called.set()
        answer = self._rounds.pop(0) if self._rounds else Outlook(0, None, None)
        self.outlook = answer if isinstance(answer, Outlook) else None
        return answer if isinstance(answer, list) else []

    async def until_call(self, count: int) -> None:
        while self.calls < count:
            self.called.clear()
            await self.called.wait()


class Depth:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> OutboxStats:
        self.calls += 1
        return OutboxStats(depth=7, oldest_age_seconds=1.0)


def worker(claim: Claim, depth: Depth, clock: Clock, sent: list[int]) -> OutboxWorker:
    async def send_screen(bot: Bot, outgoing: Any) -> int:
        sent.append(outgoing.chat_id)
        return 1

    async def settle(*args: Any, **kwargs: Any) -> OutboxStatus:
        return OutboxStatus.SENT

    return OutboxWorker(
        claim=cast(Any, claim),
        settle=cast(Any, settle),
        depth=cast(Any, depth),
        clock=cast(Any, clock),
        bot=cast(Bot, object()),
        renderer=cast(Renderer, SimpleNamespace(send_screen=send_screen)),
        catalog=Catalog,
        metrics=Metrics(),
        poll_interval=3600,
    )


async def test_a_row_due_soon_is_looked_for_at_its_due_time_not_at_the_next_poll() -> None:
    clock = Clock()
    soon = Outlook(1, NOW, NOW + timedelta(milliseconds=20))
    claim = Claim(soon, [_row(1)])
    sent: list[int] = []
    outbox = worker(claim, Depth(), clock, sent)
    await outbox.start()
    try:
        await claim.until_call(1)
        clock.moment = NOW + timedelta(milliseconds=20)  # the row's time has come
        await asyncio.wait_for(claim.until_call(3), 30)  # the round, then a look right after
    finally:
        await outbox.stop()
    assert sent == [42]


async def test_nothing_pending_sleeps_the_poll_interval_until_woken() -> None:
    claim = Claim(Outlook(0, None, None), [_row(1)])
    sent: list[int] = []
    outbox = worker(claim, Depth(), Clock(), sent)
    await outbox.start()
    try:
        await claim.until_call(1)
        for _ in range(20):
            await asyncio.sleep(0)
        assert claim.calls == 1 and sent == []
        outbox.wake()  # a commit of this process wrote a row
        await asyncio.wait_for(claim.until_call(2), 30)
    finally:
        await outbox.stop()
    assert sent == [42]


async def test_the_depth_gauges_come_from_the_last_look_while_the_worker_sleeps() -> None:
    depth = Depth()
    claim = Claim(Outlook(3, NOW - timedelta(seconds=30), NOW + timedelta(hours=1)))
    outbox = worker(claim, depth, Clock(), [])
    await claim(1)  # the look, as the loop takes it, then its sleep
    outbox._idle_wait()
    assert outbox._known_stats() == OutboxStats(depth=3, oldest_age_seconds=30.0)
    outbox.wake()  # a row written since: the look no longer says how deep the outbox is
    assert outbox._known_stats() is None


def test_the_poll_interval_is_short_on_postgresql_long_on_sqlite_unless_set() -> None:
    assert poll_interval(None, sqlite=False) == POLL_SECONDS_POSTGRES
    assert poll_interval(None, sqlite=True) == POLL_SECONDS_SQLITE > POLL_SECONDS_POSTGRES
    assert poll_interval(0.2, sqlite=True) == 0.2
