"""**Thanh toán** on an open invoice (the **Hóa đơn** and **Phương thức thanh toán** tabs).

The button carries the invoice id, a hint the use case re-checks (``PayInvoice``: the invoice
belongs to the open subscription, the presser may pay for its business). A button from an
older message is stale for the engine (the session's rev moved) and shows the current screen
again; a forged or foreign id is refused like any other (``PermissionDenied``).

The outcome comes as a new message below the tab, which is redrawn in place:

- ON: **Thanh toán qua VNPT Pay** (a URL button), a button copying the payment reference (the
  merchant order id the message shows), and the QR code of the link. Pressed again while that
  link is open, the same link comes again (one open attempt per order).
- OS: the cash note (pay the VNPT staff member on site; they confirm it, and the owners are
  told and get the invoice).
- Paid already, or the order expired: said in an alert (expired: also a message with
  **Dịch vụ** to register again; nothing was created).
"""

from __future__ import annotations

from conversations.kit import unexpected
from conversations.manage.context import Ctx, int_arg
from conversations.manage.draft import Action
from conversations.screens import Button, Day, Delivery, Join, Money, Msg, Param, Plain, Screen
from domain.constants import CASH_VAT_LIMIT
from domain.model import Invoice
from domain.usecases.manage.paying import InvoicePayment, PayInvoiceRequest, PayInvoiceStatus

__all__ = ["pay_button", "pay_invoice"]


def pay_button(invoice: Invoice, label: str = "manage.btn.inv_pay") -> Button:
    return Button(Msg(label), action=Action.INVOICE_PAY, arg=str(int(invoice.id)))


def _copy_reference(reference: str) -> Button:
    """Telegram's copy_text button: the reference goes to the clipboard, nothing to the bot."""
    return Button(Msg("btn.copy_reference", {"reference": Plain(reference)}), copy_text=reference)


def _ref(result: InvoicePayment) -> Param:
    number = result.invoice.number
    return Plain(number) if number else Plain(result.order_code)


async def pay_invoice(c: Ctx, arg: str) -> None:
    invoice_id = int_arg(arg)
    pay = c.backend.pay_invoice
    if pay is None:
        raise unexpected()
    result = await pay(PayInvoiceRequest(c.t.user_id, c.subscription_id, invoice_id))
    params: dict[str, Param] = {
        "invoice": _ref(result),
        "order": Plain(result.order_code),
        "total": Money(result.amount),
        "code": Plain(result.subscription.code),
    }
    status = result.status
    if status is PayInvoiceStatus.LINK:
        c.t.answer = Msg("manage.inv.pay.reused" if result.reused else "manage.inv.pay.sent")
        key = "manage.inv.pay.link_again" if result.reused else "manage.inv.pay.link"
        c.t.extra.append(
            Screen(
                Msg(key, {**params, "reference": Plain(result.merchant_order_id)}),
                (
                    (Button(Msg("btn.pay_vnptpay"), url=result.redirect_url),),
                    (_copy_reference(result.merchant_order_id),),
                ),
                delivery=Delivery.NEW,
                qr=result.redirect_url,
            )
        )
    elif status is PayInvoiceStatus.NO_LINK:
        c.t.answer, c.t.alert = Msg("manage.inv.pay.no_link"), True
    elif status is PayInvoiceStatus.CASH:
        c.t.answer = Msg("manage.inv.pay.cash_short")
        parts: list[Param] = [Msg("manage.inv.pay.cash", params)]
        if result.amount >= CASH_VAT_LIMIT:
            parts.append(Msg("reg.cash_vat_warning", {"limit": Money(CASH_VAT_LIMIT)}))
        c.t.extra.append(Screen(Join(tuple(parts)), delivery=Delivery.NEW))
    elif status is PayInvoiceStatus.PAID:
        c.t.answer, c.t.alert = Msg("manage.inv.pay.paid", params), True
    else:
        c.t.answer, c.t.alert = Msg("manage.inv.pay.expired_short", params), True
        when: Param = Day(result.expired_at, with_time=True) if result.expired_at else Plain("—")
        c.t.extra.append(
            Screen(
                Msg("manage.inv.pay.expired", {**params, "when": when}),
                ((Button(Msg("btn.services"), action="menu", arg="services"),),),
                delivery=Delivery.NEW,
            )
        )
