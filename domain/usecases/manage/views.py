"""The detail tabs (reads): the header, the details, the payment method, the invoices (and one
invoice), and the history. Every object id that comes with a request (an invoice) is checked
to belong to the subscription."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from domain.catalog import ServiceKind
from domain.changes import ScheduledChange
from domain.errors import NotFound, PermissionDenied
from domain.model import (
    HistoryEvent,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Order,
    Page,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Principal,
    Subscription,
    User,
    UserId,
)
from domain.ports import Clock
from domain.usecases.manage.common import (
    Rights,
    SubscriptionView,
    TabRequest,
    UowFactory,
    _authorize,
)

__all__ = [
    "DetailsView",
    "GetInvoice",
    "GetPaymentMethod",
    "GetSubscription",
    "GetSubscriptionDetails",
    "HistoryView",
    "InvoiceRequest",
    "InvoiceView",
    "InvoicesView",
    "ListHistory",
    "ListInvoices",
    "PaymentView",
]


class GetSubscription:
    """The subscription's header (code, service, plan, cycle, status, period, progress)."""

    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> SubscriptionView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
        return SubscriptionView(subscription, rights)


@dataclass(frozen=True, slots=True)
class DetailsView:
    subscription: Subscription
    rights: Rights
    #: the order, with the frozen quote and the invoice, customer and contact snapshots
    order: Order
    #: who registered it, with their roles now (None if unknown)
    registrant: Principal | None
    #: the configuration waiting for the period end (a downgrade, or a renewal paid ahead
    #: for another plan or cycle)
    scheduled: ScheduledChange | None = None

    @property
    def registered_by_staff(self) -> bool:
        """An agent or admin registered it on the business's behalf (they are staff and hold no
        role in the business)."""
        p = self.registrant
        return p is not None and p.is_staff and p.role_in(self.order.enterprise_id) is None


class GetSubscriptionDetails:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> DetailsView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            order = await uow.orders.get(subscription.order_id)
            if order is None:
                raise NotFound("order of the subscription")
            registrant = await uow.users.principal(order.registered_by)
            scheduled = await uow.changes.scheduled(subscription.id)
        return DetailsView(subscription, rights, order, registrant, scheduled)


@dataclass(frozen=True, slots=True)
class PaymentView:
    subscription: Subscription
    rights: Rights
    #: newest first
    invoices: tuple[Invoice, ...]
    #: the successful online payment (VNPT Pay), if any
    online: PaymentAttempt | None
    #: the staff who confirmed cash payments
    confirmers: Mapping[UserId, User] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Invoice, ...]:
        """Invoices still waiting for payment."""
        return tuple(i for i in self.invoices if i.status is InvoiceStatus.WAITING)

    @property
    def pending_total(self) -> int:
        return sum(i.total for i in self.pending)


class GetPaymentMethod:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> PaymentView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoices = await uow.invoices.for_subscription(subscription.id)
            online = None
            if subscription.kind is ServiceKind.ON:
                attempts = await uow.payments.for_order(subscription.order_id)
                online = next(
                    (
                        a
                        for a in reversed(attempts)
                        if a.status is PaymentAttemptStatus.SUCCESS
                        and a.method is PaymentMethod.VNPTPAY
                    ),
                    None,
                )
            confirmers = await uow.users.get_many(
                {i.confirmed_by for i in invoices if i.confirmed_by is not None}
            )
        return PaymentView(subscription, rights, tuple(invoices), online, confirmers)


@dataclass(frozen=True, slots=True)
class InvoicesView:
    subscription: Subscription
    rights: Rights
    #: newest first
    invoices: tuple[Invoice, ...]


class ListInvoices:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: TabRequest) -> InvoicesView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoices = await uow.invoices.for_subscription(subscription.id)
        return InvoicesView(subscription, rights, tuple(invoices))


@dataclass(frozen=True, slots=True)
class InvoiceRequest:
    actor_id: int
    subscription_id: int
    invoice_id: int


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """One invoice with what its document shows: the lines are the frozen quote
    (``invoice.lines``); the buyer is the order's invoice snapshot."""

    subscription: Subscription
    rights: Rights
    invoice: Invoice
    order: Order
    confirmed_by: User | None = None


class GetInvoice:
    def __init__(self, uow: UowFactory) -> None:
        self._uow = uow

    async def __call__(self, req: InvoiceRequest) -> InvoiceView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            invoice = await uow.invoices.get(InvoiceId(req.invoice_id))
            if invoice is None or invoice.subscription_id != subscription.id:
                raise PermissionDenied("invoice not of this subscription")
            order = await uow.orders.get(invoice.order_id)
            if order is None:
                raise NotFound("order of the invoice")
            confirmer = (
                await uow.users.get(invoice.confirmed_by)
                if invoice.confirmed_by is not None
                else None
            )
        return InvoiceView(subscription, rights, invoice, order, confirmer)


@dataclass(frozen=True, slots=True)
class HistoryView:
    subscription: Subscription
    rights: Rights
    page: Page[HistoryEvent]
    actors: Mapping[UserId, User]
    #: a renewal or change order of the subscription still payable online (its payment may
    #: have failed): the tab offers **Thanh toán lại** for it
    open_order: Order | None = None


class ListHistory:
    """Every event of the subscription (and of its order before it existed), newest first."""

    def __init__(self, uow: UowFactory, clock: Clock | None = None) -> None:
        self._uow = uow
        self._clock = clock

    async def __call__(self, req: TabRequest) -> HistoryView:
        async with self._uow() as uow:
            subscription, rights = await _authorize(uow, req.actor_id, req.subscription_id)
            page = await uow.history.page_for_subscription(
                subscription.id, subscription.order_id, req.offset, req.limit
            )
            actors = await uow.users.get_many(
                {e.actor_id for e in page.items if e.actor_id is not None}
            )
            now = self._clock.now() if self._clock is not None else None
            payable = [
                o
                for o in await uow.renewals.open_orders(subscription.id)
                if o.payment_method is PaymentMethod.VNPTPAY
                and (o.expires_at is None or now is None or o.expires_at > now)
            ]
        return HistoryView(subscription, rights, page, actors, payable[0] if payable else None)
