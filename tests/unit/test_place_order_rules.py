"""PlaceOrder's rules on the in-memory unit of work (tests/fakes): a double tap makes one order,
who may register, a changed price or a used-up promotion stores nothing, and what an online and
a cash order leave behind. (A double tap racing on PostgreSQL, where both transactions pass the
idempotency check, is the SQL side's: ``OrderRepository.add`` returns the order stored first.)"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import pytest

from domain.model import (
    EnterpriseId,
    InvoiceStatus,
    OrderId,
    OrderStatus,
    PaymentAttemptStatus,
    PaymentMethod,
    SubscriptionStatus,
    User,
    UserId,
    order_counter,
)
from domain.outbox import Notice, NoticeKind
from domain.pricing import NO_USAGE, Selection, quote
from domain.registration import (
    ContactInfo,
    CustomerInfo,
    InvoiceInfo,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.usecases.registration import OrderSettings, PlaceOrder, StartPayment
from tests.fakes.uow import FakeDatabase
from tests.integration.test_payment_usecases import (
    AGENT,
    CATALOG,
    MEMBER,
    OWNER,
    STRANGER,
    TAX_CODE,
    TTL,
    VN,
    Clock,
    ScriptedGateway,
    World,
    vn,
)


class Placing:
    """The payment world (catalog CLOUD (ON) and SETUP (OS), promotion KM10 with a quota of 5)
    on a fake database, and PlaceOrder requests with a chosen key, actor and total."""

    def __init__(self, world: World, db: FakeDatabase) -> None:
        self.world = world
        self.db = db
        self.place = PlaceOrder(
            world.uow, lambda: CATALOG, world.clock, OrderSettings(unpaid_order_ttl=TTL)
        )

    def request(
        self,
        key: str,
        *,
        actor: int = OWNER,
        enterprise: int | None = None,
        service: str = "CLOUD",
        plan: str = "CLOUD-STD",
        cycle: str = "M12",
        plan_promotion: str | None = None,
        total_delta: int = 0,
    ) -> OrderRequest:
        selection = Selection(service, plan, cycle, plan_promotion=plan_promotion)
        today = self.world.clock.now().astimezone(VN).date()
        expected = quote(CATALOG, selection, today=today, usage=NO_USAGE).total
        return OrderRequest(
            actor_id=actor,
            enterprise_id=self.world.enterprise_id if enterprise is None else enterprise,
            selection=selection,
            invoice=InvoiceInfo("Công ty An Phát", TAX_CODE, "1 Lê Lợi, Hà Nội", "kt@anphat.vn"),
            customer=CustomerInfo(
                "Công ty An Phát", TAX_CODE, "1 Lê Lợi", "0912345678", "kt@anphat.vn"
            ),
            contact=ContactInfo("Nguyễn Văn An", "0912345678", "an@anphat.vn"),
            expected_total=expected + total_delta,
            idempotency_key=key,
            locale="vi",
            chat_id=actor,
        )

    def orders(self) -> list[Any]:
        return sorted(self.db.uow.committed.orders.values(), key=lambda o: o.id)

    def actions(self) -> list[str]:
        history = sorted(self.db.uow.committed.history.values(), key=lambda e: e.id)
        return [e.action for e in history]


@pytest.fixture
async def placing() -> Placing:
    db = FakeDatabase()
    clock = Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))
    world = await World(db, clock, ScriptedGateway()).seed()  # type: ignore[arg-type]
    return Placing(world, db)


async def test_a_double_tap_makes_one_order_and_the_second_gets_it_back(placing: Placing) -> None:
    first = await placing.place(placing.request("tap", plan_promotion="KM10"))
    after_first = placing.db.snapshot()
    second = await placing.place(placing.request("tap", plan_promotion="KM10"))

    assert first.kind is OrderOutcomeKind.CREATED
    assert second.kind is OrderOutcomeKind.EXISTING
    assert (second.order_id, second.order_code, second.total) == (
        first.order_id,
        first.order_code,
        first.total,
    )
    assert placing.db.snapshot() == after_first  # nothing written: no code, use, attempt
    async with placing.db.uow as uow:
        assert await uow.counters.current(order_counter(2026)) == 1
        totals, _ = await uow.promotions.usage(["KM10"], placing.world.enterprise_id)
        assert totals == {"KM10": 1}
        assert len(await uow.payments.for_order(OrderId(first.order_id or 0))) == 1


async def test_concurrent_taps_with_one_key_make_one_order(placing: Placing) -> None:
    outcomes = await asyncio.gather(*(placing.place(placing.request("same")) for _ in range(3)))
    kinds = sorted(o.kind.value for o in outcomes)
    assert kinds == ["created", "existing", "existing"]
    assert len({o.order_code for o in outcomes}) == 1
    assert len(placing.orders()) == 1


async def test_an_existing_order_gives_back_its_open_payment_link(placing: Placing) -> None:
    first = await placing.place(placing.request("link"))
    async with placing.db.uow as uow:
        [attempt] = await uow.payments.for_order(OrderId(first.order_id or 0))
        await uow.payments.mark_pending(attempt.id, "https://pay.example/1", "20260310090000")
        await uow.commit()
    again = await placing.place(placing.request("link"))
    assert again.kind is OrderOutcomeKind.EXISTING
    assert again.payment_url == "https://pay.example/1"


@pytest.mark.parametrize(
    ("actor", "reason"),
    [
        (STRANGER, "reg.no_permission"),
        (MEMBER, "reg.no_permission"),
        (UserId(424242), "reg.no_permission"),  # unknown user
    ],
)
async def test_only_owners_and_staff_may_register(
    placing: Placing, actor: UserId, reason: str
) -> None:
    before = placing.db.snapshot()
    refused = await placing.place(placing.request(f"k-{actor}", actor=actor))
    assert refused.kind is OrderOutcomeKind.REFUSED and refused.reason == reason
    assert placing.db.snapshot() == before


async def test_staff_may_register_for_a_business_and_are_recorded(placing: Placing) -> None:
    missing = await placing.place(
        placing.request("k-missing", actor=AGENT, enterprise=EnterpriseId(999))
    )
    assert missing.kind is OrderOutcomeKind.REFUSED and missing.reason == "error.not_found"

    by_agent = await placing.place(placing.request("k-agent", actor=AGENT))
    by_owner = await placing.place(placing.request("k-owner"))

    assert by_agent.kind is by_owner.kind is OrderOutcomeKind.CREATED
    assert [o.registered_by for o in placing.orders()] == [AGENT, OWNER]
    assert placing.actions() == ["order.created", "agent.order_placed", "order.created"]


async def test_a_changed_total_stores_nothing_and_gives_the_new_quote(placing: Placing) -> None:
    before = placing.db.snapshot()
    changed = await placing.place(placing.request("k", total_delta=-1))
    assert changed.kind is OrderOutcomeKind.PRICE_CHANGED
    assert changed.reason == "reg.total_changed" and changed.quote is not None
    assert changed.total == changed.quote.total
    assert placing.db.snapshot() == before


async def test_a_used_up_promotion_refuses_the_order_until_a_use_is_given_back(
    placing: Placing,
) -> None:
    placed = [
        await placing.place(placing.request(f"k{i}", plan_promotion="KM10")) for i in range(5)
    ]
    assert all(p.kind is OrderOutcomeKind.CREATED for p in placed)
    before = placing.db.snapshot()

    sixth = await placing.place(placing.request("k6", plan_promotion="KM10"))

    assert sixth.kind is OrderOutcomeKind.PRICE_CHANGED
    assert sixth.reason_params is not None and sixth.reason_params["code"] == "KM10"
    assert placing.db.snapshot() == before
    placing.world.clock.advance(TTL)
    report = await placing.world.expire()
    assert len(report.expired) == 5
    assert (await placing.place(placing.request("k7", plan_promotion="KM10"))).kind is (
        OrderOutcomeKind.CREATED
    )


async def test_an_online_order_waits_for_its_first_attempt(placing: Placing) -> None:
    outcome: OrderOutcome = await placing.place(placing.request("on"))
    [order] = placing.orders()
    assert (order.status, order.payment_method) == (
        OrderStatus.PENDING_PAYMENT,
        PaymentMethod.VNPTPAY,
    )
    assert order.expires_at == placing.world.clock.now() + TTL
    assert outcome.subscription_code == ""
    [attempt] = placing.db.uow.committed.payments.values()
    assert attempt.merchant_order_id == f"{outcome.order_code}-1"
    assert (attempt.status, attempt.amount) == (PaymentAttemptStatus.CREATED, outcome.total)
    assert placing.db.uow.committed.subscriptions == {}


async def test_a_cash_order_opens_a_waiting_subscription_and_invoice(placing: Placing) -> None:
    outcome = await placing.place(
        placing.request("os", service="SETUP", plan="SETUP-ONSITE", cycle="Y1")
    )
    [order] = placing.orders()
    assert order.payment_method is PaymentMethod.BY_CASH and order.expires_at is None
    [sub] = placing.db.uow.committed.subscriptions.values()
    assert sub.code == outcome.subscription_code == "TB-2026-000001"
    assert sub.status is SubscriptionStatus.FUTURE
    [invoice] = placing.db.uow.committed.invoices.values()
    assert invoice.status is InvoiceStatus.WAITING and invoice.number is None
    assert invoice.total == outcome.total and invoice.subscription_id == sub.id
    assert placing.db.uow.committed.payments == {}
    assert placing.actions() == ["order.created", "subscription.created"]


def agent_notices(placing: Placing) -> list[Notice]:
    rows = placing.db.uow.committed.outbox
    kind = NoticeKind.AGENT_REGISTERED
    return [rows[i].notice for i in sorted(rows) if rows[i].notice.kind is kind]


async def test_staff_registering_for_a_business_tells_its_owners_who_use_the_bot(
    placing: Placing,
) -> None:
    world = placing.world
    setup: dict[str, Any] = {"service": "SETUP", "plan": "SETUP-ONSITE", "cycle": "Y1"}
    await placing.place(placing.request("os-1", actor=AGENT, **setup))
    assert agent_notices(placing) == []  # the owner never wrote to the bot
    async with placing.db.uow as uow:
        await uow.users.record_contact(
            User(UserId(OWNER), "Chủ", world.clock.now()), world.clock.now()
        )
        await uow.commit()

    cash = await placing.place(placing.request("os-2", actor=AGENT, **setup))
    await placing.place(placing.request("os-3", **setup))  # the owner's own order: not told
    [told] = agent_notices(placing)
    assert (told.chat_id, told.locale) == (OWNER, "")  # "": the bot's default language
    assert told.params == {
        "agent": "Agent",
        "service": "SETUP",
        "business": "Công ty An Phát",
        "tax_code": TAX_CODE,
        "order": cash.order_code,
        "kind": "OS",
        "total": cash.total,
        "url": "",
        "subscription": cash.subscription_code,
    }

    online = await placing.place(placing.request("on", actor=AGENT))
    assert len(agent_notices(placing)) == 1  # an online order: told once its link exists
    start = StartPayment(world.uow, world.gateway, world.clock)
    assert online.order_id is not None
    link = await start(OrderId(online.order_id))
    await start(OrderId(online.order_id))  # the same attempt again: nobody told twice
    [_, told_link] = agent_notices(placing)
    assert told_link.chat_id == OWNER and told_link.params["order"] == online.order_code
    assert (
        told_link.params["url"] == link.redirect_url == f"https://pay.example/{online.order_code}-1"
    )
