"""**Hủy gia hạn** (cancel at the period end: NON_RENEWING), **Tiếp tục gia hạn** (back to
ACTIVE) for owners and staff (``Permission.RENEW``), and the cancellation at once by an agent
or admin with a typed reason (``Permission.CANCEL_NOW``: CANCELLED; an open renewal order of
the subscription is cancelled with it).

A press whose status no longer allows it (a stale button, a race with the expiry round) changes
nothing and says so (``ChangeStatus.UNCHANGED``); a forged subscription id is refused like a
subscription the presser may not see (``PermissionDenied``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from domain.errors import InvalidInput, PermissionDenied
from domain.lifecycle import LifecycleAction, TransitionRefused, next_status
from domain.model import OrderStatus, Subscription, SubscriptionId, SubscriptionStatus, UserId
from domain.outbox import NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.usecases.renewal.common import (
    ChangeStatus,
    LifecycleChange,
    event,
    subscription_params,
    tell_owners,
)

UowFactory = Callable[[], UnitOfWork]

REASON_MAX = 500

_EVENTS = {
    LifecycleAction.CANCEL_AT_PERIOD_END: "subscription.non_renewing",
    LifecycleAction.RESUME: "subscription.resumed",
    LifecycleAction.CANCEL_NOW: "subscription.cancelled",
}


async def _locked(
    uow: UnitOfWork, actor_id: int, subscription_id: int, permission: Permission
) -> Subscription:
    sub = await uow.subscriptions.get(SubscriptionId(subscription_id), for_update=True)
    principal = await uow.users.principal(UserId(actor_id))
    if sub is None or principal is None or not principal.may(permission, sub.enterprise_id):
        raise PermissionDenied("not allowed on this subscription")
    return sub


class SetRenewal:
    """**Hủy gia hạn** (``renew=False``) and **Tiếp tục gia hạn** (``renew=True``)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(
        self, actor_id: int, subscription_id: int, *, renew: bool
    ) -> LifecycleChange:
        action = LifecycleAction.RESUME if renew else LifecycleAction.CANCEL_AT_PERIOD_END
        now = self._clock.now()
        async with self._uow() as uow:
            sub = await _locked(uow, actor_id, subscription_id, Permission.RENEW)
            try:
                status = next_status(sub.status, action)
            except TransitionRefused:
                return LifecycleChange(ChangeStatus.UNCHANGED, sub)
            changed = replace(sub, status=status)
            await uow.subscriptions.update(changed)
            await uow.history.add(
                event(
                    _EVENTS[action],
                    changed,
                    now,
                    actor=actor_id,
                    period_end=sub.current_period_end.isoformat()
                    if sub.current_period_end
                    else None,
                )
            )
            await uow.commit()
        return LifecycleChange(ChangeStatus.CHANGED, changed)


@dataclass(frozen=True, slots=True)
class CancelNowRequest:
    actor_id: int
    subscription_id: int
    reason: str


def validate_reason(text: str) -> str:
    reason = " ".join(text.split())
    if not reason:
        raise InvalidInput("a reason is required", field="reason", reason="renew.reason_empty")
    if len(reason) > REASON_MAX:
        raise InvalidInput(
            "the reason is too long", field="reason", reason="renew.reason_long", max=REASON_MAX
        )
    return reason


class CancelNow:
    """An agent or admin ends the subscription at once, with a reason (see the module doc);
    the owners are told (not the staff member, who sees the result)."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: CancelNowRequest) -> LifecycleChange:
        reason = validate_reason(req.reason)
        now = self._clock.now()
        async with self._uow() as uow:
            sub = await _locked(uow, req.actor_id, req.subscription_id, Permission.CANCEL_NOW)
            if sub.status is SubscriptionStatus.FUTURE:
                # not started: its unpaid order is cancelled on the progress track instead
                return LifecycleChange(ChangeStatus.UNCHANGED, sub)
            try:
                status = next_status(sub.status, LifecycleAction.CANCEL_NOW)
            except TransitionRefused:
                return LifecycleChange(ChangeStatus.UNCHANGED, sub)
            changed = replace(sub, status=status)
            await uow.subscriptions.update(changed)
            for order in await uow.renewals.open_orders(sub.id):
                await uow.orders.set_status(
                    order.id, OrderStatus.CANCELLED, expected=[OrderStatus.PENDING_PAYMENT]
                )
            await uow.history.add(
                event("subscription.cancelled", changed, now, actor=req.actor_id, reason=reason)
            )
            await tell_owners(
                uow,
                NoticeKind.SUBSCRIPTION_CANCELLED,
                sub.enterprise_id,
                {**subscription_params(changed), "reason": reason},
                now,
                exclude=(req.actor_id,),
            )
            await uow.commit()
        return LifecycleChange(ChangeStatus.CHANGED, changed)
