"""The outbox worker (``bot.outbox``) on the real storage, SQLite and PostgreSQL, with a
controlled Telegram (a fake renderer: what is sent to which chat, a 403 for chats that refuse
the bot) and a controlled clock.

- A chat that refused the bot is asked once: its rows written before that 403 are closed as
  forbidden without a send, also when a later round claims them (they were not in the batch
  of the refused row), and also after a ``my_chat_member`` "kicked" update.
- What is written after the refusal is tried again (one 403), and after the user writes again
  it is delivered.
- Two workers on two engines (two replicas) draining the same outbox concurrently send every
  row once, none twice.
- A send Telegram does not answer is cut before its lease ends (on the virtual clock), so the
  worker that claims the row next is the only one to deliver it.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiogram import Bot
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import SendMessage
from sqlalchemy import text

from bot.metrics import Metrics
from bot.outbox import LEASE_MARGIN, OutboxWorker
from bot.render import Renderer
from bot.telegram_policy import _DEADLINE
from conversations.session import Outgoing
from domain.catalog import Catalog
from domain.outbox import Notice, NoticeKind
from domain.usecases.outbox import (
    MAX_ATTEMPTS,
    ClaimNotices,
    Contact,
    MarkUnreachable,
    OutboxDepth,
    RecordContact,
    SettleDelivery,
)
from storage.db import Database, SqlUnitOfWork

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
LEASE = timedelta(seconds=120)
GONE = 501  # blocked the bot (the bot was not told)
FINE = 502


class Clock:
    """A virtual clock: ``sleep`` returns once ``advance`` has moved it far enough."""

    def __init__(self, now: datetime = NOW) -> None:
        self.moment = now
        self._sleepers: list[tuple[datetime, asyncio.Future[None]]] = []

    def now(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta
        for until, waiter in self._sleepers:
            if until <= self.moment and not waiter.done():
                waiter.set_result(None)
        self._sleepers = [(u, f) for u, f in self._sleepers if not f.done()]

    async def sleep(self, seconds: float) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.moment + timedelta(seconds=seconds), waiter))
        self.advance(timedelta())
        await waiter


class Telegram:
    """Stands in for the renderer's ``send_screen``: records every send (chat, order) and
    refuses the chats in ``blocked`` with a 403. ``during_send`` runs inside a send, before
    Telegram answers (what the rest of the bot does meanwhile)."""

    def __init__(self, *, blocked: set[int] | None = None) -> None:
        self.blocked = set(blocked or ())
        self.sends: list[tuple[int, object]] = []
        self.during_send: Callable[[Outgoing], Awaitable[None]] | None = None
        #: messages that arrived (a send that was cut while stalled did not)
        self.delivered: list[tuple[int, object]] = []

    async def send_screen(self, bot: Bot, outgoing: Outgoing) -> int:
        self.sends.append((outgoing.chat_id, _order(outgoing)))
        hook, self.during_send = self.during_send, None
        if hook is not None:
            await hook(outgoing)
        await asyncio.sleep(0)  # a real send yields to the loop: other workers run meanwhile
        if outgoing.chat_id in self.blocked:
            method = SendMessage(chat_id=outgoing.chat_id, text="…")
            raise TelegramForbiddenError(method, "Forbidden: bot was blocked by the user")
        self.delivered.append((outgoing.chat_id, _order(outgoing)))
        return len(self.sends)

    def to(self, chat: int) -> list[object]:
        return [order for chat_id, order in self.sends if chat_id == chat]


def _order(outgoing: Outgoing) -> object:
    """The order number of an "order expired" notice (what tells the rows apart)."""
    params = getattr(outgoing.screen.text, "params", {})
    return getattr(params.get("order"), "text", None)


def worker(
    uow: SqlUnitOfWork, clock: Clock, telegram: Any, name: str = "w", batch: int = 50
) -> OutboxWorker:
    def factory() -> SqlUnitOfWork:
        return uow

    return OutboxWorker(
        claim=ClaimNotices(factory, clock, name, LEASE),
        settle=SettleDelivery(factory, clock, name),
        depth=OutboxDepth(factory, clock),
        clock=clock,
        bot=cast(Bot, object()),
        renderer=cast(Renderer, telegram),
        catalog=Catalog,
        metrics=Metrics(),
        batch=batch,
        sleep=clock.sleep,
    )


def expired(chat: int, order: str) -> Notice:
    return Notice(NoticeKind.ORDER_EXPIRED, chat, "vi", {"order": order, "total": 275_000})


async def write(uow: SqlUnitOfWork, clock: Clock, *notices: Notice) -> None:
    async with uow:
        for notice in notices:
            await uow.outbox.add(notice, clock.now())
        await uow.commit()


async def outbox(uow: SqlUnitOfWork) -> list[Any]:
    async with uow:
        result = await uow.session.execute(
            text("SELECT id, chat_id, status, attempts FROM outbox ORDER BY id")
        )
        return list(result.all())


async def test_a_row_of_a_refusing_chat_claimed_by_a_later_round_is_not_sent(
    uow: SqlUnitOfWork,
) -> None:
    """The first round holds one row of the chat; a second row of that chat is written while
    Telegram is refusing the first (a use case, or rows a claim did not see yet: committed
    after the claim read its time). The second round closes it without asking Telegram."""
    clock = Clock()
    await RecordContact(lambda: uow, clock)(Contact(GONE, "Bình"))
    await RecordContact(lambda: uow, clock)(Contact(FINE, "An"))
    telegram = Telegram(blocked={GONE})
    outbox_worker = worker(uow, clock, telegram)
    await write(uow, clock, expired(GONE, "DH-GONE-1"))

    async def meanwhile(_: Outgoing) -> None:
        await write(uow, clock, expired(GONE, "DH-GONE-2"), expired(FINE, "DH-FINE-1"))

    telegram.during_send = meanwhile
    await outbox_worker.run_once()
    assert len(telegram.to(GONE)) == 1
    await outbox_worker.run_once()  # the rows written meanwhile

    assert len(telegram.to(GONE)) == 1, telegram.sends  # asked once, refused once
    assert len(telegram.to(FINE)) == 1
    assert [(r.chat_id, r.status, r.attempts) for r in await outbox(uow)] == [
        (GONE, "forbidden", 1),
        (GONE, "forbidden", 1),
        (FINE, "sent", 1),
    ]
    clock.advance(timedelta(hours=1))
    await outbox_worker.run_once()
    assert len(telegram.sends) == 2  # nothing is asked again


async def test_rows_written_before_telegram_said_the_user_blocked_the_bot_are_not_sent(
    uow: SqlUnitOfWork,
) -> None:
    """The ``my_chat_member`` update ("kicked") marks the user unreachable: what was owed to
    them then is closed as forbidden without a send; what is written later is tried (the
    user may have unblocked the bot without writing), and after they write it arrives."""
    clock = Clock()
    await RecordContact(lambda: uow, clock)(Contact(GONE, "Bình"))
    telegram = Telegram(blocked={GONE})
    outbox_worker = worker(uow, clock, telegram)
    await write(uow, clock, expired(GONE, "DH-1"), expired(GONE, "DH-2"))
    clock.advance(timedelta(seconds=1))
    await MarkUnreachable(lambda: uow, clock)(GONE)

    await outbox_worker.run_once()
    assert telegram.sends == []
    assert [r.status for r in await outbox(uow)] == ["forbidden", "forbidden"]

    clock.advance(timedelta(seconds=1))
    await write(uow, clock, expired(GONE, "DH-3"))  # written after the refusal: tried once
    await outbox_worker.run_once()
    assert len(telegram.to(GONE)) == 1
    assert [r.status for r in await outbox(uow)] == ["forbidden"] * 3

    clock.advance(timedelta(seconds=1))
    await RecordContact(lambda: uow, clock)(Contact(GONE, "Bình"))  # they wrote again
    telegram.blocked.clear()
    await write(uow, clock, expired(GONE, "DH-BACK"))
    await outbox_worker.run_once()
    assert len(telegram.to(GONE)) == 2
    assert [r.status for r in await outbox(uow)] == ["forbidden"] * 3 + ["sent"]


async def test_two_workers_on_two_engines_send_every_row_once(db_url: str) -> None:
    """Two replicas' workers (each its own engine and name) drain one outbox at the same time:
    small batches, sends that yield, so their claims interleave. Every row is sent exactly
    once and ends SENT."""
    chats = range(1000, 1040)
    replicas = [Database(db_url), Database(db_url)]
    try:
        clock = Clock()
        await write(
            replicas[0].uow,
            clock,
            *(expired(chat, f"DH-{chat}-{i}") for chat in chats for i in range(3)),
        )
        telegram = Telegram()
        workers = [
            worker(r.uow, clock, telegram, name=f"replica-{i}", batch=7)
            for i, r in enumerate(replicas)
        ]
        rounds = Counter[str]()

        async def drain(w: OutboxWorker) -> None:
            while await w.run_once():
                rounds[w.name] += 1
            rounds[w.name] += 1

        await asyncio.gather(*(drain(w) for w in workers))
        # rounds that found fewer than a batch stop a drain: finish what is left, one worker
        while await workers[0].run_once():
            pass
        rows = await outbox(replicas[0].uow)
    finally:
        for r in replicas:
            await r.dispose()

    sent = Counter(str(order) for _, order in telegram.sends)
    assert len(sent) == 120 and set(sent.values()) == {1}, sent.most_common(3)
    assert Counter(r.status for r in rows) == {"sent": 120}
    assert {r.attempts for r in rows} == {1}
    assert all(rounds[w.name] >= 2 for w in workers), rounds  # both took part


class SlowTelegram(Telegram):
    """The first send stalls (Telegram takes the request and does not answer: the send
    policy's retries, a 429's wait or a slow request look alike to the worker) until
    ``answer`` is set; then the message arrives, unless the send was cut meanwhile."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = asyncio.Event()
        self.answer = asyncio.Event()
        self.deadline: float | None = None

    async def send_screen(self, bot: Bot, outgoing: Outgoing) -> int:
        if not self.stalled.is_set():
            # what the send policy reads: no retry or 429 wait past the cut
            self.deadline = _DEADLINE.get()
            assert self.deadline is not None
            self.deadline -= time.monotonic()
            self.stalled.set()
            self.sends.append((outgoing.chat_id, _order(outgoing)))
            await self.answer.wait()
            self.delivered.append((outgoing.chat_id, _order(outgoing)))
            return len(self.sends)
        return await super().send_screen(bot, outgoing)


async def test_a_send_telegram_does_not_answer_is_cut_before_another_worker_may_claim_it(
    db_url: str,
) -> None:
    """Replica A claims a row and its send stalls. The lease passes on the (virtual) clock;
    replica B claims the row once it may and delivers it. When Telegram finally answers A's
    request, nothing more arrives: A's send was cut before its lease ended and the row given
    back, so the message arrives once. (Without the bound, A's late answer delivers it a
    second time.)"""
    replicas = [Database(db_url), Database(db_url)]
    try:
        clock = Clock()
        await write(replicas[0].uow, clock, expired(FINE, "DH-SLOW"))
        telegram = SlowTelegram()
        a, b = (worker(r.uow, clock, telegram, name=f"replica-{i}") for i, r in enumerate(replicas))
        round_a = asyncio.create_task(a.run_once())
        await telegram.stalled.wait()  # A's request is with Telegram, unanswered
        clock.advance(LEASE)  # A's lease is over: B may claim the row
        await asyncio.sleep(0)
        await b.run_once()
        telegram.answer.set()  # Telegram answers A at last
        await round_a
        for _ in range(MAX_ATTEMPTS):  # retries, after their backoff, by either replica
            clock.advance(timedelta(hours=1))
            await a.run_once()
            await b.run_once()
        rows = await outbox(replicas[0].uow)
    finally:
        for r in replicas:
            await r.dispose()

    assert telegram.delivered == [(FINE, "DH-SLOW")]
    assert [r.status for r in rows] == ["sent"]
    # the send policy was told to stop retrying by the cut, on the real clock
    assert telegram.deadline is not None
    assert 0 < telegram.deadline <= (LEASE - LEASE_MARGIN).total_seconds()
