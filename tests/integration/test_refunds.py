"""Recording refunds (on SQLite and PostgreSQL): a renewal paid after staff cancelled the
subscription is due for refund; support gives the money back and records it with
``RecordRefund`` (the **Đã hoàn tiền** button or ``/refund <order>``). Each amount due is
recorded once, by staff only, with the history event ``payment.refunded``; the business owners
are told through the outbox."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from domain.errors import NotFound, PermissionDenied
from domain.outbox import NoticeKind
from domain.usecases.payments import PaymentFailureRequest, PaymentSource, RetryPaymentRequest
from domain.usecases.refunds import (
    REFUNDED,
    PendingRefunds,
    RecordRefund,
    RecordRefundRequest,
    RefundNotDue,
    RefundsOfOrder,
    RefundStatus,
)
from storage.repositories.history import SqlHistoryRepository
from tests.integration.test_change_usecases import ChangeWorld, w
from tests.integration.test_late_payments import cancel_now, reachable, renewal_order
from tests.integration.test_payment_usecases import AGENT, OWNER, OWNER_CHAT

__all__ = ["w"]  # the fixture


async def refund_due(world: ChangeWorld) -> tuple[Any, Any]:
    """A renewal paid by card after an agent cancelled the subscription: (sub, order)."""
    sub = await world.active()
    await reachable(world, OWNER, AGENT)
    world.clock.at = sub.current_period_end - timedelta(days=5)
    placed = await renewal_order(world, sub, "M12", "refund-1")
    await cancel_now(world, sub)
    paid = await world.confirm(world.online(f"{placed.order_code}-1", placed.total))
    assert paid.refund_due
    return sub, placed


async def test_support_records_a_refund_once_and_the_owners_are_told(w: ChangeWorld) -> None:
    sub, placed = await refund_due(w)
    dues = await RefundsOfOrder(w.uow)(AGENT, placed.order_code.lower())  # any case
    assert [(d.order_code, d.amount, d.refunded, d.duplicate) for d in dues] == [
        (placed.order_code, placed.total, False, False)
    ]
    w.clock.at += timedelta(days=2)
    record = RecordRefund(w.uow, w.clock)
    done = await record(RecordRefundRequest(AGENT, placed.order_code, dues[0].event_id))
    assert done.status is RefundStatus.RECORDED and done.owners_told == 1
    assert done.due.refunded_at == w.clock.now()

    assert REFUNDED in await w.events(sub.id)  # Lịch sử of the subscription shows it
    told = await w.notices(NoticeKind.PAYMENT_REFUNDED)
    assert told == [
        (
            int(OWNER_CHAT),
            {"order": placed.order_code, "total": placed.total, "subscription": sub.code},
        )
    ]
    listed = await RefundsOfOrder(w.uow)(AGENT, placed.order_code)
    assert [(d.refunded, d.refunded_at) for d in listed] == [(True, w.clock.now())]

    # a double tap, later: nothing more recorded, nobody told again
    again = await record(RecordRefundRequest(AGENT, placed.order_code, dues[0].event_id))
    assert again.status is RefundStatus.ALREADY and again.due.refunded_at == w.clock.now()
    assert (await w.events(sub.id)).count(REFUNDED) == 1
    assert len(await w.notices(NoticeKind.PAYMENT_REFUNDED)) == 1


async def test_two_presses_at_once_record_the_refund_once(
    w: ChangeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub, placed = await refund_due(w)
    (due,) = await RefundsOfOrder(w.uow)(AGENT, placed.order_code)
    # the first press to read the order's history dawdles before writing, so the others read
    # it meanwhile unless they wait for the order's row lock (PostgreSQL; SQLite's writers
    # take turns for the whole transaction)
    real = SqlHistoryRepository.list_for_order
    reads: list[int] = []

    async def dawdling(self: SqlHistoryRepository, order_id: Any) -> Any:
        found = await real(self, order_id)
        reads.append(len(found))
        if len(reads) == 1:
            await asyncio.sleep(0.3)
        return found

    monkeypatch.setattr(SqlHistoryRepository, "list_for_order", dawdling)
    record = RecordRefund(w.uow, w.clock)
    req = RecordRefundRequest(AGENT, placed.order_code, due.event_id)
    results = await asyncio.gather(record(req), record(req), record(req))
    assert sorted(r.status.value for r in results) == ["already", "already", "recorded"]
    assert len(reads) == 3 and reads[1] == reads[2] == reads[0] + 1  # they saw the refund
    assert (await w.events(sub.id)).count(REFUNDED) == 1
    assert len(await w.notices(NoticeKind.PAYMENT_REFUNDED)) == 1


async def test_only_staff_record_refunds_and_only_of_what_is_due(w: ChangeWorld) -> None:
    sub, placed = await refund_due(w)
    (due,) = await RefundsOfOrder(w.uow)(AGENT, placed.order_code)
    record = RecordRefund(w.uow, w.clock)
    with pytest.raises(PermissionDenied):  # the owner cannot mark their own money refunded
        await record(RecordRefundRequest(OWNER, placed.order_code, due.event_id))
    with pytest.raises(PermissionDenied):
        await RefundsOfOrder(w.uow)(OWNER, placed.order_code)
    with pytest.raises(NotFound):
        await record(RecordRefundRequest(AGENT, "DH-NOPE", due.event_id))
    with pytest.raises(RefundNotDue):  # an event of the order that is not an amount due
        await record(RecordRefundRequest(AGENT, placed.order_code, due.event_id + 10_000))
    # the subscription's own first order was paid normally: nothing due
    first = await w.order(sub.order_id)
    assert await RefundsOfOrder(w.uow)(AGENT, first.code) == ()
    with pytest.raises(RefundNotDue):
        await record(RecordRefundRequest(AGENT, first.code, due.event_id))
    assert REFUNDED not in await w.events(sub.id)
    assert await w.notices(NoticeKind.PAYMENT_REFUNDED) == []


async def test_refund_alone_lists_what_is_still_due_across_orders(w: ChangeWorld) -> None:
    assert await PendingRefunds(w.uow)(AGENT) == ()
    _, placed = await refund_due(w)
    # later, another order paid twice (a declined first attempt paid after all): due too
    other = await w.place()
    first_moid = f"{other.order_code}-1"
    await w.fail(PaymentFailureRequest(first_moid, "01", PaymentSource.NOTIFICATION))
    retry = await w.retry(RetryPaymentRequest(OWNER, order_id=other.order_id))
    await w.confirm(w.online(retry.merchant_order_id, other.total))
    w.clock.at += timedelta(hours=1)
    await w.confirm(w.online(first_moid, other.total))

    pending = await PendingRefunds(w.uow)(AGENT)

    assert [(d.order_code, d.amount, d.duplicate) for d in pending] == [
        (other.order_code, other.total, True),  # newest first
        (placed.order_code, placed.total, False),
    ]
    assert [d.order_code for d in await PendingRefunds(w.uow, limit=1)(AGENT)] == [other.order_code]
    with pytest.raises(PermissionDenied):
        await PendingRefunds(w.uow)(OWNER)
    # refunded: no longer listed
    await RecordRefund(w.uow, w.clock)(
        RecordRefundRequest(AGENT, placed.order_code, pending[1].event_id)
    )
    assert [d.order_code for d in await PendingRefunds(w.uow)(AGENT)] == [other.order_code]
