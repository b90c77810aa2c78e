"""Employees (ON): owners and staff list, add, deactivate and reactivate them; a unit-priced
plan (price × quantity) allows at most ``quantity`` active employees."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from domain.catalog import Catalog, ServiceKind
from domain.errors import DomainError, InvalidInput, PermissionDenied
from domain.model import Employee, EmployeeId, Page, Subscription
from domain.ports import Clock
from domain.usecases.manage.common import (
    Rights,
    TabRequest,
    UowFactory,
    _authorize,
    _event,
    _require,
    employee_limit,
)
from domain.validation import validate_contact_name, validate_email, validate_phone

__all__ = [
    "AddEmployee",
    "AddEmployeeRequest",
    "EmployeeChange",
    "EmployeeLimitReached",
    "EmployeesView",
    "ListEmployees",
    "SetEmployeeActive",
    "SetEmployeeActiveRequest",
]


class EmployeeLimitReached(DomainError):
    """A unit-priced plan allows at most ``limit`` active employees."""

    key = "error.employee_limit"

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} active employees", limit=limit)
        self.limit = limit


@dataclass(frozen=True, slots=True)
class EmployeesView:
    subscription: Subscription
    rights: Rights
    page: Page[Employee]
    active: int
    #: the most active employees allowed (unit-priced plans), else None
    limit: int | None


class ListEmployees:
    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog]) -> None:
        self._uow = uow
        self._catalog = catalog

    async def __call__(self, req: TabRequest) -> EmployeesView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page, active = await uow.employees.page_with_active(
                subscription.id, req.offset, req.limit
            )
        limit = employee_limit(subscription, self._catalog())
        return EmployeesView(subscription, rights, page, active, limit)


@dataclass(frozen=True, slots=True)
class AddEmployeeRequest:
    actor_id: int
    subscription_id: int
    name: str
    email: str
    phone: str = ""


@dataclass(frozen=True, slots=True)
class EmployeeChange:
    employee: Employee
    #: active employees after the change, and the limit (None when unlimited)
    active: int
    limit: int | None
    changed: bool = True


class AddEmployee:
    """Owners and staff add an employee (ON): name, e-mail (unique in the subscription) and
    an optional mobile phone, all validated; a unit-priced plan's quantity caps the active
    employees (checked under the subscription's row lock, so two adds cannot both pass)."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: AddEmployeeRequest) -> EmployeeChange:
        name = validate_contact_name(req.name, field="name")
        email = validate_email(req.email)
        phone = validate_phone(req.phone) if req.phone.strip() else None
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_manage_employees, "only owners and staff manage employees")
            if subscription.kind is not ServiceKind.ON:
                raise InvalidInput("employees are for ON services", reason="employees.not_on")
            await uow.subscriptions.get(subscription.id, for_update=True)
            if await uow.employees.email_taken(subscription.id, email):
                raise InvalidInput(
                    "email taken", field="email", reason="email.taken", example=email
                )
            limit = employee_limit(subscription, self._catalog())
            active = await uow.employees.count_active(subscription.id)
            if limit is not None and active >= limit:
                raise EmployeeLimitReached(limit)
            employee = await uow.employees.add(
                Employee(
                    subscription_id=subscription.id,
                    name=name,
                    email=email,
                    phone=phone,
                    created_at=now,
                )
            )
            await uow.history.add(
                _event(
                    "employee.added",
                    subscription,
                    rights.user_id,
                    now,
                    {"employee": employee.id, "name": name, "email": email},
                )
            )
            await uow.commit()
        return EmployeeChange(employee, active + 1, limit)


@dataclass(frozen=True, slots=True)
class SetEmployeeActiveRequest:
    actor_id: int
    subscription_id: int
    employee_id: int
    active: bool


class SetEmployeeActive:
    """Deactivate or reactivate an employee of the subscription (owners and staff);
    reactivating respects the unit-priced limit. Setting the state it already has changes
    nothing and records nothing."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: SetEmployeeActiveRequest) -> EmployeeChange:
        now = self._clock.now()
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            _require(rights.can_manage_employees, "only owners and staff manage employees")
            await uow.subscriptions.get(subscription.id, for_update=True)
            employee = await uow.employees.get(EmployeeId(req.employee_id))
            if employee is None or employee.subscription_id != subscription.id:
                raise PermissionDenied("employee not of this subscription")
            limit = employee_limit(subscription, self._catalog())
            active = await uow.employees.count_active(subscription.id)
            if employee.active == req.active:
                return EmployeeChange(employee, active, limit, changed=False)
            if req.active and limit is not None and active >= limit:
                raise EmployeeLimitReached(limit)
            await uow.employees.set_active(employee.id, req.active)
            await uow.history.add(
                _event(
                    "employee.reactivated" if req.active else "employee.deactivated",
                    subscription,
                    rights.user_id,
                    now,
                    {"employee": employee.id, "name": employee.name},
                )
            )
            await uow.commit()
        return EmployeeChange(
            replace(employee, active=req.active), active + (1 if req.active else -1), limit
        )
