"""Payments after **Xác nhận**: confirming (online and cash), failures, **Thanh toán lại**,
reconciliation with the gateway and the expiry of unpaid orders.

Invariants:

- A success is applied in ONE place, :class:`ConfirmPayment`, whatever reported it (a gateway
  notification, a gateway query, an agent confirming cash). It is applied at most once per
  merchant order id and once per order: ``payments.claim_success`` inserts a row guarded by
  unique constraints, so a repeated or concurrent success finds the claim taken and applies
  nothing (``ALREADY_APPLIED``).
- Confirming, retrying and expiring take the order's row lock first
  (``orders.get(for_update=True)``), so a notification, a query, a retry and the expiry of the
  same order queue behind each other and each sees what the one before committed (on SQLite
  every write transaction already holds the database lock). A failure needs no order lock: it
  only moves an open attempt, and a success overrides it.
- Nothing from the gateway is trusted beyond what was verified: amount and currency must equal
  the stored attempt before a success is applied; a mismatch changes nothing.
- A failure never downgrades a success (attempts move to FAILED/CANCELLED only while open).
- A success that arrives after the order expired still counts (the money was taken): the order
  becomes PAID, its promotions are taken again and the subscription is activated.
- No database transaction is held open over a gateway call: reconciliation and expiry query
  the gateway between transactions and apply results through the idempotent use cases.
- Users are told through the outbox: a newly applied success, a new failure and an expiry
  write their notices (``domain.usecases.notices``) in the same transaction as the change, so
  a change committed is always told and a change rolled back never is. Nothing is sent here.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from domain.billing import period_end
from domain.catalog import BillingCycle, Catalog, ServiceKind
from domain.constants import VN_TZ
from domain.errors import NotFound, PermissionDenied
from domain.model import (
    HistoryEvent,
    InvoiceStatus,
    Order,
    OrderId,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Principal,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.orders import invoice_for, subscription_for
from domain.payments import (
    GatewayError,
    PaymentGateway,
    PaymentNotification,
    PaymentStatus,
    TransactionInfo,
)
from domain.policy import Permission
from domain.ports import Clock, UnitOfWork
from domain.pricing import Quote
from domain.usecases import notices

__all__ = [
    "CANCELLED_CODE",
    "CASH_ATTEMPT_SUFFIX",
    "CURRENCY",
    "ConfirmCash",
    "ConfirmCashRequest",
    "ConfirmPayment",
    "ConfirmPaymentRequest",
    "ConfirmStatus",
    "DescribePayment",
    "ExpireOrders",
    "ExpiryReport",
    "FailureStatus",
    "FindPaymentAttempt",
    "OrderExpired",
    "PaymentConfirmed",
    "PaymentFailed",
    "PaymentFailureRequest",
    "PaymentSource",
    "PaymentState",
    "PaymentStatusView",
    "ReconcilePayments",
    "ReconcileReport",
    "RecordPaymentFailure",
    "RetryPayment",
    "RetryPaymentRequest",
    "RetryResult",
    "RetryStatus",
    "may_retry",
    "subscription_period",
]

log = logging.getLogger(__name__)

CURRENCY = "VND"
#: the payer's code for "cancelled by the payer" (any other non-00 code is a failure)
CANCELLED_CODE = "70"
#: the merchant order id of an order's cash payment is ``{order.code}-CASH`` (one per order)
CASH_ATTEMPT_SUFFIX = "CASH"

UowFactory = Callable[[], UnitOfWork]


class PaymentSource(enum.StrEnum):
    """Who reported a payment result."""

    NOTIFICATION = "notification"  # the gateway's server notification (IPN)
    QUERY = "query"  # our query to the gateway (reconciliation, expiry)
    CASH = "cash"  # a staff member who took the cash


# ---------------------------------------------------------------------------------------------
# Results: what the bot must tell, after the commit


class ConfirmStatus(enum.StrEnum):
    APPLIED = "applied"  # newly applied now: tell the user
    ALREADY_APPLIED = "already_applied"  # a repeat: nothing changed
    #: the order had already been paid through another attempt: this money must be refunded
    DUPLICATE_PAYMENT = "duplicate_payment"
    NOT_FOUND = "not_found"
    AMOUNT_MISMATCH = "amount_mismatch"  # amount or currency differ from the stored attempt
    WRONG_METHOD = "wrong_method"  # e.g. cash confirmed for an order paid online


@dataclass(frozen=True, slots=True)
class PaymentConfirmed:
    """The outcome of :class:`ConfirmPayment`.

    ``chat_id`` is the chat the order was placed from; ``owner_chat_ids`` the business owners
    (Telegram user ids, which are their private chat ids) other than that chat. ``locale`` is
    the order's. ``late`` marks a success applied to an order that had expired or been
    cancelled.
    """

    status: ConfirmStatus
    merchant_order_id: str = ""
    order_id: int | None = None
    order_code: str = ""
    enterprise_id: int | None = None
    kind: ServiceKind | None = None
    method: PaymentMethod | None = None
    total: int = 0
    paid_at: datetime | None = None
    subscription_id: int | None = None
    subscription_code: str = ""
    invoice_number: str = ""
    period_start: datetime | None = None
    period_end: datetime | None = None
    chat_id: int | None = None
    owner_chat_ids: tuple[int, ...] = ()
    locale: str = "vi"
    actor_id: int | None = None
    late: bool = False

    @property
    def newly_applied(self) -> bool:
        return self.status is ConfirmStatus.APPLIED

    @property
    def chat_ids(self) -> tuple[int, ...]:
        """The order's chat first, then the owners; each once."""
        first = (self.chat_id,) if self.chat_id is not None else ()
        return tuple(dict.fromkeys((*first, *self.owner_chat_ids)))


class FailureStatus(enum.StrEnum):
    RECORDED = "recorded"  # the attempt moved to FAILED/CANCELLED now
    ALREADY_FINAL = "already_final"  # it was already final (a repeat, or a late failure)
    NOT_FOUND = "not_found"


@dataclass(frozen=True, slots=True)
class PaymentFailed:
    """The outcome of :class:`RecordPaymentFailure`. ``response_code`` is the payer's code
    (``01`` declined, ``70`` cancelled, …; None when only a query told us it failed)."""

    status: FailureStatus
    merchant_order_id: str
    order_id: int | None = None
    order_code: str = ""
    response_code: str | None = None
    cancelled: bool = False
    total: int = 0
    chat_id: int | None = None
    locale: str = "vi"
    #: the order still waits for payment and has not expired: offer **Thanh toán lại**
    can_retry: bool = False

    @property
    def newly_recorded(self) -> bool:
        return self.status is FailureStatus.RECORDED

    @property
    def should_notify(self) -> bool:
        """Tell the user only about a new failure of an order that still waits for payment."""
        return self.newly_recorded and self.can_retry


@dataclass(frozen=True, slots=True)
class OrderExpired:
    order_id: int
    order_code: str
    total: int
    chat_id: int | None
    locale: str
    released_promotions: int
    invoices_out_of_date: int


# ---------------------------------------------------------------------------------------------
# Helpers


def _vn_year(moment: datetime) -> int:
    return moment.astimezone(VN_TZ).year


def _find_cycle(catalog: Catalog, order: Order) -> BillingCycle | None:
    service = catalog.service(order.service_code)
    plan = service.plan(order.plan_code) if service is not None else None
    return plan.cycle(order.cycle_code) if plan is not None else None


def subscription_period(paid_at: datetime, cycle: BillingCycle) -> tuple[datetime, datetime]:
    """The first period: from the payment time for one ``cycle``, computed on the
    Asia/Ho_Chi_Minh calendar (a month ends on the same local day, clamped to the month's
    last day) and returned in UTC."""
    start = paid_at.astimezone(VN_TZ)
    end = period_end(start, cycle.every, cycle.unit)
    return start.astimezone(UTC), end.astimezone(UTC)


async def _owner_chats(uow: UnitOfWork, order: Order) -> tuple[int, ...]:
    members = await uow.memberships.for_enterprise(order.enterprise_id)
    owners = (int(m.user_id) for m in members if m.role is Role.OWNER)
    return tuple(o for o in dict.fromkeys(owners) if o != order.chat_id)


def may_retry(principal: Principal | None, order: Order) -> bool:
    """The registering user, the business's owners and staff may pay an order again."""
    if principal is None:
        return False
    return principal.user_id == order.registered_by or principal.may(
        Permission.REGISTER, order.enterprise_id
    )


def _not_expired(order: Order, now: datetime) -> bool:
    return order.expires_at is None or order.expires_at > now


# ---------------------------------------------------------------------------------------------
# ConfirmPayment


@dataclass(frozen=True, slots=True)
class ConfirmPaymentRequest:
    """A payment success to apply.

    Online: ``merchant_order_id`` names the attempt; ``amount`` and ``currency`` (as the gateway
    reported them) must equal the attempt's. Cash: ``order_id`` (or the cash attempt's
    merchant order id), ``actor_id`` is the staff member who took the money. ``paid_at``
    defaults to now.
    """

    method: PaymentMethod
    source: PaymentSource
    merchant_order_id: str | None = None
    order_id: int | None = None
    paid_at: datetime | None = None
    amount: int | None = None
    currency: str = CURRENCY
    transaction_id: str | None = None
    response_code: str | None = None
    actor_id: int | None = None

    @classmethod
    def from_notification(cls, notification: PaymentNotification) -> ConfirmPaymentRequest:
        return cls(
            method=PaymentMethod.VNPTPAY,
            source=PaymentSource.NOTIFICATION,
            merchant_order_id=notification.merchant_order_id,
            paid_at=notification.pay_date,
            amount=notification.amount,
            currency=notification.currency,
            transaction_id=notification.transaction_id or None,
            response_code=notification.response_code,
        )

    @classmethod
    def from_query(cls, info: TransactionInfo) -> ConfirmPaymentRequest:
        return cls(
            method=PaymentMethod.VNPTPAY,
            source=PaymentSource.QUERY,
            merchant_order_id=info.merchant_order_id,
            paid_at=info.paid_at,
            amount=info.amount,
            currency=info.currency or CURRENCY,
            transaction_id=info.transaction_id,
            response_code="00",
        )


class ConfirmPayment:
    """Apply a payment success exactly once (see the module doc).

    In one transaction: the order's row lock, the claim, the attempt SUCCESS, the order PAID,
    the subscription ACTIVE with its first period from the payment time (a new one for an ON
    order, the waiting one of an OS order), the invoice PAID with the next number of the
    payment's year (created from the order's frozen quote, or the waiting one), other open
    attempts of the order EXPIRED (superseded) and the history events.

    ``catalog`` gives the cycle's length; a code missing there (a stale in-memory catalog) is
    looked up in the stored catalog, which keeps removed entries.
    """

    def __init__(self, uow: UowFactory, catalog: Callable[[], Catalog], clock: Clock) -> None:
        self._uow = uow
        self._catalog = catalog
        self._clock = clock

    async def __call__(self, req: ConfirmPaymentRequest) -> PaymentConfirmed:
        now = self._clock.now()
        paid_at = req.paid_at or now
        async with self._uow() as uow:
            found = await self._locate(uow, req, now)
            if isinstance(found, PaymentConfirmed):
                return found
            order, attempt = found
            if req.source is PaymentSource.NOTIFICATION:
                await uow.payments.mark_notified(attempt.id, now)
            claimed = await uow.payments.claim_success(
                attempt.id, order.id, attempt.merchant_order_id, now
            )
            if claimed:
                result = await self._apply(uow, order, attempt, req, paid_at, now)
                await notices.add_notices(uow, notices.payment_succeeded(result), now)
            else:
                result = await self._repeat(uow, order, attempt, req, paid_at, now)
            await uow.commit()
        return result

    async def _locate(
        self, uow: UnitOfWork, req: ConfirmPaymentRequest, now: datetime
    ) -> tuple[Order, PaymentAttempt] | PaymentConfirmed:
        """The locked order and the attempt to claim, or the reason nothing is applied."""
        moid = req.merchant_order_id or ""
        if req.method is PaymentMethod.BY_CASH and req.order_id is not None:
            order = await uow.orders.get(OrderId(req.order_id), for_update=True)
            if order is None:
                return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid, order_id=req.order_id)
            return await self._cash_attempt(uow, order, req, now)
        attempt = await uow.payments.get_by_merchant_order_id(moid) if moid else None
        if attempt is None:
            log.warning("payment success for unknown merchant order id %r", moid)
            return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid)
        order = await uow.orders.get(attempt.order_id, for_update=True)
        # read again under the order's lock: a concurrent success may have just committed
        attempt = await uow.payments.get_by_merchant_order_id(moid)
        if order is None or attempt is None:
            return PaymentConfirmed(ConfirmStatus.NOT_FOUND, moid)
        if attempt.method is not req.method:
            log.warning("payment %s: method %s, attempt is %s", moid, req.method, attempt.method)
            return _summary(ConfirmStatus.WRONG_METHOD, order, attempt)
        if (req.amount is not None and req.amount != attempt.amount) or req.currency != CURRENCY:
            log.warning(
                "payment %s not applied: %s %s reported, %s %s expected",
                moid,
                req.amount,
                req.currency,
                attempt.amount,
                CURRENCY,
            )
            return _summary(ConfirmStatus.AMOUNT_MISMATCH, order, attempt)
        return order, attempt

    async def _cash_attempt(
        self, uow: UnitOfWork, order: Order, req: ConfirmPaymentRequest, now: datetime
    ) -> tuple[Order, PaymentAttempt] | PaymentConfirmed:
        """The order's one cash attempt, created on first use (under the order's lock)."""
        moid = f"{order.code}-{CASH_ATTEMPT_SUFFIX}"
        if order.payment_method is not PaymentMethod.BY_CASH:
            log.warning("cash confirmed for %s, which is paid %s", order.code, order.payment_method)
            return _summary(ConfirmStatus.WRONG_METHOD, order, None)
        if req.amount is not None and req.amount != order.total:
            log.warning("cash for %s: %s received, %s due", order.code, req.amount, order.total)
            return _summary(ConfirmStatus.AMOUNT_MISMATCH, order, None)
        attempt = await uow.payments.get_by_merchant_order_id(moid)
        if attempt is not None:
            return order, attempt
        if order.status is OrderStatus.PAID:
            return await _already(uow, order, moid)
        attempt = await uow.payments.add(
            PaymentAttempt(
                order_id=order.id,
                merchant_order_id=moid,
                amount=order.total,
                method=PaymentMethod.BY_CASH,
                created_at=now,
            )
        )
        return order, attempt

    async def _cycle(self, uow: UnitOfWork, order: Order) -> BillingCycle | None:
        cycle = _find_cycle(self._catalog(), order)
        if cycle is None:
            cycle = _find_cycle(await uow.catalog.load(), order)
        return cycle

    async def _apply(
        self,
        uow: UnitOfWork,
        order: Order,
        attempt: PaymentAttempt,
        req: ConfirmPaymentRequest,
        paid_at: datetime,
        now: datetime,
    ) -> PaymentConfirmed:
        actor = UserId(req.actor_id) if req.actor_id is not None else None
        await uow.payments.mark_success(
            attempt.id,
            transaction_id=req.transaction_id,
            response_code=req.response_code,
            at=paid_at,
        )
        late = order.status is not OrderStatus.PENDING_PAYMENT
        if late:
            log.warning("payment %s applied to %s order", attempt.merchant_order_id, order.status)
        await uow.orders.set_status(order.id, OrderStatus.PAID, paid_at=paid_at)
        if late and order.promotion_codes:
            await uow.promotions.redeem(order.id, order.enterprise_id, order.promotion_codes, now)
        for other in await uow.payments.for_order(order.id):
            if other.id != attempt.id and other.status.is_open:
                await uow.payments.mark_expired(other.id, at=now)

        cycle = await self._cycle(uow, order)
        if cycle is None:
            log.error("order %s: cycle %s not in the catalog", order.code, order.cycle_code)
            start, end = paid_at, None
        else:
            start, end = subscription_period(paid_at, cycle)
        sub = await self._activate(uow, order, paid_at, start, end, now)
        number = await self._invoice(uow, order, sub.id, paid_at, actor, now)

        def event(action: str, details: dict[str, object]) -> HistoryEvent:
            return HistoryEvent(
                action=action,
                created_at=now,
                enterprise_id=order.enterprise_id,
                subscription_id=sub.id,
                order_id=order.id,
                actor_id=actor,
                details=details,
            )

        await uow.history.add(
            event(
                "payment.succeeded",
                {
                    "order": order.code,
                    "merchant_order_id": attempt.merchant_order_id,
                    "method": attempt.method.value,
                    "amount": attempt.amount,
                    "transaction_id": req.transaction_id or "",
                    "source": req.source.value,
                    "late": late,
                },
            )
        )
        await uow.history.add(
            event(
                "subscription.activated",
                {
                    "subscription": sub.code,
                    "period_start": start.isoformat(),
                    "period_end": end.isoformat() if end is not None else "",
                },
            )
        )
        await uow.history.add(event("invoice.paid", {"invoice": number, "total": order.total}))
        return PaymentConfirmed(
            ConfirmStatus.APPLIED,
            attempt.merchant_order_id,
            order_id=order.id,
            order_code=order.code,
            enterprise_id=order.enterprise_id,
            kind=order.kind,
            method=attempt.method,
            total=order.total,
            paid_at=paid_at,
            subscription_id=sub.id,
            subscription_code=sub.code,
            invoice_number=number,
            period_start=start,
            period_end=end,
            chat_id=order.chat_id,
            owner_chat_ids=await _owner_chats(uow, order),
            locale=order.locale,
            actor_id=req.actor_id,
            late=late,
        )

    async def _activate(
        self,
        uow: UnitOfWork,
        order: Order,
        paid_at: datetime,
        start: datetime,
        end: datetime | None,
        now: datetime,
    ) -> Subscription:
        """The order's waiting subscription (OS) made ACTIVE, or a new ACTIVE one (ON)."""
        existing = await uow.subscriptions.for_order(order.id)
        if existing:
            sub = replace(
                existing[0],
                status=SubscriptionStatus.ACTIVE,
                started_at=paid_at,
                current_period_start=start,
                current_period_end=end,
            )
            await uow.subscriptions.update(sub)
            return sub
        code = await uow.subscriptions.next_code(_vn_year(now))
        return await uow.subscriptions.add(
            subscription_for(
                order,
                code,
                now,
                status=SubscriptionStatus.ACTIVE,
                started_at=paid_at,
                current_period_start=start,
                current_period_end=end,
            )
        )

    async def _invoice(
        self,
        uow: UnitOfWork,
        order: Order,
        subscription_id: SubscriptionId,
        paid_at: datetime,
        actor: UserId | None,
        now: datetime,
    ) -> str:
        """The order's waiting invoice (OS) marked PAID, or a new PAID one from the frozen
        quote (ON); numbered in the year of the payment."""
        existing = await uow.invoices.for_order(order.id)
        if existing:
            invoice = replace(
                existing[0],
                status=InvoiceStatus.PAID,
                subscription_id=subscription_id,
                issued_at=existing[0].issued_at or now,
                paid_at=paid_at,
                confirmed_by=actor,
            )
            await uow.invoices.update(invoice)
        else:
            invoice = await uow.invoices.add(
                invoice_for(
                    order,
                    Quote.from_dict(order.quote),
                    now,
                    subscription_id=subscription_id,
                    status=InvoiceStatus.PAID,
                    issued_at=now,
                    paid_at=paid_at,
                    confirmed_by=actor,
                )
            )
        return await uow.invoices.assign_number(invoice.id, _vn_year(paid_at))

    async def _repeat(
        self,
        uow: UnitOfWork,
        order: Order,
        attempt: PaymentAttempt,
        req: ConfirmPaymentRequest,
        paid_at: datetime,
        now: datetime,
    ) -> PaymentConfirmed:
        """The claim was taken. If this attempt is the one applied, it is a plain repeat.
        Otherwise the order was paid through another attempt and this is a second payment:
        it is recorded (the money is real) for a refund, and nothing else changes."""
        if attempt.status is not PaymentAttemptStatus.SUCCESS:
            await uow.payments.mark_success(
                attempt.id,
                transaction_id=req.transaction_id,
                response_code=req.response_code,
                at=paid_at,
            )
            await uow.history.add(
                HistoryEvent(
                    action="payment.duplicate",
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    order_id=order.id,
                    details={
                        "order": order.code,
                        "merchant_order_id": attempt.merchant_order_id,
                        "amount": attempt.amount,
                        "transaction_id": req.transaction_id or "",
                        "action": "refund",
                    },
                )
            )
            log.error(
                "order %s paid twice: %s (%s đồng) must be refunded",
                order.code,
                attempt.merchant_order_id,
                attempt.amount,
            )
            return _summary(ConfirmStatus.DUPLICATE_PAYMENT, order, attempt)
        return await _already(uow, order, attempt.merchant_order_id)


def _summary(
    status: ConfirmStatus, order: Order, attempt: PaymentAttempt | None
) -> PaymentConfirmed:
    return PaymentConfirmed(
        status,
        attempt.merchant_order_id if attempt is not None else "",
        order_id=order.id,
        order_code=order.code,
        enterprise_id=order.enterprise_id,
        kind=order.kind,
        method=order.payment_method,
        total=order.total,
        chat_id=order.chat_id,
        locale=order.locale,
    )


async def _already(uow: UnitOfWork, order: Order, moid: str) -> PaymentConfirmed:
    """A repeat: what was applied the first time, read back (nothing is changed)."""
    subs = await uow.subscriptions.for_order(order.id)
    invoices = await uow.invoices.for_order(order.id)
    sub = subs[0] if subs else None
    return PaymentConfirmed(
        ConfirmStatus.ALREADY_APPLIED,
        moid,
        order_id=order.id,
        order_code=order.code,
        enterprise_id=order.enterprise_id,
        kind=order.kind,
        method=order.payment_method,
        total=order.total,
        paid_at=order.paid_at,
        subscription_id=sub.id if sub is not None else None,
        subscription_code=sub.code if sub is not None else "",
        invoice_number=next((i.number for i in invoices if i.number), ""),
        period_start=sub.current_period_start if sub is not None else None,
        period_end=sub.current_period_end if sub is not None else None,
        chat_id=order.chat_id,
        locale=order.locale,
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
    """The order by id or by code (the **Thanh toán lại** button carries the code)."""

    actor_id: int
    order_id: int | None = None
    order_code: str | None = None


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
            for stale in open_:
                await uow.payments.mark_expired(stale.id, at=now)
            moid = f"{order.code}-{_next_attempt_number(order, attempts)}"
            await uow.payments.add(
                PaymentAttempt(
                    order_id=order.id,
                    merchant_order_id=moid,
                    amount=order.total,
                    method=PaymentMethod.VNPTPAY,
                    created_at=now,
                )
            )
            await uow.history.add(
                HistoryEvent(
                    action="payment.retried",
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    order_id=order.id,
                    actor_id=UserId(req.actor_id),
                    details={"order": order.code, "merchant_order_id": moid},
                )
            )
            await uow.commit()
        return replace(result, merchant_order_id=moid)


def _next_attempt_number(order: Order, attempts: list[PaymentAttempt]) -> int:
    prefix = f"{order.code}-"
    numbers = [
        int(a.merchant_order_id[len(prefix) :])
        for a in attempts
        if a.merchant_order_id.startswith(prefix) and a.merchant_order_id[len(prefix) :].isdigit()
    ]
    return max([len(attempts), *numbers]) + 1


# ---------------------------------------------------------------------------------------------
# Asking the gateway: shared by reconciliation and expiry


async def _apply_query(
    info: TransactionInfo,
    attempt: PaymentAttempt,
    confirm: ConfirmPayment,
    fail: RecordPaymentFailure,
) -> PaymentConfirmed | PaymentFailed | None:
    """A query's answer applied like a notification: ``50`` through ConfirmPayment (amount
    checked there too), ``55`` through RecordPaymentFailure; anything else changes nothing."""
    if info.status is PaymentStatus.SUCCESS:
        if info.amount != attempt.amount or (info.currency or CURRENCY) != CURRENCY:
            log.error(
                "query %s: paid %s %s, expected %s %s: not applied",
                attempt.merchant_order_id,
                info.amount,
                info.currency,
                attempt.amount,
                CURRENCY,
            )
            return None
        return await confirm(ConfirmPaymentRequest.from_query(info))
    if info.status is PaymentStatus.FAILED:
        return await fail(
            PaymentFailureRequest(
                merchant_order_id=attempt.merchant_order_id,
                response_code=None,
                source=PaymentSource.QUERY,
                transaction_id=info.transaction_id,
            )
        )
    return None


# ---------------------------------------------------------------------------------------------
# ReconcilePayments


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    checked: int = 0
    confirmed: tuple[PaymentConfirmed, ...] = ()
    failed: tuple[PaymentFailed, ...] = ()
    errors: int = 0


class ReconcilePayments:
    """Ask the gateway about attempts with no notification ``after`` their creation (and
    again every ``after`` while they stay open); apply a success or a failure exactly as a
    notification would.

    Safe in several processes at once: each attempt is claimed for querying under its row
    lock (``last_queried_at`` is moved before the gateway is asked, so another process skips
    it), and applying goes through :class:`ConfirmPayment`, whose claim is the guarantee.
    """

    def __init__(
        self,
        uow: UowFactory,
        gateway: PaymentGateway,
        clock: Clock,
        confirm: ConfirmPayment,
        fail: RecordPaymentFailure,
        *,
        after: timedelta = timedelta(minutes=5),
        limit: int = 50,
    ) -> None:
        self._uow = uow
        self._gateway = gateway
        self._clock = clock
        self._confirm = confirm
        self._fail = fail
        self._after = after
        self._limit = limit

    async def __call__(self) -> ReconcileReport:
        now = self._clock.now()
        older_than = now - self._after
        async with self._uow() as uow:
            candidates = await uow.payments.list_unnotified(older_than, self._limit)
        checked, errors = 0, 0
        confirmed: list[PaymentConfirmed] = []
        failed: list[PaymentFailed] = []
        for candidate in candidates:
            attempt = await self._claim(candidate.merchant_order_id, older_than, now)
            if attempt is None or not attempt.create_date:
                continue  # another process has it, or the gateway never gave it a link
            checked += 1
            try:
                info = await self._gateway.query(attempt.merchant_order_id, attempt.create_date)
            except GatewayError as exc:
                log.warning("reconcile %s: query failed: %s", attempt.merchant_order_id, exc)
                errors += 1
                continue
            try:
                outcome = await _apply_query(info, attempt, self._confirm, self._fail)
            except Exception:
                log.exception("reconcile %s: applying the answer failed", attempt.merchant_order_id)
                errors += 1
                continue
            if isinstance(outcome, PaymentConfirmed) and outcome.newly_applied:
                confirmed.append(outcome)
            elif isinstance(outcome, PaymentFailed) and outcome.newly_recorded:
                failed.append(outcome)
        return ReconcileReport(checked, tuple(confirmed), tuple(failed), errors)

    async def _claim(
        self, merchant_order_id: str, older_than: datetime, now: datetime
    ) -> PaymentAttempt | None:
        async with self._uow() as uow:
            attempt = await uow.payments.get_by_merchant_order_id(
                merchant_order_id, for_update=True
            )
            due = (
                attempt is not None
                and attempt.status.is_open
                and attempt.notified_at is None
                and (attempt.last_queried_at is None or attempt.last_queried_at <= older_than)
            )
            if attempt is None or not due:
                return None
            await uow.payments.mark_queried(attempt.id, now)
            await uow.commit()
        return attempt


# ---------------------------------------------------------------------------------------------
# ExpireOrders


@dataclass(frozen=True, slots=True)
class ExpiryReport:
    expired: tuple[OrderExpired, ...] = ()
    #: successes found by the last query before expiring (applied instead of expiring)
    confirmed: tuple[PaymentConfirmed, ...] = ()
    errors: int = 0


class ExpireOrders:
    """Orders still waiting for payment past ``expires_at``.

    Their open attempts are queried once first (when there is a gateway): a ``50`` is applied
    and the order is not expired. Otherwise, under the order's row lock and only if it still
    waits: the order EXPIRED, its open attempts EXPIRED, its promotion uses released, its
    unpaid invoices OUT_OF_DATE, a waiting subscription CANCELLED, and a history event.
    A success that arrives later is still applied (:class:`ConfirmPayment`).
    """

    def __init__(
        self,
        uow: UowFactory,
        clock: Clock,
        confirm: ConfirmPayment,
        fail: RecordPaymentFailure,
        gateway: PaymentGateway | None = None,
        *,
        limit: int = 100,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._confirm = confirm
        self._fail = fail
        self._gateway = gateway
        self._limit = limit

    async def __call__(self) -> ExpiryReport:
        now = self._clock.now()
        async with self._uow() as uow:
            orders = await uow.orders.list_expired(now, self._limit)
            attempts = {o.id: await uow.payments.for_order(o.id) for o in orders}
        expired: list[OrderExpired] = []
        confirmed: list[PaymentConfirmed] = []
        errors = 0
        for order in orders:
            try:
                paid, failures = await self._last_query(attempts[order.id])
                errors += failures
                done = await self._expire(order.id, now) if paid is None else None
            except Exception:
                log.exception("expiring order %s failed", order.code)
                errors += 1
                continue
            if paid is not None and paid.newly_applied:
                confirmed.append(paid)
            if done is not None:
                expired.append(done)
        return ExpiryReport(tuple(expired), tuple(confirmed), errors)

    async def _last_query(
        self, attempts: list[PaymentAttempt]
    ) -> tuple[PaymentConfirmed | None, int]:
        if self._gateway is None:
            return None, 0
        errors = 0
        for attempt in attempts:
            if not attempt.status.is_open or not attempt.create_date:
                continue
            try:
                info = await self._gateway.query(attempt.merchant_order_id, attempt.create_date)
            except GatewayError as exc:
                log.warning("expiry %s: query failed: %s", attempt.merchant_order_id, exc)
                errors += 1
                continue
            outcome = await _apply_query(info, attempt, self._confirm, self._fail)
            if isinstance(outcome, PaymentConfirmed) and outcome.status in (
                ConfirmStatus.APPLIED,
                ConfirmStatus.ALREADY_APPLIED,
            ):
                return outcome, errors
        return None, errors

    async def _expire(self, order_id: OrderId, now: datetime) -> OrderExpired | None:
        async with self._uow() as uow:
            order = await uow.orders.get(order_id, for_update=True)
            if (
                order is None
                or order.status is not OrderStatus.PENDING_PAYMENT
                or _not_expired(order, now)
            ):
                return None
            await uow.orders.set_status(
                order.id, OrderStatus.EXPIRED, expected=(OrderStatus.PENDING_PAYMENT,)
            )
            for attempt in await uow.payments.for_order(order.id):
                if attempt.status.is_open:
                    await uow.payments.mark_expired(attempt.id, at=now)
            released = await uow.promotions.release(order.id)
            out_of_date = 0
            for invoice in await uow.invoices.for_order(order.id):
                if invoice.status in (InvoiceStatus.INIT, InvoiceStatus.WAITING):
                    await uow.invoices.set_status(invoice.id, InvoiceStatus.OUT_OF_DATE)
                    out_of_date += 1
            for sub in await uow.subscriptions.for_order(order.id):
                if sub.status is SubscriptionStatus.FUTURE:
                    await uow.subscriptions.update(
                        replace(sub, status=SubscriptionStatus.CANCELLED)
                    )
            await uow.history.add(
                HistoryEvent(
                    action="order.expired",
                    created_at=now,
                    enterprise_id=order.enterprise_id,
                    order_id=order.id,
                    details={
                        "order": order.code,
                        "released_promotions": released,
                        "invoices_out_of_date": out_of_date,
                    },
                )
            )
            result = OrderExpired(
                order_id=order.id,
                order_code=order.code,
                total=order.total,
                chat_id=order.chat_id,
                locale=order.locale,
                released_promotions=released,
                invoices_out_of_date=out_of_date,
            )
            await notices.add_notices(uow, notices.order_expired(result), now)
            await uow.commit()
        return result


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
