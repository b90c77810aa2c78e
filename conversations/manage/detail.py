"""One subscription: the header (code, service, plan, cycle, status, period) and tab buttons
that redraw the SAME message; what the buttons of the tabs change."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Final

from conversations.kit import unexpected
from conversations.manage import paying, records, tabs
from conversations.manage.context import Ctx, StepSpec, TabContent, int_arg, offset_arg
from conversations.manage.draft import ENTRY, Action, Field, FormValues, Step, Tab
from conversations.manage.forms import ask
from conversations.screens import Button, Delivery, Join, Msg, Param, Plain, Screen
from domain.catalog import ServiceKind
from domain.errors import PermissionDenied
from domain.model import MemoKind, MemoStatus, OrderProgress, Subscription
from domain.usecases.manage import (
    AdvanceProgressRequest,
    EmployeeLimitReached,
    Rights,
    SetEmployeeActiveRequest,
    SetMemoStatusRequest,
)

TAB_ROWS: Final[tuple[tuple[Tab, ...], ...]] = (
    (Tab.EMPLOYEES, Tab.DETAILS),
    (Tab.MEMOS, Tab.PAYMENT),
    (Tab.INVOICES, Tab.HISTORY),
)

#: what each tab draws under the header
TAB_DRAWS: Final[dict[Tab, Callable[[Ctx], Awaitable[TabContent]]]] = {
    Tab.OVERVIEW: tabs.overview,
    Tab.EMPLOYEES: tabs.employees,
    Tab.DETAILS: tabs.details,
    Tab.MEMOS: tabs.memos,
    Tab.PAYMENT: tabs.payment,
    Tab.INVOICES: records.invoices,
    Tab.HISTORY: records.history,
    Tab.PROGRESS: tabs.progress,
}


def open_subscription(c: Ctx, subscription_id: int, tab: Tab = Tab.OVERVIEW) -> None:
    """Show a subscription's ``tab``; an open invoice or a half-typed form is dropped (the
    list's business and filter are kept for the way back)."""
    c.d = replace(
        c.d,
        step=Step.DETAIL,
        subscription=int(subscription_id),
        tab=tab,
        tab_offset=0,
        invoice=None,
        send_pdf=False,
        prompt=None,
        values=None,
        memo_kind=None,
        failures=0,
    )


def progress_notice(subscription: Subscription, service_name: str) -> Screen:
    """The message to a business owner when an agent moved their order's progress; its button
    opens the subscription (an entry button: it works on any message)."""
    progress = subscription.progress or OrderProgress.ORDERED
    return Screen(
        Msg(
            "manage.progress.notice",
            {
                "code": Plain(subscription.code),
                "service": Plain(service_name),
                "progress": Msg(f"manage.progress.{progress.value}"),
            },
        ),
        ((Button(Msg("btn.manage_subscriptions"), action=ENTRY, arg=subscription.code),),),
        delivery=Delivery.NEW,
    )


def _tab_rows(sub: Subscription) -> list[tuple[Button, ...]]:
    rows = [
        tuple(Button(Msg(f"manage.tab.{tab.value}"), action=Action.TAB, arg=tab.value) for tab in r)
        for r in TAB_ROWS
    ]
    if sub.kind is ServiceKind.OS:
        rows.append((Button(Msg("manage.tab.prog"), action=Action.TAB, arg=Tab.PROGRESS.value),))
    return rows


async def draw_detail(c: Ctx) -> Screen:
    tab = c.d.tab or Tab.OVERVIEW
    content = await TAB_DRAWS[tab](c)
    sub = content.subscription
    title: Param = Msg(f"manage.tab_title.{tab.value}") if tab is not Tab.OVERVIEW else ""
    text = Join((c.header(sub), Plain("──────────"), title, content.text))
    rows = [*_tab_rows(sub), *content.rows]
    if tab is Tab.OVERVIEW:
        # Telegram's copy_text button: the code goes to the clipboard, nothing to the bot
        copy = Msg("manage.btn.copy_code", {"number": Plain(sub.code)})
        rows.append((Button(copy, copy_text=sub.code),))
    rows.append((Button(Msg("manage.btn.to_list"), action=Action.TO_LIST),))
    return Screen(text, tuple(rows), document=content.document)


# moving between tabs and pages


async def show_tab(c: Ctx, arg: str) -> None:
    if arg not in {tab.value for tab in Tab}:
        raise unexpected()
    c.d.tab, c.d.tab_offset, c.d.invoice = Tab(arg), 0, None


async def tab_page(c: Ctx, arg: str) -> None:
    c.d.tab_offset = offset_arg(arg)


async def to_list(c: Ctx, arg: str) -> None:
    c.d.subscription, c.d.tab, c.d.tab_offset, c.d.invoice = None, None, None, None
    c.d.step = Step.LIST


async def open_invoice(c: Ctx, arg: str) -> None:
    c.d.tab, c.d.invoice, c.d.send_pdf = Tab.INVOICES, int_arg(arg), True


async def close_invoice(c: Ctx, arg: str) -> None:
    c.d.invoice = None


# changes


async def _allowed(c: Ctx, may: Callable[[Rights], bool]) -> None:
    """Before asking for anything to type: may the presser do it at all? (The use case checks
    again when it is saved.)"""
    view = await c.backend.overview(c.tab_request())
    if not may(view.rights):
        raise PermissionDenied("not allowed on this subscription")


async def add_employee(c: Ctx, arg: str) -> None:
    view = await c.backend.employees(c.tab_request(1))
    if not view.rights.can_manage_employees:
        raise PermissionDenied("only owners and staff manage employees")
    if view.subscription.kind is not ServiceKind.ON:
        c.t.answer, c.t.alert = Msg("manage.emp.not_on"), True
        return
    if view.limit is not None and view.active >= view.limit:
        c.t.answer, c.t.alert = Msg("error.employee_limit", {"limit": view.limit}), True
        return
    c.d.values = FormValues()
    ask(c, Field.EMP_NAME)


async def _set_employee_active(c: Ctx, arg: str, *, active: bool) -> None:
    employee_id = int_arg(arg)
    try:
        result = await c.backend.set_employee_active(
            SetEmployeeActiveRequest(c.t.user_id, c.subscription_id, employee_id, active)
        )
    except EmployeeLimitReached as exc:
        c.t.answer, c.t.alert = Msg("error.employee_limit", {"limit": exc.limit}), True
        return
    key = "manage.emp.reactivated" if active else "manage.emp.deactivated"
    c.t.answer = Msg(key, {"name": Plain(result.employee.name)})


async def employee_on(c: Ctx, arg: str) -> None:
    await _set_employee_active(c, arg, active=True)


async def employee_off(c: Ctx, arg: str) -> None:
    await _set_employee_active(c, arg, active=False)


async def add_note(c: Ctx, arg: str) -> None:
    await _allowed(c, lambda rights: rights.can_note)
    ask(c, Field.NOTE)


async def _add_memo(c: Ctx, kind: MemoKind) -> None:
    await _allowed(c, lambda rights: rights.can_memo)
    c.d.memo_kind = kind
    ask(c, Field.MEMO_AMOUNT)


async def add_credit(c: Ctx, arg: str) -> None:
    await _add_memo(c, MemoKind.CREDIT)


async def add_debit(c: Ctx, arg: str) -> None:
    await _add_memo(c, MemoKind.DEBIT)


async def _set_memo_status(c: Ctx, arg: str, status: MemoStatus) -> None:
    result = await c.backend.set_memo_status(
        SetMemoStatusRequest(c.t.user_id, c.subscription_id, int_arg(arg), status)
    )
    c.t.answer = Msg(f"manage.memo.{status.value}" if result.changed else "manage.memo.unchanged")


async def apply_memo(c: Ctx, arg: str) -> None:
    await _set_memo_status(c, arg, MemoStatus.APPLIED)


async def cancel_memo(c: Ctx, arg: str) -> None:
    await _set_memo_status(c, arg, MemoStatus.CANCELLED)


async def advance_progress(c: Ctx, arg: str) -> None:
    if arg not in {p.value for p in OrderProgress}:
        raise unexpected()
    result = await c.backend.advance_progress(
        AdvanceProgressRequest(c.t.user_id, c.subscription_id, OrderProgress(arg))
    )
    if not result.changed:
        c.t.answer = Msg("manage.prog.unchanged")
        return
    progress = result.subscription.progress or OrderProgress.ORDERED
    c.t.answer = Msg("manage.prog.changed", {"progress": Msg(f"manage.progress.{progress.value}")})
    # the owners are told through the outbox, written by the use case


STEPS: dict[Step, StepSpec] = {
    Step.DETAIL: StepSpec(
        draw_detail,
        {
            Action.TAB: show_tab,
            Action.TAB_PAGE: tab_page,
            Action.TO_LIST: to_list,
            Action.EMPLOYEE_ADD: add_employee,
            Action.EMPLOYEE_ON: employee_on,
            Action.EMPLOYEE_OFF: employee_off,
            Action.NOTE_ADD: add_note,
            Action.CREDIT_ADD: add_credit,
            Action.DEBIT_ADD: add_debit,
            Action.MEMO_APPLY: apply_memo,
            Action.MEMO_CANCEL: cancel_memo,
            Action.INVOICE_OPEN: open_invoice,
            Action.INVOICE_BACK: close_invoice,
            Action.INVOICE_PAY: paying.pay_invoice,
            Action.PROGRESS: advance_progress,
        },
    ),
}
