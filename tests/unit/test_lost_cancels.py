"""Background loops end, and shutdown ends, even when a cancel is lost inside a call.

On Python 3.11 ``asyncio.wait_for`` (redis-py sends every command with it; other libraries use
it too) returns the inner call's answer instead of raising ``CancelledError`` when the answer
comes with the cancel (CPython gh-86296). :class:`LosesFirstCancel` is a call that does that:
its first call waits until cancelled, then returns its answer as if nothing happened."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, cast

import pytest
from aiogram import Bot

from bot.app import build_app
from bot.change_rounds import ChangeRounds
from bot.flood_control import FloodLimits, LocalFloodLimiter
from bot.lifecycle import SubscriptionLifecycle
from bot.metrics import Metrics
from bot.outbox import OutboxWorker
from bot.reconciler import PaymentReconciler
from bot.render import Renderer
from domain.catalog import Catalog
from domain.outbox import Notice, NoticeKind, OutboxMessage, OutboxStatus
from tests.unit.test_container import TOKEN, settings


class LosesFirstCancel:
    """An async call; the first one waits until it is cancelled and then loses the cancel
    (returns ``answer``), the others answer at once. ``lost`` counts the cancels lost."""

    def __init__(self, answer: Any = None) -> None:
        self.answer = answer
        self.calls = 0
        self.in_flight = asyncio.Event()
        self.lost = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls == 1:
            self.in_flight.set()
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.lost += 1  # the answer came with the cancel: wait_for returns it
        return self.answer


class SlowToCancel:
    """An async call that, when cancelled, needs ``finish`` set before it ends (cancelled):
    e.g. a connection closing. Lets a test cancel the caller of ``stop()`` meanwhile."""

    def __init__(self) -> None:
        self.in_flight = asyncio.Event()
        self.finish = asyncio.Event()

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.in_flight.set()
        try:
            await asyncio.Event().wait()
        finally:
            await asyncio.shield(self.finish.wait())


async def ends(awaitable: Awaitable[Any]) -> asyncio.Task[Any] | None:
    """The task running ``awaitable`` once it ended, or None if it had not within 10 s (a guard
    that turns a hang into a failure, not a measure; ``asyncio.wait`` does not cancel it)."""
    task = asyncio.ensure_future(awaitable)
    done, _ = await asyncio.wait([task], timeout=10)
    if not done:
        task.cancel()
        return None
    return task


Service = PaymentReconciler | SubscriptionLifecycle | ChangeRounds


def reconciler(call: Callable[..., Awaitable[Any]]) -> Service:
    return PaymentReconciler(reconcile=None, expire=cast(Any, call), interval=3600)


def lifecycle(call: Callable[..., Awaitable[Any]]) -> Service:
    return SubscriptionLifecycle(expire=cast(Any, call), remind=cast(Any, call), interval=3600)


def change_rounds(call: Callable[..., Awaitable[Any]]) -> Service:
    return ChangeRounds(scheduled=cast(Any, call), trials=cast(Any, call), interval=3600)


SERVICES = [reconciler, lifecycle, change_rounds]


@pytest.mark.parametrize("build", SERVICES, ids=lambda b: b.__name__)
async def test_no_round_runs_when_the_cancel_is_lost_taking_the_job_lock(
    build: Callable[[Callable[..., Awaitable[Any]]], Service],
) -> None:
    # the job lock (storage.job_lock) is a database query: a cancel lost in it gave the
    # stopped loop its lock, and the round then ran after stop() had given up on it
    take_lock = LosesFirstCancel(True)
    rounds = LosesFirstCancel()
    rounds.calls = 1  # every call answers at once

    @contextlib.asynccontextmanager
    async def guard() -> AsyncIterator[bool]:
        yield await take_lock()

    service = build(rounds)
    service._guard = guard
    await service.start()
    await take_lock.in_flight.wait()
    assert await ends(service.stop())
    assert take_lock.lost == 1
    assert rounds.calls == 1, "a round ran after stop()"


@pytest.mark.parametrize("build", SERVICES, ids=lambda b: b.__name__)
async def test_stopping_a_round_loop_ends_it_even_if_the_cancel_is_lost_in_a_round(
    build: Callable[[Callable[..., Awaitable[Any]]], Service],
) -> None:
    call = LosesFirstCancel()
    service = build(call)
    await service.start()
    await call.in_flight.wait()
    assert await ends(service.stop()), "stop() waited for ever: the loop went on"
    assert call.lost == 1  # the cancel was indeed lost
    assert service._task is None
    calls = call.calls
    for _ in range(5):
        await asyncio.sleep(0)
    assert call.calls == calls  # no round after stop()


@pytest.mark.parametrize("build", SERVICES, ids=lambda b: b.__name__)
async def test_a_cancel_of_the_caller_of_stop_is_not_swallowed(
    build: Callable[[Callable[..., Awaitable[Any]]], Service],
) -> None:
    call = SlowToCancel()
    service = build(call)
    await service.start()
    await call.in_flight.wait()
    stopping = asyncio.create_task(service.stop())
    await asyncio.sleep(0)  # stop() now waits for the loop, which is closing its call
    stopping.cancel()  # e.g. the shutdown itself is cancelled
    await asyncio.sleep(0)
    call.finish.set()
    task = await ends(stopping)
    assert task is not None
    assert task.cancelled(), "stop() swallowed its caller's cancel"


# the outbox worker


def _row(row_id: int, chat: int) -> OutboxMessage:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    notice = Notice(NoticeKind.ORDER_EXPIRED, chat, "vi", {"order": "A1", "total": 1})
    return OutboxMessage(row_id, notice, OutboxStatus.PENDING, 0, now, now)


class Claim:
    worker = "w"
    lease = 120.0
    outlook = None

    def __init__(self, *rounds: list[OutboxMessage]) -> None:
        self._rounds = list(rounds)

    async def __call__(self, batch: int) -> list[OutboxMessage]:
        return self._rounds.pop(0) if self._rounds else []


def outbox_worker(
    *,
    claim: Claim,
    send: Callable[..., Awaitable[Any]],
    depth: Callable[..., Awaitable[Any]],
    sent: list[int],
) -> OutboxWorker:
    async def send_screen(bot: Bot, outgoing: Any) -> int:
        sent.append(outgoing.chat_id)
        return cast(int, await send())

    async def settle(*args: Any, **kwargs: Any) -> OutboxStatus:
        return OutboxStatus.SENT

    renderer = SimpleNamespace(send_screen=send_screen)
    return OutboxWorker(
        claim=cast(Any, claim),
        settle=cast(Any, settle),
        depth=cast(Any, depth),
        clock=cast(Any, SimpleNamespace(now=lambda: datetime(2026, 1, 1, tzinfo=UTC))),
        bot=cast(Bot, object()),
        renderer=cast(Renderer, renderer),
        catalog=Catalog,
        metrics=Metrics(),
        poll_interval=3600,
    )


async def _no_depth() -> Any:
    return SimpleNamespace(depth=0, oldest_age_seconds=0.0)


async def _sent_at_once() -> int:
    return 1


async def test_stopping_the_outbox_ends_its_depth_loop_even_if_the_cancel_is_lost() -> None:
    depth = LosesFirstCancel(SimpleNamespace(depth=0, oldest_age_seconds=0.0))
    worker = outbox_worker(claim=Claim(), send=_sent_at_once, depth=depth, sent=[])
    await worker.start()
    await depth.in_flight.wait()
    assert await ends(worker.stop()), "stop() waited for ever for the depth loop"
    assert depth.lost == 1


async def test_stopping_the_outbox_worker_ends_it_even_if_the_cancel_is_lost_in_a_send() -> None:
    # stop() gives the round in hand no time (wait=0), so cancels it during the first send; the
    # send loses the cancel: its row is settled, the chat's next row is not sent
    send = LosesFirstCancel(1)
    sent: list[int] = []
    claim = Claim([_row(1, 42), _row(2, 42), _row(3, 42)])
    worker = outbox_worker(claim=claim, send=send, depth=_no_depth, sent=sent)
    await worker.start()
    await send.in_flight.wait()
    assert await ends(worker.stop(wait=0))
    assert send.lost == 1
    assert not worker.running
    assert sent == [42], "rows were sent after the worker was cancelled"


# flood control waiters


async def test_a_flood_waiter_whose_cancel_is_lost_does_not_wait_on_for_a_slot() -> None:
    limiter = LocalFloodLimiter(FloodLimits(chat_interval=0.01, poll=0.01))
    holder = await limiter.acquire("c")  # the chat is busy: the next waiter waits
    real_try = limiter._try
    entered = asyncio.Event()

    async def try_losing_a_cancel(chat: str, token: str, ticket: int) -> tuple[float, int, bool]:
        result = await real_try(chat, token, ticket)
        if not entered.is_set():
            entered.set()
            # the cancel comes with the Redis answer and is lost: the answer is returned
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.Event().wait()
        return result

    limiter._try = try_losing_a_cancel  # type: ignore[method-assign]
    waiter = asyncio.create_task(limiter.acquire("c"))
    await entered.wait()
    waiter.cancel()  # e.g. the update is given up on at shutdown
    await limiter.release(holder)  # the slot comes free
    task = await ends(waiter)
    assert task is not None
    assert task.cancelled(), "the waiter given up on took a slot (and would send)"
    assert limiter._chat_queues == {}  # it left the queue


# the app's shutdown


async def test_sigterm_shutdown_ends_even_if_the_catalog_refresh_loses_its_cancel() -> None:
    app = build_app(settings(bot_token=TOKEN, catalog_refresh_seconds=1))
    refresh = LosesFirstCancel(False)
    app.catalog.refresh = refresh  # type: ignore[method-assign]
    app._refresher = asyncio.create_task(app._refresh_catalog())  # as start() does
    await refresh.in_flight.wait()  # (after one refresh period)
    assert await ends(app.stop(timeout=5)), "the shutdown waited for ever"
    assert refresh.lost == 1
    assert app._refresher.done()
