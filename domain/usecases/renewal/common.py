"""What the renewal use cases share: results, the period a paid renewal buys, the owners'
notices and the history events."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.catalog import BillingCycle, Catalog
from domain.constants import VN_TZ
from domain.lifecycle import Period, first_period, renewal_period
from domain.model import (
    EnterpriseId,
    HistoryEvent,
    OrderId,
    Subscription,
    SubscriptionStatus,
    UserId,
)
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import UnitOfWork
from domain.usecases.notices import add_notices, reachable_owners

#: the entry action of **Gia hạn** (arg: the subscription code)
RENEW_ACTION = "renew"
#: the statuses a renewal may be ordered and applied in
RENEWABLE = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.NON_RENEWING, SubscriptionStatus.EXPIRED}
)


class ChangeStatus(enum.StrEnum):
    CHANGED = "changed"
    UNCHANGED = "unchanged"  # the subscription is not in a status that allows it (stale)


@dataclass(frozen=True, slots=True)
class LifecycleChange:
    """The outcome of **Hủy gia hạn**, **Tiếp tục gia hạn** or a cancellation by staff."""

    status: ChangeStatus
    subscription: Subscription


def period_for(sub: Subscription, cycle: BillingCycle, paid_at: datetime) -> tuple[Period, bool]:
    """The period a renewal paid at ``paid_at`` buys, and whether it is a fresh start.

    Alive (ACTIVE or NON_RENEWING, whatever the time: the expiry round decides when it is
    over): from the old end, the anchor day kept (``lifecycle.renewal_period``). EXPIRED (or
    never started): a fresh period from the payment. Computed on the Asia/Ho_Chi_Minh calendar
    like the first period, returned in UTC."""
    anchor = sub.started_at or sub.current_period_start
    end = sub.current_period_end
    if sub.status is SubscriptionStatus.EXPIRED or anchor is None or end is None:
        fresh = first_period(paid_at.astimezone(VN_TZ), cycle.every, cycle.unit)
        return Period(fresh.start.astimezone(UTC), fresh.end.astimezone(UTC)), True
    period = renewal_period(
        anchor.astimezone(VN_TZ), end.astimezone(VN_TZ), cycle.every, cycle.unit
    )
    return Period(period.start.astimezone(UTC), period.end.astimezone(UTC)), False


def cycle_of(catalog: Catalog, service: str, plan: str, cycle: str) -> BillingCycle | None:
    found = catalog.service(service)
    p = found.plan(plan) if found is not None else None
    return p.cycle(cycle) if p is not None else None


def event(
    action: str,
    sub: Subscription,
    now: datetime,
    actor: int | None = None,
    order_id: OrderId | None = None,
    **details: JsonValue,
) -> HistoryEvent:
    return HistoryEvent(
        action=action,
        created_at=now,
        enterprise_id=sub.enterprise_id,
        subscription_id=sub.id,
        order_id=order_id,
        actor_id=UserId(actor) if actor is not None else None,
        details={"subscription": sub.code, **details},
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def subscription_params(sub: Subscription) -> dict[str, JsonValue]:
    return {
        "subscription": sub.code,
        "service": sub.service_code,
        "plan": sub.plan_code,
        "status": sub.status.value,
        "period_end": _iso(sub.current_period_end),
    }


async def tell_owners(
    uow: UnitOfWork,
    kind: NoticeKind,
    enterprise_id: EnterpriseId,
    params: dict[str, JsonValue],
    now: datetime,
    exclude: Iterable[int] = (),
) -> int:
    """``kind`` to every reachable owner of the business, each in their language."""
    owners = await reachable_owners(uow, enterprise_id, exclude=exclude)
    return await add_notices(
        uow, (Notice(kind, chat, locale, params) for chat, locale in owners), now
    )
