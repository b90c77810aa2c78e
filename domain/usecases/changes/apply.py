"""Applying a change to a subscription: now (a credit or nothing to pay), when its CHANGE order
is paid (:func:`apply_paid_change`, called by ``ConfirmPayment``), or at the period end
(:class:`ApplyScheduledChanges`, a background round). A trial subscription (IN_TRIAL) paid
through a CHANGE order becomes ACTIVE with a first period from the payment (see
``docs/proration.md``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from domain.billing import DAYS_30_360
from domain.catalog import Catalog
from domain.constants import VN_TZ
from domain.lifecycle import LifecycleAction, next_status
from domain.model import (
    InvoiceStatus,
    Order,
    PaymentAttempt,
    Subscription,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for
from domain.ports import Clock, UnitOfWork
from domain.pricing import Quote
from domain.usecases.changes.common import (
    ChangeTarget,
    UowFactory,
    catalog_for,
    config_details,
    configuration_of,
    event,
    find_cycle,
)
from domain.usecases.changes.scheduled import apply_scheduled_change
from domain.usecases.payments.common import (
    ConfirmPaymentRequest,
    ConfirmStatus,
    PaymentConfirmed,
    _owner_chats,
    subscription_period,
)
from domain.usecases.refunds import REFUND_DUE, refund_due_details, staff_to_tell

log = logging.getLogger(__name__)

#: the statuses a paid CHANGE order still applies in: alive (NON_RENEWING too: a change paid
#: after **Hủy gia hạn** changes the rest of the period; the subscription stays NON_RENEWING)
#: or a trial being paid. CANCELLED and EXPIRED ones are not changed: the money is due for
#: refund (``domain.usecases.refunds``)
CHANGEABLE_WHEN_PAID = frozenset(
    {SubscriptionStatus.ACTIVE, SubscriptionStatus.NON_RENEWING, SubscriptionStatus.IN_TRIAL}
)


def _cycle_days(catalog: Catalog, service: str, plan: str, cycle: str) -> int | None:
    found = find_cycle(catalog, service, plan, cycle)
    if found is None:
        return None
    return found[2].every * DAYS_30_360[found[2].unit]


async def change_subscription(
    uow: UnitOfWork,
    catalog: Catalog,
    sub: Subscription,
    target: ChangeTarget,
    at: datetime,
    actor: UserId | None,
    details: dict[str, object],
    order_id: int | None = None,
) -> Subscription:
    """``sub`` with ``target``'s plan, cycle, quantity and add-ons, stored; a new period from
    ``at`` when the cycle length changes, and an IN_TRIAL subscription made ACTIVE with a first
    period from ``at``. A scheduled change of the subscription is dropped (this one wins);
    history ``subscription.changed`` (and ``trial.converted``)."""
    old_days = _cycle_days(catalog, sub.service_code, sub.plan_code, sub.cycle_code)
    new = find_cycle(catalog, sub.service_code, target.plan_code, target.cycle_code)
    changed = replace(
        sub,
        plan_code=target.plan_code,
        cycle_code=target.cycle_code,
        quantity=target.quantity,
        addon_codes=target.addon_codes,
    )
    trial = sub.status is SubscriptionStatus.IN_TRIAL
    if new is not None:
        new_days = new[2].every * DAYS_30_360[new[2].unit]
        if trial or old_days != new_days:
            start, end = subscription_period(at, new[2])
            changed = replace(changed, current_period_start=start, current_period_end=end)
    if trial:
        changed = replace(
            changed,
            status=next_status(sub.status, LifecycleAction.ACTIVATE),
            started_at=at,
        )
    await uow.subscriptions.update(changed)
    await uow.changes.unschedule(sub.id)
    period: dict[str, object] = {
        "period_start": changed.current_period_start.isoformat()
        if changed.current_period_start
        else "",
        "period_end": changed.current_period_end.isoformat() if changed.current_period_end else "",
    }
    await uow.history.add(
        event(
            "subscription.changed",
            changed,
            actor,
            at,
            {
                **config_details("from_", configuration_of(sub)),
                **config_details("to_", configuration_of(changed)),
                **details,
                **period,
            },
            order_id=order_id,
        )
    )
    if trial:
        found = await uow.changes.trial_for_subscription(sub.id)
        if found is not None:
            await uow.changes.mark_trial_ended(found.id, at)
        await uow.history.add(event("trial.converted", changed, actor, at, period, order_id))
    return changed


async def apply_paid_change(
    uow: UnitOfWork,
    catalog: Catalog,
    order: Order,
    attempt: PaymentAttempt,
    paid_at: datetime,
    now: datetime,
    actor: UserId | None,
) -> tuple[Subscription | None, str]:
    """A CHANGE order was paid (the order is PAID, the attempt SUCCESS, by ConfirmPayment):
    the change applied to ``order.subscription_id`` and the settlement invoiced (the waiting
    cash invoice marked PAID, or a new PAID one from the frozen quote), numbered in the
    payment's year. Returns the subscription as changed and the invoice number."""
    if order.subscription_id is None:
        log.error("change order %s names no subscription", order.code)
        return None, ""
    sub = await uow.subscriptions.get(order.subscription_id, for_update=True)
    if sub is None:
        log.error("change order %s: subscription %s is gone", order.code, order.subscription_id)
        return None, ""
    catalog = await catalog_for(uow, catalog, sub.service_code, sub.plan_code, order.plan_code)
    target = ChangeTarget(order.plan_code, order.cycle_code, order.quantity, order.addon_codes)
    changed = sub
    if sub.status in CHANGEABLE_WHEN_PAID:
        changed = await change_subscription(
            uow,
            catalog,
            sub,
            target,
            paid_at,
            actor,
            {"order": order.code, "amount": order.total},
            order_id=int(order.id),
        )
    else:  # cancelled or expired meanwhile: the money is real, support refunds it
        log.error("change order %s paid for a %s subscription: refund", order.code, sub.status)
        await uow.history.add(
            event(
                REFUND_DUE,
                sub,
                actor,
                now,
                dict(refund_due_details(order, sub.status.value)),
                order_id=int(order.id),
            )
        )
    existing = await uow.invoices.for_order(order.id)
    if existing:
        invoice = replace(
            existing[0],
            status=InvoiceStatus.PAID,
            subscription_id=sub.id,
            issued_at=existing[0].issued_at or now,
            paid_at=paid_at,
            confirmed_by=actor,
        )
        await uow.invoices.update(invoice)
    else:
        invoice = await uow.invoices.add(
            invoice_for(
                order,
                Quote.from_dict(order.quote),
                now,
                subscription_id=sub.id,
                status=InvoiceStatus.PAID,
                issued_at=now,
                paid_at=paid_at,
                confirmed_by=actor,
            )
        )
    number = await uow.invoices.assign_number(invoice.id, paid_at.astimezone(VN_TZ).year)
    await uow.history.add(
        event("invoice.paid", sub, actor, now, {"invoice": number, "total": order.total}, order.id)
    )
    return changed, number


@dataclass(frozen=True, slots=True)
class ScheduledReport:
    applied: int = 0
    dropped: int = 0


class ApplyScheduledChanges:
    """The background round: each due scheduled change applied in its own transaction (under
    the subscription's row lock; ``unschedule`` is the claim, so two replicas apply it once),
    the period kept (:func:`~domain.usecases.changes.scheduled.apply_scheduled_change`).
    A subscription no longer ACTIVE or NON_RENEWING drops its scheduled change."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, limit: int = 100) -> ScheduledReport:
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.changes.due(now, limit)
        applied = dropped = 0
        for change in due:
            async with self._uow() as uow:
                sub = await uow.subscriptions.get(change.subscription_id, for_update=True)
                if sub is None or not await uow.changes.unschedule(change.subscription_id):
                    continue  # another replica took it
                if sub.status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.NON_RENEWING):
                    dropped += 1
                    await uow.commit()
                    continue
                # the configuration of the period that starts at the boundary: the period
                # itself is not moved (a renewal pays for it; see changes.scheduled)
                await apply_scheduled_change(uow, sub, change)
                await uow.commit()
                applied += 1
        return ScheduledReport(applied, dropped)


async def confirm_change_payment(
    uow: UnitOfWork,
    catalog: Catalog,
    order: Order,
    attempt: PaymentAttempt,
    req: ConfirmPaymentRequest,
    paid_at: datetime,
    now: datetime,
    late: bool,
) -> PaymentConfirmed:
    """ConfirmPayment's branch for a CHANGE order (the order is PAID, the attempt SUCCESS and
    the other attempts expired already): the change applied and invoiced, the history, and the
    result the payment notices are made from."""
    actor = UserId(req.actor_id) if req.actor_id is not None else None
    before = (
        await uow.subscriptions.get(order.subscription_id, for_update=True)
        if order.subscription_id is not None
        else None
    )
    applied = before is not None and before.status in CHANGEABLE_WHEN_PAID
    sub, number = await apply_paid_change(uow, catalog, order, attempt, paid_at, now, actor)
    if sub is not None:
        await uow.history.add(
            event(
                "payment.succeeded",
                sub,
                actor,
                now,
                {
                    "order": order.code,
                    "merchant_order_id": attempt.merchant_order_id,
                    "method": attempt.method.value,
                    "amount": attempt.amount,
                    "transaction_id": req.transaction_id or "",
                    "source": req.source.value,
                    "late": late,
                    "purpose": order.purpose.value,
                },
                order_id=int(order.id),
            )
        )
    return PaymentConfirmed(
        ConfirmStatus.APPLIED,
        attempt.merchant_order_id,
        order_id=order.id,
        order_code=order.code,
        enterprise_id=order.enterprise_id,
        kind=order.kind,
        method=attempt.method,
        total=order.total,
        paid_at=paid_at,
        subscription_id=sub.id if sub is not None else None,
        subscription_code=sub.code if sub is not None else "",
        invoice_number=number,
        period_start=sub.current_period_start if sub is not None else None,
        period_end=sub.current_period_end if sub is not None else None,
        chat_id=order.chat_id,
        owner_chat_ids=await _owner_chats(uow, order),
        locale=order.locale,
        actor_id=req.actor_id,
        late=late,
        change=_what_changed(before, sub, paid_at) if applied and sub is not None else None,
        purpose=order.purpose.value,
        refund_due=sub is not None and not applied,
        subscription_status=sub.status.value if sub is not None else "",
        staff_chat_ids=await staff_to_tell(uow, order) if sub is not None and not applied else (),
    )


def _what_changed(
    before: Subscription | None, after: Subscription, at: datetime
) -> dict[str, str | int | bool]:
    """The params of the owners' notice of a paid change: old → new, from when."""
    old = before if before is not None else after
    return {
        "service": after.service_code,
        "trial": old.status is SubscriptionStatus.IN_TRIAL,
        "from_plan": old.plan_code,
        "from_cycle": old.cycle_code,
        "from_quantity": old.quantity,
        "to_plan": after.plan_code,
        "to_cycle": after.cycle_code,
        "to_quantity": after.quantity,
        "effective_at": at.isoformat(),
    }
