"""Reading: the notification's order lookup, and the browser return page."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from domain.model import (
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
)
from domain.usecases.payments.common import (
    UowFactory,
)

# ---------------------------------------------------------------------------------------------
# Reading: the notification's order lookup, and the browser return page


class FindPaymentAttempt:
    """The stored attempt for a merchant order id (read only)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, merchant_order_id: str) -> PaymentAttempt | None:
        async with self._uow() as uow:
            return await uow.payments.get_by_merchant_order_id(merchant_order_id)


class PaymentState(enum.StrEnum):
    PAID = "paid"
    PENDING = "pending"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class PaymentStatusView:
    state: PaymentState
    merchant_order_id: str
    order_code: str = ""
    total: int = 0
    locale: str | None = None
    subscription_code: str = ""
    response_code: str | None = None


class DescribePayment:
    """What the bot's own records say about a merchant order id (read only; never changes
    anything, whatever the browser claims)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, merchant_order_id: str) -> PaymentStatusView:
        async with self._uow() as uow:
            attempt = await uow.payments.get_by_merchant_order_id(merchant_order_id)
            order = await uow.orders.get(attempt.order_id) if attempt is not None else None
            if attempt is None or order is None:
                return PaymentStatusView(PaymentState.UNKNOWN, merchant_order_id)
            subs = await uow.subscriptions.for_order(order.id)
        view = PaymentStatusView(
            PaymentState.PENDING,
            merchant_order_id,
            order_code=order.code,
            total=attempt.amount,
            locale=order.locale,
            subscription_code=subs[0].code if subs else "",
            response_code=attempt.response_code,
        )
        status = attempt.status
        if order.status is OrderStatus.PAID or status is PaymentAttemptStatus.SUCCESS:
            return replace(view, state=PaymentState.PAID)
        if status is PaymentAttemptStatus.CANCELLED:
            return replace(view, state=PaymentState.CANCELLED)
        if status is PaymentAttemptStatus.FAILED:
            return replace(view, state=PaymentState.FAILED)
        if status is PaymentAttemptStatus.EXPIRED or order.status in (
            OrderStatus.EXPIRED,
            OrderStatus.CANCELLED,
        ):
            return replace(view, state=PaymentState.EXPIRED)
        return view
