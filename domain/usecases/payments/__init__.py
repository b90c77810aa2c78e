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

Modules: ``common`` (constants, results, the success request, helpers), ``confirm``
(:class:`ConfirmPayment`), ``failures`` (:class:`RecordPaymentFailure`, :class:`RetryPayment`),
``reconcile`` (:class:`ReconcilePayments`, :class:`ExpireOrders`), ``cash``
(:class:`ConfirmCash`) and ``status`` (:class:`FindPaymentAttempt`, :class:`DescribePayment`).
Every public name is re-exported here.
"""

from domain.usecases.payments.cash import (
    ConfirmCash,
    ConfirmCashRequest,
)
from domain.usecases.payments.common import (
    CANCELLED_CODE,
    CASH_ATTEMPT_SUFFIX,
    CURRENCY,
    ConfirmPaymentRequest,
    ConfirmStatus,
    FailureStatus,
    OrderExpired,
    PaymentConfirmed,
    PaymentFailed,
    PaymentSource,
    may_retry,
    subscription_period,
)
from domain.usecases.payments.confirm import (
    ConfirmPayment,
)
from domain.usecases.payments.failures import (
    PaymentFailureRequest,
    RecordPaymentFailure,
    RetryPayment,
    RetryPaymentRequest,
    RetryResult,
    RetryStatus,
    next_attempt_number,
    supersede,
)
from domain.usecases.payments.reconcile import (
    ExpireOrders,
    ExpiryReport,
    ReconcilePayments,
    ReconcileReport,
)
from domain.usecases.payments.status import (
    DescribePayment,
    FindPaymentAttempt,
    PaymentState,
    PaymentStatusView,
)

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
    "next_attempt_number",
    "subscription_period",
    "supersede",
]
