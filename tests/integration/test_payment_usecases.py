"""The payment use cases on SQLite and PostgreSQL: confirming (online and cash), failures,
Thanh toán lại, expiry. Orders are placed through PlaceOrder with a small catalog, so the
frozen quote, the attempts and the promotion uses are the real ones.

The helpers here (catalog, seeding, placing orders, a settable clock, a scripted gateway, a
table snapshot) are shared with test_ipn.py and test_reconciler.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from domain.catalog import (
    Addon,
    AddonType,
    BillingCycle,
    Catalog,
    PeriodUnit,
    Plan,
    PricingStrategy,
    Promotion,
    PromotionScope,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.errors import NotFound, PermissionDenied
from domain.model import (
    Enterprise,
    EnterpriseId,
    Invoice,
    InvoiceStatus,
    Membership,
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
from domain.outbox import NoticeKind
from domain.payments import (
    PaymentLink,
    PaymentRequest,
    PaymentStatus,
    TransactionInfo,
)
from domain.pricing import NO_USAGE, Quote, Selection, quote
from domain.registration import (
    ContactInfo,
    CustomerInfo,
    InvoiceInfo,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
)
from domain.usecases.payments import (
    ConfirmCash,
    ConfirmCashRequest,
    ConfirmPayment,
    ConfirmPaymentRequest,
    ConfirmStatus,
    ExpireOrders,
    FailureStatus,
    PaymentFailureRequest,
    PaymentSource,
    RecordPaymentFailure,
    RetryPayment,
    RetryPaymentRequest,
    RetryStatus,
    subscription_period,
)
from domain.usecases.registration import OrderSettings, PlaceOrder, StartPayment
from storage.db import Database
from storage.models import OutboxRow

VN = ZoneInfo("Asia/Ho_Chi_Minh")
OWNER = UserId(1001)
MEMBER = UserId(1002)
AGENT = UserId(2001)
STRANGER = UserId(3001)
TAX_CODE = "0100233488"
OWNER_CHAT = 1001
TTL = timedelta(minutes=30)


def catalog() -> Catalog:
    cloud = Service(
        code="CLOUD",
        name="VNPT Cloud",
        kind=ServiceKind.ON,
        plans=(
            Plan(
                code="CLOUD-STD",
                name="Gói Tiêu chuẩn",
                tax=TaxCategory.VAT10,
                pricing=PricingStrategy.FLAT,
                cycles=(
                    BillingCycle(code="M12", every=12, unit=PeriodUnit.MONTH, price=1_200_000),
                    BillingCycle(code="M1", every=1, unit=PeriodUnit.MONTH, price=120_000),
                ),
                addons=("CLOUD-BACKUP",),
            ),
        ),
        addons=(
            Addon(
                code="CLOUD-BACKUP",
                name="Sao lưu",
                tax=TaxCategory.VAT8,
                type=AddonType.PERIODIC,
                unit=PeriodUnit.MONTH,
                price=20_050,
            ),
        ),
    )
    setup = Service(
        code="SETUP",
        name="Lắp đặt tận nơi",
        kind=ServiceKind.OS,
        plans=(
            Plan(
                code="SETUP-ONSITE",
                name="Gói Lắp đặt",
                tax=TaxCategory.VAT8,
                pricing=PricingStrategy.FLAT,
                cycles=(BillingCycle(code="Y1", every=1, unit=PeriodUnit.YEAR, price=3_000_000),),
            ),
        ),
    )
    return Catalog(
        services=(cloud, setup),
        promotions=(
            Promotion(
                code="KM10",
                name="Giảm 10%",
                scope=PromotionScope.PLAN,
                percent=Decimal(10),
                quota=5,
            ),
            Promotion(
                code="KM-HD",
                name="Giảm 3% hóa đơn",
                scope=PromotionScope.INVOICE,
                percent=Decimal(3),
            ),
        ),
    )


CATALOG = catalog()


class Clock:
    """A settable clock (aware UTC)."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> None:
        self.at += delta


@dataclass
class ScriptedGateway:
    """A gateway whose answers a test sets: links are ``https://pay.example/<id>``; queries
    answer ``statuses[id]`` (NOT_FOUND by default) for the attempt's amount."""

    statuses: dict[str, PaymentStatus] = field(default_factory=dict)
    amounts: dict[str, int] = field(default_factory=dict)
    created: list[PaymentRequest] = field(default_factory=list)
    queried: list[str] = field(default_factory=list)

    async def create_payment(self, req: PaymentRequest) -> PaymentLink:
        self.created.append(req)
        self.amounts[req.merchant_order_id] = req.amount
        return PaymentLink(
            req.merchant_order_id,
            f"https://pay.example/{req.merchant_order_id}",
            req.created_at.astimezone(VN).strftime("%Y%m%d%H%M%S"),
        )

    async def query(self, merchant_order_id: str, create_date: str) -> TransactionInfo:
        self.queried.append(merchant_order_id)
        status = self.statuses.get(merchant_order_id, PaymentStatus.NOT_FOUND)
        paid = status is PaymentStatus.SUCCESS
        return TransactionInfo(
            merchant_order_id=merchant_order_id,
            status=status,
            amount=self.amounts.get(merchant_order_id),
            transaction_id="T-" + merchant_order_id if paid else None,
            paid_at=datetime.now(UTC) if paid else None,
            response_code="05" if status is PaymentStatus.NOT_FOUND else "00",
            currency="VND",
        )


@dataclass(frozen=True)
class Told:
    """A notice read back from the outbox, with its params under readable names."""

    chat_id: int
    locale: str
    order_code: str
    subscription_code: str = ""
    invoice_number: str = ""
    response_code: str | None = None
    cancelled: bool = False
    can_retry: bool = False


class OutboxNotices:
    """What the use cases wrote to the outbox, by kind, oldest first."""

    def __init__(self, uow: Any) -> None:
        self._uow = uow

    async def of(self, kind: NoticeKind) -> list[Told]:
        async with self._uow() as uow:
            rows = (
                await uow.session.scalars(
                    select(OutboxRow).where(OutboxRow.kind == kind.value).order_by(OutboxRow.id)
                )
            ).all()
            return [
                Told(
                    chat_id=r.chat_id,
                    locale=r.locale,
                    order_code=r.params.get("order", ""),
                    subscription_code=r.params.get("subscription", ""),
                    invoice_number=r.params.get("invoice", ""),
                    response_code=r.params.get("code"),
                    cancelled=bool(r.params.get("cancelled")),
                    can_retry=bool(r.params.get("can_retry")),
                )
                for r in rows
            ]

    async def succeeded(self) -> list[Told]:
        return await self.of(NoticeKind.PAYMENT_SUCCEEDED)

    async def failed(self) -> list[Told]:
        return await self.of(NoticeKind.PAYMENT_FAILED)

    async def expired(self) -> list[Told]:
        return await self.of(NoticeKind.ORDER_EXPIRED)


class World:
    """One database with the catalog, an enterprise (owner, member), an agent and a stranger,
    and the use cases under test on a settable clock."""

    def __init__(self, database: Database, clock: Clock, gateway: Any = None) -> None:
        self.db = database
        self.clock = clock
        self.gateway = gateway
        self.enterprise_id = EnterpriseId(0)
        self.confirm = ConfirmPayment(self.uow, lambda: CATALOG, clock)
        self.fail = RecordPaymentFailure(self.uow, clock)
        self.retry = RetryPayment(self.uow, clock)
        self.cash = ConfirmCash(self.uow, self.confirm)
        self.expire = ExpireOrders(self.uow, clock, self.confirm, self.fail, gateway)
        self._keys = 0

    def uow(self) -> Any:
        return self.db.uow

    async def seed(self) -> World:
        now = self.clock.now()
        async with self.db.uow as uow:
            await uow.catalog.replace(CATALOG)
            for uid, name in ((OWNER, "Chủ"), (MEMBER, "Nhân viên"), (STRANGER, "Lạ")):
                await uow.users.upsert(User(id=uid, first_name=name, created_at=now))
            await uow.users.upsert(User(id=AGENT, first_name="Agent", created_at=now))
            await uow.users.set_global_role(AGENT, Role.AGENT)
            ent = await uow.enterprises.add(
                Enterprise(tax_code=TAX_CODE, name="Công ty An Phát", created_at=now)
            )
            await uow.memberships.add(Membership(OWNER, ent.id, Role.OWNER))
            await uow.memberships.add(Membership(MEMBER, ent.id, Role.MEMBER))
            await uow.commit()
        self.enterprise_id = ent.id
        return self

    async def place(
        self,
        service: str = "CLOUD",
        plan: str = "CLOUD-STD",
        cycle: str = "M12",
        *,
        addons: tuple[str, ...] = (),
        plan_promotion: str | None = None,
        invoice_promotions: tuple[str, ...] = (),
        actor: UserId = OWNER,
        chat_id: int = OWNER_CHAT,
        locale: str = "vi",
    ) -> OrderOutcome:
        selection = Selection(
            service_code=service,
            plan_code=plan,
            cycle_code=cycle,
            addon_codes=addons,
            plan_promotion=plan_promotion,
            invoice_promotions=invoice_promotions,
        )
        today = self.clock.now().astimezone(VN).date()
        expected = quote(CATALOG, selection, today=today, usage=NO_USAGE).total
        self._keys += 1
        outcome = await PlaceOrder(
            self.uow, lambda: CATALOG, self.clock, OrderSettings(unpaid_order_ttl=TTL)
        )(
            OrderRequest(
                actor_id=actor,
                enterprise_id=self.enterprise_id,
                selection=selection,
                invoice=InvoiceInfo(
                    "Công ty An Phát", TAX_CODE, "1 Lê Lợi, Hà Nội", "kt@anphat.vn"
                ),
                customer=CustomerInfo(
                    "Công ty An Phát", TAX_CODE, "1 Lê Lợi, Hà Nội", "0912345678", "kt@anphat.vn"
                ),
                contact=ContactInfo("Nguyễn Văn An", "0912345678", "an@anphat.vn"),
                expected_total=expected,
                idempotency_key=f"key-{self._keys}-{service}-{cycle}",
                locale=locale,
                chat_id=chat_id,
            )
        )
        assert outcome.kind is OrderOutcomeKind.CREATED, outcome
        return outcome

    async def order(self, order_id: int) -> Any:
        async with self.db.uow as uow:
            return await uow.orders.get(OrderId(order_id))

    async def attempts(self, order_id: int) -> list[Any]:
        async with self.db.uow as uow:
            return await uow.payments.for_order(OrderId(order_id))

    async def subscriptions(self, order_id: int) -> list[Any]:
        async with self.db.uow as uow:
            return await uow.subscriptions.for_order(OrderId(order_id))

    async def invoices(self, order_id: int) -> list[Invoice]:
        async with self.db.uow as uow:
            return await uow.invoices.for_order(OrderId(order_id))

    async def history(self, order_id: int) -> list[str]:
        async with self.db.uow as uow:
            return [e.action for e in await uow.history.list_for_order(OrderId(order_id))]

    async def usage(self, code: str) -> int:
        async with self.db.uow as uow:
            totals, _ = await uow.promotions.usage([code], self.enterprise_id)
        return totals[code]

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return await table_snapshot(self.db)

    def online(self, moid: str, amount: int, **fields: Any) -> ConfirmPaymentRequest:
        values: dict[str, Any] = {
            "method": PaymentMethod.VNPTPAY,
            "source": PaymentSource.NOTIFICATION,
            "merchant_order_id": moid,
            "amount": amount,
            "transaction_id": "TX-" + moid,
            "response_code": "00",
        }
        values.update(fields)
        return ConfirmPaymentRequest(**values)


STATE_TABLES = (
    "orders",
    "payment_attempts",
    "payment_applications",
    "subscriptions",
    "invoices",
    "history_events",
    "promotion_redemptions",
    "counters",
)


async def table_snapshot(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables payments may change, in a stable order."""
    snapshot: dict[str, list[tuple[Any, ...]]] = {}
    async with database.uow as uow:
        for table in STATE_TABLES:
            rows = await uow.session.execute(text(f"SELECT * FROM {table}"))
            snapshot[table] = sorted((tuple(r) for r in rows), key=repr)
    return snapshot


def vn(*args: int) -> datetime:
    return datetime(*args, tzinfo=VN)  # type: ignore[misc]


@pytest.fixture
def clock() -> Clock:
    return Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))


@pytest.fixture
async def world(database: Database, clock: Clock) -> World:
    return await World(database, clock, ScriptedGateway()).seed()


# ---------------------------------------------------------------------------------------------
# ConfirmPayment (online)


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


async def test_concurrent_successes_activate_once(world: World) -> None:
    placed = await world.place()
    moid = f"{placed.order_code}-1"

    results = await asyncio.gather(
        *(world.confirm(world.online(moid, placed.total)) for _ in range(4))
    )

    statuses = sorted(r.status.value for r in results)
    assert statuses == ["already_applied"] * 3 + ["applied"]
    assert len(await world.subscriptions(placed.order_id or 0)) == 1
    assert len(await world.invoices(placed.order_id or 0)) == 1
    assert (await world.history(placed.order_id or 0)).count("payment.succeeded") == 1


@pytest.mark.parametrize(
    "change",
    [{"amount_delta": 1}, {"amount_delta": -1000}, {"currency": "USD"}],
)
async def test_a_different_amount_or_currency_applies_nothing(
    world: World, change: dict[str, Any]
) -> None:
    placed = await world.place()
    before = await world.snapshot()
    request = world.online(
        f"{placed.order_code}-1",
        placed.total + change.get("amount_delta", 0),
        currency=change.get("currency", "VND"),
    )

    result = await world.confirm(request)

    assert result.status is ConfirmStatus.AMOUNT_MISMATCH and not result.newly_applied
    assert await world.snapshot() == before


async def test_an_unknown_merchant_order_id_is_not_found(world: World) -> None:
    before = await world.snapshot()
    result = await world.confirm(world.online("DH-2026-999999-1", 1000))
    assert result.status is ConfirmStatus.NOT_FOUND
    assert await world.snapshot() == before


async def test_a_second_payment_of_a_paid_order_is_kept_for_a_refund(world: World) -> None:
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
    repeat = await world.confirm(world.online(first_moid, placed.total))
    assert repeat.status is ConfirmStatus.ALREADY_APPLIED
    assert (await world.history(placed.order_id or 0)).count("payment.duplicate") == 1


# ---------------------------------------------------------------------------------------------
# RecordPaymentFailure


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

    repeat = await world.fail(PaymentFailureRequest(moid, "01", PaymentSource.NOTIFICATION))
    assert repeat.status is FailureStatus.ALREADY_FINAL and not repeat.should_notify


async def test_a_cancelled_payment_is_cancelled(world: World) -> None:
    placed = await world.place()
    failed = await world.fail(
        PaymentFailureRequest(f"{placed.order_code}-1", "70", PaymentSource.NOTIFICATION)
    )
    assert failed.cancelled and failed.newly_recorded
    [attempt] = await world.attempts(placed.order_id or 0)
    assert attempt.status is PaymentAttemptStatus.CANCELLED


async def test_a_failure_never_downgrades_a_success(world: World) -> None:
    placed = await world.place()
    moid = f"{placed.order_code}-1"
    await world.confirm(world.online(moid, placed.total))
    before = await world.snapshot()

    failed = await world.fail(PaymentFailureRequest(moid, "01", PaymentSource.QUERY))

    assert failed.status is FailureStatus.ALREADY_FINAL and not failed.can_retry
    assert await world.snapshot() == before


# ---------------------------------------------------------------------------------------------
# RetryPayment (Thanh toán lại)


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


# ---------------------------------------------------------------------------------------------
# ExpireOrders


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


# ---------------------------------------------------------------------------------------------
# Cash (OS)


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
