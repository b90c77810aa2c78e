"""Fake subscriptions, invoices, memos, employees and history (storage/repositories/
subscriptions.py, invoices.py, employees.py, history.py)."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.model import (
    Employee,
    EmployeeId,
    EnterpriseId,
    HistoryEvent,
    HistoryEventId,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Memo,
    MemoId,
    MemoKind,
    MemoStatus,
    OrderId,
    Page,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
    invoice_counter,
    invoice_number,
    subscription_code,
    subscription_counter,
)
from tests.fakes.orders import FakeCounterRepository
from tests.fakes.store import (
    FakeRepository,
    as_stored,
    aware,
    check_page,
    fresh,
    page_of,
)


def _newest(rows: builtins.list[Any]) -> builtins.list[Any]:
    """``ORDER BY created_at DESC, id DESC``."""
    return sorted(rows, key=lambda r: (r.created_at, r.id), reverse=True)


class FakeSubscriptionRepository(FakeRepository):
    __slots__ = ()

    async def next_code(self, year: int) -> str:
        counters = FakeCounterRepository(self._tx)
        return subscription_code(year, await counters.next(subscription_counter(year)))

    async def add(self, subscription: Subscription) -> Subscription:
        t = await self._t()
        new_id = SubscriptionId(self._store.next_id("subscriptions"))
        if any(s.code == subscription.code for s in t.subscriptions.values()):
            raise self._fail("unique subscriptions.code")
        self._fk(t.orders, subscription.order_id, "subscriptions.order_id")
        self._fk(t.enterprises, subscription.enterprise_id, "subscriptions.enterprise_id")
        self._fk(t.users, subscription.registered_by, "subscriptions.registered_by")
        stored = as_stored(replace(subscription, id=new_id), ("addon_codes",))
        t.subscriptions[new_id] = stored
        return replace(subscription, id=new_id)

    async def get(
        self, subscription_id: SubscriptionId, *, for_update: bool = False
    ) -> Subscription | None:
        return (await self._t()).subscriptions.get(subscription_id)

    async def get_by_code(self, code: str) -> Subscription | None:
        rows = (await self._t()).subscriptions.values()
        return next((s for s in rows if s.code == code), None)

    async def for_order(self, order_id: OrderId) -> list[Subscription]:
        rows = (await self._t()).subscriptions.values()
        return sorted((s for s in rows if s.order_id == order_id), key=lambda s: s.id)

    async def _of(
        self,
        enterprise_ids: Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None,
    ) -> builtins.list[Subscription]:
        ids = set(enterprise_ids)
        rows = (await self._t()).subscriptions.values()
        found = [
            s for s in rows if s.enterprise_id in ids and (statuses is None or s.status in statuses)
        ]
        return _newest(found)

    async def list_for_enterprise(
        self,
        enterprise_id: EnterpriseId | Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        check_page(offset, limit)
        ids = [enterprise_id] if isinstance(enterprise_id, int) else list(enterprise_id)
        return page_of(await self._of(ids, statuses), offset, limit)

    async def update(self, subscription: Subscription) -> None:
        t = await self._t()
        old = t.subscriptions.get(subscription.id)
        if old is None:
            return
        s = as_stored(subscription, ("addon_codes",))
        t.subscriptions[s.id] = replace(
            old,
            plan_code=s.plan_code,
            cycle_code=s.cycle_code,
            quantity=s.quantity,
            addon_codes=s.addon_codes,
            status=s.status,
            progress=s.progress,
            started_at=s.started_at,
            current_period_start=s.current_period_start,
            current_period_end=s.current_period_end,
        )

    async def get_for_user(
        self, subscription_id: SubscriptionId, user_id: UserId
    ) -> tuple[Subscription, User | None, Role | None] | None:
        t = await self._t()
        sub = t.subscriptions.get(subscription_id)
        if sub is None:
            return None
        membership = t.memberships.get((user_id, sub.enterprise_id))
        return sub, t.users.get(user_id), membership[0] if membership is not None else None

    async def page_for_enterprises(
        self,
        enterprise_ids: Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        # the SQL side filters on ``if statuses:``: an empty collection means "any status"
        return page_of(await self._of(enterprise_ids, statuses or None), offset, limit)


class FakeInvoiceRepository(FakeRepository):
    __slots__ = ()

    async def add(self, invoice: Invoice) -> Invoice:
        t = await self._t()
        new_id = InvoiceId(self._store.next_id("invoices"))
        self._check_number(invoice.number, new_id)
        self._fk(t.orders, invoice.order_id, "invoices.order_id")
        self._fk(t.subscriptions, invoice.subscription_id, "invoices.subscription_id")
        self._fk(t.enterprises, invoice.enterprise_id, "invoices.enterprise_id")
        self._fk(t.users, invoice.confirmed_by, "invoices.confirmed_by")
        stored = as_stored(replace(invoice, id=new_id), ("lines",))
        t.invoices[new_id] = stored
        return replace(invoice, id=new_id)

    def _check_number(self, number: str | None, invoice_id: InvoiceId) -> None:
        tables = self._tx._tables
        assert tables is not None
        if number is not None and any(
            i.number == number and i.id != invoice_id for i in tables.invoices.values()
        ):
            raise self._fail("unique invoices.number")

    async def get(self, invoice_id: InvoiceId, *, for_update: bool = False) -> Invoice | None:
        return fresh((await self._t()).invoices.get(invoice_id))

    async def get_by_number(self, number: str) -> Invoice | None:
        rows = (await self._t()).invoices.values()
        return fresh(next((i for i in rows if i.number == number), None))

    async def for_subscription(self, subscription_id: SubscriptionId) -> list[Invoice]:
        rows = (await self._t()).invoices.values()
        return [
            fresh(i) for i in _newest([i for i in rows if i.subscription_id == subscription_id])
        ]

    async def for_order(self, order_id: OrderId) -> list[Invoice]:
        rows = (await self._t()).invoices.values()
        return [fresh(i) for i in sorted(rows, key=lambda i: i.id) if i.order_id == order_id]

    async def assign_number(self, invoice_id: InvoiceId, year: int) -> str:
        t = await self._t()
        old = t.invoices.get(invoice_id)
        if old is not None and old.number is not None:
            return str(old.number)
        # as in SQL: the counter moves before the update finds no invoice
        seq = await FakeCounterRepository(self._tx).next(invoice_counter(year))
        number = invoice_number(year, seq)
        if old is None:
            raise LookupError(f"invoice {invoice_id} does not exist")
        self._check_number(number, invoice_id)
        t.invoices[invoice_id] = replace(old, number=number)
        return number

    async def update(self, invoice: Invoice) -> None:
        t = await self._t()
        old = t.invoices.get(invoice.id)
        if old is None:
            return
        self._fk(t.subscriptions, invoice.subscription_id, "invoices.subscription_id")
        self._fk(t.users, invoice.confirmed_by, "invoices.confirmed_by")
        i = as_stored(invoice)
        t.invoices[i.id] = replace(
            old,
            subscription_id=i.subscription_id,
            status=i.status,
            issued_at=i.issued_at,
            paid_at=i.paid_at,
            confirmed_by=i.confirmed_by,
        )

    async def set_status(
        self,
        invoice_id: InvoiceId,
        status: InvoiceStatus,
        *,
        paid_at: datetime | None = None,
        confirmed_by: UserId | None = None,
    ) -> None:
        t = await self._t()
        old = t.invoices.get(invoice_id)
        if old is None:
            return
        changes: dict[str, Any] = {"status": status}
        if paid_at is not None:
            changes["paid_at"] = aware(paid_at)
        if confirmed_by is not None:
            self._fk(t.users, confirmed_by, "invoices.confirmed_by")
            changes["confirmed_by"] = confirmed_by
        t.invoices[invoice_id] = replace(old, **changes)


class FakeMemoRepository(FakeRepository):
    __slots__ = ()

    async def add(self, memo: Memo) -> Memo:
        t = await self._t()
        new_id = MemoId(self._store.next_id("memos"))
        self._fk(t.subscriptions, memo.subscription_id, "memos.subscription_id")
        self._fk(t.users, memo.author_id, "memos.author_id")
        stored = as_stored(replace(memo, id=new_id))
        t.memos[new_id] = stored
        return replace(memo, id=new_id)

    async def get(self, memo_id: MemoId) -> Memo | None:
        return (await self._t()).memos.get(memo_id)

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        check_page(offset, limit)
        rows = (await self._t()).memos.values()
        return page_of(
            _newest([m for m in rows if m.subscription_id == subscription_id]), offset, limit
        )

    async def set_status(self, memo_id: MemoId, status: MemoStatus) -> bool:
        t = await self._t()
        old = t.memos.get(memo_id)
        if old is None or old.kind is MemoKind.NOTE:
            return False
        t.memos[memo_id] = replace(old, status=status)
        return True

    async def page(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        return await self.list(subscription_id, offset, limit)


def _active_then_name(e: Employee) -> tuple[bool, str, int]:
    """``ORDER BY active DESC, name, id`` (names compared by code point, as SQLite does)."""
    return not e.active, e.name, e.id


class FakeEmployeeRepository(FakeRepository):
    __slots__ = ()

    async def add(self, employee: Employee) -> Employee:
        t = await self._t()
        new_id = EmployeeId(self._store.next_id("employees"))
        self._fk(t.subscriptions, employee.subscription_id, "employees.subscription_id")
        stored = as_stored(replace(employee, id=new_id))
        t.employees[new_id] = stored
        return replace(employee, id=new_id)

    async def get(self, employee_id: EmployeeId) -> Employee | None:
        return (await self._t()).employees.get(employee_id)

    async def _of(self, subscription_id: SubscriptionId) -> builtins.list[Employee]:
        rows = (await self._t()).employees.values()
        return sorted(
            (e for e in rows if e.subscription_id == subscription_id), key=_active_then_name
        )

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Employee]:
        check_page(offset, limit)
        return page_of(await self._of(subscription_id), offset, limit)

    async def count_active(self, subscription_id: SubscriptionId) -> int:
        return sum(e.active for e in await self._of(subscription_id))

    async def set_active(self, employee_id: EmployeeId, active: bool) -> bool:
        t = await self._t()
        old = t.employees.get(employee_id)
        if old is None or old.active == active:
            return False
        t.employees[employee_id] = replace(old, active=active)
        return True

    async def update(self, employee: Employee) -> None:
        t = await self._t()
        old = t.employees.get(employee.id)
        if old is not None:
            t.employees[employee.id] = replace(
                old,
                name=employee.name,
                email=employee.email,
                phone=employee.phone,
                active=employee.active,
            )

    async def page_with_active(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> tuple[Page[Employee], int]:
        rows = await self._of(subscription_id)
        return page_of(rows, offset, limit), sum(e.active for e in rows)

    async def email_taken(self, subscription_id: SubscriptionId, email: str) -> bool:
        return any(
            e.email is not None and e.email.lower() == email.lower()
            for e in await self._of(subscription_id)
        )


class FakeHistoryRepository(FakeRepository):
    __slots__ = ()

    async def add(self, event: HistoryEvent) -> HistoryEvent:
        t = await self._t()
        new_id = HistoryEventId(self._store.next_id("history_events"))
        self._fk(t.enterprises, event.enterprise_id, "history_events.enterprise_id")
        self._fk(t.subscriptions, event.subscription_id, "history_events.subscription_id")
        self._fk(t.orders, event.order_id, "history_events.order_id")
        self._fk(t.users, event.actor_id, "history_events.actor_id")
        stored = as_stored(replace(event, id=new_id), ("details",))
        t.history[new_id] = stored
        return replace(event, id=new_id)

    async def _where(self, keep: Any) -> builtins.list[HistoryEvent]:
        return [fresh(e) for e in (await self._t()).history.values() if keep(e)]

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        rows = await self._where(lambda e: e.subscription_id == subscription_id)
        return page_of(_newest(rows), offset, limit)

    async def list_for_enterprise(
        self, enterprise_id: EnterpriseId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        rows = await self._where(lambda e: e.enterprise_id == enterprise_id)
        return page_of(_newest(rows), offset, limit)

    async def list_for_order(self, order_id: OrderId) -> builtins.list[HistoryEvent]:
        rows = await self._where(lambda e: e.order_id == order_id)
        return sorted(rows, key=lambda e: (e.created_at, e.id))

    async def latest_of(
        self, actions: Collection[str], limit: int = 100
    ) -> builtins.list[HistoryEvent]:
        check_page(0, limit)
        rows = await self._where(lambda e: e.action in actions)
        return sorted(rows, key=lambda e: e.id, reverse=True)[:limit]

    async def page_for_subscription(
        self,
        subscription_id: SubscriptionId,
        order_id: OrderId | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[HistoryEvent]:
        def keep(e: HistoryEvent) -> bool:
            if e.subscription_id == subscription_id:
                return True
            return order_id is not None and e.order_id == order_id and e.subscription_id is None

        return page_of(_newest(await self._where(keep)), offset, limit)
