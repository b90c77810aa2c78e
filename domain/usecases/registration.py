"""Placing an order at **Xác nhận**, and asking the gateway for the payment link.

PlaceOrder checks everything again (who acts, the catalog, every promotion against its quota
and per-customer limit under a lock, the total the user saw), then stores exactly one order per
idempotency key with a frozen snapshot of the quote and of the invoice, customer and contact
data, in one transaction. An OS order also gets its subscription (waiting for cash) and its
invoice (WAITING). An ON order gets a payment attempt; StartPayment then asks the gateway for
the link outside that transaction (no database transaction is held open over HTTP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.catalog import Catalog, ServiceKind
from domain.constants import VN_TZ
from domain.errors import DomainError, InvalidInput, PromotionNotApplicable
from domain.model import (
    EnterpriseId,
    HistoryEvent,
    InvoiceStatus,
    Order,
    OrderId,
    OrderProgress,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Role,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for, subscription_for
from domain.payments import (
    GatewayError,
    GatewayRejected,
    GatewayTimeout,
    PaymentGateway,
    PaymentLink,
    PaymentRequest,
)
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.pricing import CheckoutOffer, PromotionUsage, Quote
from domain.registration import (
    ConfirmRequest,
    OrderOutcome,
    OrderOutcomeKind,
    OrderRequest,
    stored_details,
)
from domain.usecases import notices
from domain.usecases.payments import (
    RetryPayment,
    RetryPaymentRequest,
    RetryResult,
    RetryStatus,
    supersede,
)
from domain.validation import (
    validate_address,
    validate_company_name,
    validate_contact_name,
    validate_email,
    validate_phone,
    validate_tax_code,
)

log = logging.getLogger(__name__)


def _check_fields(req: OrderRequest) -> None:
    """The invoice needs a valid buyer; typed values were validated at entry, and are checked
    again here because the snapshot is what the e-invoice will carry."""
    validate_company_name(req.invoice.company_name)
    validate_tax_code(req.invoice.tax_code)
    validate_address(req.invoice.address)
    validate_email(req.invoice.email)
    validate_contact_name(req.contact.name)
    validate_phone(req.contact.phone)
    validate_email(req.contact.email)


@dataclass(frozen=True, slots=True)
class OrderSettings:
    unpaid_order_ttl: timedelta = timedelta(minutes=30)


@dataclass(frozen=True, slots=True)
class Placed:
    outcome: OrderOutcome
    order: Order | None = None
    attempt: PaymentAttempt | None = None


class PlaceOrder:
    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        catalog: Callable[[], Catalog],
        clock: Clock,
        settings: OrderSettings | None = None,
    ) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock
        self._settings = settings or OrderSettings()

    async def __call__(self, req: OrderRequest) -> OrderOutcome:
        return (await self.place(req)).outcome

    async def place(self, req: OrderRequest | ConfirmRequest) -> Placed:
        """The outcome, and for a new ON order the order and its payment attempt (so that the
        payment link can be asked for without reading them again). A :class:`ConfirmRequest`
        takes the business's details as stored in this transaction."""
        now = self._clock.now()
        today = now.astimezone(VN_TZ).date()
        catalog = self._catalog()
        enterprise_id = EnterpriseId(req.enterprise_id)
        async with self._uow() as uow:
            existing = await uow.orders.by_idempotency_key(req.idempotency_key)
            if existing is not None:
                return Placed(await _existing(uow, existing))
            principal = await uow.users.principal(UserId(req.actor_id))
            if principal is None or not principal.may(Permission.REGISTER, enterprise_id):
                return Placed(OrderOutcome(OrderOutcomeKind.REFUSED, reason="reg.no_permission"))
            enterprise = await uow.enterprises.get(enterprise_id)
            if enterprise is None:
                return Placed(OrderOutcome(OrderOutcomeKind.REFUSED, reason="error.not_found"))
            if isinstance(req, ConfirmRequest):
                req = req.order_request(stored_details(enterprise))
            try:
                _check_fields(req)
            except InvalidInput as exc:
                return Placed(
                    OrderOutcome(
                        OrderOutcomeKind.REFUSED,
                        reason="reg.invalid_snapshot",
                        reason_params={"field": str(exc.params.get("field", ""))},
                    )
                )
            codes = req.selection.promotion_codes
            if codes:
                await uow.promotions.lock(codes)
            totals, mine = await uow.promotions.usage(codes, enterprise_id)
            try:
                usage = PromotionUsage(total=totals, by_customer=mine)
                q = CheckoutOffer(catalog, today, usage).quote(req.selection)
            except PromotionNotApplicable as exc:
                return Placed(
                    OrderOutcome(
                        OrderOutcomeKind.PRICE_CHANGED,
                        reason=PromotionNotApplicable.key,
                        reason_params={"code": exc.code, "reason": exc.reason},
                    )
                )
            except DomainError as exc:
                return Placed(
                    OrderOutcome(
                        OrderOutcomeKind.PRICE_CHANGED,
                        reason=exc.key,
                        reason_params={"reason": "catalog"},
                    )
                )
            if q.total != req.expected_total:
                return Placed(
                    OrderOutcome(
                        OrderOutcomeKind.PRICE_CHANGED,
                        total=q.total,
                        quote=q,
                        reason="reg.total_changed",
                        reason_params={"reason": "total"},
                    )
                )
            service = catalog.service(req.selection.service_code)
            assert service is not None  # quote() succeeded
            kind = service.kind
            code = await uow.orders.next_code(today.year)
            order = await uow.orders.add(
                Order(
                    code=code,
                    enterprise_id=enterprise_id,
                    registered_by=UserId(req.actor_id),
                    service_code=service.code,
                    plan_code=req.selection.plan_code,
                    cycle_code=req.selection.cycle_code,
                    kind=kind,
                    payment_method=PaymentMethod.VNPTPAY
                    if kind is ServiceKind.ON
                    else PaymentMethod.BY_CASH,
                    total=q.total,
                    idempotency_key=req.idempotency_key,
                    created_at=now,
                    quantity=req.selection.quantity,
                    addon_codes=req.selection.addon_codes,
                    plan_promotion=req.selection.plan_promotion,
                    addon_promotions=dict(req.selection.addon_promotions),
                    invoice_promotions=req.selection.invoice_promotions,
                    quote=q.to_dict(),
                    invoice_info=req.invoice.to_dict(),
                    customer_info=req.customer.to_dict(),
                    contact=req.contact.to_dict(),
                    locale=req.locale,
                    chat_id=req.chat_id,
                    expires_at=now + self._settings.unpaid_order_ttl
                    if kind is ServiceKind.ON
                    else None,
                )
            )
            if order.code != code:  # a concurrent double tap stored it first
                return Placed(await _existing(uow, order))
            if codes:
                await uow.promotions.redeem(order.id, enterprise_id, codes)
            await uow.history.add(
                HistoryEvent(
                    action="order.created",
                    created_at=now,
                    enterprise_id=enterprise_id,
                    order_id=order.id,
                    actor_id=UserId(req.actor_id),
                    details={"order": order.code, "total": q.total, "kind": kind.value},
                )
            )
            by_staff = principal.is_staff and principal.role_in(enterprise_id) is not Role.OWNER
            if by_staff:
                await uow.history.add(
                    HistoryEvent(
                        action="agent.order_placed",
                        created_at=now,
                        enterprise_id=enterprise_id,
                        order_id=order.id,
                        actor_id=UserId(req.actor_id),
                        details={
                            "order": order.code,
                            "role": "admin" if principal.is_admin else "agent",
                        },
                    )
                )
            subscription_code = ""
            attempt: PaymentAttempt | None = None
            if kind is ServiceKind.OS:
                subscription_code = await _open_cash_subscription(uow, order, q, now)
                if by_staff:
                    await notices.agent_registered(uow, order, now, subscription=subscription_code)
            else:
                attempt = await uow.payments.add(
                    PaymentAttempt(
                        order_id=order.id,
                        merchant_order_id=f"{order.code}-1",
                        amount=q.total,
                        method=PaymentMethod.VNPTPAY,
                        created_at=now,
                    )
                )
            await uow.commit()
        outcome = OrderOutcome(
            OrderOutcomeKind.CREATED,
            order_id=order.id,
            order_code=order.code,
            kind_of_service=kind.value,
            total=q.total,
            subscription_code=subscription_code,
            quote=q,
        )
        return Placed(outcome, order, attempt)


async def _open_cash_subscription(uow: UnitOfWork, order: Order, q: Quote, now: datetime) -> str:
    """An OS order: the subscription waits for cash (FUTURE, progress ORDERED) and its invoice
    waits for payment."""
    code = await uow.subscriptions.next_code(now.astimezone(VN_TZ).year)
    sub = await uow.subscriptions.add(
        subscription_for(
            order, code, now, status=SubscriptionStatus.FUTURE, progress=OrderProgress.ORDERED
        )
    )
    await uow.invoices.add(
        invoice_for(order, q, now, subscription_id=sub.id, status=InvoiceStatus.WAITING)
    )
    await uow.history.add(
        HistoryEvent(
            action="subscription.created",
            created_at=now,
            enterprise_id=order.enterprise_id,
            subscription_id=sub.id,
            order_id=order.id,
            actor_id=order.registered_by,
            details={"subscription": code, "payment": "cash_pending"},
        )
    )
    return code


async def _existing(uow: UnitOfWork, order: Order) -> OrderOutcome:
    subs = await uow.subscriptions.for_order(order.id)
    attempts = await uow.payments.for_order(order.id)
    url = next((a.redirect_url or "" for a in reversed(attempts) if a.status.is_open), "")
    return OrderOutcome(
        OrderOutcomeKind.EXISTING,
        order_id=order.id,
        order_code=order.code,
        kind_of_service=order.kind.value,
        total=order.total,
        subscription_code=subs[0].code if subs else "",
        payment_url=url,
    )


@dataclass(frozen=True, slots=True)
class PaymentStart:
    order_code: str
    merchant_order_id: str
    redirect_url: str  # "" when the gateway could not be reached or refused


class StartPayment:
    """Ask the gateway for a payment link for the order's open attempt and record it.

    Safe to call again: an attempt that already has a link returns it; a gateway failure
    leaves the attempt CREATED (reconciliation and **Thanh toán lại** take it from there).
    """

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        gateway: PaymentGateway,
        clock: Clock,
        description: Callable[[Order], str] | None = None,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._clock = clock
        self._description = description or (lambda o: f"Thanh toan don hang {o.code}")

    async def __call__(self, order_id: int) -> PaymentStart:
        async with self._uow() as uow:
            order = await uow.orders.get(OrderId(order_id))
            if order is None:
                raise DomainError("order not found")
            attempts = await uow.payments.for_order(order.id)
        attempt = next((a for a in reversed(attempts) if a.status.is_open), None)
        return await self.for_attempt(order, attempt)

    async def for_attempt(self, order: Order, attempt: PaymentAttempt | None) -> PaymentStart:
        """As a call, for an order and its open attempt the caller has just read or stored."""
        if order.status is not OrderStatus.PENDING_PAYMENT or attempt is None:
            return PaymentStart(order.code, "", "")
        if attempt.status is PaymentAttemptStatus.PENDING and attempt.redirect_url:
            return PaymentStart(order.code, attempt.merchant_order_id, attempt.redirect_url)
        request = PaymentRequest(
            merchant_order_id=attempt.merchant_order_id,
            amount=attempt.amount,
            description=self._description(order),
            locale="en" if order.locale == "en" else "vi",
            created_at=self._clock.now(),
        )
        first = attempt.merchant_order_id == f"{order.code}-1"
        try:
            link = await self._gateway.create_payment(request)
        except GatewayError as error:
            fresh = await self._fresh_attempt(order, attempt) if _spent(error) else None
            if fresh is not None:  # once: the spent id replaced, the link asked for again
                try:
                    link = await self._gateway.create_payment(
                        replace(request, merchant_order_id=fresh.merchant_order_id)
                    )
                except GatewayError:
                    pass
                else:
                    return await self._linked(order, fresh, link, first=first)
            if first and attempt.status is PaymentAttemptStatus.CREATED:
                await self._tell_owners(order, "")
            failed = fresh or attempt
            return PaymentStart(order.code, failed.merchant_order_id, "")
        return await self._linked(order, attempt, link, first=first)

    async def _linked(
        self, order: Order, attempt: PaymentAttempt, link: PaymentLink, *, first: bool
    ) -> PaymentStart:
        async with self._uow() as uow:
            moved = await uow.payments.mark_pending(attempt.id, link.redirect_url, link.create_date)
            if (
                first
                and moved
                and attempt.status is PaymentAttemptStatus.CREATED
                and await _by_staff(uow, order)
            ):
                await notices.agent_registered(uow, order, self._clock.now(), link.redirect_url)
            await uow.commit()
        return PaymentStart(order.code, attempt.merchant_order_id, link.redirect_url)

    async def _fresh_attempt(self, order: Order, spent: PaymentAttempt) -> PaymentAttempt | None:
        """A new attempt for ``order`` in place of ``spent``, whose merchant order id the gateway
        will not take again (it already has it: a replica died between the gateway's answer and
        recording the link, or the answer was lost); None when ``spent`` is no longer the
        order's open attempt without a link (another handling moved on)."""
        now = self._clock.now()
        async with self._uow() as uow:
            locked = await uow.orders.get(order.id, for_update=True)
            attempts = await uow.payments.for_order(order.id)
            current = next((a for a in attempts if a.id == spent.id), None)
            if (
                locked is None
                or locked.status is not OrderStatus.PENDING_PAYMENT
                or current is None
                or not current.status.is_open
                or current.redirect_url
                or any(a.status.is_open and a.id != spent.id for a in attempts)
            ):
                return None
            fresh = await supersede(uow, order, attempts, [current], spent.amount, now)
            await uow.commit()
        log.warning(
            "payment %s spent at the gateway without a recorded link: %s asked for instead",
            spent.merchant_order_id,
            fresh.merchant_order_id,
        )
        return fresh

    async def _tell_owners(self, order: Order, url: str) -> None:
        """The link could not be had: the owners are told so (with **Thanh toán lại**)."""
        async with self._uow() as uow:
            if await _by_staff(uow, order):
                await notices.agent_registered(uow, order, self._clock.now(), url)
                await uow.commit()


def _spent(error: GatewayError) -> bool:
    """The attempt's merchant order id can never get a link: the gateway has it already."""
    return isinstance(error, GatewayTimeout) or (
        isinstance(error, GatewayRejected) and error.response_code == "03"
    )


async def _by_staff(uow: UnitOfWork, order: Order) -> bool:
    """The order was placed by staff for a business they do not own."""
    principal = await uow.users.principal(order.registered_by)
    return (
        principal is not None
        and principal.is_staff
        and principal.role_in(order.enterprise_id) is not Role.OWNER
    )


def with_payment(outcome: OrderOutcome, start: PaymentStart) -> OrderOutcome:
    return replace(outcome, payment_url=start.redirect_url)


class ConfirmRegistration:
    """**Xác nhận**: place the order and, for an online (ON) order without a payment link yet,
    ask the gateway for one; returns what the conversation shows. Who is told is written to
    the outbox by PlaceOrder (cash) or StartPayment (the link). Without a gateway (cash only)
    an ON order keeps no link and the conversation offers **Thanh toán lại**."""

    def __init__(self, place_order: PlaceOrder, start_payment: StartPayment | None) -> None:
        self._place_order = place_order
        self._start_payment = start_payment

    async def confirm(self, request: ConfirmRequest) -> OrderOutcome:
        placed = await self._place_order.place(request)
        outcome = placed.outcome
        if not outcome.awaits_payment_link or self._start_payment is None:
            return outcome
        if placed.order is not None:  # just stored: no need to read it again
            start = await self._start_payment.for_attempt(placed.order, placed.attempt)
        else:
            assert outcome.order_id is not None  # awaits_payment_link
            start = await self._start_payment(outcome.order_id)
        return with_payment(outcome, start)


class PayAgain:
    """**Thanh toán lại**: a new attempt (new merchant order id, same amount) gets its link
    from the gateway; an attempt still open keeps its link. Without a gateway the link stays
    empty."""

    def __init__(self, retry: RetryPayment, start_payment: StartPayment | None) -> None:
        self._retry = retry
        self._start_payment = start_payment

    async def pay_again(self, user_id: int, order_code: str) -> RetryResult:
        result = await self._retry(RetryPaymentRequest(actor_id=user_id, order_code=order_code))
        if result.status is not RetryStatus.CREATED or self._start_payment is None:
            return result
        started = await self._start_payment(result.order_id)
        return replace(
            result,
            merchant_order_id=started.merchant_order_id or result.merchant_order_id,
            redirect_url=started.redirect_url,
        )
