"""What the change and trial use cases share: who may act, the catalog lookup with the stored
fallback, the buyer data of a subscription and the history event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.catalog import BillingCycle, Catalog, Plan, Service
from domain.errors import PermissionDenied
from domain.model import HistoryEvent, Subscription, UserId
from domain.policy import Permission, may
from domain.ports import UnitOfWork
from domain.proration import Configuration
from domain.usecases.manage.common import Rights, _authorize

UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class ChangeTarget:
    """What the subscription should become (the buttons' choice; checked again here)."""

    plan_code: str
    cycle_code: str
    quantity: int = 1
    addon_codes: tuple[str, ...] = ()

    @property
    def configuration(self) -> Configuration:
        return Configuration(self.plan_code, self.cycle_code, self.quantity, self.addon_codes)


def configuration_of(sub: Subscription) -> Configuration:
    return Configuration(sub.plan_code, sub.cycle_code, sub.quantity, tuple(sub.addon_codes))


def may_change(rights: Rights) -> bool:
    """Owners and staff: the permission to buy for the business (``REGISTER``)."""
    return may(rights.standing, Permission.REGISTER)


async def authorize_change(
    uow: UnitOfWork, actor_id: int, subscription_id: int
) -> tuple[Subscription, Rights]:
    """The subscription and the actor's rights; ``PermissionDenied`` for anyone who may not see
    it (as if it did not exist) or may not change it (members)."""
    sub, rights = await _authorize(uow, actor_id, subscription_id)
    if not may_change(rights):
        raise PermissionDenied("only owners and staff change a subscription")
    return sub, rights


async def catalog_for(
    uow: UnitOfWork, catalog: Catalog, service_code: str, *plan_codes: str
) -> Catalog:
    """``catalog`` when it knows the service and plans, else the stored one (which keeps
    removed entries)."""
    service = catalog.service(service_code)
    if service is not None and all(service.plan(code) is not None for code in plan_codes):
        return catalog
    return await uow.catalog.load()


def find_cycle(
    catalog: Catalog, service_code: str, plan_code: str, cycle_code: str
) -> tuple[Service, Plan, BillingCycle] | None:
    service = catalog.service(service_code)
    plan = service.plan(plan_code) if service is not None else None
    cycle = plan.cycle(cycle_code) if plan is not None else None
    if service is None or plan is None or cycle is None:
        return None
    return service, plan, cycle


def event(
    action: str,
    sub: Subscription,
    actor: UserId | None,
    now: datetime,
    details: dict[str, object],
    order_id: int | None = None,
) -> HistoryEvent:
    from domain.model import OrderId

    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=sub.enterprise_id,
        subscription_id=sub.id,
        order_id=OrderId(order_id) if order_id is not None else sub.order_id,
        actor_id=actor,
        details=details,
    )


def config_details(prefix: str, config: Configuration) -> dict[str, object]:
    return {
        f"{prefix}plan": config.plan_code,
        f"{prefix}cycle": config.cycle_code,
        f"{prefix}quantity": config.quantity,
        f"{prefix}addons": ",".join(config.addon_codes),
    }
