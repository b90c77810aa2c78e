"""**Gia hạn**: what a subscription may be renewed for (:class:`RenewalOffers`), the renewal
order (:class:`PlaceRenewal`, then the payment link through the existing ``StartPayment``:
:class:`RenewSubscription`), and what a paid renewal order does (:func:`apply_paid_renewal`,
called by ``ConfirmPayment``).

A renewal is an order with ``purpose=RENEWAL`` and ``subscription_id`` set: the same or another
cycle of the subscription's plan, at today's catalog prices, with the promotions whose
``purchases`` list ``renewal``, no setup fee. An ON renewal is paid with VNPT Pay (an attempt,
a link); an OS renewal waits for cash (a WAITING invoice; an agent confirms it with the cash
confirmation of the subscription). Only one renewal order may be open for a subscription (the
subscription's row lock orders concurrent requests); paying it extends the period from the old
end (``apply.apply_paid_renewal``) and issues its own invoice.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Protocol

from domain.catalog import BillingCycle, Catalog, Plan, Purchase, Service, ServiceKind
from domain.changes import ScheduledChange
from domain.constants import VN_TZ
from domain.errors import DomainError, NotFound, PermissionDenied, PromotionNotApplicable
from domain.model import (
    InvoiceStatus,
    Order,
    OrderPurpose,
    PaymentAttempt,
    PaymentMethod,
    Subscription,
    SubscriptionId,
    UserId,
)
from domain.orders import invoice_for
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.pricing import (
    CheckoutOffer,
    PromotionUsage,
    Quote,
    Selection,
    counted_promotion_codes,
)
from domain.usecases.renewal.common import RENEWABLE, event

log = logging.getLogger(__name__)

UowFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class RenewalOffer:
    """What **Gia hạn** shows: the subscription, its plan's cycles at today's prices (the
    ``offer`` quotes them and lists the renewal promotions), and an open renewal order."""

    subscription: Subscription
    service: Service
    plan: Plan
    cycles: tuple[BillingCycle, ...]
    offer: CheckoutOffer
    open_order: Order | None = None
    #: the asker is staff: they may also end it at once (``Permission.CANCEL_NOW``)
    can_cancel_now: bool = False
    #: a change scheduled for the period end (a downgrade): the renewal buys the period that
    #: starts there, so it is for that configuration (``plan`` is the scheduled plan)
    scheduled: ScheduledChange | None = None

    def selection(
        self,
        cycle_code: str,
        plan_promotion: str | None = None,
        invoice_promotions: tuple[str, ...] = (),
    ) -> Selection:
        return renewal_selection(
            self.subscription, self.scheduled, cycle_code, plan_promotion, invoice_promotions
        )

    def quote(self, selection: Selection) -> Quote:
        return self.offer.quote(selection)


def renewal_selection(
    sub: Subscription,
    scheduled: ScheduledChange | None,
    cycle_code: str,
    plan_promotion: str | None = None,
    invoice_promotions: tuple[str, ...] = (),
) -> Selection:
    """What a renewal of ``sub`` buys: its configuration, or the one of the change scheduled
    for its period end (the period bought starts there); the cycle is the one chosen."""
    plan, quantity, addons = sub.plan_code, sub.quantity, tuple(sub.addon_codes)
    if scheduled is not None:
        plan, quantity, addons = (
            scheduled.plan_code,
            scheduled.quantity,
            tuple(scheduled.addon_codes),
        )
    return Selection(
        service_code=sub.service_code,
        plan_code=plan,
        cycle_code=cycle_code,
        quantity=quantity,
        addon_codes=addons,
        plan_promotion=plan_promotion,
        invoice_promotions=invoice_promotions,
    )


class RenewalOffers:
    """The offer for ``code`` as ``actor_id`` may see it. Raises ``NotFound`` (no such code)
    and ``PermissionDenied`` (not an owner of the business, nor staff)."""

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, actor_id: int, code: str) -> RenewalOffer:
        catalog = self._catalog()
        async with self._uow() as uow:
            sub = await uow.subscriptions.get_by_code(code.strip().upper())
            if sub is None:
                raise NotFound("subscription not found", field="subscription")
            principal = await uow.users.principal(UserId(actor_id))
            if principal is None or not principal.may(Permission.RENEW, sub.enterprise_id):
                raise PermissionDenied("only owners and staff renew")
            may_cancel_now = principal.may(Permission.CANCEL_NOW, sub.enterprise_id)
            opened = [
                o
                for o in await uow.renewals.open_orders(sub.id)
                if o.purpose is OrderPurpose.RENEWAL
            ]
            codes = counted_promotion_codes(catalog)
            total, mine = (
                await uow.promotions.usage(codes, sub.enterprise_id) if codes else ({}, {})
            )
            scheduled = await uow.changes.scheduled(sub.id)
        service = catalog.service(sub.service_code)
        plan_code = scheduled.plan_code if scheduled is not None else sub.plan_code
        plan = service.plan(plan_code) if service is not None else None
        if service is None or plan is None:
            raise NotFound("plan not in the catalog", field="plan_code")
        today = self._clock.now().astimezone(VN_TZ).date()
        usage = PromotionUsage(total=total, by_customer=mine)
        return RenewalOffer(
            subscription=sub,
            service=service,
            plan=plan,
            cycles=tuple(plan.cycles) if plan.active else (),
            offer=CheckoutOffer(catalog, today, usage, purchase=Purchase.RENEWAL),
            open_order=opened[0] if opened else None,
            can_cancel_now=may_cancel_now,
            scheduled=scheduled,
        )


class RenewalOutcomeKind(enum.StrEnum):
    CREATED = "created"
    EXISTING = "existing"  # the same idempotency key was placed already
    ALREADY_OPEN = "already_open"  # another renewal order waits for payment
    NOT_RENEWABLE = "not_renewable"  # cancelled, in trial, or not started
    PRICE_CHANGED = "price_changed"


@dataclass(frozen=True, slots=True)
class RenewalRequest:
    actor_id: int
    subscription_id: int
    cycle_code: str
    expected_total: int
    idempotency_key: str
    locale: str
    chat_id: int
    plan_promotion: str | None = None
    invoice_promotions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RenewalOutcome:
    kind: RenewalOutcomeKind
    subscription_code: str = ""
    order_id: int | None = None
    order_code: str = ""
    total: int = 0
    kind_of_service: str = ""
    payment_url: str = ""
    reason: str = ""
    quote: Quote | None = None

    @property
    def awaits_payment_link(self) -> bool:
        return (
            self.kind in (RenewalOutcomeKind.CREATED, RenewalOutcomeKind.EXISTING)
            and self.kind_of_service == ServiceKind.ON.value
            and not self.payment_url
        )


@dataclass(frozen=True, slots=True)
class PlacedRenewal:
    outcome: RenewalOutcome
    order: Order | None = None
    attempt: PaymentAttempt | None = None


class PlaceRenewal:
    """The renewal order (see the module doc); ``ttl`` is how long an ON order may wait."""

    def __init__(
        self,
        uow: UowFactory,
        catalog: Callable[[], Catalog],
        clock: Clock,
        ttl: timedelta = timedelta(minutes=30),
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock
        self._ttl = ttl

    async def __call__(self, req: RenewalRequest) -> PlacedRenewal:
        now = self._clock.now()
        today = now.astimezone(VN_TZ).date()
        catalog = self._catalog()
        async with self._uow() as uow:
            existing = await uow.orders.by_idempotency_key(req.idempotency_key)
            if existing is not None:
                return PlacedRenewal(await _existing(uow, existing))
            sub = await uow.subscriptions.get(SubscriptionId(req.subscription_id), for_update=True)
            if sub is None:
                raise NotFound("subscription not found", field="subscription")
            principal = await uow.users.principal(UserId(req.actor_id))
            if principal is None or not principal.may(Permission.RENEW, sub.enterprise_id):
                raise PermissionDenied("only owners and staff renew")
            if sub.status not in RENEWABLE:
                return PlacedRenewal(
                    RenewalOutcome(RenewalOutcomeKind.NOT_RENEWABLE, sub.code, reason=sub.status)
                )
            opened = [
                o
                for o in await uow.renewals.open_orders(sub.id)
                if o.purpose is OrderPurpose.RENEWAL
            ]
            if opened:
                return PlacedRenewal(
                    RenewalOutcome(
                        RenewalOutcomeKind.ALREADY_OPEN,
                        sub.code,
                        order_id=opened[0].id,
                        order_code=opened[0].code,
                        total=opened[0].total,
                        kind_of_service=sub.kind.value,
                    )
                )
            selection = renewal_selection(
                sub,
                await uow.changes.scheduled(sub.id),
                req.cycle_code,
                req.plan_promotion,
                req.invoice_promotions,
            )
            codes = selection.promotion_codes
            if codes:
                await uow.promotions.lock(codes)
            totals, mine = await uow.promotions.usage(codes, sub.enterprise_id)
            try:
                offer = CheckoutOffer(
                    catalog,
                    today,
                    PromotionUsage(total=totals, by_customer=mine),
                    purchase=Purchase.RENEWAL,
                )
                q = offer.quote(selection)
            except PromotionNotApplicable as exc:
                return PlacedRenewal(
                    RenewalOutcome(
                        RenewalOutcomeKind.PRICE_CHANGED, sub.code, reason=f"refusal.{exc.reason}"
                    )
                )
            except DomainError:
                return PlacedRenewal(
                    RenewalOutcome(RenewalOutcomeKind.PRICE_CHANGED, sub.code, reason="catalog")
                )
            if q.total != req.expected_total:
                return PlacedRenewal(
                    RenewalOutcome(
                        RenewalOutcomeKind.PRICE_CHANGED,
                        sub.code,
                        total=q.total,
                        reason="total",
                        quote=q,
                    )
                )
            first = await uow.orders.get(sub.order_id)
            code = await uow.orders.next_code(today.year)
            online = sub.kind is ServiceKind.ON
            order = await uow.orders.add(
                Order(
                    code=code,
                    enterprise_id=sub.enterprise_id,
                    registered_by=UserId(req.actor_id),
                    service_code=sub.service_code,
                    plan_code=selection.plan_code,
                    cycle_code=req.cycle_code,
                    kind=sub.kind,
                    payment_method=PaymentMethod.VNPTPAY if online else PaymentMethod.BY_CASH,
                    total=q.total,
                    idempotency_key=req.idempotency_key,
                    created_at=now,
                    quantity=selection.quantity,
                    addon_codes=selection.addon_codes,
                    plan_promotion=req.plan_promotion,
                    invoice_promotions=req.invoice_promotions,
                    quote=q.to_dict(),
                    invoice_info=dict(first.invoice_info) if first is not None else {},
                    customer_info=dict(first.customer_info) if first is not None else {},
                    contact=dict(first.contact) if first is not None else {},
                    locale=req.locale,
                    chat_id=req.chat_id,
                    expires_at=now + self._ttl if online else None,
                    purpose=OrderPurpose.RENEWAL,
                    subscription_id=sub.id,
                )
            )
            if order.code != code:  # a concurrent double tap stored it first
                return PlacedRenewal(await _existing(uow, order))
            if codes:
                await uow.promotions.redeem(order.id, sub.enterprise_id, codes)
            await uow.history.add(
                event(
                    "renewal.ordered",
                    sub,
                    now,
                    actor=req.actor_id,
                    order_id=order.id,
                    order=order.code,
                    total=q.total,
                    cycle=req.cycle_code,
                )
            )
            attempt: PaymentAttempt | None = None
            if online:
                attempt = await uow.payments.add(
                    PaymentAttempt(
                        order_id=order.id,
                        merchant_order_id=f"{order.code}-1",
                        amount=q.total,
                        method=PaymentMethod.VNPTPAY,
                        created_at=now,
                    )
                )
            else:
                await uow.invoices.add(
                    invoice_for(order, q, now, subscription_id=sub.id, status=InvoiceStatus.WAITING)
                )
            await uow.commit()
        outcome = RenewalOutcome(
            RenewalOutcomeKind.CREATED,
            sub.code,
            order_id=order.id,
            order_code=order.code,
            total=q.total,
            kind_of_service=sub.kind.value,
            quote=q,
        )
        return PlacedRenewal(outcome, order, attempt)


async def _existing(uow: UnitOfWork, order: Order) -> RenewalOutcome:
    sub = await uow.subscriptions.get(order.subscription_id) if order.subscription_id else None
    attempts = await uow.payments.for_order(order.id)
    url = next((a.redirect_url or "" for a in reversed(attempts) if a.status.is_open), "")
    return RenewalOutcome(
        RenewalOutcomeKind.EXISTING,
        sub.code if sub is not None else "",
        order_id=order.id,
        order_code=order.code,
        total=order.total,
        kind_of_service=order.kind.value,
        payment_url=url,
    )


class _Link(Protocol):
    @property
    def redirect_url(self) -> str: ...


class PaymentLinks(Protocol):
    """What :class:`RenewSubscription` needs of ``registration.StartPayment``."""

    async def for_attempt(self, order: Order, attempt: PaymentAttempt | None) -> _Link: ...

    async def __call__(self, order_id: int) -> _Link: ...


class RenewSubscription:
    """**Xác nhận** of a renewal: the order, then for an ON order the payment link from the
    gateway (``registration.StartPayment``; none without a gateway: **Thanh toán lại**)."""

    def __init__(self, place: PlaceRenewal, start_payment: PaymentLinks | None) -> None:
        self._place = place
        self._start = start_payment

    async def __call__(self, req: RenewalRequest) -> RenewalOutcome:
        placed = await self._place(req)
        outcome = placed.outcome
        start = self._start
        if not outcome.awaits_payment_link or start is None:
            return outcome
        if placed.order is not None:
            started = await start.for_attempt(placed.order, placed.attempt)
        else:
            assert outcome.order_id is not None
            started = await start(outcome.order_id)
        return replace(outcome, payment_url=started.redirect_url)


__all__ = [
    "PlaceRenewal",
    "PlacedRenewal",
    "RenewSubscription",
    "RenewalOffer",
    "RenewalOffers",
    "RenewalOutcome",
    "RenewalOutcomeKind",
    "RenewalRequest",
]
