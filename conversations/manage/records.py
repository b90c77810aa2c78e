"""The tabs that list records: **Hóa đơn** (an invoice and its PDF) and **Lịch sử** (what
happened, in words)."""

from __future__ import annotations

from typing import Final

from conversations.kit import breakdown
from conversations.manage.change_rows import CHANGE_EVENTS, change_event_text
from conversations.manage.context import (
    Ctx,
    TabContent,
    iso_time,
    page_line,
    paging,
    text_of,
    user_name,
)
from conversations.manage.draft import HISTORY_PAGE, INVOICE_PAGE, Action
from conversations.manage.lifecycle import lifecycle_params
from conversations.manage.paying import pay_button
from conversations.payment import REPAY_ACTION
from conversations.screens import Button, Day, Join, Money, Msg, Param, Plain, money_in
from domain.catalog import Service
from domain.model import (
    HistoryEvent,
    Invoice,
    InvoiceStatus,
    MemoKind,
    MemoStatus,
    OrderProgress,
    Page,
    SubscriptionStatus,
    amount_of,
)
from domain.pricing import Quote
from domain.usecases.manage import InvoiceRequest
from domain.usecases.manage.paying import may_pay

#: history actions with their own text (``manage.event.<action>``); others are shown by name
KNOWN_EVENTS: Final = frozenset(
    {
        "order.created",
        "subscription.created",
        "payment.succeeded",
        "payment.failed",
        "payment.cancelled",
        "payment.retried",
        "invoice.pay_started",
        "payment.duplicate",
        "payment.amount_mismatch",
        "order.expired",
        "subscription.activated",
        "invoice.paid",
        "employee.added",
        "employee.deactivated",
        "employee.reactivated",
        "memo.added",
        "memo.status_changed",
        "progress.changed",
        # the subscription's life after registration (domain.usecases.renewal)
        "subscription.reminded",
        "subscription.expired",
        "subscription.ended_cancelled",
        "subscription.non_renewing",
        "subscription.resumed",
        "subscription.cancelled",
        "subscription.renewed",
        "renewal.ordered",
        "renewal.not_applied",
        "payment.refund_due",
        "payment.refunded",
    }
)


async def invoices(c: Ctx) -> TabContent:
    if c.d.invoice:
        return await _invoice_detail(c)
    view = await c.backend.invoices(c.tab_request())
    offset = c.d.tab_offset or 0
    shown = view.invoices[offset : offset + INVOICE_PAGE]
    page: Page[Invoice] = Page.of(shown, len(view.invoices), offset, INVOICE_PAGE)
    parts: list[Param] = []
    rows: list[tuple[Button, ...]] = []
    can_pay = c.backend.pay_invoice is not None and may_pay(view.rights)
    if not view.invoices:
        parts.append(Msg("manage.inv.empty"))
    for n, invoice in enumerate(shown, start=offset + 1):
        parts.append(
            Msg(
                "manage.inv.line",
                {
                    "n": n,
                    "number": Plain(invoice.number)
                    if invoice.number
                    else Msg("manage.inv.no_number"),
                    "date": Day(invoice.issued_at or invoice.created_at),
                    "total": Money(invoice.total),
                    "status": Msg(f"manage.inv_status.{invoice.status.value}"),
                },
            )
        )
        label = (
            Msg("manage.btn.inv_open", {"number": Plain(invoice.number)})
            if invoice.number
            else Msg("manage.btn.inv_open_n", {"n": n})
        )
        row = [Button(label, action=Action.INVOICE_OPEN, arg=str(int(invoice.id)))]
        if can_pay and invoice.status is InvoiceStatus.WAITING:
            row.append(pay_button(invoice))
        rows.append(tuple(row))
    parts.append(page_line(page))
    pager = paging(page, Action.TAB_PAGE)
    if pager:
        rows.append(pager)
    return TabContent(view.subscription, Join(tuple(parts)), tuple(rows))


async def _invoice_detail(c: Ctx) -> TabContent:
    """One invoice; its PDF is sent with the first draw after **Xem** (not on a redraw)."""
    assert c.d.invoice is not None
    view = await c.backend.invoice(InvoiceRequest(c.t.user_id, c.subscription_id, c.d.invoice))
    invoice = view.invoice
    quote = Quote.from_dict(invoice.lines)
    parts: list[Param] = [
        Msg(
            "manage.inv.head",
            {
                "number": Plain(invoice.number) if invoice.number else Msg("manage.inv.no_number"),
                "status": Msg(f"manage.inv_status.{invoice.status.value}"),
                "date": Day(invoice.issued_at or invoice.created_at),
                "buyer": Plain(text_of(view.order.invoice_info.get("company_name")) or "—"),
                "tax_code": Plain(text_of(view.order.invoice_info.get("tax_code")) or "—"),
            },
        ),
        breakdown(quote),
    ]
    rows = [(Button(Msg("manage.btn.inv_back"), action=Action.INVOICE_BACK),)]
    if (
        invoice.status is InvoiceStatus.WAITING
        and c.backend.pay_invoice is not None
        and may_pay(view.rights)
    ):
        rows.insert(0, (pay_button(invoice),))
        parts.append(Msg("manage.inv.pay.hint"))
    if c.d.send_pdf:
        c.d.send_pdf = False
        name, content = await c.backend.invoice_pdf(view, c.t.lang, c.t.chat_id)
        parts.append(Msg("manage.inv.pdf_sent"))
        return TabContent(view.subscription, Join(tuple(parts)), tuple(rows), (name, content))
    parts.append(Msg("manage.inv.pdf_hint"))
    return TabContent(view.subscription, Join(tuple(parts)), tuple(rows))


async def history(c: Ctx) -> TabContent:
    view = await c.backend.history(c.tab_request(HISTORY_PAGE))
    parts: list[Param] = []
    # one catalog lookup for the page: the events name plans by their codes
    service = c.t.catalog.service(view.subscription.service_code)
    if not view.page.items:
        parts.append(Msg("manage.hist.empty"))
    for n, event in enumerate(view.page.items, start=view.page.offset + 1):
        parts.append(
            Msg(
                "manage.hist.line",
                {
                    "n": n,
                    "date": Day(event.created_at, with_time=True),
                    "who": user_name(view.actors, event.actor_id),
                    "what": event_text(event, service),
                },
            )
        )
    parts.append(page_line(view.page))
    rows: list[tuple[Button, ...]] = []
    order = view.open_order
    if order is not None and may_pay(view.rights):  # a renewal or change not paid yet
        parts.append(Msg("manage.hist.open_order", {"order": Plain(order.code)}))
        rows.append((Button(Msg("btn.pay_again"), action=REPAY_ACTION, arg=order.code),))
    pager = paging(view.page, Action.TAB_PAGE)
    if pager:
        rows.append(pager)
    return TabContent(view.subscription, Join(tuple(parts)), tuple(rows))


def event_text(event: HistoryEvent, service: Service | None = None) -> Msg:
    """A history event in words (plans by their names in ``service``, the subscription's); an
    action this flow does not know is shown by its name."""
    action, d = event.action, event.details
    if action in CHANGE_EVENTS:  # Đổi gói and Dùng thử
        return change_event_text(action, d, service)
    if action not in KNOWN_EVENTS:
        return Msg("manage.event.other", {"action": Plain(action)})
    params: dict[str, Param] = {}
    if action in ("order.created", "order.expired", "payment.failed", "payment.cancelled"):
        params["order"] = Plain(text_of(d.get("order")))
    if action in ("order.created", "invoice.paid"):
        params["total"] = Money(amount_of(d.get("total")))
    if action in ("payment.succeeded", "payment.duplicate"):
        params["amount"] = Money(amount_of(d.get("amount")))
    if action == "payment.succeeded":
        method = text_of(d.get("method")) or "VNPTPAY"
        params["method"] = Msg(f"manage.method.{'BY_CASH' if method == 'BY_CASH' else 'VNPTPAY'}")
        params["transaction"] = Plain(text_of(d.get("transaction_id")) or "—")
    if action in ("payment.retried", "invoice.pay_started"):
        params["reference"] = Plain(text_of(d.get("merchant_order_id")))
    if action == "payment.refund_due":
        params["amount"] = Money(amount_of(d.get("amount")))
        params["order"] = Plain(text_of(d.get("order")))
        status = text_of(d.get("status"))
        known = status in {s.value for s in SubscriptionStatus}
        params["status"] = Msg(f"manage.status.{status}") if known else Plain(status or "—")
        what = "change" if text_of(d.get("purpose")) == "CHANGE" else "renewal"
        params["what"] = Msg(f"renew_notice.what_{what}")
    if action == "payment.amount_mismatch":
        params["amount"] = Money(amount_of(d.get("amount")))
        params["order"] = Plain(text_of(d.get("order")))
        currency = text_of(d.get("currency")) or "VND"
        params["reported"] = money_in(amount_of(d.get("reported")), currency)
    if action == "payment.refunded":
        params["amount"] = Money(amount_of(d.get("amount")))
        params["order"] = Plain(text_of(d.get("order")))
    if action == "subscription.created":
        params["code"] = Plain(text_of(d.get("subscription")))
    if action == "subscription.activated":
        start, end = iso_time(d.get("period_start")), iso_time(d.get("period_end"))
        params["start"] = Day(start) if start else Plain("—")
        params["end"] = Day(end) if end else Plain("—")
    if action == "invoice.paid":
        params["invoice"] = Plain(text_of(d.get("invoice")))
    if action.startswith(("subscription.", "renewal.")) and action not in (
        "subscription.created",
        "subscription.activated",
    ):
        params.update(lifecycle_params(d))
    if action.startswith("employee."):
        params["name"] = Plain(text_of(d.get("name")))
    if action.startswith("memo."):
        kind = text_of(d.get("kind")) or MemoKind.NOTE.value
        if kind not in {k.value for k in MemoKind}:
            kind = MemoKind.NOTE.value
        params["kind"] = Msg(f"manage.memo_kind.{kind}")
        params["amount"] = Money(amount_of(d.get("amount"))) if kind != "NOTE" else Plain("")
    if action == "memo.status_changed":
        status = text_of(d.get("status"))
        if status not in {s.value for s in MemoStatus}:
            status = MemoStatus.OPEN.value
        params["status"] = Msg(f"manage.memo_status.{status}")
    if action == "progress.changed":
        for name in ("from", "to"):
            value = text_of(d.get(name))
            params[name] = (
                Msg(f"manage.progress.{value}")
                if value in {p.value for p in OrderProgress}
                else Plain("—")
            )
    return Msg(f"manage.event.{action}", params)
