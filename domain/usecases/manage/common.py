"""What the use cases of subscription management share: the actor's :class:`Rights` on a
subscription (derived from the database each time), the authorization that loads both in ONE
query (``subscriptions.get_for_user``), the employee limit of a unit-priced plan, the tab
request and header view, and the history event every change records (who and when).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.catalog import Catalog, PricingStrategy, ServiceKind
from domain.errors import PermissionDenied
from domain.model import HistoryEvent, Role, Subscription, SubscriptionId, User, UserId
from domain.policy import Permission, Relation, Standing, may
from domain.ports import UnitOfWork

__all__ = [
    "Rights",
    "SubscriptionView",
    "TabRequest",
    "UowFactory",
    "employee_limit",
]


UowFactory = Callable[[], UnitOfWork]


# ---------------------------------------------------------------------------------------------
# Rights


@dataclass(frozen=True, slots=True)
class Rights:
    """What the actor may do with one subscription (derived from the database each time)."""

    user_id: UserId
    role: Role | None = None  # OWNER or MEMBER of the subscription's business, or None
    is_admin: bool = False
    is_agent: bool = False

    @classmethod
    def of(cls, user_id: UserId, user: User | None, role: Role | None) -> Rights:
        return cls(
            user_id=user_id,
            role=role,
            is_admin=bool(user and user.is_admin),
            is_agent=bool(user and user.is_agent),
        )

    @property
    def standing(self) -> Standing:
        relation = Relation(self.role.value) if self.role is not None else None
        return Standing(relation=relation, is_agent=self.is_agent, is_admin=self.is_admin)

    @property
    def is_staff(self) -> bool:
        return self.standing.is_staff

    @property
    def can_view(self) -> bool:
        return may(self.standing, Permission.VIEW)

    @property
    def can_manage_employees(self) -> bool:
        return may(self.standing, Permission.MANAGE_EMPLOYEES)

    @property
    def can_note(self) -> bool:
        return may(self.standing, Permission.NOTE)

    @property
    def can_memo(self) -> bool:
        """Credit and debit memos, and their status: agents and admins."""
        return may(self.standing, Permission.MEMO)

    @property
    def can_progress(self) -> bool:
        return may(self.standing, Permission.PROGRESS)

    @property
    def can_renew(self) -> bool:
        """**Gia hạn**, **Hủy gia hạn**, **Tiếp tục gia hạn**: owners and staff."""
        return may(self.standing, Permission.RENEW)

    @property
    def can_cancel_now(self) -> bool:
        """End the subscription at once, with a reason: agents and admins."""
        return may(self.standing, Permission.CANCEL_NOW)

    @property
    def read_only(self) -> bool:
        """A member: sees everything, changes nothing."""
        return not (self.can_manage_employees or self.can_note or self.can_memo)


def employee_limit(subscription: Subscription, catalog: Catalog) -> int | None:
    """The most active employees allowed: the quantity of a unit-priced ON plan, else None.

    The plan is looked up in the catalog, which keeps removed entries (inactive)."""
    if subscription.kind is not ServiceKind.ON:
        return None
    service = catalog.service(subscription.service_code)
    plan = service.plan(subscription.plan_code) if service is not None else None
    if plan is None or plan.pricing is not PricingStrategy.UNIT:
        return None
    return subscription.quantity


async def _authorize(
    uow: UnitOfWork, actor_id: int, subscription_id: int
) -> tuple[Subscription, Rights]:
    """The subscription and the actor's rights on it; refused alike when it does not exist
    and when the actor may not see it."""
    found = await uow.subscriptions.get_for_user(SubscriptionId(subscription_id), UserId(actor_id))
    if found is None:
        raise PermissionDenied("subscription not visible")
    subscription, user, role = found
    rights = Rights.of(UserId(actor_id), user, role)
    if not rights.can_view:
        raise PermissionDenied("subscription not visible")
    return subscription, rights


def _require(allowed: bool, what: str) -> None:
    if not allowed:
        raise PermissionDenied(what)


# ---------------------------------------------------------------------------------------------
# Shared requests, views and the history event


@dataclass(frozen=True, slots=True)
class TabRequest:
    actor_id: int
    subscription_id: int
    offset: int = 0
    limit: int = 10


@dataclass(frozen=True, slots=True)
class SubscriptionView:
    subscription: Subscription
    rights: Rights


def _event(
    action: str,
    subscription: Subscription,
    actor: UserId,
    now: datetime,
    details: dict[str, object],
) -> HistoryEvent:
    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=subscription.enterprise_id,
        subscription_id=subscription.id,
        order_id=subscription.order_id,
        actor_id=actor,
        details=details,
    )
