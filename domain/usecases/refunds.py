"""Money taken for an order that can no longer act on its subscription (a renewal of a
cancelled subscription, a change of an ended one): the payment is recorded, nothing is revived
or changed, and the money is marked as due for refund (history :data:`REFUND_DUE`); the owners
and the staff concerned are told (``notices.payment_succeeded`` with ``refund_due``)."""

from __future__ import annotations

from domain.model import Order
from domain.outbox import JsonValue
from domain.ports import UnitOfWork
from domain.usecases.notices import locale_of

#: the history action of money taken for an order that could not act on its subscription
REFUND_DUE = "payment.refund_due"


def refund_due_details(order: Order, status: str) -> dict[str, JsonValue]:
    """The details of a :data:`REFUND_DUE` event: the order, the amount and why."""
    return {
        "order": order.code,
        "amount": order.total,
        "purpose": order.purpose.value,
        "status": status,
        "refund": True,
    }


async def staff_who_ended(uow: UnitOfWork, order: Order) -> tuple[tuple[int, str], ...]:
    """The staff member who cancelled the order's subscription at once (the newest
    ``subscription.cancelled`` event with an actor), as (chat id, language), to be told that
    money came in for it; nobody when they cannot be reached."""
    if order.subscription_id is None:
        return ()
    page = await uow.history.list(order.subscription_id, 0, 50)
    for event in page.items:
        if event.action == "subscription.cancelled" and event.actor_id is not None:
            user = await uow.users.get(event.actor_id)
            if user is None or not user.reachable:
                return ()
            return ((int(user.id), locale_of(user)),)
    return ()
