"""Applying a payment success: :class:`ConfirmPayment` (see the package doc for its invariants)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from domain.catalog import BillingCycle, Catalog
from domain.model import (
    HistoryEvent,
    InvoiceStatus,
    Order,
    OrderId,
    OrderPurpose,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for, subscription_for
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.ports import Clock, UnitOfWork
from domain.pricing import Quote
from domain.usecases import notices
from domain.usecases.payments.common import (
    CASH_ATTEMPT_SUFFIX,
    CURRENCY,
    ConfirmPaymentRequest,
    ConfirmStatus,
    PaymentConfirmed,
    PaymentSource,
    UowFactory,
    _find_cycle,
    _owner_chats,
    _vn_year,
    log,
    subscription_period,
)
from domain.usecases.refunds import staff_to_tell
from domain.usecases.renewal.apply import apply_paid_renewal


class ConfirmPayment:
    """Apply a payment success exactly once (see the package doc).

    In one transaction: the order's row lock, the claim, the attempt SUCCESS, the order PAID,
    the subscription ACTIVE with its first period from the payment time (a new one for an ON
    order, the waiting one of an OS order), the invoice PAID with the next number of the
    payment's year (created from the order's frozen quote, or the waiting one), other open
    attempts of the order EXPIRED (superseded) and the history events.

    ``catalog`` gives the cycle's length; a code missing there (a stale in-memory catalog) is
    looked up in the stored catalog, which keeps removed entries.
    """

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: ConfirmPaymentRequest) -> PaymentConfirmed:
        now = self._clock.now()
        paid_at = req.paid_at or now
        async with self._uow() as uow:
            found = await self._locate(uow, req, now)
            if isinstance(found, PaymentConfirmed):
                if found.status is ConfirmStatus.AMOUNT_MISMATCH:
                    await uow.commit()  # the mismatch recorded and told (once), if online
                return found
            order, attempt = found
            if req.source is PaymentSource.NOTIFICATION:
                await uow.payments.mark_notified(attempt.id, now)
            claimed = await uow.payments.claim_success(
                attempt.id, order.id, attempt.merchant_order_id, now
            )
            if claimed:
                result = await self._apply(uow, order, attempt, req, paid_at, now)
                await notices.add_notices(uow, notices.payment_succeeded(result), now)
            else:
                result = await self._repeat(uow, order, attempt, req, paid_at, now)
            await uow.commit()
        return result

    async def _locate(
        self, uow: UnitOfWork, req: ConfirmPaymentRequest, now: datetime
    ) -> tuple[Order, PaymentAttempt] | PaymentConfirmed:
        """The locked order and the attempt to claim, or the reason nothing is applied."""
        moid = req.merchant_order_id or ""
        if req.method is PaymentMethod.BY_CASH and req.order_id is not None:
            order = await uow.orders.get(OrderId(req.order_id), for_update=True)
            if order is None:
                return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid, order_id=req.order_id)
            return await self._cash_attempt(uow, order, req, now)
        attempt = await uow.payments.get_by_merchant_order_id(moid) if moid else None
        if attempt is None:
            log.warning("payment success for unknown merchant order id %r", moid)
            return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid)
        order = await uow.orders.get(attempt.order_id, for_update=True)
        # read again under the order's lock: a concurrent success may have just committed
        attempt = await uow.payments.get_by_merchant_order_id(moid)
        if order is None or attempt is None:
            return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid)
        if attempt.method is not req.method:
            log.warning("payment %s: method %s, attempt is %s", moid, req.method, attempt.method)
            return _summary(ConfirmStatus.WRONG_METHOD, order, attempt)
        if (req.amount is not None and req.amount != attempt.amount) or req.currency != CURRENCY:
            log.warning(
                "payment %s not applied: %s %s reported, %s %s expected",
                moid,
                req.amount,
                req.currency,
                attempt.amount,
                CURRENCY,
            )
            await _record_mismatch(uow, order, attempt, req, now)
            return _summary(ConfirmStatus.AMOUNT_MISMATCH, order, attempt)
        return order, attempt

    async def _cash_attempt(
        self, uow: UnitOfWork, order: Order, req: ConfirmPaymentRequest, now: datetime
    ) -> tuple[Order, PaymentAttempt] | PaymentConfirmed:
        """The order's one cash attempt, created on first use (under the order's lock)."""
        moid = f"{order.code}-{CASH_ATTEMPT_SUFFIX}"
        if order.payment_method is not PaymentMethod.BY_CASH:
            log.warning("cash confirmed for %s, which is paid %s", order.code, order.payment_method)
            return _summary(ConfirmStatus.WRONG_METHOD, order, None)
        if req.amount is not None and req.amount != order.total:
            log.warning("cash for %s: %s received, %s due", order.code, req.amount, order.total)
            return _summary(ConfirmStatus.AMOUNT_MISMATCH, order, None)
        attempt = await uow.payments.get_by_merchant_order_id(moid)
        if attempt is not None:
            return order, attempt
        if order.status is OrderStatus.PAID:
            return await _already(uow, order, moid)
        attempt = await uow.payments.add(
            PaymentAttempt(
                order_id=order.id,
                merchant_order_id=moid,
                amount=order.total,
                method=PaymentMethod.BY_CASH,
                created_at=now,
            )
        )
        return order, attempt

    async def _cycle(self, uow: UnitOfWork, order: Order) -> BillingCycle | None:
        cycle = _find_cycle(self._catalog(), order)
        if cycle is None:
            cycle = _find_cycle(await uow.catalog.load(), order)
        return cycle

    async def _apply(
        self,
        uow: UnitOfWork,
        order: Order,
        attempt: PaymentAttempt,
        req: ConfirmPaymentRequest,
        paid_at: datetime,
        now: datetime,
    ) -> PaymentConfirmed:
        actor = UserId(req.actor_id) if req.actor_id is not None else None
        await uow.payments.mark_success(
            attempt.id,
            transaction_id=req.transaction_id,
            response_code=req.response_code,
            at=paid_at,
        )
        late = order.status is not OrderStatus.PENDING_PAYMENT
        if late:
            log.warning("payment %s applied to %s order", attempt.merchant_order_id, order.status)
        await uow.orders.set_status(order.id, OrderStatus.PAID, paid_at=paid_at)
        if late and order.promotion_codes:
            await uow.promotions.redeem(order.id, order.enterprise_id, order.promotion_codes, now)
        for other in await uow.payments.for_order(order.id):
            if other.id != attempt.id and other.status.is_open:
                await uow.payments.mark_expired(other.id, at=now)
        if order.purpose is OrderPurpose.CHANGE:  # Đổi gói (and a trial paid): its own module
            from domain.usecases.changes.apply import confirm_change_payment

            return await confirm_change_payment(
                uow, self._catalog(), order, attempt, req, paid_at, now, late
            )

        cycle = await self._cycle(uow, order)
        applied: HistoryEvent | None = None
        refund_due = False
        if order.purpose is OrderPurpose.RENEWAL:
            renewal = await apply_paid_renewal(uow, order, cycle, paid_at, now, actor)
            sub, start, end, applied = (
                renewal.subscription,
                renewal.start,
                renewal.end,
                renewal.event,
            )
            refund_due = not renewal.applied
        else:
            if cycle is None:
                log.error("order %s: cycle %s not in the catalog", order.code, order.cycle_code)
                start, end = paid_at, None
            else:
                start, end = subscription_period(paid_at, cycle)
            sub = await self._activate(uow, order, paid_at, start, end, now)
        number = await self._invoice(uow, order, sub.id, paid_at, actor, now)

        def event(action: str, details: dict[str, object]) -> HistoryEvent:
            return HistoryEvent(
                action=action,
                created_at=now,
                enterprise_id=order.enterprise_id,
                subscription_id=sub.id,
                order_id=order.id,
                actor_id=actor,
                details=details,
            )

        await uow.history.add(
            event(
                "payment.succeeded",
                {
                    "order": order.code,
                    "merchant_order_id": attempt.merchant_order_id,
                    "method": attempt.method.value,
                    "amount": attempt.amount,
                    "transaction_id": req.transaction_id or "",
                    "source": req.source.value,
                    "late": late,
                },
            )
        )
        await uow.history.add(
            applied
            or event(
                "subscription.activated",
                {
                    "subscription": sub.code,
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat() if end is not None else "",
                },
            )
        )
        await uow.history.add(event("invoice.paid", {"invoice": number, "total": order.total}))
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
            subscription_id=sub.id,
            subscription_code=sub.code,
            invoice_number=number,
            period_start=start,
            period_end=end,
            chat_id=order.chat_id,
            owner_chat_ids=await _owner_chats(uow, order),
            locale=order.locale,
            actor_id=req.actor_id,
            late=late,
            purpose=order.purpose.value,
            refund_due=refund_due,
            subscription_status=sub.status.value,
            staff_chat_ids=await staff_to_tell(uow, order) if refund_due else (),
        )

    async def _activate(
        self,
        uow: UnitOfWork,
        order: Order,
        paid_at: datetime,
        start: datetime,
        end: datetime | None,
        now: datetime,
    ) -> Subscription:
        """The order's waiting subscription (OS) made ACTIVE, or a new ACTIVE one (ON)."""
        existing = await uow.subscriptions.for_order(order.id)
        if existing:
            sub = replace(
                existing[0],
                status=SubscriptionStatus.ACTIVE,
                started_at=paid_at,
                current_period_start=start,
                current_period_end=end,
            )
            await uow.subscriptions.update(sub)
            return sub
        code = await uow.subscriptions.next_code(_vn_year(now))
        return await uow.subscriptions.add(
            subscription_for(
                order,
                code,
                now,
                status=SubscriptionStatus.ACTIVE,
                started_at=paid_at,
                current_period_start=start,
                current_period_end=end,
            )
        )

    async def _invoice(
        self,
        uow: UnitOfWork,
        order: Order,
        subscription_id: SubscriptionId,
        paid_at: datetime,
        actor: UserId | None,
        now: datetime,
    ) -> str:
        """The order's waiting invoice (OS) marked PAID, or a new PAID one from the frozen
        quote (ON); numbered in the year of the payment."""
        existing = await uow.invoices.for_order(order.id)
        if existing:
            invoice = replace(
                existing[0],
                status=InvoiceStatus.PAID,
                subscription_id=subscription_id,
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
                    subscription_id=subscription_id,
                    status=InvoiceStatus.PAID,
                    issued_at=now,
                    paid_at=paid_at,
                    confirmed_by=actor,
                )
            )
        return await uow.invoices.assign_number(invoice.id, _vn_year(paid_at))

    async def _repeat(
        self,
        uow: UnitOfWork,
        order: Order,
        attempt: PaymentAttempt,
        req: ConfirmPaymentRequest,
        paid_at: datetime,
        now: datetime,
    ) -> PaymentConfirmed:
        """The claim was taken. If this attempt is the one applied, it is a plain repeat.
        Otherwise the order was paid through another attempt and this is a second payment:
        it is recorded (the money is real) for a refund, and nothing else changes."""
        if attempt.status is not PaymentAttemptStatus.SUCCESS:
            await uow.payments.mark_success(
                attempt.id,
                transaction_id=req.transaction_id,
                response_code=req.response_code,
                at=paid_at,
            )
            await uow.history.add(
                HistoryEvent(
                    action="payment.duplicate",
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    order_id=order.id,
                    details={
                        "order": order.code,
                        "merchant_order_id": attempt.merchant_order_id,
                        "amount": attempt.amount,
                        "transaction_id": req.transaction_id or "",
                        "action": "refund",
                    },
                )
            )
            log.error(
                "order %s paid twice: %s (%s đồng) must be refunded",
                order.code,
                attempt.merchant_order_id,
                attempt.amount,
            )
            await notices.add_notices(
                uow, await _duplicate_notices(uow, order, attempt, req.transaction_id or ""), now
            )
            return _summary(ConfirmStatus.DUPLICATE_PAYMENT, order, attempt)
        return await _already(uow, order, attempt.merchant_order_id)


def _summary(
    status: ConfirmStatus, order: Order, attempt: PaymentAttempt | None
) -> PaymentConfirmed:
    return PaymentConfirmed(
        status,
        attempt.merchant_order_id if attempt is not None else "",
        order_id=order.id,
        order_code=order.code,
        enterprise_id=order.enterprise_id,
        kind=order.kind,
        method=order.payment_method,
        total=order.total,
        chat_id=order.chat_id,
        locale=order.locale,
        purpose=order.purpose.value,
    )


async def _already(uow: UnitOfWork, order: Order, moid: str) -> PaymentConfirmed:
    """A repeat: what was applied the first time, read back (nothing is changed)."""
    subs = await uow.subscriptions.for_order(order.id)
    if not subs and order.subscription_id is not None:  # a renewal or change order
        acted_on = await uow.subscriptions.get(order.subscription_id)
        subs = [acted_on] if acted_on is not None else []
    invoices = await uow.invoices.for_order(order.id)
    sub = subs[0] if subs else None
    return PaymentConfirmed(
        ConfirmStatus.ALREADY_APPLIED,
        moid,
        order_id=order.id,
        order_code=order.code,
        enterprise_id=order.enterprise_id,
        kind=order.kind,
        method=order.payment_method,
        total=order.total,
        paid_at=order.paid_at,
        subscription_id=sub.id if sub is not None else None,
        subscription_code=sub.code if sub is not None else "",
        invoice_number=next((i.number for i in invoices if i.number), ""),
        period_start=sub.current_period_start if sub is not None else None,
        period_end=sub.current_period_end if sub is not None else None,
        chat_id=order.chat_id,
        locale=order.locale,
        purpose=order.purpose.value,
    )


async def _order_chats(uow: UnitOfWork, order: Order) -> tuple[int, ...]:
    """The order's chat, then the business owners' chats, each once."""
    first = (order.chat_id,) if order.chat_id is not None else ()
    return tuple(dict.fromkeys((*first, *await _owner_chats(uow, order))))


async def _duplicate_notices(
    uow: UnitOfWork, order: Order, attempt: PaymentAttempt, transaction: str
) -> list[Notice]:
    """A second payment of a paid order: the order's chat and the owners are told the amount
    will be refunded; the staff to tell (the reachable admins) that it must be, with the
    button that records it."""
    subscription = (
        await uow.subscriptions.get(order.subscription_id)
        if order.subscription_id is not None
        else next(iter(await uow.subscriptions.for_order(order.id)), None)
    )
    params: dict[str, JsonValue] = {
        "order": order.code,
        "total": attempt.amount,
        "transaction": transaction,
        "subscription": subscription.code if subscription is not None else "",
    }
    chats = await _order_chats(uow, order)
    told = [
        Notice(NoticeKind.PAYMENT_DUPLICATE, chat, order.locale, {**params, "audience": "owner"})
        for chat in chats
    ]
    told.extend(
        Notice(NoticeKind.PAYMENT_DUPLICATE, chat, locale, {**params, "audience": "staff"})
        for chat, locale in await staff_to_tell(uow, order)
        if chat not in chats
    )
    return told


#: history action of a success reported in another amount or currency (nothing applied)
AMOUNT_MISMATCH_EVENT = "payment.amount_mismatch"


async def _record_mismatch(
    uow: UnitOfWork,
    order: Order,
    attempt: PaymentAttempt,
    req: ConfirmPaymentRequest,
    now: datetime,
) -> None:
    """The gateway reports a success for ``attempt`` in another amount or currency. Nothing is
    applied (the order stays as it was), but money may have moved: recorded in the order's
    history and told to the order's chat and owners (support will check) and to the reachable
    admins (check it with the gateway), once per reported amount and currency however often
    the gateway repeats it (IPN retries, reconciliation rounds)."""
    reported = req.amount if req.amount is not None else 0
    for event in await uow.history.list_for_order(order.id):
        d = event.details
        if (
            event.action == AMOUNT_MISMATCH_EVENT
            and d.get("merchant_order_id") == attempt.merchant_order_id
            and d.get("reported") == reported
            and d.get("currency") == req.currency
        ):
            return
    transaction = req.transaction_id or ""
    await uow.history.add(
        HistoryEvent(
            action=AMOUNT_MISMATCH_EVENT,
            created_at=now,
            enterprise_id=order.enterprise_id,
            subscription_id=order.subscription_id,
            order_id=order.id,
            details={
                "order": order.code,
                "merchant_order_id": attempt.merchant_order_id,
                "amount": attempt.amount,
                "reported": reported,
                "currency": req.currency,
                "transaction_id": transaction,
                "source": req.source.value,
            },
        )
    )
    params: dict[str, JsonValue] = {
        "order": order.code,
        "total": attempt.amount,
        "reported": reported,
        "currency": req.currency,
        "reference": attempt.merchant_order_id,
        "transaction": transaction,
    }
    chats = await _order_chats(uow, order)
    kind = NoticeKind.PAYMENT_AMOUNT_MISMATCH
    told = [Notice(kind, chat, order.locale, {**params, "audience": "owner"}) for chat in chats]
    told.extend(
        Notice(kind, int(admin.id), notices.locale_of(admin), {**params, "audience": "staff"})
        for admin in await uow.users.reachable_admins()
        if int(admin.id) not in chats
    )
    await notices.add_notices(uow, told, now)
