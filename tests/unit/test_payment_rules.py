"""The payment use cases' rules, on the in-memory unit of work (tests/fakes): confirming (online
and cash), failures, Thanh toán lại, expiry. Orders are placed through PlaceOrder with a small
catalog, as in tests/integration/test_payment_usecases.py, which keeps what needs a database
(concurrent successes); tests/integration/test_uow_contract.py keeps the fake true to SQL."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any, cast

import pytest

from domain.catalog import (
    ServiceKind,
)
from domain.errors import NotFound, PermissionDenied
from domain.model import (
    Invoice,
    InvoiceStatus,
    OrderId,
    OrderProgress,
    OrderStatus,
    PaymentAttemptStatus,
    PaymentMethod,
    Role,
    SubscriptionStatus,
    User,
    UserId,
    invoice_counter,
)
from domain.outbox import Notice, NoticeKind
from domain.payments import (
    GatewayError,
    GatewayRejected,
    GatewayTimeout,
    PaymentLink,
    PaymentRequest,
    PaymentStatus,
)
from domain.pricing import Quote
from domain.usecases.payments import (
    ConfirmCashRequest,
    ConfirmPaymentRequest,
    ConfirmStatus,
    FailureStatus,
    PaymentFailureRequest,
    PaymentSource,
    ReconcilePayments,
    RetryPaymentRequest,
    RetryStatus,
    subscription_period,
)
from domain.usecases.refunds import RecordRefund, RecordRefundRequest, RefundsOfOrder, RefundStatus
from domain.usecases.registration import StartPayment
from tests.fakes.uow import FakeDatabase
from tests.integration.test_late_payments import ADMIN, reachable
from tests.integration.test_payment_usecases import (
    AGENT,
    CATALOG,
    MEMBER,
    OWNER,
    OWNER_CHAT,
    STRANGER,
    TTL,
    Clock,
    ScriptedGateway,
    World,
    vn,
)


class FakeWorld(World):
    """The payment world on a :class:`FakeDatabase`."""

    async def snapshot(self) -> Any:
        return cast(FakeDatabase, self.db).snapshot()


def told(world: World, kind: NoticeKind) -> list[Notice]:
    """The committed outbox notices of ``kind``, oldest first (what the users will be told)."""
    rows = world.db.uow.committed.outbox  # type: ignore[attr-defined]
    return [rows[i].notice for i in sorted(rows) if rows[i].notice.kind is kind]


@pytest.fixture
def clock() -> Clock:
    return Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))


@pytest.fixture
async def world(clock: Clock) -> World:
    return await FakeWorld(FakeDatabase(), clock, ScriptedGateway()).seed()  # type: ignore[arg-type]


async def test_confirm_activates_the_subscription_and_numbers_the_invoice(
    world: World, clock: Clock
) -> None:
    first = await world.place(addons=("CLOUD-BACKUP",), invoice_promotions=("KM-HD",))
    second = await world.place(cycle="M1")
    assert first.order_id is not None and second.order_id is not None
    paid_at = vn(2026, 3, 10, 10, 15, 30).astimezone(UTC)
    clock.advance(timedelta(minutes=20))

    result = await world.confirm(
        world.online(f"{first.order_code}-1", first.total, paid_at=paid_at)
    )

    assert result.status is ConfirmStatus.APPLIED and result.newly_applied
    assert result.order_code == first.order_code
    assert result.chat_id == OWNER_CHAT and result.chat_ids == (OWNER_CHAT,)
    assert result.invoice_number == "HD2026-000001"
    assert result.subscription_code.startswith("TB-2026-")
    order = await world.order(first.order_id)
    assert order.status is OrderStatus.PAID and order.paid_at == paid_at
    [attempt] = await world.attempts(first.order_id)
    assert attempt.status is PaymentAttemptStatus.SUCCESS
    assert attempt.transaction_id == f"TX-{first.order_code}-1"
    assert attempt.notified_at == clock.now()
    [sub] = await world.subscriptions(first.order_id)
    assert sub.code == result.subscription_code
    assert sub.status is SubscriptionStatus.ACTIVE and sub.kind is ServiceKind.ON
    assert (sub.plan_code, sub.cycle_code, sub.addon_codes) == (
        "CLOUD-STD",
        "M12",
        ("CLOUD-BACKUP",),
    )
    assert sub.started_at == paid_at == sub.current_period_start
    assert sub.current_period_end == vn(2027, 3, 10, 10, 15, 30).astimezone(UTC)
    [invoice] = await world.invoices(first.order_id)
    q = Quote.from_dict(order.quote)
    assert q.invoice_discount_total > 0 and q.vat_total > 0
    assert invoice.status is InvoiceStatus.PAID and invoice.number == "HD2026-000001"
    assert (invoice.subtotal, invoice.discount_total, invoice.vat_total, invoice.total) == (
        q.subtotal,
        q.line_discount_total + q.invoice_discount_total,
        q.vat_total,
        q.total,
    )
    assert invoice.total == first.total == order.total
    assert invoice.subscription_id == sub.id and invoice.paid_at == paid_at
    assert invoice.confirmed_by is None and invoice.lines == order.quote
    history = await world.history(first.order_id)
    assert history[-3:] == ["payment.succeeded", "subscription.activated", "invoice.paid"]
    [success] = told(world, NoticeKind.PAYMENT_SUCCEEDED)
    assert (success.chat_id, success.locale) == (OWNER_CHAT, "vi")
    assert success.params == {
        "order": first.order_code,
        "subscription": result.subscription_code,
        "total": first.total,
        "invoice": "HD2026-000001",
        "method": "VNPTPAY",
        "period_start": paid_at.isoformat(),
        "period_end": vn(2027, 3, 10, 10, 15, 30).astimezone(UTC).isoformat(),
    }

    again = await world.confirm(world.online(f"{second.order_code}-1", second.total))
    assert again.invoice_number == "HD2026-000002"
    [sub2] = await world.subscriptions(second.order_id)
    assert sub2.current_period_start == clock.now()
    assert sub2.current_period_end == vn(2026, 4, 10, 9, 20).astimezone(UTC)


@pytest.mark.parametrize(
    ("paid_local", "end_local"),
    [
        # the 31st plus one month is the last day of February
        ((2026, 1, 31, 15, 0), (2026, 2, 28, 15, 0)),
        # 05:00 on 1 March in Viet Nam is still 28 February in UTC: the local calendar counts
        ((2026, 3, 1, 5, 0), (2026, 4, 1, 5, 0)),
        ((2028, 1, 31, 8, 0), (2028, 2, 29, 8, 0)),
    ],
)
async def test_a_month_period_ends_on_the_same_local_day_clamped(
    world: World, paid_local: tuple[int, ...], end_local: tuple[int, ...]
) -> None:
    placed = await world.place(cycle="M1")
    paid_at = vn(*paid_local).astimezone(UTC)
    result = await world.confirm(
        world.online(f"{placed.order_code}-1", placed.total, paid_at=paid_at)
    )
    assert result.period_start == paid_at
    assert result.period_end == vn(*end_local).astimezone(UTC)
    [sub] = await world.subscriptions(placed.order_id or 0)
    assert sub.current_period_end == vn(*end_local).astimezone(UTC)
    assert result.invoice_number == f"HD{paid_local[0]}-000001"


def test_subscription_period_twelve_months_from_a_leap_day() -> None:
    cycle = CATALOG.services[0].plans[0].cycles[0]
    start, end = subscription_period(vn(2028, 2, 29, 23, 30).astimezone(UTC), cycle)
    assert start.tzinfo is UTC
    assert end == vn(2029, 2, 28, 23, 30).astimezone(UTC)


async def test_a_repeated_success_applies_nothing_again(world: World) -> None:
    placed = await world.place()
    moid = f"{placed.order_code}-1"
    first = await world.confirm(world.online(moid, placed.total))
    before = await world.snapshot()

    again = await world.confirm(
        world.online(moid, placed.total, source=PaymentSource.QUERY, transaction_id="OTHER")
    )

    assert again.status is ConfirmStatus.ALREADY_APPLIED and not again.newly_applied
    assert again.subscription_code == first.subscription_code
    assert again.invoice_number == first.invoice_number
    assert await world.snapshot() == before
    assert len(await world.subscriptions(placed.order_id or 0)) == 1
    async with world.db.uow as uow:
        assert await uow.counters.current(invoice_counter(2026)) == 1
    assert len(told(world, NoticeKind.PAYMENT_SUCCEEDED)) == 1  # told once


@pytest.mark.parametrize(
    "change",
    [{"amount_delta": 1}, {"amount_delta": -1000}, {"currency": "USD"}],
)
async def test_a_different_amount_or_currency_applies_nothing(
    world: World, change: dict[str, Any]
) -> None:
    placed = await world.place()
    before: Any = await world.snapshot()
    request = world.online(
        f"{placed.order_code}-1",
        placed.total + change.get("amount_delta", 0),
        currency=change.get("currency", "VND"),
    )

    result = await world.confirm(request)

    assert result.status is ConfirmStatus.AMOUNT_MISMATCH and not result.newly_applied
    after: Any = await world.snapshot()
    # nothing applied: only the order's history and the outbox (who is told) changed
    assert replace(after, history=before.history, outbox=before.outbox) == before
    assert (await world.history(placed.order_id or 0)).count("payment.amount_mismatch") == 1


async def reachable_admin(world: World) -> None:
    """An admin who has written to the bot (so the staff notices reach them)."""
    async with world.db.uow as uow:
        await uow.users.upsert(User(id=ADMIN, first_name="Admin", created_at=world.clock.now()))
        await uow.users.set_global_role(ADMIN, Role.ADMIN)
        await uow.commit()
    await reachable(world, ADMIN)  # type: ignore[arg-type]


async def test_money_reported_in_another_amount_is_recorded_and_told_once(world: World) -> None:
    await reachable_admin(world)
    placed = await world.place()
    moid = f"{placed.order_code}-1"
    short = world.online(moid, placed.total - 1000)

    first = await world.confirm(short)
    again = await world.confirm(short)  # the gateway repeats its notification
    query = await world.confirm(
        world.online(moid, placed.total - 1000, source=PaymentSource.QUERY)
    )  # and reconciliation asks

    assert {first.status, again.status, query.status} == {ConfirmStatus.AMOUNT_MISMATCH}
    events = await world.history(placed.order_id or 0)
    assert events.count("payment.amount_mismatch") == 1
    told_now = [(n.chat_id, n.params) for n in told(world, NoticeKind.PAYMENT_AMOUNT_MISMATCH)]
    base = {
        "order": placed.order_code,
        "total": placed.total,
        "reported": placed.total - 1000,
        "currency": "VND",
        "reference": moid,
        "transaction": f"TX-{moid}",
    }
    assert told_now == [
        (OWNER_CHAT, {**base, "audience": "owner"}),
        (int(ADMIN), {**base, "audience": "staff"}),
    ]
    # another amount reported later is a new fact: recorded and told again
    await world.confirm(world.online(moid, placed.total + 5000))
    assert (await world.history(placed.order_id or 0)).count("payment.amount_mismatch") == 2
    assert len(told(world, NoticeKind.PAYMENT_AMOUNT_MISMATCH)) == 4
    # the right amount still pays the order
    paid = await world.confirm(world.online(moid, placed.total))
    assert paid.status is ConfirmStatus.APPLIED


async def test_an_unknown_merchant_order_id_is_not_found(world: World) -> None:
    before = await world.snapshot()
    result = await world.confirm(world.online("DH-2026-999999-1", 1000))
    assert result.status is ConfirmStatus.NOT_FOUND
    assert await world.snapshot() == before


async def test_a_second_payment_of_a_paid_order_is_kept_for_a_refund(world: World) -> None:
    await reachable_admin(world)
    placed = await world.place()
    first_moid = f"{placed.order_code}-1"
    await world.fail(PaymentFailureRequest(first_moid, "01", PaymentSource.NOTIFICATION))
    retry = await world.retry(RetryPaymentRequest(OWNER, order_id=placed.order_id))
    await world.confirm(world.online(retry.merchant_order_id, placed.total))

    late = await world.confirm(world.online(first_moid, placed.total))

    assert late.status is ConfirmStatus.DUPLICATE_PAYMENT
    attempts = {a.merchant_order_id: a.status for a in await world.attempts(placed.order_id or 0)}
    assert attempts == {
        first_moid: PaymentAttemptStatus.SUCCESS,
        retry.merchant_order_id: PaymentAttemptStatus.SUCCESS,
    }
    assert len(await world.subscriptions(placed.order_id or 0)) == 1
    assert (await world.history(placed.order_id or 0)).count("payment.duplicate") == 1
    # told: the order's chat (a refund is coming) and the reachable admin (make it)
    [sub] = await world.subscriptions(placed.order_id or 0)
    dup = [(n.chat_id, n.params) for n in told(world, NoticeKind.PAYMENT_DUPLICATE)]
    base = {"order": placed.order_code, "total": placed.total, "subscription": sub.code}
    base["transaction"] = f"TX-{first_moid}"
    assert dup == [
        (OWNER_CHAT, {**base, "audience": "owner"}),
        (int(ADMIN), {**base, "audience": "staff"}),
    ]
    repeat = await world.confirm(world.online(first_moid, placed.total))
    assert repeat.status is ConfirmStatus.ALREADY_APPLIED
    assert (await world.history(placed.order_id or 0)).count("payment.duplicate") == 1
    assert len(told(world, NoticeKind.PAYMENT_DUPLICATE)) == 2  # told once
    # support refunds it and records it: the owner is told
    [due] = await RefundsOfOrder(world.uow)(AGENT, placed.order_code)
    assert (due.amount, due.duplicate, due.refunded) == (placed.total, True, False)
    record = RecordRefund(world.uow, world.clock)
    done = await record(RecordRefundRequest(AGENT, placed.order_code, due.event_id))
    assert done.status is RefundStatus.RECORDED
    assert [n.chat_id for n in told(world, NoticeKind.PAYMENT_REFUNDED)] == [OWNER_CHAT]


async def test_a_declined_payment_fails_the_attempt_once(world: World) -> None:
    placed = await world.place()
    moid = f"{placed.order_code}-1"

    failed = await world.fail(PaymentFailureRequest(moid, "01", PaymentSource.NOTIFICATION))

    assert failed.status is FailureStatus.RECORDED and failed.should_notify
    assert (failed.order_code, failed.response_code, failed.cancelled) == (
        placed.order_code,
        "01",
        False,
    )
    assert failed.chat_id == OWNER_CHAT and failed.can_retry and failed.total == placed.total
    [attempt] = await world.attempts(placed.order_id or 0)
    assert attempt.status is PaymentAttemptStatus.FAILED and attempt.response_code == "01"
    assert (await world.order(placed.order_id or 0)).status is OrderStatus.PENDING_PAYMENT
    assert "payment.failed" in await world.history(placed.order_id or 0)

    [notice] = told(world, NoticeKind.PAYMENT_FAILED)
    assert (notice.chat_id, notice.locale) == (OWNER_CHAT, "vi")
    assert notice.params == {
        "order": placed.order_code,
        "total": placed.total,
        "code": "01",
        "cancelled": False,
        "can_retry": True,
    }

    repeat = await world.fail(PaymentFailureRequest(moid, "01", PaymentSource.NOTIFICATION))
    assert repeat.status is FailureStatus.ALREADY_FINAL and not repeat.should_notify
    assert len(told(world, NoticeKind.PAYMENT_FAILED)) == 1  # told once


async def test_a_cancelled_payment_is_cancelled(world: World) -> None:
    placed = await world.place()
    failed = await world.fail(
        PaymentFailureRequest(f"{placed.order_code}-1", "70", PaymentSource.NOTIFICATION)
    )
    assert failed.cancelled and failed.newly_recorded
    [attempt] = await world.attempts(placed.order_id or 0)
    assert attempt.status is PaymentAttemptStatus.CANCELLED
    [notice] = told(world, NoticeKind.PAYMENT_FAILED)
    assert notice.params["cancelled"] is True and notice.params["code"] == "70"


async def test_a_failure_never_downgrades_a_success(world: World) -> None:
    placed = await world.place()
    moid = f"{placed.order_code}-1"
    await world.confirm(world.online(moid, placed.total))
    before = await world.snapshot()

    failed = await world.fail(PaymentFailureRequest(moid, "01", PaymentSource.QUERY))

    assert failed.status is FailureStatus.ALREADY_FINAL and not failed.can_retry
    assert await world.snapshot() == before  # the outbox too: no failure told
    assert told(world, NoticeKind.PAYMENT_FAILED) == []


async def test_retry_makes_a_new_attempt_for_the_same_amount(world: World) -> None:
    gateway: ScriptedGateway = world.gateway
    start = StartPayment(world.uow, gateway, world.clock)
    placed = await world.place(plan_promotion="KM10")
    assert placed.order_id is not None
    await start(placed.order_id)
    await world.fail(
        PaymentFailureRequest(f"{placed.order_code}-1", "01", PaymentSource.NOTIFICATION)
    )

    retry = await world.retry(RetryPaymentRequest(OWNER, order_code=placed.order_code))

    assert retry.status is RetryStatus.CREATED and retry.can_pay
    assert retry.merchant_order_id == f"{placed.order_code}-2"
    assert retry.amount == placed.total
    started = await start(placed.order_id)
    assert started.merchant_order_id == retry.merchant_order_id
    assert gateway.created[-1].merchant_order_id == retry.merchant_order_id
    assert gateway.created[-1].amount == placed.total == gateway.created[0].amount
    attempts = await world.attempts(placed.order_id)
    assert [(a.merchant_order_id, a.status, a.amount) for a in attempts] == [
        (f"{placed.order_code}-1", PaymentAttemptStatus.FAILED, placed.total),
        (f"{placed.order_code}-2", PaymentAttemptStatus.PENDING, placed.total),
    ]

    # the new link is still open: pressing again gives it back, never a second payable link
    open_again = await world.retry(RetryPaymentRequest(AGENT, order_id=placed.order_id))
    assert open_again.status is RetryStatus.OPEN
    assert open_again.merchant_order_id == retry.merchant_order_id
    assert open_again.redirect_url == started.redirect_url
    assert len(await world.attempts(placed.order_id)) == 2


async def test_retry_supersedes_an_attempt_that_never_got_a_link(world: World) -> None:
    placed = await world.place()
    retry = await world.retry(RetryPaymentRequest(OWNER, order_id=placed.order_id))
    assert retry.status is RetryStatus.CREATED
    statuses = [(a.merchant_order_id, a.status) for a in await world.attempts(placed.order_id or 0)]
    assert statuses == [
        (f"{placed.order_code}-1", PaymentAttemptStatus.EXPIRED),
        (f"{placed.order_code}-2", PaymentAttemptStatus.CREATED),
    ]


async def test_only_the_registrant_owners_and_staff_may_retry(world: World) -> None:
    placed = await world.place(actor=AGENT, chat_id=2001)
    for who in (STRANGER, MEMBER, UserId(999999)):
        with pytest.raises(PermissionDenied):
            await world.retry(RetryPaymentRequest(who, order_id=placed.order_id))
    assert len(await world.attempts(placed.order_id or 0)) == 1
    for who in (OWNER, AGENT):
        assert (await world.retry(RetryPaymentRequest(who, order_id=placed.order_id))).can_pay
    with pytest.raises(NotFound):
        await world.retry(RetryPaymentRequest(OWNER, order_code="DH-2026-424242"))


async def test_retry_refuses_a_paid_or_expired_order(world: World, clock: Clock) -> None:
    paid = await world.place()
    await world.confirm(world.online(f"{paid.order_code}-1", paid.total))
    late = await world.place()
    cash = await world.place("SETUP", "SETUP-ONSITE", "Y1")

    assert (await world.retry(RetryPaymentRequest(OWNER, order_id=paid.order_id))).status is (
        RetryStatus.PAID
    )
    assert (await world.retry(RetryPaymentRequest(OWNER, order_id=cash.order_id))).status is (
        RetryStatus.NOT_ONLINE
    )
    clock.advance(TTL)
    before = await world.snapshot()
    refused = await world.retry(RetryPaymentRequest(OWNER, order_id=late.order_id))
    assert refused.status is RetryStatus.EXPIRED and not refused.can_pay
    assert await world.snapshot() == before


async def test_an_unpaid_order_expires_and_gives_its_promotion_back(
    world: World, clock: Clock
) -> None:
    placed = await world.place(plan_promotion="KM10")
    assert placed.order_id is not None
    paid = await world.place(plan_promotion="KM10")
    await world.confirm(world.online(f"{paid.order_code}-1", paid.total))
    async with world.db.uow as uow:  # a waiting invoice (e.g. a pro forma) goes out of date
        await uow.invoices.add(
            Invoice(
                order_id=OrderId(placed.order_id),
                enterprise_id=world.enterprise_id,
                payment_method=PaymentMethod.VNPTPAY,
                subtotal=placed.total,
                discount_total=0,
                vat_total=0,
                total=placed.total,
                created_at=clock.now(),
                status=InvoiceStatus.WAITING,
            )
        )
        await uow.commit()
    assert await world.usage("KM10") == 2

    clock.advance(TTL - timedelta(seconds=1))
    assert (await world.expire()).expired == ()
    assert told(world, NoticeKind.ORDER_EXPIRED) == []
    clock.advance(timedelta(seconds=1))
    report = await world.expire()

    [expired] = report.expired
    assert expired.order_code == placed.order_code and expired.chat_id == OWNER_CHAT
    assert (expired.released_promotions, expired.invoices_out_of_date) == (1, 1)
    assert (await world.order(placed.order_id)).status is OrderStatus.EXPIRED
    [attempt] = await world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.EXPIRED
    [invoice] = await world.invoices(placed.order_id)
    assert invoice.status is InvoiceStatus.OUT_OF_DATE
    assert await world.usage("KM10") == 1  # the paid order keeps its use
    assert "order.expired" in await world.history(placed.order_id)
    assert (await world.order(paid.order_id or 0)).status is OrderStatus.PAID
    assert (await world.expire()).expired == ()
    [notice] = told(world, NoticeKind.ORDER_EXPIRED)  # told once
    assert (notice.chat_id, notice.locale) == (OWNER_CHAT, "vi")
    assert notice.params == {"order": placed.order_code, "total": placed.total}


async def test_expiry_applies_a_success_found_by_the_last_query(world: World, clock: Clock) -> None:
    gateway: ScriptedGateway = world.gateway
    placed = await world.place()
    assert placed.order_id is not None
    await StartPayment(world.uow, gateway, clock)(placed.order_id)
    gateway.statuses[f"{placed.order_code}-1"] = PaymentStatus.SUCCESS
    clock.advance(TTL)

    report = await world.expire()

    assert report.expired == ()
    [paid] = report.confirmed
    assert paid.order_code == placed.order_code and paid.newly_applied
    assert (await world.order(placed.order_id)).status is OrderStatus.PAID
    assert gateway.queried == [f"{placed.order_code}-1"]


async def test_a_success_after_expiry_still_counts(world: World, clock: Clock) -> None:
    placed = await world.place(plan_promotion="KM10")
    clock.advance(TTL)
    await world.expire()
    assert await world.usage("KM10") == 0

    result = await world.confirm(world.online(f"{placed.order_code}-1", placed.total))

    assert result.status is ConfirmStatus.APPLIED and result.late
    assert (await world.order(placed.order_id or 0)).status is OrderStatus.PAID
    assert await world.usage("KM10") == 1
    [sub] = await world.subscriptions(placed.order_id or 0)
    assert sub.status is SubscriptionStatus.ACTIVE


async def test_an_agent_confirms_cash_and_the_subscription_starts(
    world: World, clock: Clock
) -> None:
    placed = await world.place("SETUP", "SETUP-ONSITE", "Y1")
    assert placed.order_id is not None and placed.subscription_code
    [waiting] = await world.subscriptions(placed.order_id)
    assert waiting.status is SubscriptionStatus.FUTURE
    before = await world.snapshot()
    for who in (OWNER, MEMBER, STRANGER):
        with pytest.raises(PermissionDenied):
            await world.cash(ConfirmCashRequest(placed.subscription_code, who))
    assert await world.snapshot() == before
    with pytest.raises(NotFound):
        await world.cash(ConfirmCashRequest("TB-2026-999999", AGENT))
    clock.advance(timedelta(days=2))

    result = await world.cash(ConfirmCashRequest(placed.subscription_code.lower(), AGENT))

    assert result.status is ConfirmStatus.APPLIED and result.method is PaymentMethod.BY_CASH
    assert result.subscription_code == placed.subscription_code
    assert result.actor_id == AGENT and result.invoice_number == "HD2026-000001"
    assert result.chat_ids == (OWNER_CHAT,)
    [success] = told(world, NoticeKind.PAYMENT_SUCCEEDED)
    assert success.chat_id == OWNER_CHAT and success.params["method"] == "BY_CASH"
    [sub] = await world.subscriptions(placed.order_id)
    assert sub.id == waiting.id and sub.status is SubscriptionStatus.ACTIVE
    assert sub.progress is OrderProgress.ORDERED
    assert sub.current_period_start == clock.now()
    assert sub.current_period_end == clock.now().replace(year=2027)
    [invoice] = await world.invoices(placed.order_id)
    assert invoice.status is InvoiceStatus.PAID and invoice.number == "HD2026-000001"
    assert invoice.confirmed_by == AGENT and invoice.total == placed.total
    [attempt] = await world.attempts(placed.order_id)
    assert attempt.merchant_order_id == f"{placed.order_code}-CASH"
    assert attempt.method is PaymentMethod.BY_CASH
    assert attempt.status is PaymentAttemptStatus.SUCCESS
    async with world.db.uow as uow:
        events = await uow.history.list_for_order(OrderId(placed.order_id))
    paid_event = next(e for e in events if e.action == "payment.succeeded")
    assert paid_event.actor_id == AGENT and paid_event.details["method"] == "BY_CASH"

    again = await world.cash(ConfirmCashRequest(placed.subscription_code, AGENT))
    assert again.status is ConfirmStatus.ALREADY_APPLIED
    assert again.invoice_number == "HD2026-000001"
    assert len(await world.attempts(placed.order_id)) == 1


async def test_the_owner_is_told_about_cash_when_an_agent_registered(world: World) -> None:
    placed = await world.place("SETUP", "SETUP-ONSITE", "Y1", actor=AGENT, chat_id=777)
    result = await world.cash(ConfirmCashRequest(placed.subscription_code, AGENT))
    assert result.chat_id == 777 and result.owner_chat_ids == (OWNER_CHAT,)
    assert result.chat_ids == (777, OWNER_CHAT)
    told_chats = [n.chat_id for n in told(world, NoticeKind.PAYMENT_SUCCEEDED)]
    assert told_chats == [777, OWNER_CHAT]  # the agent's chat and the owner, each once


async def test_cash_cannot_pay_an_online_order(world: World) -> None:
    placed = await world.place()
    before = await world.snapshot()
    result = await world.confirm(
        ConfirmPaymentRequest(
            method=PaymentMethod.BY_CASH,
            source=PaymentSource.CASH,
            order_id=placed.order_id,
            actor_id=AGENT,
        )
    )
    assert result.status is ConfirmStatus.WRONG_METHOD
    assert await world.snapshot() == before


async def test_reconciliation_told_of_another_amount_records_it_and_applies_nothing(
    world: World,
) -> None:
    gateway: ScriptedGateway = world.gateway
    placed = await world.place()
    assert placed.order_id is not None
    await StartPayment(world.uow, gateway, world.clock)(placed.order_id)
    moid = f"{placed.order_code}-1"
    gateway.statuses[moid] = PaymentStatus.SUCCESS
    gateway.amounts[moid] = placed.total - 1
    world.clock.advance(timedelta(minutes=10))
    reconcile = ReconcilePayments(
        world.uow, gateway, world.clock, world.confirm, world.fail, after=timedelta(minutes=5)
    )

    report = await reconcile()

    assert (report.checked, report.confirmed, report.errors) == (1, (), 0)
    assert (await world.history(placed.order_id)).count("payment.amount_mismatch") == 1
    assert [n.chat_id for n in told(world, NoticeKind.PAYMENT_AMOUNT_MISMATCH)] == [OWNER_CHAT]
    [attempt] = await world.attempts(placed.order_id)
    assert attempt.status is PaymentAttemptStatus.PENDING


class SpentGateway(ScriptedGateway):
    """A gateway that already has some merchant order ids (their first INIT landed, its answer
    never recorded: a replica died): asked again, it answers ``03`` duplicate order id."""

    def __init__(self, *spent: str, error: GatewayError | None = None) -> None:
        super().__init__()
        self.spent = set(spent)
        self.error = error or GatewayRejected("03", "duplicate order id")
        self.asked: list[str] = []

    async def create_payment(self, req: PaymentRequest) -> PaymentLink:
        self.asked.append(req.merchant_order_id)
        if req.merchant_order_id in self.spent:
            raise self.error
        return await super().create_payment(req)


@pytest.mark.parametrize(
    "error", [GatewayRejected("03", "duplicate"), GatewayTimeout("lost", merchant_order_id="x")]
)
async def test_a_spent_merchant_order_id_is_replaced_once_and_the_link_asked_again(
    world: World, error: GatewayError
) -> None:
    placed = await world.place()
    assert placed.order_id is not None
    first = f"{placed.order_code}-1"
    gateway = SpentGateway(first, error=error)

    started = await StartPayment(world.uow, gateway, world.clock)(placed.order_id)

    second = f"{placed.order_code}-2"
    assert gateway.asked == [first, second]
    assert started.merchant_order_id == second and started.redirect_url.endswith(second)
    attempts = {a.merchant_order_id: a.status for a in await world.attempts(placed.order_id)}
    assert attempts == {first: PaymentAttemptStatus.EXPIRED, second: PaymentAttemptStatus.PENDING}
    # asked again (a redelivery): the link is there, the gateway is not asked
    again = await StartPayment(world.uow, gateway, world.clock)(placed.order_id)
    assert again.redirect_url == started.redirect_url and len(gateway.asked) == 2


async def test_a_refused_order_id_is_not_replaced_and_a_second_spent_one_gives_up(
    world: World,
) -> None:
    placed = await world.place()
    assert placed.order_id is not None
    first, second = f"{placed.order_code}-1", f"{placed.order_code}-2"
    refused = SpentGateway(first, error=GatewayRejected("06", "system error"))
    started = await StartPayment(world.uow, refused, world.clock)(placed.order_id)
    assert (started.redirect_url, refused.asked) == ("", [first])  # not spent: kept
    both = SpentGateway(first, second)
    started = await StartPayment(world.uow, both, world.clock)(placed.order_id)
    assert started.redirect_url == "" and both.asked == [first, second]  # once, no loop
    attempts = {a.merchant_order_id: a.status for a in await world.attempts(placed.order_id)}
    assert attempts == {first: PaymentAttemptStatus.EXPIRED, second: PaymentAttemptStatus.CREATED}
