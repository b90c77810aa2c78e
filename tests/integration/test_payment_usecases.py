"""The payment use cases on SQLite and PostgreSQL, where only a database can tell (concurrent
successes). Their rules (confirming online and cash, failures, Thanh toán lại, expiry) are
tested on the in-memory unit of work in tests/unit/test_payment_rules.py.

The helpers here (catalog, seeding, placing orders through PlaceOrder, a settable clock, a
scripted gateway, a table snapshot) are shared with test_ipn.py, test_reconciler.py and the
unit tests (which give World a tests.fakes.uow.FakeDatabase).
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
from domain.model import (
    Enterprise,
    EnterpriseId,
    Invoice,
    Membership,
    OrderId,
    PaymentMethod,
    Role,
    User,
    UserId,
)
from domain.outbox import NoticeKind
from domain.payments import (
    PaymentLink,
    PaymentRequest,
    PaymentStatus,
    TransactionInfo,
)
from domain.pricing import NO_USAGE, Selection, quote
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
    ConfirmPayment,
    ConfirmPaymentRequest,
    ExpireOrders,
    PaymentSource,
    RecordPaymentFailure,
    RetryPayment,
)
from domain.usecases.registration import OrderSettings, PlaceOrder
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


def vn(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=VN)


@pytest.fixture
def clock() -> Clock:
    return Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))


@pytest.fixture
async def world(database: Database, clock: Clock) -> World:
    return await World(database, clock, ScriptedGateway()).seed()


# ---------------------------------------------------------------------------------------------
# ConfirmPayment: what needs a database (the rules are in tests/unit/test_payment_rules.py)


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
    # one Đăng ký thành công in the outbox: the losers' transactions wrote none
    told = await OutboxNotices(world.uow).succeeded()
    assert [(t.chat_id, t.order_code) for t in told] == [(OWNER_CHAT, placed.order_code)]
