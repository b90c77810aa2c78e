"""The tabs of one subscription that show it: overview, **Danh sách nhân viên**, **Chi tiết**,
**Ghi nhớ**, **Phương thức thanh toán** and **Tiến trình** (OS orders). Each draws its part of
the message under the header, and its own buttons."""

from __future__ import annotations

from collections.abc import Mapping

from conversations.kit import breakdown
from conversations.manage.change_rows import change_rows
from conversations.manage.context import (
    Ctx,
    TabContent,
    page_line,
    paging,
    phone_text,
    text_of,
    user_name,
)
from conversations.manage.draft import CASH_ENTRY, EMPLOYEE_PAGE, MEMO_PAGE, Action
from conversations.manage.lifecycle import lifecycle_rows
from conversations.manage.paying import pay_button
from conversations.screens import Button, Day, Join, Money, Msg, Param, Plain
from domain.catalog import ServiceKind
from domain.changes import ScheduledChange
from domain.model import (
    Employee,
    InvoiceStatus,
    Memo,
    MemoKind,
    MemoStatus,
    OrderProgress,
    Subscription,
    User,
    UserId,
)
from domain.pricing import LineKind, Quote
from domain.usecases.manage import PROGRESS_TRACK, next_progress
from domain.usecases.manage.paying import may_pay


async def overview(c: Ctx) -> TabContent:
    view = await c.backend.overview(c.tab_request())
    parts: list[Param] = [Msg("manage.detail.choose_tab")]
    if view.subscription.kind is ServiceKind.OS:
        parts.append(Msg("manage.detail.choose_tab_os"))
    if view.rights.read_only:
        parts.append(Msg("manage.read_only"))
    rows = change_rows(view.subscription, view.rights)  # Đổi gói / Thanh toán (trial)
    return TabContent(view.subscription, Join(tuple(parts)), rows)


async def employees(c: Ctx) -> TabContent:
    view = await c.backend.employees(c.tab_request(EMPLOYEE_PAGE))
    sub = view.subscription
    if sub.kind is not ServiceKind.ON:
        return TabContent(sub, Msg("manage.emp.not_on"))
    parts: list[Param] = [
        Msg("manage.emp.summary", {"active": view.active, "total": view.page.total})
    ]
    if view.limit is not None:
        parts.append(Msg("manage.emp.limit", {"limit": view.limit}))
    if not view.page.items:
        parts.append(Msg("manage.emp.empty"))
    rows: list[tuple[Button, ...]] = []
    for n, emp in enumerate(view.page.items, start=view.page.offset + 1):
        parts.append(_employee_line(n, emp))
        if view.rights.can_manage_employees:
            key = "manage.btn.emp_off" if emp.active else "manage.btn.emp_on"
            rows.append(
                (
                    Button(
                        Msg(key, {"name": Plain(emp.name[:40])}),
                        action=Action.EMPLOYEE_OFF if emp.active else Action.EMPLOYEE_ON,
                        arg=str(int(emp.id)),
                    ),
                )
            )
    parts.append(page_line(view.page))
    pager = paging(view.page, Action.TAB_PAGE)
    if pager:
        rows.append(pager)
    if view.rights.can_manage_employees:
        rows.insert(0, (Button(Msg("manage.btn.emp_add"), action=Action.EMPLOYEE_ADD),))
    else:
        parts.append(Msg("manage.read_only"))
    return TabContent(sub, Join(tuple(parts)), tuple(rows))


def _employee_line(n: int, emp: Employee) -> Msg:
    return Msg(
        "manage.emp.line",
        {
            "n": n,
            "mark": "✅" if emp.active else "⛔",
            "name": Plain(emp.name),
            "email": Plain(emp.email or "—"),
            "phone": Plain(phone_text(emp.phone)),
            "state": Msg("manage.emp.active" if emp.active else "manage.emp.inactive"),
        },
    )


def upcoming(c: Ctx, sub: Subscription, scheduled: ScheduledChange | None) -> Param:
    """ "From <date>: <plan>, <cycle>": the configuration waiting for the period end (a
    scheduled change), or the renewed period paid ahead; nothing when neither."""
    ahead = c.renewed_ahead(sub)
    if scheduled is None and not ahead:
        return ""
    if scheduled is not None:
        at = scheduled.effective_at
        plan, cycle = c.plan_names(sub.service_code, scheduled.plan_code, scheduled.cycle_code)
        quantity = scheduled.quantity
    else:
        at = sub.current_period_start or c.t.now
        plan, cycle = c.plan_names(sub.service_code, sub.plan_code, sub.cycle_code)
        quantity = sub.quantity
    period: Param = ""
    if ahead and sub.current_period_start is not None and sub.current_period_end is not None:
        period = Msg(
            "manage.det.next_period",
            {"start": Day(sub.current_period_start), "end": Day(sub.current_period_end)},
        )
    return Msg(
        "manage.det.next",
        {
            "date": Day(at),
            "plan": Plain(plan),
            "cycle": cycle,
            "quantity": quantity,
            "period": period,
        },
    )


async def details(c: Ctx) -> TabContent:
    view = await c.backend.details(c.tab_request())
    sub, order = view.subscription, view.order
    second = (c.d.tab_offset or 0) > 0
    if second:
        inv, cus, ct = order.invoice_info, order.customer_info, order.contact
        content: Param = Join(
            (
                Msg(
                    "manage.det.invoice",
                    {
                        "name": Plain(text_of(inv.get("company_name")) or "—"),
                        "tax_code": Plain(text_of(inv.get("tax_code")) or "—"),
                        "address": Plain(text_of(inv.get("address")) or "—"),
                        "email": Plain(text_of(inv.get("email")) or "—"),
                    },
                ),
                Msg(
                    "manage.det.customer",
                    {
                        "name": Plain(text_of(cus.get("name")) or "—"),
                        "tax_code": Plain(text_of(cus.get("tax_code")) or "—"),
                        "address": Plain(text_of(cus.get("address")) or "—"),
                        "phone": Plain(phone_text(text_of(cus.get("phone")))),
                        "email": Plain(text_of(cus.get("email")) or "—"),
                    },
                ),
                Msg(
                    "manage.det.contact",
                    {
                        "name": Plain(text_of(ct.get("name")) or "—"),
                        "phone": Plain(phone_text(text_of(ct.get("phone")))),
                        "email": Plain(text_of(ct.get("email")) or "—"),
                    },
                ),
            )
        )
        rows = [(Button(Msg("manage.btn.prev"), action=Action.TAB_PAGE, arg="0"),)]
        return TabContent(sub, content, tuple(rows))
    quote = Quote.from_dict(order.quote)
    promo_names = ", ".join(_promotion_name(c, code) for code in order.promotion_codes)
    addons = [line.name for line in quote.lines if line.kind is LineKind.ADDON]
    registrant = view.registrant
    # renewed ahead: the current period ends where the paid one starts
    ends = sub.current_period_start if c.renewed_ahead(sub) else sub.current_period_end
    who: Param = user_name(
        {registrant.user_id: registrant.user} if registrant is not None else {},
        order.registered_by,
    )
    content = Join(
        (
            upcoming(c, sub, view.scheduled),
            Msg(
                "manage.det.plan",
                {
                    "quantity": sub.quantity,
                    "addons": Plain(", ".join(addons) or "—"),
                    "promotions": Plain(promo_names or "—"),
                    "order": Plain(order.code),
                    "method": Msg(f"kind.payment.{sub.kind.value}"),
                },
            ),
            breakdown(quote),
            Msg(
                "manage.det.dates",
                {
                    "registered": Day(order.created_at, with_time=True),
                    "started": Day(sub.started_at) if sub.started_at else Plain("—"),
                    "ends": Day(ends) if ends else Plain("—"),
                },
            ),
            Msg(
                "manage.det.registered_by",
                {
                    "who": who,
                    "role": Msg(
                        "manage.det.by_staff"
                        if view.registered_by_staff
                        else "manage.det.by_business"
                    ),
                },
            ),
            Msg("manage.det.more"),
        )
    )
    return TabContent(
        sub,
        content,
        (
            *lifecycle_rows(sub, view.rights),
            (Button(Msg("manage.btn.next"), action=Action.TAB_PAGE, arg="1"),),
        ),
    )


def _promotion_name(c: Ctx, code: str) -> str:
    promotion = c.t.catalog.promotion(code)
    return promotion.name if promotion is not None else code


async def memos(c: Ctx) -> TabContent:
    view = await c.backend.memos(c.tab_request(MEMO_PAGE))
    rights = view.rights
    parts: list[Param] = []
    rows: list[tuple[Button, ...]] = []
    if not view.page.items:
        parts.append(Msg("manage.memo.empty"))
    for n, memo in enumerate(view.page.items, start=view.page.offset + 1):
        parts.append(_memo_line(n, memo, view.authors))
        if rights.can_memo and memo.status is MemoStatus.OPEN:
            rows.append(
                (
                    Button(
                        Msg("manage.btn.memo_apply", {"n": n}),
                        action=Action.MEMO_APPLY,
                        arg=str(int(memo.id)),
                    ),
                    Button(
                        Msg("manage.btn.memo_cancel", {"n": n}),
                        action=Action.MEMO_CANCEL,
                        arg=str(int(memo.id)),
                    ),
                )
            )
    parts.append(page_line(view.page))
    pager = paging(view.page, Action.TAB_PAGE)
    if pager:
        rows.append(pager)
    adds: list[Button] = []
    if rights.can_note:
        adds.append(Button(Msg("manage.btn.note_add"), action=Action.NOTE_ADD))
    if rights.can_memo:
        adds.append(Button(Msg("manage.btn.credit_add"), action=Action.CREDIT_ADD))
        adds.append(Button(Msg("manage.btn.debit_add"), action=Action.DEBIT_ADD))
    if adds:
        rows.insert(0, tuple(adds[:1]))
        if len(adds) > 1:
            rows.insert(1, tuple(adds[1:]))
    if rights.read_only:
        parts.append(Msg("manage.read_only"))
    return TabContent(view.subscription, Join(tuple(parts)), tuple(rows))


def _memo_line(n: int, memo: Memo, authors: Mapping[UserId, User]) -> Msg:
    common: dict[str, Param] = {
        "n": n,
        "author": user_name(authors, memo.author_id),
        "date": Day(memo.created_at, with_time=True),
        "text": Plain(memo.text),
    }
    if memo.kind is MemoKind.NOTE:
        return Msg("manage.memo.note", common)
    return Msg(
        f"manage.memo.{memo.kind.value}",
        {
            **common,
            "amount": Money(memo.amount or 0),
            "status": Msg(f"manage.memo_status.{(memo.status or MemoStatus.OPEN).value}"),
        },
    )


async def payment(c: Ctx) -> TabContent:
    view = await c.backend.payment(c.tab_request())
    sub = view.subscription
    parts: list[Param] = [Msg(f"manage.pay.method.{sub.kind.value}")]
    rows: list[tuple[Button, ...]] = []
    if sub.kind is ServiceKind.ON:
        if view.online is not None:
            attempt = view.online
            parts.append(
                Msg(
                    "manage.pay.online",
                    {
                        "transaction": Plain(attempt.transaction_id or "—"),
                        "paid_at": Day(attempt.completed_at, with_time=True)
                        if attempt.completed_at
                        else Plain("—"),
                        "amount": Money(attempt.amount),
                        "reference": Plain(attempt.merchant_order_id),
                    },
                )
            )
        else:
            parts.append(Msg("manage.pay.online_none"))
    for invoice in view.invoices:
        if invoice.status is InvoiceStatus.PAID and sub.kind is ServiceKind.OS:
            parts.append(
                Msg(
                    "manage.pay.cash_paid",
                    {
                        "amount": Money(invoice.total),
                        "paid_at": Day(invoice.paid_at, with_time=True)
                        if invoice.paid_at
                        else Plain("—"),
                        "who": user_name(view.confirmers, invoice.confirmed_by),
                    },
                )
            )
        elif invoice.status is InvoiceStatus.WAITING:
            parts.append(Msg("manage.pay.pending", {"amount": Money(invoice.total)}))
    if view.pending_total:
        key = f"manage.pay.how.{sub.kind.value}"
        parts.append(Msg(key, {"amount": Money(view.pending_total), "code": Plain(sub.code)}))
        if view.rights.is_staff and sub.kind is ServiceKind.OS:
            rows.append((Button(Msg("manage.btn.confirm_cash"), action=CASH_ENTRY, arg=sub.code),))
        if c.backend.pay_invoice is not None and may_pay(view.rights):
            rows.extend((pay_button(i),) for i in view.pending[:3])
    elif not view.invoices:
        parts.append(Msg("manage.pay.no_invoice"))
    else:
        parts.append(Msg("manage.pay.nothing_due"))
    return TabContent(sub, Join(tuple(parts)), tuple(rows))


async def progress(c: Ctx) -> TabContent:
    view = await c.backend.overview(c.tab_request())
    sub = view.subscription
    if sub.kind is not ServiceKind.OS:
        return TabContent(sub, Msg("manage.prog.not_os"))
    current = sub.progress or OrderProgress.ORDERED
    parts: list[Param] = []
    cancelled = current is OrderProgress.CANCELLED
    reached = PROGRESS_TRACK.index(current) if current in PROGRESS_TRACK else -1
    for i, step in enumerate(PROGRESS_TRACK):
        mark = "✅" if i < reached or (i == reached and i == len(PROGRESS_TRACK) - 1) else ""
        if i == reached and not mark:
            mark = "▶️"
        parts.append(
            Msg(
                "manage.prog.step",
                {"mark": mark or "⬜", "step": Msg(f"manage.progress.{step.value}")},
            )
        )
    if cancelled:
        parts.append(Msg("manage.prog.cancelled"))
    rows: list[tuple[Button, ...]] = []
    following = next_progress(current)
    if view.rights.can_progress and not cancelled and current is not OrderProgress.COMPLETED:
        if following is not None:
            rows.append(
                (
                    Button(
                        Msg(
                            "manage.btn.prog_next",
                            {"step": Msg(f"manage.progress.{following.value}")},
                        ),
                        action=Action.PROGRESS,
                        arg=following.value,
                    ),
                )
            )
        rows.append(
            (
                Button(
                    Msg("manage.btn.prog_cancel"),
                    action=Action.PROGRESS,
                    arg=OrderProgress.CANCELLED.value,
                ),
            )
        )
    elif not view.rights.can_progress:
        parts.append(Msg("manage.prog.staff_only"))
    return TabContent(sub, Join(tuple(parts)), tuple(rows))
