"""Paying after the order: **Thanh toán lại**, ``/cash``, and the screens of payment notices.

Two one-turn flows, started afresh by the engine:

- ``pay`` (entry button ``repay``, arg = order code, on a failure notice or a link that could
  not be obtained): asks the backend for a payment link for the same order and amount (a new
  attempt with a new merchant order id, or the attempt still open) and shows it, or says why
  not (paid already, expired, cash order, not yours, unknown order).
- ``cash`` (command ``/cash <subscription code>``, or entry button ``cash``): a staff member
  took the cash for an OS subscription. The backend applies it (who may do it is checked by the
  use case) and tells the business owners; the staff member sees the result here.

Entry buttons carry no session rev and can be pressed by anyone who sees (or forges) them, so
both flows decide nothing themselves: the use cases behind the backend re-check who acts.

The notice screens (:func:`success_screen`, :func:`failure_screen`, :func:`expired_screen`)
are built here, as data, and sent by the bot layer's notifier to chats outside any
conversation; their buttons are entry buttons for the same reason.
"""

from __future__ import annotations

from typing import Protocol

from conversations.kit import copy_order_button, unexpected
from conversations.screens import (
    Button,
    Day,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
    notice,
)
from conversations.turn import Turn
from domain.constants import CASH_VAT_LIMIT
from domain.errors import NotFound, PermissionDenied
from domain.model import PaymentMethod
from domain.usecases.payments import (
    ConfirmCashRequest,
    ConfirmStatus,
    OrderExpired,
    PaymentConfirmed,
    PaymentFailed,
    RetryResult,
    RetryStatus,
)

__all__ = [
    "CASH_ACTION",
    "CASH_FLOW",
    "PAY_FLOW",
    "REPAY_ACTION",
    "CashFlow",
    "OneTurnFlow",
    "PayAgain",
    "PayFlow",
    "TakeCash",
    "expired_screen",
    "failure_screen",
    "pay_link_screen",
    "success_screen",
]

PAY_FLOW = "pay"
CASH_FLOW = "cash"
#: the entry action of **Thanh toán lại** (arg: the order code)
REPAY_ACTION = "repay"
#: the entry action of a cash confirmation button (arg: the subscription code)
CASH_ACTION = "cash"


class PayAgain(Protocol):
    """**Thanh toán lại** (``domain.usecases.registration.PayAgain``)."""

    async def pay_again(self, user_id: int, order_code: str) -> RetryResult:
        """A payment link for the order (``redirect_url`` empty when none could be had).
        Raises ``NotFound`` and ``PermissionDenied``."""
        ...


class TakeCash(Protocol):
    """Cash taken by a staff member (``domain.usecases.payments.ConfirmCash``); the owners are
    told when newly applied. Raises ``NotFound`` and ``PermissionDenied``."""

    async def __call__(self, req: ConfirmCashRequest, /) -> PaymentConfirmed: ...


def _repay_button(order_code: str) -> tuple[Button, ...]:
    return (Button(Msg("btn.pay_again"), action=REPAY_ACTION, arg=order_code),)


# --- notices sent from outside a conversation ------------------------------------------------


def success_screen(result: PaymentConfirmed) -> Screen:
    """**Đăng ký thành công**: the subscription code, order, amount, invoice number and the
    first period, with **Quản lý thuê bao**."""
    key = (
        "payment_notice.cash_succeeded"
        if result.method is PaymentMethod.BY_CASH
        else "payment_notice.succeeded"
    )
    if result.purpose == "RENEWAL":  # **Gia hạn thành công**
        key = "renew_notice.renewed"
    parts: list[Param] = [
        Msg(
            key,
            {
                "subscription": Plain(result.subscription_code),
                "order": Plain(result.order_code),
                "total": Money(result.total),
                "invoice": Plain(result.invoice_number or "—"),
            },
        )
    ]
    if result.period_start is not None and result.period_end is not None:
        parts.append(
            Msg("pay.period", {"start": Day(result.period_start), "end": Day(result.period_end)})
        )
    return notice(Join(tuple(parts)), (Button(Msg("btn.manage_subscriptions"), action="subs"),))


def failure_screen(result: PaymentFailed) -> Screen:
    """Declined or failed (with the payer's code) or cancelled by the payer; **Thanh toán
    lại** while the order can still be paid."""
    params: dict[str, Param] = {"order": Plain(result.order_code), "total": Money(result.total)}
    if result.cancelled:
        text = Msg("payment_notice.cancelled", params)
    else:
        text = Msg("payment_notice.failed", {**params, "code": Plain(result.response_code or "—")})
    rows = (_repay_button(result.order_code),) if result.can_retry else ()
    return notice(text, *rows)


def expired_screen(result: OrderExpired) -> Screen:
    """The unpaid order expired; **Dịch vụ** starts a new registration."""
    return notice(
        Msg(
            "payment_notice.expired",
            {"order": Plain(result.order_code), "total": Money(result.total)},
        ),
        (Button(Msg("btn.services"), action="menu", arg="services"),),
    )


def pay_link_screen(result: RetryResult) -> Screen:
    """The outcome of **Thanh toán lại**: the link (URL button and QR code) or why not."""
    order = Plain(result.order_code)
    if result.status is RetryStatus.PAID:
        return notice(
            Msg("payment_notice.retry_paid", {"order": order}),
            (Button(Msg("btn.manage_subscriptions"), action="subs"),),
        )
    if result.status is RetryStatus.EXPIRED:
        return notice(
            Msg("payment_notice.retry_expired", {"order": order}),
            (Button(Msg("btn.services"), action="menu", arg="services"),),
        )
    if result.status is RetryStatus.NOT_ONLINE:
        return notice(Msg("pay.not_online", {"order": order}))
    total = Money(result.amount)
    if not result.redirect_url:
        return notice(
            Msg("pay.link_failed", {"order": order, "total": total}),
            _repay_button(result.order_code),
        )
    return Screen(
        Msg("pay.link", {"order": order, "total": total}),
        (
            (Button(Msg("btn.pay_vnptpay"), url=result.redirect_url),),
            (copy_order_button(result.order_code),),
        ),
        delivery=Delivery.NEW,
        qr=result.redirect_url,
        final=True,
    )


# --- the flows ---------------------------------------------------------------------------------


class OneTurnFlow:
    """A flow that ends in its ``start``: it is never the current flow afterwards, so its
    other entry points only answer stray events."""

    async def screen(self, t: Turn) -> Screen:
        return Screen(Msg("menu.use_buttons"), delivery=Delivery.NEW)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        raise unexpected()

    async def text(self, t: Turn, text: str) -> None:
        t.done = True

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.done = True


class PayFlow(OneTurnFlow):
    """**Thanh toán lại** for the order named by the button (see the module doc)."""

    def __init__(self, pay: PayAgain) -> None:
        self._pay = pay

    async def start(self, t: Turn, arg: str) -> None:
        t.draft["s"] = PAY_FLOW
        t.done = True
        code = arg.strip()
        order = Plain(code or "—")
        try:
            if not code:
                raise NotFound("no order code", field="order")
            result = await self._pay.pay_again(t.user_id, code)
        except PermissionDenied:
            t.extra.append(notice(Msg("pay.not_yours", {"order": order})))
            return
        except NotFound:
            t.extra.append(notice(Msg("pay.order_not_found", {"order": order})))
            return
        t.extra.append(pay_link_screen(result))


class CashFlow(OneTurnFlow):
    """``/cash <subscription code>``: a staff member confirms the cash (see the module doc)."""

    def __init__(self, take_cash: TakeCash) -> None:
        self._take_cash = take_cash

    async def start(self, t: Turn, arg: str) -> None:
        t.draft["s"] = CASH_FLOW
        t.done = True
        code = arg.strip().upper()
        if not code:
            t.extra.append(notice(Msg("pay.cash_usage")))
            return
        shown = Plain(code)
        try:
            result = await self._take_cash(
                ConfirmCashRequest(subscription_code=code, actor_id=t.user_id)
            )
        except PermissionDenied:
            t.extra.append(notice(Msg("pay.cash_staff_only")))
            return
        except NotFound:
            t.extra.append(notice(Msg("pay.cash_not_found", {"subscription": shown})))
            return
        t.extra.append(_cash_screen(result, code))


def _cash_screen(result: PaymentConfirmed, code: str) -> Screen:
    subscription = Plain(result.subscription_code or code)
    if result.status is ConfirmStatus.APPLIED and result.refund_due:
        status = result.subscription_status
        what = "change" if result.purpose == "CHANGE" else "renewal"
        return notice(
            Msg(
                "payment_notice.cash_refund_due",
                {
                    "subscription": subscription,
                    "order": Plain(result.order_code),
                    "total": Money(result.total),
                    "status": Msg(f"manage.status.{status}") if status else Plain("—"),
                    "what": Msg(f"renew_notice.what_{what}"),
                },
            )
        )
    if result.status is ConfirmStatus.APPLIED:
        parts: list[Param] = [
            Msg(
                "payment_notice.cash_confirmed",
                {
                    "subscription": subscription,
                    "total": Money(result.total),
                    "invoice": Plain(result.invoice_number or "—"),
                },
            )
        ]
        if any(chat != result.actor_id for chat in result.chat_ids):
            parts.append(Msg("pay.cash_owners_told"))
        if result.total >= CASH_VAT_LIMIT:
            parts.append(Msg("reg.cash_vat_warning", {"limit": Money(CASH_VAT_LIMIT)}))
        return notice(Join(tuple(parts)))
    if result.status in (ConfirmStatus.ALREADY_APPLIED, ConfirmStatus.DUPLICATE_PAYMENT):
        return notice(Msg("payment_notice.cash_already", {"subscription": subscription}))
    if result.status is ConfirmStatus.WRONG_METHOD:
        return notice(Msg("pay.cash_wrong_method", {"subscription": subscription}))
    return notice(Msg("pay.cash_not_found", {"subscription": subscription}))
