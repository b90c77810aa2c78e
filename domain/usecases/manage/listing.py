"""The subscription list of the actor's businesses (newest first, paged, optionally by status)
and finding one subscription by its code."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import NotFound, PermissionDenied
from domain.model import (
    Enterprise,
    EnterpriseId,
    Page,
    Principal,
    Subscription,
    SubscriptionStatus,
    UserId,
)
from domain.policy import Permission
from domain.ports import UnitOfWork
from domain.usecases.manage.common import SubscriptionView, UowFactory, _authorize, _require
from domain.validation import normalize_tax_code, validate_tax_code

__all__ = [
    "FindSubscription",
    "ListRequest",
    "ListSubscriptions",
    "SubscriptionList",
]


@dataclass(frozen=True, slots=True)
class ListRequest:
    """The subscriptions of the actor's businesses; ``tax_code`` picks one business (staff:
    any; others: one of theirs); ``enterprise_id`` the same by id (kept by the conversation)."""

    actor_id: int
    tax_code: str = ""
    enterprise_id: int | None = None
    statuses: tuple[SubscriptionStatus, ...] = ()
    offset: int = 0
    limit: int = 8


@dataclass(frozen=True, slots=True)
class SubscriptionList:
    #: the businesses listed (one for a tax code; all of the actor's otherwise)
    enterprises: tuple[Enterprise, ...]
    page: Page[Subscription]
    is_staff: bool = False
    #: staff without a business of their own and no tax code given: ask for one
    needs_tax_code: bool = False


class ListSubscriptions:
    """Newest first, paged, optionally filtered by status; at most three queries."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: ListRequest) -> SubscriptionList:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(req.actor_id))
            is_staff = principal is not None and principal.is_staff
            ids = await self._enterprise_ids(uow, principal, req)
            empty: Page[Subscription] = Page.of((), 0, req.offset, req.limit)
            if not ids:
                return SubscriptionList((), empty, is_staff=is_staff, needs_tax_code=is_staff)
            page = await uow.subscriptions.page_for_enterprises(
                ids, req.statuses or None, req.offset, req.limit
            )
            found = await uow.enterprises.get_many(ids)
        enterprises = tuple(found[i] for i in ids if i in found)
        return SubscriptionList(enterprises, page, is_staff=is_staff)

    @staticmethod
    async def _enterprise_ids(
        uow: UnitOfWork, principal: Principal | None, req: ListRequest
    ) -> list[EnterpriseId]:
        if req.tax_code:
            tax_code = validate_tax_code(normalize_tax_code(req.tax_code))
            enterprise = await uow.enterprises.by_tax_code(tax_code)
            if principal is not None and principal.may(Permission.FIND_BUSINESS):
                if enterprise is None:
                    raise NotFound("no enterprise with this tax code", code=tax_code)
                return [enterprise.id]
            if (
                enterprise is None
                or principal is None
                or not principal.may(Permission.VIEW, enterprise.id)
            ):
                raise PermissionDenied("not a member of this enterprise")
            return [enterprise.id]
        if principal is None:
            return []
        if req.enterprise_id is not None:
            wanted = EnterpriseId(req.enterprise_id)
            _require(principal.may(Permission.VIEW, wanted), "not a member of this enterprise")
            return [wanted]
        return list(dict.fromkeys(m.enterprise_id for m in principal.memberships))


class FindSubscription:
    """A subscription by its code (``TB-2026-000042``), refused like an unknown one when the
    actor may not see it."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, actor_id: int, code: str) -> SubscriptionView:
        async with self._uow() as uow:
            found = await uow.subscriptions.get_by_code(code.strip().upper())
            if found is None:
                raise PermissionDenied("subscription not visible")
            subscription, rights = await _authorize(uow, actor_id, found.id)
        return SubscriptionView(subscription, rights)
