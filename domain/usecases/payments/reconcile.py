"""Asking the gateway: reconciliation (:class:`ReconcilePayments`) and the expiry of unpaid
orders (:class:`ExpireOrders`), which share how a query's answer is applied."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.model import (
    HistoryEvent,
    InvoiceStatus,
    OrderId,
    OrderPurpose,
    OrderStatus,
    PaymentAttempt,
    SubscriptionStatus,
)
from domain.payments import (
    GatewayError,
    PaymentGateway,
    PaymentStatus,
    TransactionInfo,
)
from domain.ports import Clock
from domain.usecases import notices
from domain.usecases.payments.common import (
    CURRENCY,
    ConfirmPaymentRequest,
    ConfirmStatus,
    OrderExpired,
    PaymentConfirmed,
    PaymentFailed,
    PaymentSource,
    UowFactory,
    _not_expired,
    log,
)
from domain.usecases.payments.confirm import ConfirmPayment
from domain.usecases.payments.failures import PaymentFailureRequest, RecordPaymentFailure

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
            )  # ConfirmPayment applies nothing; it records the mismatch and tells the staff
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
            # a renewal or change order: its subscription stays as it was; the event goes to
            # its Lịch sử and the notice names it (Gia hạn / Đổi gói again from there)
            changed = (
                await uow.subscriptions.get(order.subscription_id)
                if order.purpose in (OrderPurpose.CHANGE, OrderPurpose.RENEWAL)
                and order.subscription_id is not None
                else None
            )
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
                    subscription_id=changed.id if changed is not None else None,
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
                subscription_code=changed.code if changed is not None else "",
                purpose=order.purpose.value,
            )
            await notices.add_notices(uow, notices.order_expired(result), now)
            await uow.commit()
        return result
