"""Shared by the payment use cases: constants, who reported a result, the results the bot
must tell after the commit, the success request and small helpers."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.billing import period_end
from domain.catalog import BillingCycle, Catalog, ServiceKind
from domain.constants import VN_TZ
from domain.model import (
    Order,
    PaymentMethod,
    Principal,
    Role,
)
from domain.payments import (
    PaymentNotification,
    TransactionInfo,
)
from domain.policy import Permission
from domain.ports import UnitOfWork

log = logging.getLogger("domain.usecases.payments")  # one logger for the package, as before

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
    #: what the order bought (``OrderPurpose``): NEW, RENEWAL or CHANGE
    purpose: str = "NEW"
    #: a CHANGE order (Đổi gói, or a trial's payment) newly applied: what changed, as notice
    #: params (``from_plan``/``to_plan``, cycles, quantities, ``trial``, ``service``)
    change: dict[str, str | int | bool] | None = None
    #: the money was taken but the order could not act on its subscription (cancelled, or a
    #: change of an ended one): nothing was renewed or changed, the amount is due for refund
    #: (history ``payment.refund_due``); the owners are told so, not "paid"
    refund_due: bool = False
    #: the subscription's status when the refund became due (``SubscriptionStatus`` value)
    subscription_status: str = ""
    #: staff to tell besides the one who confirmed the cash (who cancelled the subscription,
    #: else the reachable admins), as (chat id, language)
    staff_chat_ids: tuple[tuple[int, str], ...] = ()

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
    #: a CHANGE or RENEWAL order's subscription (it stays as it was): the notice says so
    subscription_code: str = ""
    #: what the order bought (``OrderPurpose``)
    purpose: str = "NEW"


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
# Requests


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
