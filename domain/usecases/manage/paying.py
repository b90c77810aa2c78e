"""**Thanh toán** on an open invoice in **Hóa đơn** (issue 14, item 1).

Who may press it: whoever may pay for the business (``Permission.REGISTER``: its owners,
agents and admins); a member only sees the invoice. The invoice must belong to the
subscription named by the screen, else it is refused like an invisible one (ids cannot be
probed).

What it does, by the invoice's order:

- **ON (VNPT Pay)**: a payment link for the invoice's order, through the same use cases as
  **Thanh toán lại** (:class:`~domain.usecases.payments.RetryPayment` under the order's row
  lock, then :class:`~domain.usecases.registration.StartPayment` for the gateway's link, with
  no transaction held over the call). **One open attempt at a time**: when an attempt with a
  link is still open, the SAME link is shown again (nothing new is created). The old attempt
  is never cancelled in favour of a new one: VNPT Pay has no cancel message, so a link once
  given stays payable at the gateway, and a second live link would invite a second payment.
  A new attempt (fresh merchant order id ``{order}-{n}``) is made only when none is open (the
  last was declined, cancelled by the payer, or never got its link); it records the history
  event ``invoice.pay_started``.
- **OS (cash)**: nothing changes; the answer is the cash note (pay the staff member on site,
  who confirms it with ``/cash``).
- **Paid once**: the invoice is PAID by :class:`~domain.usecases.payments.ConfirmPayment`
  only, whose claim (unique per merchant order id and per order) applies one success however
  many notifications or queries report it, or race; a success of a second attempt of a paid
  order is recorded as a duplicate for refund, never applied twice.
- **Expired order** (its unpaid time ran out, or it was cancelled, or the invoice is out of
  date): nothing is created — no silent new order at today's prices; the answer says the
  invoice can no longer be paid and a new registration is needed.

The result says which, for the conversation to draw.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import NotFound, PermissionDenied
from domain.model import (
    Invoice,
    InvoiceId,
    InvoiceStatus,
    OrderStatus,
    PaymentMethod,
    Subscription,
)
from domain.policy import Permission, may
from domain.ports import Clock
from domain.usecases.manage.common import Rights, UowFactory, _authorize
from domain.usecases.payments import RetryPayment, RetryPaymentRequest, RetryStatus
from domain.usecases.registration import StartPayment

__all__ = [
    "InvoicePayment",
    "PayInvoice",
    "PayInvoiceRequest",
    "PayInvoiceStatus",
    "may_pay",
]


def may_pay(rights: Rights) -> bool:
    """Owners, agents and admins pay a business's invoices; members only look."""
    return may(rights.standing, Permission.REGISTER)


@dataclass(frozen=True, slots=True)
class PayInvoiceRequest:
    """``subscription_id`` None: the invoice's own subscription (a button of an older message,
    whose screen is gone), authorized the same. ``peek``: only whether it is paid (``PAID``, else
    ``UNPAID``); nothing is created."""

    actor_id: int
    subscription_id: int | None
    invoice_id: int
    peek: bool = False


class PayInvoiceStatus(enum.StrEnum):
    LINK = "link"  # a VNPT Pay link: a new attempt, or the open one again (``reused``)
    NO_LINK = "no_link"  # the gateway gave no link now: pressing again asks again
    CASH = "cash"  # an OS invoice: the cash note
    PAID = "paid"  # already paid: nothing to do
    EXPIRED = "expired"  # the order can no longer be paid: nothing was created
    UNPAID = "unpaid"  # ``peek``: not paid (nothing was looked up at the gateway)


@dataclass(frozen=True, slots=True)
class InvoicePayment:
    status: PayInvoiceStatus
    subscription: Subscription
    invoice: Invoice
    order_code: str
    amount: int
    expired_at: datetime | None = None
    merchant_order_id: str = ""
    redirect_url: str = ""
    #: the link is the open attempt's, shown again (no new attempt)
    reused: bool = False


class PayInvoice:
    """See the module doc. ``start`` is None without a gateway (no link can be had)."""

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        retry: RetryPayment,
        start: StartPayment | None,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._retry = retry
        self._start = start

    async def __call__(self, req: PayInvoiceRequest) -> InvoicePayment:
        now = self._clock.now()
        async with self._uow() as uow:
            invoice = await uow.invoices.get(InvoiceId(req.invoice_id))
            sub_id = req.subscription_id
            if sub_id is None:
                if invoice is None or invoice.subscription_id is None:
                    raise PermissionDenied("invoice not of a subscription")
                sub_id = int(invoice.subscription_id)
            subscription, rights = await _authorize(uow, req.actor_id, sub_id)
            if invoice is None or invoice.subscription_id != subscription.id:
                raise PermissionDenied("invoice not of this subscription")
            if not may_pay(rights):
                raise PermissionDenied("may not pay for this business")
            order = await uow.orders.get(invoice.order_id)
            if order is None:
                raise NotFound("order of the invoice")
        result = InvoicePayment(
            PayInvoiceStatus.EXPIRED,
            subscription,
            invoice,
            order.code,
            invoice.total,
            expired_at=order.expires_at,
        )
        if invoice.status is InvoiceStatus.PAID or order.status is OrderStatus.PAID:
            return replace(result, status=PayInvoiceStatus.PAID)
        if req.peek:
            return replace(result, status=PayInvoiceStatus.UNPAID)
        if invoice.status is not InvoiceStatus.WAITING:
            return result
        if order.payment_method is PaymentMethod.BY_CASH:
            return replace(result, status=PayInvoiceStatus.CASH)
        if order.expires_at is not None and order.expires_at <= now:
            return result
        retried = await self._retry(
            RetryPaymentRequest(
                actor_id=req.actor_id,
                order_id=int(order.id),
                subscription_id=int(subscription.id),
                invoice_id=int(invoice.id),
            )
        )
        if retried.status is RetryStatus.PAID:
            return replace(result, status=PayInvoiceStatus.PAID)
        if retried.status is RetryStatus.NOT_ONLINE:
            return replace(result, status=PayInvoiceStatus.CASH)
        if retried.status is RetryStatus.EXPIRED:
            return result
        link = replace(
            result,
            status=PayInvoiceStatus.LINK,
            amount=retried.amount,
            merchant_order_id=retried.merchant_order_id,
            redirect_url=retried.redirect_url,
            reused=retried.status is RetryStatus.OPEN,
        )
        if retried.status is RetryStatus.CREATED and self._start is not None:
            started = await self._start(retried.order_id)
            link = replace(
                link,
                merchant_order_id=started.merchant_order_id or link.merchant_order_id,
                redirect_url=started.redirect_url,
            )
        if not link.redirect_url:
            return replace(link, status=PayInvoiceStatus.NO_LINK)
        return link
