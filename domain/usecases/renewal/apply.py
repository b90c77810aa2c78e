"""What a paid renewal order does to its subscription: :func:`apply_paid_renewal`, the
RENEWAL branch of ``domain.usecases.payments.confirm.ConfirmPayment``."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from domain.catalog import BillingCycle
from domain.changes import ScheduledChange
from domain.errors import DomainError
from domain.lifecycle import LifecycleAction, next_status
from domain.model import HistoryEvent, Order, Subscription, UserId
from domain.outbox import JsonValue
from domain.ports import UnitOfWork
from domain.usecases.refunds import REFUND_DUE, refund_due_details
from domain.usecases.renewal.common import RENEWABLE, event, period_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RenewalApplied:
    """What a paid renewal order did to its subscription (for ``ConfirmPayment``)."""

    subscription: Subscription
    start: datetime
    end: datetime | None
    applied: bool  # False: the subscription could not take it (cancelled): refund
    event: HistoryEvent


async def apply_paid_renewal(
    uow: UnitOfWork,
    order: Order,
    cycle: BillingCycle | None,
    paid_at: datetime,
    now: datetime,
    actor: UserId | None,
) -> RenewalApplied:
    """Extend the order's subscription by the cycle paid for, from the old end (a fresh
    period when it had expired); called by ``ConfirmPayment`` once per paid order, inside its
    transaction and after its claim. A subscription that cannot be renewed any more
    (cancelled meanwhile) is left as it is and the money is marked for a refund."""
    if order.subscription_id is None:
        raise DomainError("a renewal order without its subscription")
    sub = await uow.subscriptions.get(order.subscription_id, for_update=True)
    if sub is None:
        raise DomainError("the renewed subscription is gone")

    def history(action: str, **details: JsonValue) -> HistoryEvent:
        who = int(actor) if actor is not None else None
        return event(action, sub, now, who, order.id, order=order.code, **details)

    if sub.status not in RENEWABLE or cycle is None:
        # cancelled at once by staff (or at its period end, or never started): a dead
        # subscription is never revived by money; the payment is recorded, the money is due
        # for refund (an EXPIRED one may still be renewed: a fresh period, below)
        log.error("renewal %s paid for %s in status %s: refund", order.code, sub.code, sub.status)
        return RenewalApplied(
            sub,
            paid_at,
            sub.current_period_end,
            False,
            event(
                REFUND_DUE,
                sub,
                now,
                int(actor) if actor is not None else None,
                order.id,
                **refund_due_details(order, sub.status.value),
            ),
        )
    period, fresh = period_for(sub, cycle, paid_at)
    bought = (order.plan_code, order.cycle_code, order.quantity, tuple(order.addon_codes))
    held = (sub.plan_code, sub.cycle_code, sub.quantity, tuple(sub.addon_codes))
    renewed = replace(
        sub,
        status=next_status(sub.status, LifecycleAction.RENEW),
        started_at=paid_at if fresh else sub.started_at,
        current_period_start=period.start,
        current_period_end=period.end,
    )
    # the order's configuration (plan, cycle, quantity, add-ons: a scheduled downgrade's, or
    # another cycle) is the one of the period it bought: at once when that period has begun
    # (paid after the old end, or a fresh start), else from the old end, as a scheduled change
    # (which replaces one scheduled before: what was paid for wins); see docs/proration.md
    if fresh or period.start <= paid_at:
        renewed = replace(
            renewed,
            plan_code=order.plan_code,
            cycle_code=order.cycle_code,
            quantity=order.quantity,
            addon_codes=tuple(order.addon_codes),
        )
        await uow.changes.unschedule(sub.id)
    elif bought != held:
        await uow.changes.schedule(
            ScheduledChange(
                subscription_id=sub.id,
                plan_code=order.plan_code,
                cycle_code=order.cycle_code,
                quantity=order.quantity,
                addon_codes=tuple(order.addon_codes),
                effective_at=period.start,
                requested_by=order.registered_by,
                created_at=now,
            )
        )
    else:
        await uow.changes.unschedule(sub.id)
    await uow.subscriptions.update(renewed)
    return RenewalApplied(
        renewed,
        period.start,
        period.end,
        True,
        history(
            "subscription.renewed",
            period_start=period.start.isoformat(),
            period_end=period.end.isoformat(),
            previous_end=sub.current_period_end.isoformat() if sub.current_period_end else None,
            fresh=fresh,
            cycle=order.cycle_code,
            plan=order.plan_code,
        ),
    )
