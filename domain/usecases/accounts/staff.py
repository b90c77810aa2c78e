"""What staff do for the businesses they act for.

- :class:`SearchBusinesses` / :class:`CreateBusiness` / :class:`OpenBusiness` — staff pick or
  create the business they act for.
- :class:`GrantRoleByAdmin` — ``/grant`` in the chat, for admins.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import Enterprise, EnterpriseId, Principal, UserId
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork, UowFactory
from domain.usecases.accounts.common import BusinessView, _event, _refuse
from domain.usecases.admin import GrantRole, GrantRoleRequest, GrantRoleResult
from domain.validation import (
    normalize_tax_code,
    validate_address,
    validate_company_name,
    validate_email,
    validate_tax_code,
)

__all__ = [
    "SEARCH_LIMIT",
    "CreateBusiness",
    "CreateBusinessRequest",
    "CreatedBusiness",
    "GrantRoleByAdmin",
    "OpenBusiness",
    "SearchBusinesses",
    "parse_grant",
]

#: at most this many businesses are offered by a search
SEARCH_LIMIT = 8
#: a search shorter than this (after trimming) finds nothing: it would match too much
MIN_QUERY = 2


# ---------------------------------------------------------------------------------------------
# Staff: finding and creating the business they act for


async def _staff(
    uow: UnitOfWork, actor_id: int, now: datetime, what: str, permission: Permission
) -> Principal:
    principal = await uow.users.principal(UserId(actor_id))
    if principal is None or not principal.may(permission):
        await _refuse(uow, now, actor_id, what, "not_staff")
        raise PermissionDenied("staff only", field=what)
    return principal


def _looks_like_tax_code(query: str) -> bool:
    digits = normalize_tax_code(query)
    return bool(digits) and digits.isdigit() and len(digits) <= 13


class SearchBusinesses:
    """Staff search businesses by tax code (its beginning, spaces/dots/dashes ignored) or by
    a part of the name; at most :data:`SEARCH_LIMIT`, by name."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, actor_id: int, query: str) -> list[BusinessView]:
        text = " ".join(query.split())
        if _looks_like_tax_code(text):
            text = normalize_tax_code(text)
            if len(text) > 10:
                text = f"{text[:10]}-{text[10:]}"
        async with self._uow() as uow:
            await _staff(
                uow, actor_id, self._clock.now(), "business_search", Permission.FIND_BUSINESS
            )
            if len(text) < MIN_QUERY:
                return []
            found = await uow.enterprises.search(text, limit=SEARCH_LIMIT)
        return [BusinessView.of(e) for e in found]


class OpenBusiness:
    """The business a staff member picked (from a search result button): staff only; an
    unknown id and a non-staff actor are refused alike (:class:`NotFound`, recorded)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, actor_id: int, enterprise_id: int) -> BusinessView:
        now = self._clock.now()
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(actor_id))
            found = await uow.enterprises.get(EnterpriseId(enterprise_id))
            if found is None or principal is None or not principal.may(Permission.FIND_BUSINESS):
                reason = "not_found" if found is None else "not_staff"
                await _refuse(uow, now, actor_id, "business", reason, enterprise_id=enterprise_id)
                raise NotFound("no such business", field="enterprise")
        return BusinessView.of(found)


@dataclass(frozen=True, slots=True)
class CreateBusinessRequest:
    actor_id: int
    tax_code: str
    name: str
    address: str
    email: str


@dataclass(frozen=True, slots=True)
class CreatedBusiness:
    business: BusinessView
    created: bool  # False: a business with this tax code existed and is returned unchanged


class CreateBusiness:
    """Staff create a business for a customer (then invite its first owner, or register for
    it). Idempotent on the tax code. Raises :class:`PermissionDenied` for anyone else."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: CreateBusinessRequest) -> CreatedBusiness:
        now = self._clock.now()
        wanted = Enterprise(
            tax_code=validate_tax_code(req.tax_code),
            name=validate_company_name(req.name),
            address=validate_address(req.address),
            email=validate_email(req.email),
            created_at=now,
        )
        async with self._uow() as uow:
            await _staff(uow, req.actor_id, now, "business_create", Permission.CREATE_BUSINESS)
            existing = await uow.enterprises.by_tax_code(wanted.tax_code)
            if existing is not None:
                return CreatedBusiness(BusinessView.of(existing), created=False)
            stored = await uow.enterprises.add(wanted)
            created = stored == replace(wanted, id=stored.id)  # else a concurrent add won
            if created:
                await uow.history.add(
                    _event(
                        "enterprise.added",
                        now,
                        req.actor_id,
                        stored.id,
                        tax_code=stored.tax_code,
                        name=stored.name,
                        by="staff",
                    )
                )
            await uow.commit()
        return CreatedBusiness(BusinessView.of(stored), created=created)


# ---------------------------------------------------------------------------------------------
# Grants from the chat


class GrantRoleByAdmin:
    """``/grant TELEGRAM_ID ROLE [TAX_CODE]`` typed by an admin: :class:`GrantRole` with the
    admin recorded as the actor. Anyone else is refused (:class:`PermissionDenied`,
    recorded)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, actor_id: int, user_id: int, role: str, tax_code: str | None = None
    ) -> GrantRoleResult:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(actor_id))
            if principal is None or not principal.may(Permission.GRANT):
                await _refuse(uow, self._clock.now(), actor_id, "grant", "not_admin")
                raise PermissionDenied("admins only", field="grant")
        request = GrantRoleRequest(
            user_id=user_id, role=role, tax_code=tax_code, actor_id=UserId(actor_id)
        )
        return await GrantRole(self._uow, self._clock)(request)


def parse_grant(arg: str) -> tuple[int, str, str | None]:
    """``"123456789 owner 0100233488"`` → ``(123456789, "owner", "0100233488")``."""
    parts = arg.split()
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        raise InvalidInput(
            "usage: /grant TELEGRAM_ID ROLE [TAX_CODE]",
            field="grant",
            reason="grant.usage",
            example="/grant 123456789 member 0100233488",
        )
    return int(parts[0]), parts[1], parts[2] if len(parts) == 3 else None
