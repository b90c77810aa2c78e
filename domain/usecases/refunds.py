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


async def staff_to_tell(uow: UnitOfWork, order: Order) -> tuple[tuple[int, str], ...]:
    """The staff to tell that money came in for a subscription that could not take it, as
    (chat id, language): the staff member who cancelled it at once (the newest
    ``subscription.cancelled`` event with an actor) when they can be reached, else the
    reachable admins (an expired subscription, or a canceller who cannot be reached)."""
    if order.subscription_id is not None:
        page = await uow.history.list(order.subscription_id, 0, 50)
        for event in page.items:
            if event.action == "subscription.cancelled" and event.actor_id is not None:
                user = await uow.users.get(event.actor_id)
                if user is not None and user.reachable:
                    return ((int(user.id), locale_of(user)),)
                break
    return tuple((int(a.id), locale_of(a)) for a in await uow.users.reachable_admins())
