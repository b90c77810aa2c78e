"""Money to give back, and giving it back.

Money taken for an order that can no longer act on its subscription (a renewal of a
cancelled subscription, a change of an ended one): the payment is recorded, nothing is revived
or changed, and the money is marked as due for refund (history :data:`REFUND_DUE`); the owners
and the staff concerned are told (``notices.payment_succeeded`` with ``refund_due``). A second
payment of an order already paid (``payment.duplicate``) is due for refund too.

Support gives the money back outside the bot (a bank transfer, cash), then records it here:
:class:`PendingRefunds` lists what is still due across orders, :class:`RefundsOfOrder` what an
order has due, :class:`RecordRefund` records one amount
as refunded (history :data:`REFUNDED`, once per amount due, under the order's row lock) and
tells the business owners through the outbox.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from domain.errors import DomainError, NotFound, PermissionDenied
from domain.model import HistoryEvent, Order, UserId, amount_of
from domain.outbox import JsonValue, Notice, NoticeKind
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.usecases.notices import add_notices, locale_of, reachable_owners

#: the history action of money taken for an order that could not act on its subscription
REFUND_DUE = "payment.refund_due"
#: the history action of a second payment of an order already paid (to be refunded)
DUPLICATE = "payment.duplicate"
#: the history action of an amount due that support has given back
REFUNDED = "payment.refunded"
#: the history actions of money due for refund
DUE_ACTIONS = frozenset({REFUND_DUE, DUPLICATE})


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


# ---------------------------------------------------------------------------------------------
# Recording a refund


class RefundNotDue(DomainError):
    """Nothing of the order is (or that amount is not) due for refund."""

    key = "refund.not_due"


@dataclass(frozen=True, slots=True)
class RefundDue:
    """One amount of an order due for refund: the history event that said so, and whether it
    has been refunded since."""

    event_id: int
    order_code: str
    amount: int
    due_at: datetime
    duplicate: bool  # a second payment of a paid order (else: the order could not act)
    refunded_at: datetime | None = None

    @property
    def refunded(self) -> bool:
        return self.refunded_at is not None


class RefundStatus(enum.StrEnum):
    RECORDED = "recorded"
    ALREADY = "already"  # recorded before (a double tap, or another staff member)


@dataclass(frozen=True, slots=True)
class RefundRecorded:
    status: RefundStatus
    due: RefundDue
    owners_told: int = 0


@dataclass(frozen=True, slots=True)
class RecordRefundRequest:
    actor_id: int
    order_code: str
    event_id: int  # the due amount (:attr:`RefundDue.event_id`)


def _code(order_code: str) -> str:
    return order_code.strip().upper()


async def _staff(uow: UnitOfWork, actor_id: int) -> None:
    principal = await uow.users.principal(UserId(actor_id))
    if principal is None or not principal.may(Permission.REFUND):
        raise PermissionDenied("only staff record refunds")


def dues_of(order: Order, events: list[HistoryEvent]) -> tuple[RefundDue, ...]:
    """The amounts of ``order`` due for refund, oldest first, each with its refund if any."""
    refunded = {
        amount_of(e.details.get("due_event")): e.created_at for e in events if e.action == REFUNDED
    }
    return tuple(
        RefundDue(
            event_id=int(e.id),
            order_code=order.code,
            amount=amount_of(e.details.get("amount")),
            due_at=e.created_at,
            duplicate=e.action == DUPLICATE,
            refunded_at=refunded.get(int(e.id)),
        )
        for e in events
        if e.action in DUE_ACTIONS
    )


class RefundsOfOrder:
    """What an order has due for refund (``/refund <order code>``), for staff only.

    Raises ``PermissionDenied`` for anyone but staff and ``NotFound`` for an unknown order."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def __call__(self, actor_id: int, order_code: str) -> tuple[RefundDue, ...]:
        async with self._uow() as uow:
            await _staff(uow, actor_id)
            order = await uow.orders.get_by_code(_code(order_code))
            if order is None:
                raise NotFound("order not found", field="order")
            return dues_of(order, await uow.history.list_for_order(order.id))


class PendingRefunds:
    """The amounts still due for refund across all orders (``/refund`` alone), newest first:
    at most ``limit``, found among the newest ``scan`` amounts ever due. Staff only (raises
    ``PermissionDenied``)."""

    def __init__(self, uow: Callable[[], UnitOfWork], limit: int = 15, scan: int = 200) -> None:
        self._uow = uow
        self._limit = limit
        self._scan = scan

    async def __call__(self, actor_id: int) -> tuple[RefundDue, ...]:
        async with self._uow() as uow:
            await _staff(uow, actor_id)
            pending: list[RefundDue] = []
            seen: set[int] = set()
            for said in await uow.history.latest_of(DUE_ACTIONS, self._scan):
                if said.order_id is None or said.order_id in seen:
                    continue
                seen.add(said.order_id)
                order = await uow.orders.get(said.order_id)
                if order is None:
                    continue
                dues = dues_of(order, await uow.history.list_for_order(order.id))
                pending.extend(d for d in reversed(dues) if not d.refunded)
                if len(pending) >= self._limit:
                    break
            return tuple(pending[: self._limit])


class RecordRefund:
    """Support gave an amount due back: recorded once (the order's row is locked while its
    history is read, so two staff members pressing together record it once), with the actor;
    the order's chat and the business owners are told.

    Raises ``PermissionDenied`` (not staff), ``NotFound`` (unknown order) and
    :class:`RefundNotDue` (that amount of that order was never due)."""

    def __init__(self, uow: Callable[[], UnitOfWork], clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: RecordRefundRequest) -> RefundRecorded:
        now = self._clock.now()
        async with self._uow() as uow:
            await _staff(uow, req.actor_id)
            found = await uow.orders.get_by_code(_code(req.order_code))
            order = await uow.orders.get(found.id, for_update=True) if found else None
            if order is None:
                raise NotFound("order not found", field="order")
            events = await uow.history.list_for_order(order.id)
            due = next((d for d in dues_of(order, events) if d.event_id == req.event_id), None)
            if due is None:
                raise RefundNotDue("nothing of this order is due for refund", order=order.code)
            if due.refunded:
                return RefundRecorded(RefundStatus.ALREADY, due)
            said = next(e for e in events if int(e.id) == due.event_id)
            subscription = said.details.get("subscription") or ""
            await uow.history.add(
                HistoryEvent(
                    action=REFUNDED,
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    subscription_id=said.subscription_id,
                    order_id=order.id,
                    actor_id=UserId(req.actor_id),
                    details={
                        "subscription": subscription,
                        "order": order.code,
                        "amount": due.amount,
                        "due_event": due.event_id,
                    },
                )
            )
            params: dict[str, JsonValue] = {
                "order": order.code,
                "total": due.amount,
                "subscription": subscription,
            }
            # the order's chat (who paid, told a refund was coming), then the owners
            chats = dict(await reachable_owners(uow, order.enterprise_id, exclude=(req.actor_id,)))
            if order.chat_id is not None and order.chat_id != req.actor_id:
                chats = {order.chat_id: chats.get(order.chat_id, order.locale), **chats}
            told = await add_notices(
                uow,
                (
                    Notice(NoticeKind.PAYMENT_REFUNDED, chat, locale, params)
                    for chat, locale in chats.items()
                ),
                now,
            )
            await uow.commit()
        return RefundRecorded(
            RefundStatus.RECORDED,
            RefundDue(
                due.event_id, due.order_code, due.amount, due.due_at, due.duplicate, refunded_at=now
            ),
            told,
        )


@dataclass(frozen=True, slots=True)
class RefundServices:
    """The use cases behind ``/refund`` (``conversations.refunds.Refunds``)."""

    of_order: RefundsOfOrder
    recorder: RecordRefund
    pending_all: PendingRefunds

    async def dues(self, actor_id: int, order_code: str) -> tuple[RefundDue, ...]:
        return await self.of_order(actor_id, order_code)

    async def pending(self, actor_id: int) -> tuple[RefundDue, ...]:
        return await self.pending_all(actor_id)

    async def record(self, req: RecordRefundRequest) -> RefundRecorded:
        return await self.recorder(req)
