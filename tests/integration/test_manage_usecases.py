"""The subscription-management use cases on SQLite and PostgreSQL: the number of statements each
read costs (the same for 10 or 65 subscriptions). Their rules (who may see and change what, the
employee limit of unit-priced plans, memos, the order progress, paging) are tested on the
in-memory unit of work in tests/unit/test_manage_rules.py, with the World defined here."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from bot.catalog_file import load_catalog_file
from domain.catalog import Catalog
from domain.model import (
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Membership,
    OrderId,
    PaymentMethod,
    Role,
    Subscription,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.pricing import NO_USAGE, Selection, quote
from domain.registration import ContactInfo, CustomerInfo, InvoiceInfo, OrderRequest
from domain.usecases.manage import (
    AddEmployee,
    AddEmployeeRequest,
    AddNote,
    AddNoteRequest,
    GetInvoice,
    GetPaymentMethod,
    GetSubscription,
    GetSubscriptionDetails,
    InvoiceRequest,
    ListEmployees,
    ListHistory,
    ListInvoices,
    ListMemos,
    ListRequest,
    ListSubscriptions,
    TabRequest,
)
from domain.usecases.payments import ConfirmPayment, ConfirmPaymentRequest, PaymentSource
from domain.usecases.registration import PlaceOrder
from storage.db import Database

SAMPLE = Path(__file__).resolve().parents[2] / "catalog.sample.yaml"
CATALOG: Catalog = load_catalog_file(SAMPLE)
OWNER, MEMBER, AGENT, ADMIN = UserId(11), UserId(12), UserId(21), UserId(22)
OTHER_OWNER, STRANGER = UserId(31), UserId(41)
TAX_CODE, OTHER_TAX_CODE = "0100233488", "0103326250"


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)

    def now(self) -> datetime:
        self.at += timedelta(seconds=1)  # every call a little later: a stable newest-first
        return self.at


class Statements:
    """Counts the SQL statements sent while ``measure`` is open (BEGIN excluded)."""

    def __init__(self, database: Database) -> None:
        self.count = 0
        self._on = False
        event.listen(database.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._on and not statement.strip().upper().startswith("BEGIN"):
            self.count += 1

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        self.count, self._on = 0, True
        try:
            yield
        finally:
            self._on = False


class World:
    def __init__(self, database: Database) -> None:
        self.db = database
        self.clock = Clock()
        self.enterprise = EnterpriseId(0)
        self.other = EnterpriseId(0)
        self.keys = 0

    def uow(self) -> Any:
        return self.db.uow

    def catalog(self) -> Catalog:
        return CATALOG

    async def seed(self) -> World:
        now = self.clock.now()
        async with self.db.uow as uow:
            await uow.catalog.replace(CATALOG)
            for uid, name in (
                (OWNER, "Chủ"),
                (MEMBER, "Thành viên"),
                (AGENT, "Hỗ trợ"),
                (ADMIN, "Quản trị"),
                (OTHER_OWNER, "Chủ khác"),
                (STRANGER, "Người lạ"),
            ):
                await uow.users.upsert(
                    User(id=uid, first_name=name, created_at=now, locale="vi", chat_seen_at=now)
                )
            await uow.users.set_global_role(AGENT, Role.AGENT)
            await uow.users.set_global_role(ADMIN, Role.ADMIN)
            ent = await uow.enterprises.add(Enterprise(TAX_CODE, "Công ty An Phát", now))
            other = await uow.enterprises.add(Enterprise(OTHER_TAX_CODE, "Bình Minh", now))
            await uow.memberships.add(Membership(OWNER, ent.id, Role.OWNER))
            await uow.memberships.add(Membership(MEMBER, ent.id, Role.MEMBER))
            await uow.memberships.add(Membership(OTHER_OWNER, other.id, Role.OWNER))
            await uow.commit()
        self.enterprise, self.other = ent.id, other.id
        return self

    async def subscribe(
        self,
        service: str = "EOFFICE",
        plan: str = "EOFFICE-USER",
        cycle: str = "M1",
        *,
        quantity: int = 1,
        enterprise: EnterpriseId | None = None,
        paid: bool = True,
    ) -> Subscription:
        """A real registration: PlaceOrder, then (ON) the payment's success applied."""
        enterprise = enterprise or self.enterprise
        owner = OWNER if enterprise == self.enterprise else OTHER_OWNER
        selection = Selection(service, plan, cycle, quantity)
        today = self.clock.now().date()
        self.keys += 1
        outcome = await PlaceOrder(self.uow, self.catalog, self.clock)(
            OrderRequest(
                actor_id=owner,
                enterprise_id=enterprise,
                selection=selection,
                invoice=InvoiceInfo("Công ty An Phát", TAX_CODE, "1 Lê Lợi", "kt@anphat.vn"),
                customer=CustomerInfo("Công ty An Phát", TAX_CODE, "1 Lê Lợi", "", ""),
                contact=ContactInfo("Nguyễn Văn An", "+84912345678", "an@anphat.vn"),
                expected_total=quote(CATALOG, selection, today=today, usage=NO_USAGE).total,
                idempotency_key=f"k{self.keys}",
                locale="vi",
                chat_id=int(owner),
            )
        )
        assert outcome.order_id is not None, outcome
        if outcome.kind_of_service == "ON" and paid:
            await ConfirmPayment(self.uow, self.catalog, self.clock)(
                ConfirmPaymentRequest(
                    method=PaymentMethod.VNPTPAY,
                    source=PaymentSource.NOTIFICATION,
                    merchant_order_id=f"{outcome.order_code}-1",
                    amount=outcome.total,
                    transaction_id=f"T{self.keys}",
                )
            )
        async with self.db.uow as uow:
            [sub] = await uow.subscriptions.for_order(OrderId(outcome.order_id))
        return sub

    async def bulk(self, count: int) -> None:
        """Many subscriptions at once (no orders' payments; the list only reads rows)."""
        template = await self.subscribe()
        async with self.db.uow as uow:
            for _ in range(count):
                code = await uow.subscriptions.next_code(2026)
                await uow.subscriptions.add(
                    Subscription(
                        code=code,
                        order_id=template.order_id,
                        enterprise_id=self.enterprise,
                        service_code="ECONTRACT",
                        plan_code="ECONTRACT-BASIC",
                        cycle_code="M1",
                        kind=template.kind,
                        registered_by=OWNER,
                        created_at=self.clock.now(),
                        status=SubscriptionStatus.ACTIVE,
                    )
                )
            await uow.commit()

    async def actions(self, subscription: Subscription) -> list[str]:
        async with self.db.uow as uow:
            page = await uow.history.page_for_subscription(
                subscription.id, subscription.order_id, 0, 100
            )
        return [e.action for e in reversed(page.items)]


@pytest.fixture
async def world(database: Database) -> World:
    return await World(database).seed()


# --- reads ---------------------------------------------------------------------------------


async def test_each_read_costs_the_same_statements_for_10_or_65_subscriptions(
    world: World,
) -> None:
    counter = Statements(world.db)
    sub = await world.subscribe(quantity=2)
    await AddEmployee(world.uow, world.catalog, world.clock)(
        AddEmployeeRequest(OWNER, sub.id, "Phạm Minh Đức", "duc@anphat.vn")
    )
    await AddNote(world.uow, world.clock)(AddNoteRequest(OWNER, sub.id, "ghi chú"))
    async with world.db.uow as uow:
        [invoice] = await uow.invoices.for_subscription(sub.id)
        await uow.history.add(
            HistoryEvent(
                action="custom.other",
                created_at=world.clock.now(),
                subscription_id=sub.id,
                actor_id=AGENT,
            )
        )
        await uow.commit()

    reads: dict[str, Any] = {
        "list": lambda: ListSubscriptions(world.uow)(ListRequest(OWNER, offset=0, limit=8)),
        "list page 2": lambda: ListSubscriptions(world.uow)(ListRequest(OWNER, offset=8)),
        "overview": lambda: GetSubscription(world.uow)(TabRequest(OWNER, sub.id)),
        "employees": lambda: ListEmployees(world.uow, world.catalog)(TabRequest(OWNER, sub.id)),
        "details": lambda: GetSubscriptionDetails(world.uow)(TabRequest(OWNER, sub.id)),
        "memos": lambda: ListMemos(world.uow)(TabRequest(OWNER, sub.id)),
        "payment": lambda: GetPaymentMethod(world.uow)(TabRequest(OWNER, sub.id)),
        "invoices": lambda: ListInvoices(world.uow)(TabRequest(OWNER, sub.id)),
        "invoice": lambda: GetInvoice(world.uow)(InvoiceRequest(OWNER, sub.id, invoice.id)),
        "history": lambda: ListHistory(world.uow)(TabRequest(OWNER, sub.id)),
    }

    async def costs() -> dict[str, int]:
        measured = {}
        for name, read in reads.items():
            with counter.measure():
                await read()
            measured[name] = counter.count
        return measured

    await world.bulk(8)  # 10 subscriptions: two pages
    small = await costs()
    await world.bulk(55)  # 65
    large = await costs()
    assert small == large
    assert large == {
        "list": 3,  # principal, one page with its total, the businesses' names
        "list page 2": 3,
        "overview": 1,  # the subscription with the asker's rights: one statement
        "employees": 2,
        "details": 4,  # + the change waiting for the period end (Từ <date>: …)
        "memos": 3,
        "payment": 3,
        "invoices": 2,
        "invoice": 3,
        "history": 4,  # + the renewal or change orders still to pay (Thanh toán lại)
    }
