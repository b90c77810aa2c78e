"""Subscriptions and what hangs off them: invoices, memos, employees, history."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Collection
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import Select, and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from domain.catalog import ServiceKind
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
    OrderProgress,
    Page,
    PaymentMethod,
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
from storage.models import (
    EmployeeRow,
    HistoryEventRow,
    InvoiceRow,
    MembershipRow,
    MemoRow,
    SubscriptionRow,
    UserRow,
)
from storage.repositories._common import SqlRepository, check_page, rowcount
from storage.repositories.accounts import to_user
from storage.repositories.orders import SqlCounterRepository

_NO_SYNC = {"synchronize_session": False}

T = TypeVar("T")


async def _counted_page(
    session: AsyncSession,
    statement: Select[Any],
    offset: int,
    limit: int,
    mapper: Callable[[Any], T],
    *extra: Any,
) -> tuple[Page[T], tuple[Any, ...]]:
    """One page of ``statement``'s rows with the total (``count(*) OVER ()``, computed before
    LIMIT) in ONE query; ``extra`` window columns come back as the second element (None
    each on an empty page). Only a page past the end costs a second query, for the total."""
    check_page(offset, limit)
    total_column = func.count().over().label("_total")
    rows = (
        await session.execute(
            statement.add_columns(total_column, *extra).offset(offset).limit(limit)
        )
    ).all()
    if rows:
        total = int(rows[0][1])
        extras = tuple(rows[0][2:])
    else:
        extras = tuple(None for _ in extra)
        total = 0
        if offset > 0:
            counted = select(func.count()).select_from(statement.order_by(None).subquery())
            total = int((await session.execute(counted)).scalar_one())
    return Page.of((mapper(r[0]) for r in rows), total, offset, limit), extras


def to_subscription(row: Any) -> Subscription:
    return Subscription(
        id=SubscriptionId(row.id),
        code=row.code,
        order_id=OrderId(row.order_id),
        enterprise_id=EnterpriseId(row.enterprise_id),
        service_code=row.service_code,
        plan_code=row.plan_code,
        cycle_code=row.cycle_code,
        quantity=row.quantity,
        addon_codes=tuple(row.addon_codes or ()),
        kind=ServiceKind(row.kind),
        status=SubscriptionStatus(row.status),
        progress=OrderProgress(row.progress) if row.progress is not None else None,
        registered_by=UserId(row.registered_by),
        created_at=row.created_at,
        started_at=row.started_at,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
    )


def _subscription_changes(s: Subscription) -> dict[str, Any]:
    return {
        "quantity": s.quantity,
        "addon_codes": list(s.addon_codes),
        "status": s.status.value,
        "progress": s.progress.value if s.progress is not None else None,
        "started_at": s.started_at,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
    }


class SqlSubscriptionRepository(SqlRepository):
    __slots__ = ()

    async def next_code(self, year: int) -> str:
        counters = SqlCounterRepository(self._session)
        return subscription_code(year, await counters.next(subscription_counter(year)))

    async def add(self, subscription: Subscription) -> Subscription:
        s = subscription
        new_id = (
            await self._session.execute(
                self._insert(SubscriptionRow)
                .values(
                    code=s.code,
                    order_id=s.order_id,
                    enterprise_id=s.enterprise_id,
                    service_code=s.service_code,
                    plan_code=s.plan_code,
                    cycle_code=s.cycle_code,
                    kind=s.kind.value,
                    registered_by=s.registered_by,
                    created_at=s.created_at,
                    **_subscription_changes(s),
                )
                .returning(SubscriptionRow.id)
            )
        ).scalar_one()
        return replace(s, id=SubscriptionId(new_id))

    async def get(
        self, subscription_id: SubscriptionId, *, for_update: bool = False
    ) -> Subscription | None:
        stmt = select(SubscriptionRow).where(SubscriptionRow.id == subscription_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_subscription(row) if row is not None else None

    async def get_by_code(self, code: str) -> Subscription | None:
        row = await self._session.scalar(
            select(SubscriptionRow).where(SubscriptionRow.code == code)
        )
        return to_subscription(row) if row is not None else None

    async def for_order(self, order_id: OrderId) -> list[Subscription]:
        rows = await self._session.scalars(
            select(SubscriptionRow)
            .where(SubscriptionRow.order_id == order_id)
            .order_by(SubscriptionRow.id)
        )
        return [to_subscription(r) for r in rows]

    async def list_for_enterprise(
        self,
        enterprise_id: EnterpriseId | Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        check_page(offset, limit)
        ids = [enterprise_id] if isinstance(enterprise_id, int) else list(enterprise_id)
        stmt = select(SubscriptionRow).where(SubscriptionRow.enterprise_id.in_(ids))
        if statuses is not None:
            stmt = stmt.where(SubscriptionRow.status.in_([s.value for s in statuses]))
        return await self._page(
            stmt.order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id.desc()),
            offset,
            limit,
            to_subscription,
        )

    async def update(self, subscription: Subscription) -> None:
        await self._session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription.id)
            .values(
                plan_code=subscription.plan_code,
                cycle_code=subscription.cycle_code,
                **_subscription_changes(subscription),
            )
            .execution_options(**_NO_SYNC)
        )

    async def get_for_user(
        self, subscription_id: SubscriptionId, user_id: UserId
    ) -> tuple[Subscription, User | None, Role | None] | None:
        stmt = (
            select(SubscriptionRow, UserRow, MembershipRow.role)
            .select_from(SubscriptionRow)
            .outerjoin(UserRow, UserRow.id == user_id)
            .outerjoin(
                MembershipRow,
                and_(
                    MembershipRow.enterprise_id == SubscriptionRow.enterprise_id,
                    MembershipRow.user_id == user_id,
                ),
            )
            .where(SubscriptionRow.id == subscription_id)
        )
        row = (await self._session.execute(stmt)).first()
        if row is None:
            return None
        sub_row, user_row, role = row
        return (
            to_subscription(sub_row),
            to_user(user_row) if user_row is not None else None,
            Role(role) if role is not None else None,
        )

    async def page_for_enterprises(
        self,
        enterprise_ids: Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        ids = list(enterprise_ids)
        stmt = select(SubscriptionRow).where(SubscriptionRow.enterprise_id.in_(ids))
        if statuses:
            stmt = stmt.where(SubscriptionRow.status.in_([s.value for s in statuses]))
        stmt = stmt.order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id.desc())
        page, _ = await _counted_page(self._session, stmt, offset, limit, to_subscription)
        return page


def to_invoice(row: Any) -> Invoice:
    return Invoice(
        id=InvoiceId(row.id),
        number=row.number,
        order_id=OrderId(row.order_id),
        subscription_id=SubscriptionId(row.subscription_id)
        if row.subscription_id is not None
        else None,
        enterprise_id=EnterpriseId(row.enterprise_id),
        status=InvoiceStatus(row.status),
        subtotal=row.subtotal,
        discount_total=row.discount_total,
        vat_total=row.vat_total,
        total=row.total,
        lines=dict(row.lines or {}),
        payment_method=PaymentMethod(row.payment_method),
        created_at=row.created_at,
        issued_at=row.issued_at,
        paid_at=row.paid_at,
        confirmed_by=UserId(row.confirmed_by) if row.confirmed_by is not None else None,
    )


def _invoice_changes(i: Invoice) -> dict[str, Any]:
    return {
        "subscription_id": i.subscription_id,
        "status": i.status.value,
        "issued_at": i.issued_at,
        "paid_at": i.paid_at,
        "confirmed_by": i.confirmed_by,
    }


class SqlInvoiceRepository(SqlRepository):
    __slots__ = ()

    async def add(self, invoice: Invoice) -> Invoice:
        i = invoice
        new_id = (
            await self._session.execute(
                self._insert(InvoiceRow)
                .values(
                    number=i.number,
                    order_id=i.order_id,
                    enterprise_id=i.enterprise_id,
                    subtotal=i.subtotal,
                    discount_total=i.discount_total,
                    vat_total=i.vat_total,
                    total=i.total,
                    lines=i.lines,
                    payment_method=i.payment_method.value,
                    created_at=i.created_at,
                    **_invoice_changes(i),
                )
                .returning(InvoiceRow.id)
            )
        ).scalar_one()
        return replace(i, id=InvoiceId(new_id))

    async def get(self, invoice_id: InvoiceId, *, for_update: bool = False) -> Invoice | None:
        stmt = select(InvoiceRow).where(InvoiceRow.id == invoice_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_invoice(row) if row is not None else None

    async def get_by_number(self, number: str) -> Invoice | None:
        row = await self._session.scalar(select(InvoiceRow).where(InvoiceRow.number == number))
        return to_invoice(row) if row is not None else None

    async def for_subscription(self, subscription_id: SubscriptionId) -> list[Invoice]:
        rows = await self._session.scalars(
            select(InvoiceRow)
            .where(InvoiceRow.subscription_id == subscription_id)
            .order_by(InvoiceRow.created_at.desc(), InvoiceRow.id.desc())
        )
        return [to_invoice(r) for r in rows]

    async def for_order(self, order_id: OrderId) -> list[Invoice]:
        rows = await self._session.scalars(
            select(InvoiceRow).where(InvoiceRow.order_id == order_id).order_by(InvoiceRow.id)
        )
        return [to_invoice(r) for r in rows]

    async def assign_number(self, invoice_id: InvoiceId, year: int) -> str:
        current = await self._session.scalar(
            select(InvoiceRow.number).where(InvoiceRow.id == invoice_id).with_for_update()
        )
        if current is not None:
            return str(current)
        seq = await SqlCounterRepository(self._session).next(invoice_counter(year))
        number = invoice_number(year, seq)
        result = await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice_id, InvoiceRow.number.is_(None))
            .values(number=number)
            .execution_options(**_NO_SYNC)
        )
        if rowcount(result) != 1:
            raise LookupError(f"invoice {invoice_id} does not exist")
        return number

    async def update(self, invoice: Invoice) -> None:
        await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice.id)
            .values(_invoice_changes(invoice))
            .execution_options(**_NO_SYNC)
        )

    async def set_status(
        self,
        invoice_id: InvoiceId,
        status: InvoiceStatus,
        *,
        paid_at: Any = None,
        confirmed_by: UserId | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value}
        if paid_at is not None:
            values["paid_at"] = paid_at
        if confirmed_by is not None:
            values["confirmed_by"] = confirmed_by
        await self._session.execute(
            update(InvoiceRow)
            .where(InvoiceRow.id == invoice_id)
            .values(values)
            .execution_options(**_NO_SYNC)
        )


def to_memo(row: Any) -> Memo:
    return Memo(
        id=MemoId(row.id),
        subscription_id=SubscriptionId(row.subscription_id),
        kind=MemoKind(row.kind),
        text=row.text,
        amount=row.amount,
        status=MemoStatus(row.status) if row.status is not None else None,
        author_id=UserId(row.author_id),
        created_at=row.created_at,
    )


class SqlMemoRepository(SqlRepository):
    __slots__ = ()

    async def add(self, memo: Memo) -> Memo:
        new_id = (
            await self._session.execute(
                self._insert(MemoRow)
                .values(
                    subscription_id=memo.subscription_id,
                    kind=memo.kind.value,
                    text=memo.text,
                    amount=memo.amount,
                    status=memo.status.value if memo.status is not None else None,
                    author_id=memo.author_id,
                    created_at=memo.created_at,
                )
                .returning(MemoRow.id)
            )
        ).scalar_one()
        return replace(memo, id=MemoId(new_id))

    async def get(self, memo_id: MemoId) -> Memo | None:
        row = await self._session.scalar(select(MemoRow).where(MemoRow.id == memo_id))
        return to_memo(row) if row is not None else None

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        """Newest first."""
        check_page(offset, limit)
        stmt = (
            select(MemoRow)
            .where(MemoRow.subscription_id == subscription_id)
            .order_by(MemoRow.created_at.desc(), MemoRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_memo)

    async def set_status(self, memo_id: MemoId, status: MemoStatus) -> bool:
        result = await self._session.execute(
            update(MemoRow)
            .where(MemoRow.id == memo_id, MemoRow.kind != MemoKind.NOTE.value)
            .values(status=status.value)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0

    async def page(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Memo]:
        stmt = (
            select(MemoRow)
            .where(MemoRow.subscription_id == subscription_id)
            .order_by(MemoRow.created_at.desc(), MemoRow.id.desc())
        )
        page, _ = await _counted_page(self._session, stmt, offset, limit, to_memo)
        return page


def to_employee(row: Any) -> Employee:
    return Employee(
        id=EmployeeId(row.id),
        subscription_id=SubscriptionId(row.subscription_id),
        name=row.name,
        email=row.email,
        phone=row.phone,
        active=bool(row.active),
        created_at=row.created_at,
    )


class SqlEmployeeRepository(SqlRepository):
    __slots__ = ()

    async def add(self, employee: Employee) -> Employee:
        new_id = (
            await self._session.execute(
                self._insert(EmployeeRow)
                .values(
                    subscription_id=employee.subscription_id,
                    name=employee.name,
                    email=employee.email,
                    phone=employee.phone,
                    active=employee.active,
                    created_at=employee.created_at,
                )
                .returning(EmployeeRow.id)
            )
        ).scalar_one()
        return replace(employee, id=EmployeeId(new_id))

    async def get(self, employee_id: EmployeeId) -> Employee | None:
        row = await self._session.scalar(select(EmployeeRow).where(EmployeeRow.id == employee_id))
        return to_employee(row) if row is not None else None

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[Employee]:
        """Active employees first, then by name."""
        check_page(offset, limit)
        stmt = (
            select(EmployeeRow)
            .where(EmployeeRow.subscription_id == subscription_id)
            .order_by(EmployeeRow.active.desc(), EmployeeRow.name, EmployeeRow.id)
        )
        return await self._page(stmt, offset, limit, to_employee)

    async def count_active(self, subscription_id: SubscriptionId) -> int:
        value = await self._session.scalar(
            select(func.count())
            .select_from(EmployeeRow)
            .where(EmployeeRow.subscription_id == subscription_id, EmployeeRow.active.is_(True))
        )
        return int(value or 0)

    async def set_active(self, employee_id: EmployeeId, active: bool) -> bool:
        result = await self._session.execute(
            update(EmployeeRow)
            .where(EmployeeRow.id == employee_id, EmployeeRow.active != active)
            .values(active=active)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0

    async def update(self, employee: Employee) -> None:
        await self._session.execute(
            update(EmployeeRow)
            .where(EmployeeRow.id == employee.id)
            .values(
                name=employee.name,
                email=employee.email,
                phone=employee.phone,
                active=employee.active,
            )
            .execution_options(**_NO_SYNC)
        )

    async def page_with_active(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> tuple[Page[Employee], int]:
        stmt = (
            select(EmployeeRow)
            .where(EmployeeRow.subscription_id == subscription_id)
            .order_by(EmployeeRow.active.desc(), EmployeeRow.name, EmployeeRow.id)
        )
        active_column = func.sum(case((EmployeeRow.active.is_(True), 1), else_=0)).over()
        page, (active,) = await _counted_page(
            self._session, stmt, offset, limit, to_employee, active_column.label("_active")
        )
        if active is None and page.total:
            active = await self.count_active(subscription_id)
        return page, int(active or 0)

    async def email_taken(self, subscription_id: SubscriptionId, email: str) -> bool:
        found = await self._session.scalar(
            select(EmployeeRow.id)
            .where(
                EmployeeRow.subscription_id == subscription_id,
                func.lower(EmployeeRow.email) == email.lower(),
            )
            .limit(1)
        )
        return found is not None


def to_history_event(row: Any) -> HistoryEvent:
    return HistoryEvent(
        id=HistoryEventId(row.id),
        enterprise_id=EnterpriseId(row.enterprise_id) if row.enterprise_id is not None else None,
        subscription_id=SubscriptionId(row.subscription_id)
        if row.subscription_id is not None
        else None,
        order_id=OrderId(row.order_id) if row.order_id is not None else None,
        actor_id=UserId(row.actor_id) if row.actor_id is not None else None,
        action=row.action,
        details=dict(row.details or {}),
        created_at=row.created_at,
    )


class SqlHistoryRepository(SqlRepository):
    __slots__ = ()

    async def add(self, event: HistoryEvent) -> HistoryEvent:
        new_id = (
            await self._session.execute(
                self._insert(HistoryEventRow)
                .values(
                    enterprise_id=event.enterprise_id,
                    subscription_id=event.subscription_id,
                    order_id=event.order_id,
                    actor_id=event.actor_id,
                    action=event.action,
                    details=event.details,
                    created_at=event.created_at,
                )
                .returning(HistoryEventRow.id)
            )
        ).scalar_one()
        return replace(event, id=HistoryEventId(new_id))

    async def list_for_order(self, order_id: OrderId) -> builtins.list[HistoryEvent]:
        rows = await self._session.scalars(
            select(HistoryEventRow)
            .where(HistoryEventRow.order_id == order_id)
            .order_by(HistoryEventRow.created_at, HistoryEventRow.id)
        )
        return [to_history_event(r) for r in rows]

    async def list_for_enterprise(
        self, enterprise_id: EnterpriseId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        stmt = (
            select(HistoryEventRow)
            .where(HistoryEventRow.enterprise_id == enterprise_id)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_history_event)

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        stmt = (
            select(HistoryEventRow)
            .where(HistoryEventRow.subscription_id == subscription_id)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_history_event)

    async def page_for_subscription(
        self,
        subscription_id: SubscriptionId,
        order_id: OrderId | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[HistoryEvent]:
        mine = HistoryEventRow.subscription_id == subscription_id
        if order_id is not None:
            before = and_(
                HistoryEventRow.order_id == order_id, HistoryEventRow.subscription_id.is_(None)
            )
            condition = or_(mine, before)
        else:
            condition = mine
        stmt = (
            select(HistoryEventRow)
            .where(condition)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        page, _ = await _counted_page(self._session, stmt, offset, limit, to_history_event)
        return page
