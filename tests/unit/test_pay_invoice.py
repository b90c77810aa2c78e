"""**Thanh toán** on an open invoice (issue 14, item 1): ``PayInvoice`` on the in-memory unit
of work. An ON invoice gets a VNPT Pay link through RetryPayment and StartPayment (one open
attempt at a time: pressed again, the same link), an OS invoice the cash note; it is paid
once however many notifications arrive or race; who may press; an expired order creates
nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import pytest

from domain.errors import PermissionDenied
from domain.model import (
    InvoiceStatus,
    OrderId,
    PaymentAttemptStatus,
    SubscriptionStatus,
)
from domain.orders import invoice_for, subscription_for
from domain.pricing import Quote
from domain.usecases.manage.paying import (
    InvoicePayment,
    PayInvoice,
    PayInvoiceRequest,
    PayInvoiceStatus,
)
from domain.usecases.payments import ConfirmStatus, PaymentFailureRequest, PaymentSource
from domain.usecases.registration import StartPayment
from tests.fakes.uow import FakeDatabase
from tests.integration.test_payment_usecases import (
    AGENT,
    MEMBER,
    OWNER,
    STRANGER,
    TTL,
    Clock,
    ScriptedGateway,
    World,
    vn,
)


class Invoices:
    """The payment world on a fake database, with an ON subscription whose invoice waits for
    payment (as a renewal or a change would leave it) and the use case under test."""

    def __init__(self, world: World, db: FakeDatabase, gateway: ScriptedGateway) -> None:
        self.world = world
        self.db = db
        self.gateway = gateway
        self.start = StartPayment(world.uow, gateway, world.clock)
        self.pay = PayInvoice(world.uow, world.clock, world.retry, self.start)

    async def open_on(self) -> tuple[int, int, int]:
        """An ON order placed and waiting (its first attempt never got a link), its FUTURE
        subscription and WAITING invoice: (order id, subscription id, invoice id)."""
        outcome = await self.world.place()
        now = self.world.clock.now()
        async with self.db.uow as uow:
            order = await uow.orders.get(OrderId(outcome.order_id or 0))
            assert order is not None
            sub = await uow.subscriptions.add(
                subscription_for(order, "TB-2026-000900", now, status=SubscriptionStatus.FUTURE)
            )
            invoice = await uow.invoices.add(
                invoice_for(
                    order,
                    Quote.from_dict(order.quote),
                    now,
                    subscription_id=sub.id,
                    status=InvoiceStatus.WAITING,
                )
            )
            await uow.commit()
        return int(order.id), int(sub.id), int(invoice.id)

    async def open_os(self) -> tuple[int, int, int]:
        """An OS order: PlaceOrder opens its FUTURE subscription and WAITING invoice."""
        outcome = await self.world.place("SETUP", "SETUP-ONSITE", "Y1")
        order_id = OrderId(outcome.order_id or 0)
        [sub] = await self.world.subscriptions(order_id)
        [invoice] = await self.world.invoices(order_id)
        return int(order_id), int(sub.id), int(invoice.id)

    async def press(self, sub: int, invoice: int, actor: int = OWNER) -> InvoicePayment:
        return await self.pay(PayInvoiceRequest(actor, sub, invoice))

    async def attempts(self, order_id: int) -> list[tuple[str, PaymentAttemptStatus]]:
        return [(a.merchant_order_id, a.status) for a in await self.world.attempts(order_id)]


@pytest.fixture
async def inv() -> Invoices:
    db = FakeDatabase()
    gateway = ScriptedGateway()
    clock = Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))
    world = await World(db, clock, gateway).seed()  # type: ignore[arg-type]
    return Invoices(world, db, gateway)


async def test_an_on_invoice_gets_one_link_and_a_second_press_shows_the_same(
    inv: Invoices,
) -> None:
    order_id, sub, invoice = await inv.open_on()
    [(code, _)] = await inv.attempts(order_id)
    code = code.rsplit("-", 1)[0]

    first = await inv.press(sub, invoice)

    assert first.status is PayInvoiceStatus.LINK and not first.reused
    assert first.merchant_order_id == f"{code}-2"  # a fresh merchant order id
    assert first.redirect_url == f"https://pay.example/{code}-2"
    assert first.amount == first.invoice.total
    assert await inv.attempts(order_id) == [
        (f"{code}-1", PaymentAttemptStatus.EXPIRED),  # never had a link: superseded
        (f"{code}-2", PaymentAttemptStatus.PENDING),
    ]
    async with inv.db.uow as uow:
        events = await uow.history.list_for_order(OrderId(order_id))
    [started] = [e for e in events if e.action == "invoice.pay_started"]
    assert started.subscription_id == sub and started.actor_id == OWNER
    assert started.details["merchant_order_id"] == f"{code}-2"

    before = inv.db.snapshot()
    again = await inv.press(sub, invoice)

    assert again.status is PayInvoiceStatus.LINK and again.reused
    assert (again.merchant_order_id, again.redirect_url) == (
        first.merchant_order_id,
        first.redirect_url,
    )
    assert inv.db.snapshot() == before  # nothing new: one open attempt
    assert len(inv.gateway.created) == 1


async def test_after_a_declined_payment_a_press_makes_a_new_attempt(inv: Invoices) -> None:
    order_id, sub, invoice = await inv.open_on()
    first = await inv.press(sub, invoice)
    await inv.world.fail(
        PaymentFailureRequest(first.merchant_order_id, "01", PaymentSource.NOTIFICATION)
    )

    second = await inv.press(sub, invoice)

    assert second.status is PayInvoiceStatus.LINK and not second.reused
    assert second.merchant_order_id != first.merchant_order_id
    statuses = [s for _, s in await inv.attempts(order_id)]
    assert statuses.count(PaymentAttemptStatus.PENDING) == 1  # one open attempt


async def test_the_invoice_is_paid_once_whatever_the_gateway_repeats(inv: Invoices) -> None:
    order_id, sub, invoice = await inv.open_on()
    link = await inv.press(sub, invoice)
    ipn = inv.world.online(link.merchant_order_id, link.amount)

    results = await asyncio.gather(inv.world.confirm(ipn), inv.world.confirm(ipn))
    repeat = await inv.world.confirm(ipn)

    assert sorted(r.status.value for r in results) == ["already_applied", "applied"]
    assert repeat.status is ConfirmStatus.ALREADY_APPLIED
    [paid] = await inv.world.invoices(order_id)
    assert paid.id == invoice and paid.status is InvoiceStatus.PAID and paid.number
    [active] = await inv.world.subscriptions(order_id)
    assert active.id == sub and active.status is SubscriptionStatus.ACTIVE
    history = await inv.world.history(order_id)
    assert history.count("invoice.paid") == 1 and history.count("payment.succeeded") == 1

    after = await inv.press(sub, invoice)
    assert after.status is PayInvoiceStatus.PAID
    assert len(inv.gateway.created) == 1  # no link for a paid invoice


async def test_a_late_success_of_an_older_link_is_a_duplicate_not_a_second_payment(
    inv: Invoices,
) -> None:
    order_id, sub, invoice = await inv.open_on()
    old = await inv.press(sub, invoice)
    await inv.world.fail(
        PaymentFailureRequest(old.merchant_order_id, "01", PaymentSource.NOTIFICATION)
    )
    new = await inv.press(sub, invoice)

    paid = await inv.world.confirm(inv.world.online(new.merchant_order_id, new.amount))
    dup = await inv.world.confirm(inv.world.online(old.merchant_order_id, old.amount))

    assert paid.status is ConfirmStatus.APPLIED
    assert dup.status is ConfirmStatus.DUPLICATE_PAYMENT
    [one] = await inv.world.invoices(order_id)
    assert one.status is InvoiceStatus.PAID and one.number == paid.invoice_number
    assert (await inv.world.history(order_id)).count("invoice.paid") == 1


async def test_an_os_invoice_gets_the_cash_note_and_nothing_changes(inv: Invoices) -> None:
    _, sub, invoice = await inv.open_os()
    before = inv.db.snapshot()

    result = await inv.press(sub, invoice)

    assert result.status is PayInvoiceStatus.CASH
    assert result.amount == result.invoice.total
    assert inv.db.snapshot() == before
    assert inv.gateway.created == []


@pytest.mark.parametrize("actor", [AGENT])
async def test_staff_may_press_for_a_business(inv: Invoices, actor: int) -> None:
    _, sub, invoice = await inv.open_on()
    assert (await inv.press(sub, invoice, actor)).status is PayInvoiceStatus.LINK


@pytest.mark.parametrize("actor", [MEMBER, STRANGER])
async def test_members_and_strangers_are_refused_and_nothing_changes(
    inv: Invoices, actor: int
) -> None:
    _, sub, invoice = await inv.open_on()
    before = inv.db.snapshot()
    with pytest.raises(PermissionDenied):
        await inv.press(sub, invoice, actor)
    assert inv.db.snapshot() == before


async def test_an_invoice_of_another_subscription_is_refused(inv: Invoices) -> None:
    _, sub, _ = await inv.open_on()
    _, _, other_invoice = await inv.open_os()
    with pytest.raises(PermissionDenied):
        await inv.press(sub, other_invoice)
    with pytest.raises(PermissionDenied):
        await inv.press(sub, other_invoice + 1000)


async def test_an_expired_order_creates_nothing(inv: Invoices) -> None:
    order_id, sub, invoice = await inv.open_on()
    inv.world.clock.advance(TTL)
    before = inv.db.snapshot()

    result = await inv.press(sub, invoice)  # expired, not yet swept

    assert result.status is PayInvoiceStatus.EXPIRED and result.expired_at is not None
    assert inv.db.snapshot() == before
    await inv.world.expire()
    [out_of_date] = await inv.world.invoices(order_id)
    assert out_of_date.status is InvoiceStatus.OUT_OF_DATE
    after_sweep = inv.db.snapshot()
    assert (await inv.press(sub, invoice)).status is PayInvoiceStatus.EXPIRED
    assert inv.db.snapshot() == after_sweep
    assert inv.gateway.created == []


async def test_without_a_link_from_the_gateway_the_press_says_so(inv: Invoices) -> None:
    _, sub, invoice = await inv.open_on()
    no_gateway = PayInvoice(inv.world.uow, inv.world.clock, inv.world.retry, None)
    result: Any = await no_gateway(PayInvoiceRequest(OWNER, sub, invoice))
    assert result.status is PayInvoiceStatus.NO_LINK and result.redirect_url == ""
