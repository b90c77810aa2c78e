"""Failed or cancelled payments (:class:`RecordPaymentFailure`) and **Thanh toán lại**
(:class:`RetryPayment`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import NotFound, PermissionDenied
from domain.model import (
    HistoryEvent,
    Order,
    OrderId,
    OrderStatus,
    PaymentAttempt,
    PaymentMethod,
    SubscriptionId,
    UserId,
)
from domain.payments import (
    PaymentNotification,
)
from domain.ports import Clock, UnitOfWork
from domain.usecases import notices
from domain.usecases.payments.common import (
    CANCELLED_CODE,
    FailureStatus,
    PaymentFailed,
    PaymentSource,
    UowFactory,
    _not_expired,
    log,
    may_retry,
)

# ---------------------------------------------------------------------------------------------
# RecordPaymentFailure


@dataclass(frozen=True, slots=True)
class PaymentFailureRequest:
    merchant_order_id: str
    response_code: str | None
    source: PaymentSource
    at: datetime | None = None
    transaction_id: str | None = None

    @classmethod
    def from_notification(cls, notification: PaymentNotification) -> PaymentFailureRequest:
        return cls(
            merchant_order_id=notification.merchant_order_id,
            response_code=notification.response_code,
            source=PaymentSource.NOTIFICATION,
            at=notification.pay_date,
            transaction_id=notification.transaction_id or None,
        )


class RecordPaymentFailure:
    """A declined (``01``), cancelled (``70``) or otherwise failed payment: the open attempt
    becomes CANCELLED (``70``) or FAILED; an attempt already final is left as it is (a success
    is never downgraded). The order keeps waiting for payment until it expires."""

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: PaymentFailureRequest) -> PaymentFailed:
        now = self._clock.now()
        at = req.at or now
        cancelled = req.response_code == CANCELLED_CODE
        async with self._uow() as uow:
            attempt = await uow.payments.get_by_merchant_order_id(req.merchant_order_id)
            order = await uow.orders.get(attempt.order_id) if attempt is not None else None
            if attempt is None or order is None:
                log.warning(
                    "payment failure for unknown merchant order id %r", req.merchant_order_id
                )
                return PaymentFailed(FailureStatus.NOT_FOUND, req.merchant_order_id)
            if req.source is PaymentSource.NOTIFICATION:
                await uow.payments.mark_notified(attempt.id, now)
            mark = uow.payments.mark_cancelled if cancelled else uow.payments.mark_failed
            changed = await mark(attempt.id, response_code=req.response_code, at=at)
            if changed:
                await uow.history.add(
                    HistoryEvent(
                        action="payment.cancelled" if cancelled else "payment.failed",
                        created_at=now,
                        enterprise_id=order.enterprise_id,
                        # a renewal or change order acts on its subscription: its Lịch sử
                        # shows the failure (a first order's events are found by order id)
                        subscription_id=order.subscription_id,
                        order_id=order.id,
                        details={
                            "order": order.code,
                            "merchant_order_id": attempt.merchant_order_id,
                            "response_code": req.response_code or "",
                            "source": req.source.value,
                        },
                    )
                )
            result = PaymentFailed(
                FailureStatus.RECORDED if changed else FailureStatus.ALREADY_FINAL,
                attempt.merchant_order_id,
                order_id=order.id,
                order_code=order.code,
                response_code=req.response_code,
                cancelled=cancelled,
                total=attempt.amount,
                chat_id=order.chat_id,
                locale=order.locale,
                can_retry=order.status is OrderStatus.PENDING_PAYMENT and _not_expired(order, now),
            )
            await notices.add_notices(uow, notices.payment_failed(result), now)
            await uow.commit()
        return result


# ---------------------------------------------------------------------------------------------
# RetryPayment (Thanh toán lại)


@dataclass(frozen=True, slots=True)
class RetryPaymentRequest:
    """The order by id or by code (the **Thanh toán lại** button carries the code).

    ``invoice_id`` and ``subscription_id``: the attempt is for that invoice of that
    subscription (**Thanh toán** in **Hóa đơn**); the history event names them."""

    actor_id: int
    order_id: int | None = None
    order_code: str | None = None
    subscription_id: int | None = None
    invoice_id: int | None = None


class RetryStatus(enum.StrEnum):
    CREATED = "created"  # a new attempt: StartPayment gets its link
    OPEN = "open"  # an attempt with a payment link is still open: use it (no second payment)
    PAID = "paid"
    EXPIRED = "expired"  # expired or cancelled: a new registration is needed
    NOT_ONLINE = "not_online"  # a cash order has no online payment


@dataclass(frozen=True, slots=True)
class RetryResult:
    status: RetryStatus
    order_id: int
    order_code: str
    merchant_order_id: str = ""
    amount: int = 0
    redirect_url: str = ""
    locale: str = "vi"
    chat_id: int | None = None

    @property
    def can_pay(self) -> bool:
        return self.status in (RetryStatus.CREATED, RetryStatus.OPEN)


class RetryPayment:
    """A new payment attempt for an order still waiting for payment, with a new merchant
    order id ``{order.code}-{n}`` and the same amount (the order's total).

    Open attempts without a payment link (the gateway never gave one) are superseded
    (EXPIRED); an open attempt with a link is returned instead of a new one, so one order
    never has two payable links at once. Raises ``NotFound`` and ``PermissionDenied``
    (only the registering user, the business's owners and staff may retry).
    """

    def __init__(self, uow: UowFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: RetryPaymentRequest) -> RetryResult:
        now = self._clock.now()
        async with self._uow() as uow:
            found: Order | None = None
            if req.order_id is not None:
                found = await uow.orders.get(OrderId(req.order_id))
            elif req.order_code:
                found = await uow.orders.get_by_code(req.order_code)
            if found is None:
                raise NotFound("order not found", field="order")
            principal = await uow.users.principal(UserId(req.actor_id))
            if not may_retry(principal, found):
                raise PermissionDenied("may not pay this order", order=found.code)
            order = await uow.orders.get(found.id, for_update=True)
            assert order is not None
            result = RetryResult(
                RetryStatus.CREATED,
                order.id,
                order.code,
                amount=order.total,
                locale=order.locale,
                chat_id=order.chat_id,
            )
            if order.payment_method is not PaymentMethod.VNPTPAY:
                return replace(result, status=RetryStatus.NOT_ONLINE)
            if order.status is OrderStatus.PAID:
                return replace(result, status=RetryStatus.PAID)
            if order.status is not OrderStatus.PENDING_PAYMENT or not _not_expired(order, now):
                return replace(result, status=RetryStatus.EXPIRED)
            attempts = await uow.payments.for_order(order.id)
            open_ = [a for a in attempts if a.status.is_open]
            payable = next((a for a in reversed(open_) if a.redirect_url), None)
            if payable is not None:
                return replace(
                    result,
                    status=RetryStatus.OPEN,
                    merchant_order_id=payable.merchant_order_id,
                    amount=payable.amount,
                    redirect_url=payable.redirect_url or "",
                )
            fresh = await supersede(uow, order, attempts, open_, order.total, now)
            moid = fresh.merchant_order_id
            details: dict[str, object] = {"order": order.code, "merchant_order_id": moid}
            if req.invoice_id is not None:
                details["invoice_id"] = req.invoice_id
            await uow.history.add(
                HistoryEvent(
                    action="payment.retried" if req.invoice_id is None else "invoice.pay_started",
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    order_id=order.id,
                    subscription_id=SubscriptionId(req.subscription_id)
                    if req.subscription_id is not None
                    else None,
                    actor_id=UserId(req.actor_id),
                    details=details,
                )
            )
            await uow.commit()
        return replace(result, merchant_order_id=moid)


async def supersede(
    uow: UnitOfWork,
    order: Order,
    attempts: list[PaymentAttempt],
    stale: list[PaymentAttempt],
    amount: int,
    now: datetime,
) -> PaymentAttempt:
    """The order's ``stale`` attempts expired and a new online attempt for ``amount`` added
    with the next merchant order id (``attempts``: all the order's, to number it); the caller
    holds the order and commits."""
    for attempt in stale:
        await uow.payments.mark_expired(attempt.id, at=now)
    return await uow.payments.add(
        PaymentAttempt(
            order_id=order.id,
            merchant_order_id=f"{order.code}-{next_attempt_number(order, attempts)}",
            amount=amount,
            method=PaymentMethod.VNPTPAY,
            created_at=now,
        )
    )


def next_attempt_number(order: Order, attempts: list[PaymentAttempt]) -> int:
    prefix = f"{order.code}-"
    numbers = [
        int(a.merchant_order_id[len(prefix) :])
        for a in attempts
        if a.merchant_order_id.startswith(prefix) and a.merchant_order_id[len(prefix) :].isdigit()
    ]
    return max([len(attempts), *numbers]) + 1
