"""Reconciliation and expiry against the simulator over HTTP, on SQLite and PostgreSQL: a lost
notification is recovered by a query, an unpaid order expires (after one last query), several
reconcilers at once query each attempt once, and the background loop survives errors."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from bot.payments_http import build_payment_services
from bot.reconciler import PaymentReconciler, interval_for
from domain.model import OrderStatus, PaymentAttemptStatus, SubscriptionStatus
from domain.usecases.payments import ExpiryReport, ReconcilePayments, ReconcileReport
from tests.integration.test_ipn import DECLINED_CARD, Stack, stack  # noqa: F401 - the fixture
from tests.integration.test_payment_usecases import CATALOG, OWNER_CHAT, TTL

AFTER = timedelta(minutes=5)


def reconciler(s: Stack) -> PaymentReconciler:
    services = build_payment_services(
        s.world.uow, lambda: CATALOG, s.clock, s.client, reconcile_after=AFTER
    )
    return PaymentReconciler(reconcile=services.reconcile, expire=services.expire)


async def query_count(s: Stack) -> int:
    data: dict[str, Any] = (await s.http.get(f"{s.sim.base_url}/_sim/requests")).json()
    return int(data["query_count"])


async def test_a_dropped_notification_is_recovered(stack: Stack) -> None:  # noqa: F811
    placed, moid = await stack.order_with_link()
    await stack.switches(drop_notification=True)
    await stack.pay(moid)
    assert (await stack.world.order(placed.order_id)).status is OrderStatus.PENDING_PAYMENT
    task = reconciler(stack)

    too_early = await task.run_once()
    assert too_early.reconcile == ReconcileReport() and await query_count(stack) == 0

    stack.clock.advance(AFTER)
    round_ = await task.run_once()

    assert round_.errors == 0 and round_.reconcile is not None
    [confirmed] = round_.reconcile.confirmed
    assert confirmed.order_code == placed.order_code and confirmed.chat_id == OWNER_CHAT
    [told] = await stack.told.succeeded()
    assert told.subscription_code == confirmed.subscription_code
    assert (await stack.world.order(placed.order_id)).status is OrderStatus.PAID
    [sub] = await stack.world.subscriptions(placed.order_id)
    assert sub.status is SubscriptionStatus.ACTIVE
    [attempt] = await stack.world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.SUCCESS and attempt.notified_at is None
    assert attempt.query_count == 1

    stack.clock.advance(AFTER)
    await task.run_once()
    assert await query_count(stack) == 1 and len(await stack.told.succeeded()) == 1


async def test_a_dropped_decline_is_recorded_and_told(stack: Stack) -> None:  # noqa: F811
    placed, moid = await stack.order_with_link()
    await stack.switches(drop_notification=True)
    await stack.pay(moid, DECLINED_CARD)
    stack.clock.advance(AFTER)

    await reconciler(stack).run_once()

    [failed] = await stack.told.failed()
    assert failed.order_code == placed.order_code and failed.can_retry
    [attempt] = await stack.world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.FAILED


async def test_an_unpaid_attempt_is_asked_about_again_later(stack: Stack) -> None:  # noqa: F811
    placed, _ = await stack.order_with_link()
    task = reconciler(stack)
    stack.clock.advance(AFTER)

    first = await task.run_once()
    again = await task.run_once()

    assert first.reconcile is not None and first.reconcile.checked == 1
    assert again.reconcile is not None and again.reconcile.checked == 0
    [attempt] = await stack.world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.PENDING
    assert (attempt.query_count, attempt.last_queried_at) == (1, stack.clock.now())
    stack.clock.advance(AFTER)
    await task.run_once()
    assert await query_count(stack) == 2
    assert (await stack.told.succeeded()) == (await stack.told.failed()) == []


async def test_a_busy_gateway_changes_nothing_but_the_query_time(stack: Stack) -> None:  # noqa: F811
    placed, moid = await stack.order_with_link()
    await stack.switches(drop_notification=True, query_busy=True)
    await stack.pay(moid)
    stack.clock.advance(AFTER)

    await reconciler(stack).run_once()

    [attempt] = await stack.world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.PENDING and attempt.query_count == 1
    assert (await stack.world.order(placed.order_id)).status is OrderStatus.PENDING_PAYMENT


async def test_reconcilers_running_at_once_ask_once_and_apply_once(stack: Stack) -> None:  # noqa: F811
    await stack.switches(drop_notification=True)
    orders = []
    for _ in range(3):
        placed, moid = await stack.order_with_link()
        await stack.pay(moid)
        orders.append(placed)
    stack.clock.advance(AFTER)
    runs = [
        ReconcilePayments(
            stack.world.uow,
            stack.client,
            stack.clock,
            stack.world.confirm,
            stack.world.fail,
            after=AFTER,
        )
        for _ in range(3)
    ]

    reports = await asyncio.gather(*(run() for run in runs))

    confirmed = sorted(c.order_code for r in reports for c in r.confirmed)
    assert confirmed == sorted(o.order_code for o in orders)
    assert sum(r.checked for r in reports) == 3 and await query_count(stack) == 3
    for placed in orders:
        assert len(await stack.world.subscriptions(placed.order_id)) == 1


async def test_expiry_asks_once_more_and_applies_a_payment(stack: Stack) -> None:  # noqa: F811
    placed, moid = await stack.order_with_link()
    await stack.switches(drop_notification=True)
    await stack.pay(moid)
    stack.clock.advance(TTL)
    services = build_payment_services(stack.world.uow, lambda: CATALOG, stack.clock, stack.client)
    task = PaymentReconciler(reconcile=None, expire=services.expire)

    round_ = await task.run_once()

    assert round_.expiry is not None and round_.expiry.expired == ()
    assert [c.order_code for c in round_.expiry.confirmed] == [placed.order_code]
    assert (await stack.world.order(placed.order_id)).status is OrderStatus.PAID
    assert len(await stack.told.succeeded()) == 1 and (await stack.told.expired()) == []


async def test_an_unpaid_order_expires_and_the_user_is_told(stack: Stack) -> None:  # noqa: F811
    placed, _ = await stack.order_with_link()
    stack.clock.advance(TTL)

    await reconciler(stack).run_once()

    [expired] = await stack.told.expired()
    assert expired.order_code == placed.order_code and expired.chat_id == OWNER_CHAT
    assert (await stack.world.order(placed.order_id)).status is OrderStatus.EXPIRED
    [attempt] = await stack.world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.EXPIRED
    assert await query_count(stack) >= 1  # asked before expiring


class Flaky:
    """A use case that fails on its first ``failures`` calls."""

    def __init__(self, result: Any, failures: int) -> None:
        self.result = result
        self.failures = failures
        self.calls = 0

    async def __call__(self) -> Any:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("database is down")
        return self.result


async def test_the_loop_survives_errors_and_stops(caplog: pytest.LogCaptureFixture) -> None:
    reconcile = Flaky(ReconcileReport(), failures=2)
    expire = Flaky(ExpiryReport(), failures=1)
    task = PaymentReconciler(
        reconcile=reconcile,  # type: ignore[arg-type]
        expire=expire,  # type: ignore[arg-type]
        interval=0.01,
    )
    with caplog.at_level(logging.ERROR, logger="bot.reconciler"):
        await task.start()
        for _ in range(200):
            if task.rounds >= 4:
                break
            await asyncio.sleep(0.01)
        assert task.running
        await task.stop()
    assert not task.running and task.rounds >= 4 and reconcile.calls >= 4
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 3


def test_the_interval_follows_the_reconciliation_delay() -> None:
    assert interval_for(5) == 30.0
    assert interval_for(1) == 6.0
    assert interval_for(60) == 60.0
    with pytest.raises(ValueError, match="interval"):
        PaymentReconciler(reconcile=None, expire=None, interval=0)  # type: ignore[arg-type]


async def test_one_broken_order_does_not_stop_the_others(stack: Stack) -> None:  # noqa: F811
    await stack.switches(drop_notification=True)
    broken, broken_moid = await stack.order_with_link()
    fine, fine_moid = await stack.order_with_link()
    await stack.pay(broken_moid)
    await stack.pay(fine_moid)
    async with stack.world.db.uow as uow:  # a frozen quote that can no longer be read
        await uow.session.execute(
            text("UPDATE orders SET quote = :q WHERE id = :id"),
            {"q": '{"v": 99}', "id": broken.order_id},
        )
        await uow.commit()
    stack.clock.advance(AFTER)

    round_ = await reconciler(stack).run_once()

    assert round_.errors == 0 and round_.reconcile is not None
    assert round_.reconcile.errors == 1
    assert [c.order_code for c in round_.reconcile.confirmed] == [fine.order_code]
    assert (await stack.world.order(fine.order_id)).status is OrderStatus.PAID
    assert (await stack.world.order(broken.order_id)).status is OrderStatus.PENDING_PAYMENT
    assert await stack.world.subscriptions(broken.order_id) == []
