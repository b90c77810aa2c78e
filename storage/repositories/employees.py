"""A subscription's employees (the people using the service)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import case, func, select, update

from domain.model import Employee, EmployeeId, Page, SubscriptionId
from storage.models import EmployeeRow
from storage.repositories._common import SqlRepository, check_page, counted_page, rowcount

_NO_SYNC = {"synchronize_session": False}


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
        page, (active,) = await counted_page(
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
