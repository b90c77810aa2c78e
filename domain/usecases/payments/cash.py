"""Cash taken by staff: :class:`ConfirmCash`."""

from __future__ import annotations

from dataclasses import dataclass

from domain.errors import NotFound, PermissionDenied
from domain.model import (
    InvoiceStatus,
    PaymentMethod,
    UserId,
)
from domain.policy import Permission
from domain.usecases.payments.common import (
    ConfirmPaymentRequest,
    PaymentConfirmed,
    PaymentSource,
    UowFactory,
)
from domain.usecases.payments.confirm import ConfirmPayment

# ---------------------------------------------------------------------------------------------
# ConfirmCash


@dataclass(frozen=True, slots=True)
class ConfirmCashRequest:
    subscription_code: str
    actor_id: int


class ConfirmCash:
    """An agent or admin took the cash for an OS subscription (``/cash <code>`` or the button
    on the order): :class:`ConfirmPayment` with method cash and the actor recorded.

    Raises ``PermissionDenied`` for anyone but staff and ``NotFound`` for an unknown code.
    The result's ``status`` is ``ALREADY_APPLIED`` when it had been paid already.
    """

    def __init__(self, uow: UowFactory, confirm: ConfirmPayment) -> None:
        self._uow = uow
        self._confirm = confirm

    async def __call__(self, req: ConfirmCashRequest) -> PaymentConfirmed:
        async with self._uow() as uow:
            principal = await uow.users.principal(UserId(req.actor_id))
            if principal is None or not principal.may(Permission.CONFIRM_CASH):
                raise PermissionDenied("only staff confirm cash payments")
            sub = await uow.subscriptions.get_by_code(req.subscription_code.strip().upper())
            order = await uow.orders.get(sub.order_id) if sub is not None else None
            if sub is not None:  # a change (Đổi gói) waiting for cash is the one to confirm
                for invoice in await uow.invoices.for_subscription(sub.id):
                    if invoice.status is InvoiceStatus.WAITING and invoice.order_id != sub.order_id:
                        order = await uow.orders.get(invoice.order_id)
                        break
        if sub is None or order is None:
            raise NotFound("subscription not found", field="subscription")
        return await self._confirm(
            ConfirmPaymentRequest(
                method=PaymentMethod.BY_CASH,
                source=PaymentSource.CASH,
                order_id=order.id,
                amount=order.total,
                actor_id=req.actor_id,
            )
        )
