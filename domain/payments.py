"""The payment gateway port and the values that cross it.

The domain speaks only of what a payment means to the business: an order id the merchant chose,
an amount in whole đồng, a status. How a gateway encodes them (field names, checksums, date
formats) belongs to the adapters in ``payments/``.

Invariants:

- ``merchant_order_id`` identifies one payment *attempt*: ≤ 50 characters of ``[A-Za-z0-9_-]``,
  never reused. A second attempt for the same order uses a new id.
- Money is ``int`` đồng (VND has no minor unit); an amount to pay is at least 1 đồng.
- Datetimes are timezone-aware. ``PaymentRequest.created_at`` is stored in UTC; the adapter
  converts it to the gateway's local time.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from domain.errors import DomainError

MERCHANT_ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,50}")


class PaymentStatus(enum.StrEnum):
    CREATED = "created"  # the gateway knows the order; the payer has not acted yet
    PENDING = "pending"  # the payer is paying; no result yet
    SUCCESS = "success"  # paid: apply exactly once, like a successful notification
    FAILED = "failed"  # declined or cancelled by the payer: nothing was paid
    BUSY = "busy"  # the gateway cannot answer now: ask again later
    NOT_FOUND = "not_found"  # the gateway has no such order: it was never created there
    UNKNOWN = "unknown"  # a status value this adapter does not recognise: treat as unpaid


class GatewayError(DomainError):
    """The payment gateway could not be used; nothing is known to have been paid."""

    key = "error.gateway"


class GatewayTimeout(GatewayError):
    """The gateway did not give a usable answer in time.

    The ``merchant_order_id`` of the attempt is spent: its payment link never reached the
    payer, so it can never be paid, and re-sending it may be refused as a duplicate. Retry
    with a new merchant order id.
    """

    def __init__(self, message: str = "", *, merchant_order_id: str = "") -> None:
        super().__init__(message, merchant_order_id=merchant_order_id)
        self.merchant_order_id = merchant_order_id


class GatewayRejected(GatewayError):
    """The gateway answered with a verified, non-success ``response_code``."""

    def __init__(self, response_code: str, description: str = "") -> None:
        super().__init__(
            f"gateway rejected the request: {response_code} {description}".strip(),
            response_code=response_code,
            description=description,
        )
        self.response_code = response_code
        self.description = description


class BadChecksum(GatewayError):
    """A message claiming to come from the gateway does not carry a valid checksum.

    Its content must not be acted upon (not followed, not applied).
    """


class InvalidNotification(GatewayError):
    """A notification is well signed but unusable: unparsable or missing fields, a foreign
    merchant service id, a non-numeric amount. Nothing may be applied from it."""


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    merchant_order_id: str
    amount: int  # whole đồng, VAT included
    description: str
    locale: Literal["vi", "en"]
    created_at: datetime  # timezone-aware; the gateway's CREATE_DATE is derived from it

    def __post_init__(self) -> None:
        if not MERCHANT_ORDER_ID_PATTERN.fullmatch(self.merchant_order_id):
            raise ValueError("merchant_order_id must be 1-50 characters of [A-Za-z0-9_-]")
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount < 1:
            raise ValueError("amount must be a positive int of đồng")
        if self.locale not in ("vi", "en"):
            raise ValueError("locale must be 'vi' or 'en'")
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")


@dataclass(frozen=True, slots=True)
class PaymentLink:
    """Where to send the payer. ``create_date`` is the gateway-format creation date that a
    later ``query`` for the same order must repeat; store it with the attempt."""

    merchant_order_id: str
    redirect_url: str
    create_date: str


@dataclass(frozen=True, slots=True)
class TransactionInfo:
    """The gateway's view of one order, as answered by a query.

    ``response_code`` is the query's own response code (``"00"`` when the gateway answered
    normally, ``"05"`` for an unknown order).
    """

    merchant_order_id: str
    status: PaymentStatus
    amount: int | None
    transaction_id: str | None
    paid_at: datetime | None
    response_code: str
    currency: str | None = None


@dataclass(frozen=True, slots=True)
class PaymentNotification:
    """A gateway notification whose checksum has been verified.

    ``success`` is true only for response code ``"00"``; any other code means the payment
    failed or was cancelled (e.g. ``"01"`` declined, ``"70"`` cancelled by the payer).
    The receiver must still check ``amount`` and ``currency`` against its own order.
    """

    merchant_order_id: str
    response_code: str
    amount: int
    currency: str
    transaction_id: str
    payment_method: str
    pay_date: datetime | None
    success: bool


class PaymentGateway(Protocol):
    """An online payment gateway (VNPT Pay in production, its simulator in the sandbox)."""

    async def create_payment(self, req: PaymentRequest) -> PaymentLink:
        """Create the payment at the gateway and return the payer's link.

        Raises ``GatewayTimeout`` (retry with a new merchant order id), ``GatewayRejected``,
        ``BadChecksum`` or ``GatewayError``.
        """
        ...

    async def query(self, merchant_order_id: str, create_date: str) -> TransactionInfo:
        """Ask the gateway for the state of an order created with ``create_date``.

        An unknown order answers status ``NOT_FOUND``; a busy gateway ``BUSY``.
        """
        ...
