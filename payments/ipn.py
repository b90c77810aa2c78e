"""The VNPT Pay server notification (IPN): verify, check against our records, apply once,
answer with a signed reply (``vnptpay-protocol.md`` §4).

The order of checks is the protocol's: the checksum over the raw values before anything else
(``07``), then the message itself (merchant service id, fields: ``99``), the order (``01``),
amount and currency against the stored attempt (``99``; a *success* in another amount applies
nothing but is recorded and told to the staff by ConfirmPayment, once); only then is anything
applied, through the idempotent use cases (a repeat answers ``02``). Any other error answers
``08`` so the gateway tries again; reconciliation catches what the retries do not.

Nothing here sends messages to users: the caller does that with the returned
:class:`IpnOutcome`, after the transaction committed. Logs name the merchant order id and the
codes, never the secret or the checksum.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote_plus

from domain.model import PaymentAttempt
from domain.payments import BadChecksum, InvalidNotification, PaymentNotification
from domain.usecases.payments import (
    CURRENCY,
    ConfirmPayment,
    ConfirmPaymentRequest,
    ConfirmStatus,
    FailureStatus,
    PaymentConfirmed,
    PaymentFailed,
    PaymentFailureRequest,
    RecordPaymentFailure,
)
from payments.vnptpay import IpnReply, VnptPayClient

__all__ = ["IpnOutcome", "IpnResult", "LookupAttempt", "handle_ipn"]

log = logging.getLogger(__name__)

LookupAttempt = Callable[[str], Awaitable[PaymentAttempt | None]]

_ORDER_ID_IN_TEXT = re.compile(r'"MERCHANT_ORDER_ID"\s*:\s*"([A-Za-z0-9_-]{1,50})"')
_ORDER_ID = re.compile(r"[A-Za-z0-9_-]{1,50}")

DESCRIPTIONS: dict[IpnReply, str] = {
    IpnReply.APPLIED: "Confirmed",
    IpnReply.ORDER_NOT_FOUND: "Order not found",
    IpnReply.ALREADY_CONFIRMED: "Order already confirmed",
    IpnReply.BAD_CHECKSUM: "Invalid checksum",
    IpnReply.BUSY: "Merchant busy, retry later",
    IpnReply.OTHER: "Invalid request",
}


class IpnResult(enum.StrEnum):
    """What happened to a notification (for logs, metrics and tests)."""

    APPLIED = "applied"  # a success, applied now
    ALREADY_APPLIED = "already_applied"
    DUPLICATE_PAYMENT = "duplicate_payment"  # the order was paid by another attempt: refund
    FAILURE_RECORDED = "failure_recorded"
    FAILURE_REPEATED = "failure_repeated"  # the attempt was already final
    BAD_CHECKSUM = "bad_checksum"
    INVALID = "invalid"  # unparsable, foreign merchant service, bad fields
    NOT_FOUND = "not_found"
    AMOUNT_MISMATCH = "amount_mismatch"
    ERROR = "error"  # an unexpected error (database down…): the gateway retries


@dataclass(frozen=True, slots=True)
class IpnOutcome:
    result: IpnResult
    reply_code: IpnReply
    merchant_order_id: str
    confirmed: PaymentConfirmed | None = None
    failed: PaymentFailed | None = None


_CONFIRM_RESULTS: dict[ConfirmStatus, tuple[IpnResult, IpnReply]] = {
    ConfirmStatus.APPLIED: (IpnResult.APPLIED, IpnReply.APPLIED),
    ConfirmStatus.ALREADY_APPLIED: (IpnResult.ALREADY_APPLIED, IpnReply.ALREADY_CONFIRMED),
    ConfirmStatus.DUPLICATE_PAYMENT: (IpnResult.DUPLICATE_PAYMENT, IpnReply.ALREADY_CONFIRMED),
    ConfirmStatus.NOT_FOUND: (IpnResult.NOT_FOUND, IpnReply.ORDER_NOT_FOUND),
    ConfirmStatus.AMOUNT_MISMATCH: (IpnResult.AMOUNT_MISMATCH, IpnReply.OTHER),
    ConfirmStatus.WRONG_METHOD: (IpnResult.INVALID, IpnReply.OTHER),
}


def _claimed_order_id(body: bytes | str) -> str:
    """The MERCHANT_ORDER_ID a rejected message claims, only to echo it in the reply and the
    log (never to look anything up); "" when it cannot be read safely."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    match = _ORDER_ID_IN_TEXT.search(text) or _ORDER_ID_IN_TEXT.search(unquote_plus(text))
    return match.group(1) if match else ""


async def handle_ipn(
    body: bytes | str,
    content_type: str,
    *,
    client: VnptPayClient,
    confirm: ConfirmPayment,
    fail: RecordPaymentFailure,
    lookup: LookupAttempt,
) -> tuple[dict[str, str], IpnOutcome]:
    """Process one notification body; returns the signed reply (in protocol order) and what
    happened. Never raises: every problem becomes a reply code."""
    outcome = await _process(body, content_type, client, confirm, fail, lookup)
    reply = client.sign_ipn_reply(
        outcome.reply_code.value, DESCRIPTIONS[outcome.reply_code], outcome.merchant_order_id
    )
    log.info(
        "vnptpay IPN %s -> %s (%s)",
        outcome.merchant_order_id or "?",
        outcome.reply_code.value,
        outcome.result.value,
    )
    return reply, outcome


async def _process(
    body: bytes | str,
    content_type: str,
    client: VnptPayClient,
    confirm: ConfirmPayment,
    fail: RecordPaymentFailure,
    lookup: LookupAttempt,
) -> IpnOutcome:
    try:
        notification = client.parse_notification(body, content_type)
    except BadChecksum:
        claimed = _claimed_order_id(body)
        log.warning("vnptpay IPN for %r refused: bad checksum; nothing applied", claimed)
        return IpnOutcome(IpnResult.BAD_CHECKSUM, IpnReply.BAD_CHECKSUM, claimed)
    except InvalidNotification as exc:
        claimed = _claimed_order_id(body)
        log.warning("vnptpay IPN for %r refused: %s; nothing applied", claimed, exc)
        return IpnOutcome(IpnResult.INVALID, IpnReply.OTHER, claimed)
    moid = notification.merchant_order_id
    if not _ORDER_ID.fullmatch(moid):
        log.warning("vnptpay IPN with a malformed merchant order id; nothing applied")
        return IpnOutcome(IpnResult.NOT_FOUND, IpnReply.ORDER_NOT_FOUND, "")
    try:
        return await _apply(notification, confirm, fail, lookup)
    except Exception:
        log.exception("vnptpay IPN %s: could not be processed; asking for a retry", moid)
        return IpnOutcome(IpnResult.ERROR, IpnReply.BUSY, moid)


async def _apply(
    notification: PaymentNotification,
    confirm: ConfirmPayment,
    fail: RecordPaymentFailure,
    lookup: LookupAttempt,
) -> IpnOutcome:
    moid = notification.merchant_order_id
    attempt = await lookup(moid)
    if attempt is None:
        log.warning("vnptpay IPN for unknown merchant order id %s", moid)
        return IpnOutcome(IpnResult.NOT_FOUND, IpnReply.ORDER_NOT_FOUND, moid)
    if notification.amount != attempt.amount or notification.currency != CURRENCY:
        log.warning(
            "vnptpay IPN %s refused: %s %s notified, %s %s expected; nothing applied",
            moid,
            notification.amount,
            notification.currency,
            attempt.amount,
            CURRENCY,
        )
        if not notification.success:  # no money moved: nothing to tell
            return IpnOutcome(IpnResult.AMOUNT_MISMATCH, IpnReply.OTHER, moid)
        # money reported in another amount: ConfirmPayment applies nothing, records it and
        # tells the staff (once); the gateway is still answered "not applied"
    if notification.success:
        confirmed = await confirm(ConfirmPaymentRequest.from_notification(notification))
        result, code = _CONFIRM_RESULTS[confirmed.status]
        return IpnOutcome(result, code, moid, confirmed=confirmed)
    failed = await fail(PaymentFailureRequest.from_notification(notification))
    if failed.status is FailureStatus.NOT_FOUND:
        return IpnOutcome(IpnResult.NOT_FOUND, IpnReply.ORDER_NOT_FOUND, moid, failed=failed)
    if failed.status is FailureStatus.RECORDED:
        return IpnOutcome(IpnResult.FAILURE_RECORDED, IpnReply.APPLIED, moid, failed=failed)
    return IpnOutcome(IpnResult.FAILURE_REPEATED, IpnReply.ALREADY_CONFIRMED, moid, failed=failed)
