"""**Đổi gói**: the preview of a change (:class:`PreviewChange`) and its confirmation
(:class:`ConfirmChange`), per ``docs/proration.md``.

Confirming recomputes everything in one transaction under the subscription's row lock, and
compares the amount with the one the user saw (a catalog reload or a day passing in between
gives ``PRICE_CHANGED`` and a new preview). Then, by the settlement:

- PAY: a CHANGE order (``purpose=CHANGE``, ``subscription_id`` set) with the settlement as its
  frozen quote; ON: a payment attempt whose link is asked for after the commit; OS: its invoice
  waits for cash. The change applies when it is paid (:mod:`.apply`).
- CREDIT: a CREDIT memo (OPEN) for the amount, and the change applied now.
- NONE: the change applied now.
- AT_PERIOD_END: the change stored for the period end (replacing an earlier one).

One order per idempotency key: a double tap on **Xác nhận** makes one change.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.catalog import Catalog, ServiceKind
from domain.changes import ScheduledChange
from domain.constants import VN_TZ
from domain.errors import DomainError
from domain.model import (
    InvoiceStatus,
    Memo,
    MemoKind,
    MemoStatus,
    Order,
    OrderPurpose,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for
from domain.ports import Clock, UnitOfWork
from domain.proration import ChangeQuote, Settlement, prorate_change
from domain.usecases.changes.apply import change_subscription
from domain.usecases.changes.common import (
    ChangeTarget,
    UowFactory,
    authorize_change,
    catalog_for,
    config_details,
    configuration_of,
    event,
)
from domain.usecases.manage.common import Rights
from domain.usecases.registration import PaymentStart


class ChangeRefused(DomainError):
    """The subscription cannot be changed now (``reason``: ``status``, or ``renewed_ahead``:
    a renewal paid before the period end has not begun; ``start`` is when it does)."""

    key = "chg.refused.status"


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    actor_id: int
    subscription_id: int
    target: ChangeTarget


@dataclass(frozen=True, slots=True)
class ChangePreview:
    subscription: Subscription
    rights: Rights
    quote: ChangeQuote


def _changeable(sub: Subscription, now: datetime) -> tuple[datetime, datetime]:
    if (
        sub.status is not SubscriptionStatus.ACTIVE
        or sub.current_period_start is None
        or sub.current_period_end is None
    ):
        raise ChangeRefused("only an active subscription can be changed", reason="status")
    if sub.current_period_start > now:
        # renewed ahead: the stored period is the one bought, from the old end, and it has not
        # begun. A change now would be priced against that future period while the current one
        # runs on (an upgrade free until the old end, a credit for a period not yet used), and
        # with a downgrade waiting it would replace the configuration paid for the renewal. So
        # a change waits until the paid period begins, whichever plan the renewal bought.
        raise ChangeRefused(
            "a renewal paid ahead: a change waits until its period begins",
            reason="renewed_ahead",
            start=sub.current_period_start,
        )
    return sub.current_period_start, sub.current_period_end


class PreviewChange:
    """The cost of a change, as **Xác nhận** would settle it now."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: ChangeRequest) -> ChangePreview:
        now = self._clock.now()
        async with self._uow() as uow:
            sub, rights = await authorize_change(uow, req.actor_id, req.subscription_id)
            start, end = _changeable(sub, now)
            catalog = await catalog_for(
                uow, self._catalog(), sub.service_code, sub.plan_code, req.target.plan_code
            )
        quote = prorate_change(
            catalog,
            sub.service_code,
            configuration_of(sub),
            req.target.configuration,
            period_start=start,
            period_end=end,
            at=now,
        )
        return ChangePreview(sub, rights, quote)


class ChangeOutcomeKind(enum.StrEnum):
    AWAITS_PAYMENT = "awaits_payment"  # ON: pay ``payment_url`` (empty: the gateway failed)
    CASH_PENDING = "cash_pending"  # OS: the invoice waits for cash
    CREDITED = "credited"  # applied, the credit recorded as a memo
    APPLIED = "applied"  # applied, nothing to pay
    SCHEDULED = "scheduled"  # applies at the period end
    PRICE_CHANGED = "price_changed"  # the amount differs from the preview: preview again
    EXISTING = "existing"  # the same confirmation was made before (a double tap)


@dataclass(frozen=True, slots=True)
class ChangeOutcome:
    kind: ChangeOutcomeKind
    amount: int = 0
    order_id: int | None = None
    order_code: str = ""
    payment_url: str = ""
    effective_at: datetime | None = None
    subscription_code: str = ""


@dataclass(frozen=True, slots=True)
class ConfirmChangeRequest:
    actor_id: int
    subscription_id: int
    target: ChangeTarget
    expected_amount: int
    expected_settlement: Settlement
    idempotency_key: str
    chat_id: int | None = None
    locale: str = "vi"


class ConfirmChange:
    def __init__(
        self,
        uow: UowFactory,
        catalog: Callable[[], Catalog],
        clock: Clock,
        start_payment: Callable[[int], Awaitable[PaymentStart]] | None = None,
        unpaid_order_ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock
        self._start_payment = start_payment
        self._ttl = unpaid_order_ttl

    async def __call__(self, req: ConfirmChangeRequest) -> ChangeOutcome:
        outcome = await self._confirm(req)
        if (
            outcome.kind is ChangeOutcomeKind.AWAITS_PAYMENT
            and outcome.order_id is not None
            and self._start_payment is not None
            and not outcome.payment_url
        ):
            started = await self._start_payment(outcome.order_id)
            outcome = replace(outcome, payment_url=started.redirect_url)
        return outcome

    async def _confirm(self, req: ConfirmChangeRequest) -> ChangeOutcome:
        now = self._clock.now()
        async with self._uow() as uow:
            existing = await uow.orders.by_idempotency_key(req.idempotency_key)
            if existing is not None:
                return await _existing(uow, existing)
            await authorize_change(uow, req.actor_id, req.subscription_id)
            sub = await uow.subscriptions.get(SubscriptionId(req.subscription_id), for_update=True)
            assert sub is not None  # authorized above
            start, end = _changeable(sub, now)
            catalog = await catalog_for(
                uow, self._catalog(), sub.service_code, sub.plan_code, req.target.plan_code
            )
            current = configuration_of(sub)
            q = prorate_change(
                catalog,
                sub.service_code,
                current,
                req.target.configuration,
                period_start=start,
                period_end=end,
                at=now,
            )
            if q.amount != req.expected_amount or q.settlement is not req.expected_settlement:
                return ChangeOutcome(ChangeOutcomeKind.PRICE_CHANGED, amount=q.amount)
            actor = UserId(req.actor_id)
            details = {
                **config_details("from_", current),
                **config_details("to_", req.target.configuration),
                "days_remaining": q.days_remaining,
                "days_total": q.days_total,
            }
            if q.settlement is Settlement.AT_PERIOD_END:
                await uow.changes.schedule(
                    ScheduledChange(
                        subscription_id=sub.id,
                        plan_code=req.target.plan_code,
                        cycle_code=req.target.cycle_code,
                        quantity=req.target.quantity,
                        addon_codes=req.target.addon_codes,
                        effective_at=end,
                        requested_by=actor,
                        created_at=now,
                    )
                )
                await uow.history.add(
                    event(
                        "subscription.change_scheduled",
                        sub,
                        actor,
                        now,
                        {**details, "effective_at": end.isoformat()},
                    )
                )
                await uow.commit()
                return ChangeOutcome(
                    ChangeOutcomeKind.SCHEDULED, effective_at=end, subscription_code=sub.code
                )
            if q.settlement is Settlement.PAY:
                order = await self._order(uow, sub, req, q, now)
                await uow.commit()
                kind = (
                    ChangeOutcomeKind.AWAITS_PAYMENT
                    if order.kind is ServiceKind.ON
                    else ChangeOutcomeKind.CASH_PENDING
                )
                return ChangeOutcome(
                    kind,
                    amount=order.total,
                    order_id=order.id,
                    order_code=order.code,
                    subscription_code=sub.code,
                )
            await change_subscription(uow, catalog, sub, req.target, now, actor, details)
            if q.settlement is Settlement.CREDIT:
                memo = await uow.memos.add(
                    Memo(
                        subscription_id=sub.id,
                        kind=MemoKind.CREDIT,
                        text=f"Đổi gói {sub.plan_code} → {req.target.plan_code}"
                        f" ({q.days_remaining}/{q.days_total})",
                        author_id=actor,
                        created_at=now,
                        amount=q.amount,
                        status=MemoStatus.OPEN,
                    )
                )
                await uow.history.add(
                    event(
                        "memo.added",
                        sub,
                        actor,
                        now,
                        {"memo": int(memo.id), "kind": MemoKind.CREDIT.value, "amount": q.amount},
                    )
                )
            await uow.commit()
        kind = (
            ChangeOutcomeKind.CREDITED
            if q.settlement is Settlement.CREDIT
            else ChangeOutcomeKind.APPLIED
        )
        return ChangeOutcome(kind, amount=q.amount, subscription_code=sub.code)

    async def _order(
        self,
        uow: UnitOfWork,
        sub: Subscription,
        req: ConfirmChangeRequest,
        q: ChangeQuote,
        now: datetime,
    ) -> Order:
        assert q.quote is not None
        first = await uow.orders.get(sub.order_id)
        code = await uow.orders.next_code(now.astimezone(VN_TZ).year)
        on = sub.kind is ServiceKind.ON
        order = await uow.orders.add(
            Order(
                code=code,
                enterprise_id=sub.enterprise_id,
                registered_by=UserId(req.actor_id),
                service_code=sub.service_code,
                plan_code=req.target.plan_code,
                cycle_code=req.target.cycle_code,
                kind=sub.kind,
                payment_method=PaymentMethod.VNPTPAY if on else PaymentMethod.BY_CASH,
                total=q.quote.total,
                idempotency_key=req.idempotency_key,
                created_at=now,
                quantity=req.target.quantity,
                addon_codes=req.target.addon_codes,
                quote=q.quote.to_dict(),
                invoice_info=dict(first.invoice_info) if first is not None else {},
                customer_info=dict(first.customer_info) if first is not None else {},
                contact=dict(first.contact) if first is not None else {},
                locale=req.locale,
                chat_id=req.chat_id,
                expires_at=now + self._ttl if on else None,
                purpose=OrderPurpose.CHANGE,
                subscription_id=sub.id,
            )
        )
        if on:
            await uow.payments.add(
                PaymentAttempt(
                    order_id=order.id,
                    merchant_order_id=f"{order.code}-1",
                    amount=order.total,
                    method=PaymentMethod.VNPTPAY,
                    created_at=now,
                )
            )
        else:
            await uow.invoices.add(
                invoice_for(
                    order, q.quote, now, subscription_id=sub.id, status=InvoiceStatus.WAITING
                )
            )
        await uow.history.add(
            event(
                "order.created",
                sub,
                UserId(req.actor_id),
                now,
                {
                    "order": order.code,
                    "total": order.total,
                    "kind": order.kind.value,
                    "purpose": OrderPurpose.CHANGE.value,
                },
                order_id=int(order.id),
            )
        )
        return order


async def _existing(uow: UnitOfWork, order: Order) -> ChangeOutcome:
    attempts = await uow.payments.for_order(order.id)
    url = next((a.redirect_url or "" for a in reversed(attempts) if a.status.is_open), "")
    return ChangeOutcome(
        ChangeOutcomeKind.EXISTING,
        amount=order.total,
        order_id=order.id,
        order_code=order.code,
        payment_url=url,
    )
