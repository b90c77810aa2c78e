"""**Quản lý thuê bao**: the subscription list and one subscription's tabs, as a state machine.

list (paged newest first, status filter; staff type a tax code to reach any business) →
detail (header: code, service, plan, cycle, status, period) with tab buttons that redraw the
SAME message: **Danh sách nhân viên**, **Chi tiết**, **Ghi nhớ**, **Phương thức thanh toán**,
**Hóa đơn**, **Lịch sử**, and **Tiến trình** for OS orders. Adding an employee, a note or a
memo asks one field per text prompt, each validated on arrival.

The draft holds ids, offsets and the step only. Buttons carry ids (subscription, employee,
memo, invoice) as hints: the use cases behind :class:`ManageBackend` re-check every one against
the presser's rights, so a forged or stale id is refused, never acted on. What a screen offers
follows the rights the backend returned with the data (a member sees the same tabs without
the buttons that change anything).

Every list and tab is paged so one message stays well under Telegram's 4096 characters
(notes are at most 500 characters, five to a page).
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from conversations.screens import (
    Button,
    ButtonStyle,
    Cycle,
    Day,
    Delivery,
    Join,
    Money,
    Msg,
    Param,
    Plain,
    Screen,
)
from conversations.turn import Turn
from domain.catalog import ServiceKind
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import (
    Employee,
    HistoryEvent,
    Invoice,
    InvoiceStatus,
    Memo,
    MemoKind,
    MemoStatus,
    OrderProgress,
    Page,
    Subscription,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.pricing import Quote
from domain.usecases.manage import (
    PROGRESS_TRACK,
    AddEmployeeRequest,
    AddMemoRequest,
    AddNoteRequest,
    AdvanceProgressRequest,
    DetailsView,
    EmployeeChange,
    EmployeeLimitReached,
    EmployeesView,
    HistoryView,
    InvoiceRequest,
    InvoicesView,
    InvoiceView,
    ListRequest,
    MemoChange,
    MemosView,
    PaymentView,
    ProgressChanged,
    Rights,
    SetEmployeeActiveRequest,
    SetMemoStatusRequest,
    SubscriptionList,
    SubscriptionView,
    TabRequest,
    next_progress,
    parse_memo_amount,
    validate_memo_text,
)
from domain.validation import (
    display_phone,
    normalize_tax_code,
    validate_contact_name,
    validate_email,
    validate_phone,
)

__all__ = [
    "CASH_ENTRY",
    "FLOW",
    "ManageBackend",
    "ManageFlow",
    "Step",
    "Tab",
    "progress_notice",
]

FLOW = "manage"
#: the entry action of the payments flow's cash confirmation (arg: the subscription code)
CASH_ENTRY = "cash"
#: the entry action that opens this flow (arg: "", a tax code or a subscription code)
ENTRY = "subs"

LIST_PAGE = 8
EMPLOYEE_PAGE = 8
MEMO_PAGE = 5
INVOICE_PAGE = 6
HISTORY_PAGE = 10
MAX_FAILURES = 3

BADGES: Mapping[SubscriptionStatus, str] = {
    SubscriptionStatus.ACTIVE: "🟢",
    SubscriptionStatus.FUTURE: "🟡",
    SubscriptionStatus.IN_TRIAL: "🔵",
    SubscriptionStatus.NON_RENEWING: "🟠",
    SubscriptionStatus.CANCELLED: "🔴",
}

#: history actions with their own text (``manage.event.<action>``); others are shown by name
KNOWN_EVENTS = frozenset(
    {
        "order.created",
        "subscription.created",
        "payment.succeeded",
        "payment.failed",
        "payment.cancelled",
        "payment.retried",
        "payment.duplicate",
        "order.expired",
        "subscription.activated",
        "invoice.paid",
        "employee.added",
        "employee.deactivated",
        "employee.reactivated",
        "memo.added",
        "memo.status_changed",
        "progress.changed",
    }
)

#: validation reasons whose texts live in this flow's locale file (``manage.invalid.*``);
#: the others are the shared ``invalid.*`` texts (names, e-mails, phones, tax codes)
OWN_REASONS = frozenset(
    {
        "money.format",
        "amount.range",
        "text.required",
        "text.too_long",
        "text.control_chars",
        "email.taken",
    }
)


class Step(enum.StrEnum):
    LIST = "mlist"
    FILTER = "mfilter"
    DETAIL = "mdet"
    FORM = "mform"  # a text prompt; draft["fk"] names the field


class Tab(enum.StrEnum):
    OVERVIEW = "ov"
    EMPLOYEES = "emp"
    DETAILS = "det"
    MEMOS = "memo"
    PAYMENT = "pay"
    INVOICES = "inv"
    HISTORY = "hist"
    PROGRESS = "prog"


TAB_ROWS: tuple[tuple[Tab, ...], ...] = (
    (Tab.EMPLOYEES, Tab.DETAILS),
    (Tab.MEMOS, Tab.PAYMENT),
    (Tab.INVOICES, Tab.HISTORY),
)


class Field(enum.StrEnum):
    EMP_NAME = "emp.name"
    EMP_EMAIL = "emp.email"
    EMP_PHONE = "emp.phone"
    NOTE = "note"
    MEMO_AMOUNT = "memo.amount"
    MEMO_REASON = "memo.reason"


class ManageBackend(Protocol):
    """The questions and changes of this flow; each is one use case (see
    ``domain.usecases.manage``), which raises ``PermissionDenied`` for anything the actor may
    not see or do."""

    async def subscriptions(self, req: ListRequest) -> SubscriptionList: ...

    async def find(self, actor_id: int, code: str) -> SubscriptionView: ...

    async def overview(self, req: TabRequest) -> SubscriptionView: ...

    async def employees(self, req: TabRequest) -> EmployeesView: ...

    async def details(self, req: TabRequest) -> DetailsView: ...

    async def memos(self, req: TabRequest) -> MemosView: ...

    async def payment(self, req: TabRequest) -> PaymentView: ...

    async def invoices(self, req: TabRequest) -> InvoicesView: ...

    async def invoice(self, req: InvoiceRequest) -> InvoiceView: ...

    async def invoice_pdf(self, view: InvoiceView, lang: str) -> tuple[str, bytes]:
        """The invoice as a PDF: (file name, content)."""
        ...

    async def history(self, req: TabRequest) -> HistoryView: ...

    async def add_employee(self, req: AddEmployeeRequest) -> EmployeeChange: ...

    async def set_employee_active(self, req: SetEmployeeActiveRequest) -> EmployeeChange: ...

    async def add_note(self, req: AddNoteRequest) -> MemoChange: ...

    async def add_memo(self, req: AddMemoRequest) -> MemoChange: ...

    async def set_memo_status(self, req: SetMemoStatusRequest) -> MemoChange: ...

    async def advance_progress(self, req: AdvanceProgressRequest) -> ProgressChanged: ...


# --- helpers ------------------------------------------------------------------------------


def _unexpected() -> InvalidInput:
    return InvalidInput("unexpected button", field="button", reason="button.unexpected")


def _int_arg(arg: str) -> int:
    if not arg.isdigit() or len(arg) > 18:
        raise _unexpected()
    return int(arg)


def _offset(arg: str) -> int:
    return _int_arg(arg) if arg else 0


def _status_line(status: SubscriptionStatus) -> Msg:
    return Msg(
        "manage.status_badge",
        {"badge": BADGES.get(status, "⚪"), "status": Msg(f"manage.status.{status.value}")},
    )


def _user_name(users: Mapping[UserId, User], user_id: UserId | None) -> Param:
    if user_id is None:
        return Msg("manage.actor.system")
    user = users.get(user_id)
    name = ""
    if user is not None:
        name = user.first_name or (f"@{user.username}" if user.username else "")
    name = name or f"#{int(user_id)}"
    if user is not None and (user.is_admin or user.is_agent):
        return Msg("manage.actor.staff", {"name": Plain(name)})
    return Plain(name)


def _paging(page: Page[Any], action: str) -> tuple[Button, ...]:
    row = []
    if page.has_previous:
        row.append(
            Button(Msg("manage.btn.prev"), action=action, arg=str(max(0, page.offset - page.limit)))
        )
    if page.has_next:
        row.append(Button(Msg("manage.btn.next"), action=action, arg=str(page.offset + page.limit)))
    return tuple(row)


def _page_line(page: Page[Any]) -> Param:
    if page.total <= page.limit and page.offset == 0:
        return ""
    pages = (page.total + page.limit - 1) // page.limit
    return Msg("manage.page", {"page": page.offset // page.limit + 1, "pages": max(pages, 1)})


def _phone(phone: str | None) -> str:
    if not phone:
        return "—"
    return display_phone(phone) if phone.startswith("+84") else phone


def _iso(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _amount(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


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


@dataclass(frozen=True, slots=True)
class _TabContent:
    """What a tab draws under the header: its text, its own button rows, and a file to send."""

    subscription: Subscription
    text: Param
    rows: tuple[tuple[Button, ...], ...] = ()
    document: tuple[str, bytes] | None = None


# --- the flow -----------------------------------------------------------------------------


class ManageFlow:
    """See the module doc. Draft keys: ``s`` step, ``e`` the business picked by tax code,
    ``f`` status filter, ``o`` list offset, ``sid`` the open subscription, ``tab``, ``to`` the
    tab's offset, ``inv`` the open invoice, ``pdf`` (send its PDF on the next draw), ``fk``
    the field asked, ``fv`` the values typed so far, ``mk`` the memo kind, ``fx`` failures."""

    def __init__(self, backend: ManageBackend) -> None:
        self._backend = backend

    # entry points

    async def start(self, t: Turn, arg: str) -> None:
        """``arg``: nothing (the list), a subscription code (open it) or a tax code (that
        business's list); anything else is ignored (an entry button's arg can be forged)."""
        t.draft.clear()
        t.draft["s"] = Step.LIST.value
        t.delivery = Delivery.NEW
        arg = arg.strip()
        if not arg:
            return
        if arg.upper().startswith("TB-"):
            view = await self._backend.find(t.user_id, arg)
            self._open(t, view.subscription.id)
            return
        if len(normalize_tax_code(arg)) in (10, 13):
            await self._tax_code_typed(t, arg)

    async def screen(self, t: Turn) -> Screen:
        step = Step(t.draft.get("s", Step.LIST.value))
        if step is Step.FILTER:
            return self._draw_filter(t)
        if step is Step.DETAIL:
            return await self._draw_detail(t)
        if step is Step.FORM:
            return self._draw_form(t)
        return await self._draw_list(t)

    async def button(self, t: Turn, action: str, arg: str) -> None:
        step = Step(t.draft.get("s", Step.LIST.value))
        if step is Step.LIST:
            await self._on_list(t, action, arg)
        elif step is Step.FILTER:
            self._on_filter(t, action, arg)
        elif step is Step.DETAIL:
            await self._on_detail(t, action, arg)
        else:
            await self._on_form(t, action, arg)

    async def text(self, t: Turn, text: str) -> None:
        t.delivery = Delivery.NEW
        step = Step(t.draft.get("s", Step.LIST.value))
        if step is Step.FORM:
            await self._accept(t, text)
        elif step is Step.LIST:
            await self._tax_code_typed(t, text)
        else:
            t.notice = Msg("manage.use_buttons")

    async def contact(self, t: Turn, phone: str, own: bool) -> None:
        t.delivery = Delivery.NEW
        if t.draft.get("s") == Step.FORM.value and t.draft.get("fk") == Field.EMP_PHONE.value:
            await self._accept(t, phone)
        else:
            t.notice = Msg("manage.use_buttons")

    # the list

    async def _pick_business(self, t: Turn, tax_code: str) -> None:
        found = await self._backend.subscriptions(
            ListRequest(actor_id=t.user_id, tax_code=tax_code, limit=1)
        )
        if found.enterprises:
            t.draft["e"] = int(found.enterprises[0].id)
            t.draft["o"] = 0

    async def _tax_code_typed(self, t: Turn, text: str) -> None:
        """Staff type a tax code at the list to see that business's subscriptions (others may
        pick one of their own businesses the same way)."""
        if not any(ch.isdigit() for ch in text):
            t.notice = Msg("manage.use_buttons")
            return
        try:
            await self._pick_business(t, text)
        except InvalidInput as exc:
            self._invalid(t, exc)
        except NotFound:
            t.notice = Msg("manage.list.tax_not_found", {"tax_code": Plain(text.strip())})

    def _request(self, t: Turn) -> ListRequest:
        status = t.draft.get("f") or ""
        return ListRequest(
            actor_id=t.user_id,
            enterprise_id=int(t.draft["e"]) if t.draft.get("e") else None,
            statuses=(SubscriptionStatus(status),) if status else (),
            offset=int(t.draft.get("o", 0)),
            limit=LIST_PAGE,
        )

    async def _draw_list(self, t: Turn) -> Screen:
        result = await self._backend.subscriptions(self._request(t))
        parts: list[Param] = [Msg("manage.list.title")]
        for ent in result.enterprises:
            parts.append(
                Msg(
                    "manage.list.enterprise",
                    {"name": Plain(ent.name), "tax_code": Plain(ent.tax_code)},
                )
            )
        status = t.draft.get("f") or ""
        if result.enterprises:
            parts.append(
                Msg(
                    "manage.list.filter",
                    {
                        "filter": Msg(f"manage.status.{status}") if status else Msg("manage.all"),
                        "total": result.page.total,
                    },
                )
            )
        rows: list[tuple[Button, ...]] = []
        if result.needs_tax_code:
            parts.append(Msg("manage.list.ask_tax"))
        elif not result.enterprises:
            parts.append(Msg("manage.list.no_enterprise"))
        elif not result.page.items:
            parts.append(Msg("manage.list.empty_filtered" if status else "manage.list.empty"))
        items: list[Button] = []
        for n, sub in enumerate(result.page.items, start=result.page.offset + 1):
            parts.append(self._list_item(t, n, sub))
            items.append(
                Button(
                    Plain(f"{BADGES.get(sub.status, '⚪')} {sub.code}"),
                    action="open",
                    arg=str(int(sub.id)),
                )
            )
        rows.extend(tuple(items[i : i + 2]) for i in range(0, len(items), 2))
        paging = _paging(result.page, "page")
        if paging:
            rows.append(paging)
        parts.append(_page_line(result.page))
        if result.is_staff and not result.needs_tax_code:
            parts.append(Msg("manage.list.staff_hint"))
        if result.enterprises:
            rows.append((Button(Msg("manage.btn.filter"), action="filter"),))
        rows.append((Button(Msg("btn.back"), action="menu", arg="manage"),))
        return Screen(Join(tuple(parts)), tuple(rows))

    def _list_item(self, t: Turn, n: int, sub: Subscription) -> Msg:
        service, plan, _ = self._names(t, sub)
        return Msg(
            "manage.list.item",
            {
                "n": n,
                "badge": BADGES.get(sub.status, "⚪"),
                "code": Plain(sub.code),
                "service": Plain(service),
                "plan": Plain(plan),
                "status": Msg(f"manage.status.{sub.status.value}"),
            },
        )

    async def _on_list(self, t: Turn, action: str, arg: str) -> None:
        if action == "open":
            view = await self._backend.overview(
                TabRequest(actor_id=t.user_id, subscription_id=_int_arg(arg))
            )
            self._open(t, view.subscription.id)
        elif action == "page":
            t.draft["o"] = _offset(arg)
        elif action == "filter":
            t.draft["s"] = Step.FILTER.value
        else:
            raise _unexpected()

    def _draw_filter(self, t: Turn) -> Screen:
        current = t.draft.get("f") or ""
        options: list[tuple[str, Msg]] = [("", Msg("manage.all"))]
        options += [(s.value, Msg(f"manage.status.{s.value}")) for s in SubscriptionStatus]
        rows = tuple(
            (
                Button(
                    label,
                    action="f",
                    arg=value,
                    style=ButtonStyle.CHECKED if value == current else ButtonStyle.NORMAL,
                ),
            )
            for value, label in options
        )
        back = (Button(Msg("btn.back"), action="back"),)
        return Screen(Msg("manage.filter.title"), (*rows, back))

    def _on_filter(self, t: Turn, action: str, arg: str) -> None:
        if action == "f" and (arg == "" or arg in {s.value for s in SubscriptionStatus}):
            t.draft["f"] = arg
            t.draft["o"] = 0
        elif action != "back":
            raise _unexpected()
        t.draft["s"] = Step.LIST.value

    # the detail

    def _open(self, t: Turn, subscription_id: int, tab: Tab = Tab.OVERVIEW) -> None:
        for key in ("inv", "pdf", "fk", "fv", "mk", "fx"):
            t.draft.pop(key, None)
        t.draft.update({"s": Step.DETAIL.value, "sid": int(subscription_id), "tab": tab.value})
        t.draft["to"] = 0

    def _tab_request(self, t: Turn, limit: int = 10) -> TabRequest:
        return TabRequest(
            actor_id=t.user_id,
            subscription_id=int(t.draft["sid"]),
            offset=int(t.draft.get("to", 0)),
            limit=limit,
        )

    @staticmethod
    def _names(t: Turn, sub: Subscription) -> tuple[str, str, Param]:
        service = t.catalog.service(sub.service_code)
        plan = service.plan(sub.plan_code) if service is not None else None
        cycle = plan.cycle(sub.cycle_code) if plan is not None else None
        return (
            service.name if service is not None else sub.service_code,
            plan.name if plan is not None else sub.plan_code,
            Cycle(cycle.every, cycle.unit.value) if cycle is not None else Plain(sub.cycle_code),
        )

    def _header(self, t: Turn, sub: Subscription) -> Join:
        service, plan, cycle = self._names(t, sub)
        if sub.current_period_start and sub.current_period_end:
            period: Param = Msg(
                "manage.detail.period_range",
                {"start": Day(sub.current_period_start), "end": Day(sub.current_period_end)},
            )
        elif sub.current_period_start:
            period = Msg("manage.detail.period_from", {"start": Day(sub.current_period_start)})
        else:
            period = Msg("manage.detail.period_none")
        parts: list[Param] = [
            Msg(
                "manage.detail.header",
                {
                    "code": Plain(sub.code),
                    "service": Plain(service),
                    "kind": Msg(f"kind.{sub.kind.value}"),
                    "plan": Plain(plan),
                    "cycle": cycle,
                    "quantity": sub.quantity,
                    "status": _status_line(sub.status),
                    "period": period,
                },
            )
        ]
        if sub.kind is ServiceKind.OS and sub.progress is not None:
            parts.append(
                Msg(
                    "manage.detail.progress",
                    {"progress": Msg(f"manage.progress.{sub.progress.value}")},
                )
            )
        return Join(tuple(parts))

    def _tab_rows(self, sub: Subscription) -> list[tuple[Button, ...]]:
        rows = [
            tuple(Button(Msg(f"manage.tab.{tab.value}"), action="tab", arg=tab.value) for tab in r)
            for r in TAB_ROWS
        ]
        if sub.kind is ServiceKind.OS:
            rows.append((Button(Msg("manage.tab.prog"), action="tab", arg=Tab.PROGRESS.value),))
        return rows

    async def _draw_detail(self, t: Turn) -> Screen:
        tab = Tab(t.draft.get("tab", Tab.OVERVIEW.value))
        draws: dict[Tab, Callable[[Turn], Awaitable[_TabContent]]] = {
            Tab.OVERVIEW: self._tab_overview,
            Tab.EMPLOYEES: self._tab_employees,
            Tab.DETAILS: self._tab_details,
            Tab.MEMOS: self._tab_memos,
            Tab.PAYMENT: self._tab_payment,
            Tab.INVOICES: self._tab_invoices,
            Tab.HISTORY: self._tab_history,
            Tab.PROGRESS: self._tab_progress,
        }
        content = await draws[tab](t)
        sub = content.subscription
        title: Param = Msg(f"manage.tab_title.{tab.value}") if tab is not Tab.OVERVIEW else ""
        text = Join((self._header(t, sub), Plain("──────────"), title, content.text))
        rows = [*self._tab_rows(sub), *content.rows]
        rows.append((Button(Msg("manage.btn.to_list"), action="list"),))
        return Screen(text, tuple(rows), document=content.document)

    async def _on_detail(self, t: Turn, action: str, arg: str) -> None:
        d = t.draft
        if action == "tab":
            if arg not in {tab.value for tab in Tab}:
                raise _unexpected()
            d["tab"] = arg
            d["to"] = 0
            d.pop("inv", None)
        elif action == "tpage":
            d["to"] = _offset(arg)
        elif action == "list":
            for key in ("sid", "tab", "to", "inv"):
                d.pop(key, None)
            d["s"] = Step.LIST.value
        elif action == "emp_add":
            await self._start_employee(t)
        elif action in ("emp_on", "emp_off"):
            await self._toggle_employee(t, _int_arg(arg), active=action == "emp_on")
        elif action == "note_add":
            await self._allowed(t, lambda rights: rights.can_note)
            self._ask(t, Field.NOTE)
        elif action in ("credit_add", "debit_add"):
            await self._allowed(t, lambda rights: rights.can_memo)
            d["mk"] = (MemoKind.CREDIT if action == "credit_add" else MemoKind.DEBIT).value
            self._ask(t, Field.MEMO_AMOUNT)
        elif action in ("memo_apply", "memo_cancel"):
            status = MemoStatus.APPLIED if action == "memo_apply" else MemoStatus.CANCELLED
            result = await self._backend.set_memo_status(
                SetMemoStatusRequest(t.user_id, int(d["sid"]), _int_arg(arg), status)
            )
            t.answer = Msg(
                f"manage.memo.{status.value}" if result.changed else "manage.memo.unchanged"
            )
        elif action == "inv_open":
            d.update({"tab": Tab.INVOICES.value, "inv": _int_arg(arg), "pdf": 1})
        elif action == "inv_back":
            d.pop("inv", None)
        elif action == "prog":
            await self._advance(t, arg)
        else:
            raise _unexpected()

    # tabs: each draws its part of the message under the header, and its own buttons

    async def _tab_overview(self, t: Turn) -> _TabContent:
        view = await self._backend.overview(self._tab_request(t))
        parts: list[Param] = [Msg("manage.detail.choose_tab")]
        if view.subscription.kind is ServiceKind.OS:
            parts.append(Msg("manage.detail.choose_tab_os"))
        if view.rights.read_only:
            parts.append(Msg("manage.read_only"))
        return _TabContent(view.subscription, Join(tuple(parts)))

    async def _tab_employees(self, t: Turn) -> _TabContent:
        view = await self._backend.employees(self._tab_request(t, EMPLOYEE_PAGE))
        sub = view.subscription
        if sub.kind is not ServiceKind.ON:
            return _TabContent(sub, Msg("manage.emp.not_on"))
        parts: list[Param] = [
            Msg("manage.emp.summary", {"active": view.active, "total": view.page.total})
        ]
        if view.limit is not None:
            parts.append(Msg("manage.emp.limit", {"limit": view.limit}))
        if not view.page.items:
            parts.append(Msg("manage.emp.empty"))
        rows: list[tuple[Button, ...]] = []
        for n, emp in enumerate(view.page.items, start=view.page.offset + 1):
            parts.append(self._employee_line(n, emp))
            if view.rights.can_manage_employees:
                key = "manage.btn.emp_off" if emp.active else "manage.btn.emp_on"
                rows.append(
                    (
                        Button(
                            Msg(key, {"name": Plain(emp.name[:40])}),
                            action="emp_off" if emp.active else "emp_on",
                            arg=str(int(emp.id)),
                        ),
                    )
                )
        parts.append(_page_line(view.page))
        paging = _paging(view.page, "tpage")
        if paging:
            rows.append(paging)
        if view.rights.can_manage_employees:
            rows.insert(0, (Button(Msg("manage.btn.emp_add"), action="emp_add"),))
        else:
            parts.append(Msg("manage.read_only"))
        return _TabContent(sub, Join(tuple(parts)), tuple(rows))

    @staticmethod
    def _employee_line(n: int, emp: Employee) -> Msg:
        return Msg(
            "manage.emp.line",
            {
                "n": n,
                "mark": "✅" if emp.active else "⛔",
                "name": Plain(emp.name),
                "email": Plain(emp.email or "—"),
                "phone": Plain(_phone(emp.phone)),
                "state": Msg("manage.emp.active" if emp.active else "manage.emp.inactive"),
            },
        )

    async def _tab_details(self, t: Turn) -> _TabContent:
        view = await self._backend.details(self._tab_request(t))
        sub, order = view.subscription, view.order
        second = int(t.draft.get("to", 0)) > 0
        if second:
            inv, cus, ct = order.invoice_info, order.customer_info, order.contact
            content: Param = Join(
                (
                    Msg(
                        "manage.det.invoice",
                        {
                            "name": Plain(_text(inv.get("company_name")) or "—"),
                            "tax_code": Plain(_text(inv.get("tax_code")) or "—"),
                            "address": Plain(_text(inv.get("address")) or "—"),
                            "email": Plain(_text(inv.get("email")) or "—"),
                        },
                    ),
                    Msg(
                        "manage.det.customer",
                        {
                            "name": Plain(_text(cus.get("name")) or "—"),
                            "tax_code": Plain(_text(cus.get("tax_code")) or "—"),
                            "address": Plain(_text(cus.get("address")) or "—"),
                            "phone": Plain(_phone(_text(cus.get("phone")))),
                            "email": Plain(_text(cus.get("email")) or "—"),
                        },
                    ),
                    Msg(
                        "manage.det.contact",
                        {
                            "name": Plain(_text(ct.get("name")) or "—"),
                            "phone": Plain(_phone(_text(ct.get("phone")))),
                            "email": Plain(_text(ct.get("email")) or "—"),
                        },
                    ),
                )
            )
            rows = [(Button(Msg("manage.btn.prev"), action="tpage", arg="0"),)]
            return _TabContent(sub, content, tuple(rows))
        quote = Quote.from_dict(order.quote)
        promo_names = ", ".join(self._promotion_name(t, c) for c in order.promotion_codes)
        addons = [line.name for line in quote.lines if line.kind == "addon"]
        registrant = view.registrant
        who: Param = _user_name(
            {registrant.user_id: registrant.user} if registrant is not None else {},
            order.registered_by,
        )
        content = Join(
            (
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
                        "ends": Day(sub.current_period_end)
                        if sub.current_period_end
                        else Plain("—"),
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
        return _TabContent(
            sub, content, ((Button(Msg("manage.btn.next"), action="tpage", arg="1"),),)
        )

    @staticmethod
    def _promotion_name(t: Turn, code: str) -> str:
        promotion = t.catalog.promotion(code)
        return promotion.name if promotion is not None else code

    async def _tab_memos(self, t: Turn) -> _TabContent:
        view = await self._backend.memos(self._tab_request(t, MEMO_PAGE))
        rights = view.rights
        parts: list[Param] = []
        rows: list[tuple[Button, ...]] = []
        if not view.page.items:
            parts.append(Msg("manage.memo.empty"))
        for n, memo in enumerate(view.page.items, start=view.page.offset + 1):
            parts.append(self._memo_line(n, memo, view.authors))
            if rights.can_memo and memo.status is MemoStatus.OPEN:
                rows.append(
                    (
                        Button(
                            Msg("manage.btn.memo_apply", {"n": n}),
                            action="memo_apply",
                            arg=str(int(memo.id)),
                        ),
                        Button(
                            Msg("manage.btn.memo_cancel", {"n": n}),
                            action="memo_cancel",
                            arg=str(int(memo.id)),
                        ),
                    )
                )
        parts.append(_page_line(view.page))
        paging = _paging(view.page, "tpage")
        if paging:
            rows.append(paging)
        adds: list[Button] = []
        if rights.can_note:
            adds.append(Button(Msg("manage.btn.note_add"), action="note_add"))
        if rights.can_memo:
            adds.append(Button(Msg("manage.btn.credit_add"), action="credit_add"))
            adds.append(Button(Msg("manage.btn.debit_add"), action="debit_add"))
        if adds:
            rows.insert(0, tuple(adds[:1]))
            if len(adds) > 1:
                rows.insert(1, tuple(adds[1:]))
        if rights.read_only:
            parts.append(Msg("manage.read_only"))
        return _TabContent(view.subscription, Join(tuple(parts)), tuple(rows))

    @staticmethod
    def _memo_line(n: int, memo: Memo, authors: Mapping[UserId, User]) -> Msg:
        common: dict[str, Param] = {
            "n": n,
            "author": _user_name(authors, memo.author_id),
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

    async def _tab_payment(self, t: Turn) -> _TabContent:
        view = await self._backend.payment(self._tab_request(t))
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
                            "who": _user_name(view.confirmers, invoice.confirmed_by),
                        },
                    )
                )
            elif invoice.status is InvoiceStatus.WAITING:
                parts.append(Msg("manage.pay.pending", {"amount": Money(invoice.total)}))
        if view.pending_total:
            key = f"manage.pay.how.{sub.kind.value}"
            parts.append(Msg(key, {"amount": Money(view.pending_total), "code": Plain(sub.code)}))
            if view.rights.is_staff and sub.kind is ServiceKind.OS:
                rows.append(
                    (Button(Msg("manage.btn.confirm_cash"), action=CASH_ENTRY, arg=sub.code),)
                )
        elif not view.invoices:
            parts.append(Msg("manage.pay.no_invoice"))
        else:
            parts.append(Msg("manage.pay.nothing_due"))
        return _TabContent(sub, Join(tuple(parts)), tuple(rows))

    async def _tab_invoices(self, t: Turn) -> _TabContent:
        d = t.draft
        if d.get("inv"):
            return await self._invoice_detail(t)
        view = await self._backend.invoices(self._tab_request(t))
        offset = int(d.get("to", 0))
        shown = view.invoices[offset : offset + INVOICE_PAGE]
        page: Page[Invoice] = Page.of(shown, len(view.invoices), offset, INVOICE_PAGE)
        parts: list[Param] = []
        rows: list[tuple[Button, ...]] = []
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
            rows.append((Button(label, action="inv_open", arg=str(int(invoice.id))),))
        parts.append(_page_line(page))
        paging = _paging(page, "tpage")
        if paging:
            rows.append(paging)
        return _TabContent(view.subscription, Join(tuple(parts)), tuple(rows))

    async def _invoice_detail(self, t: Turn) -> _TabContent:
        d = t.draft
        view = await self._backend.invoice(InvoiceRequest(t.user_id, int(d["sid"]), int(d["inv"])))
        invoice = view.invoice
        quote = Quote.from_dict(invoice.lines)
        parts: list[Param] = [
            Msg(
                "manage.inv.head",
                {
                    "number": Plain(invoice.number)
                    if invoice.number
                    else Msg("manage.inv.no_number"),
                    "status": Msg(f"manage.inv_status.{invoice.status.value}"),
                    "date": Day(invoice.issued_at or invoice.created_at),
                    "buyer": Plain(_text(view.order.invoice_info.get("company_name")) or "—"),
                    "tax_code": Plain(_text(view.order.invoice_info.get("tax_code")) or "—"),
                },
            ),
            breakdown(quote),
        ]
        rows = [(Button(Msg("manage.btn.inv_back"), action="inv_back"),)]
        if d.pop("pdf", None):
            name, content = await self._backend.invoice_pdf(view, t.lang)
            parts.append(Msg("manage.inv.pdf_sent"))
            return _TabContent(view.subscription, Join(tuple(parts)), tuple(rows), (name, content))
        parts.append(Msg("manage.inv.pdf_hint"))
        return _TabContent(view.subscription, Join(tuple(parts)), tuple(rows))

    async def _tab_history(self, t: Turn) -> _TabContent:
        view = await self._backend.history(self._tab_request(t, HISTORY_PAGE))
        parts: list[Param] = []
        if not view.page.items:
            parts.append(Msg("manage.hist.empty"))
        for n, event in enumerate(view.page.items, start=view.page.offset + 1):
            parts.append(
                Msg(
                    "manage.hist.line",
                    {
                        "n": n,
                        "date": Day(event.created_at, with_time=True),
                        "who": _user_name(view.actors, event.actor_id),
                        "what": event_text(event),
                    },
                )
            )
        parts.append(_page_line(view.page))
        paging = _paging(view.page, "tpage")
        return _TabContent(view.subscription, Join(tuple(parts)), (paging,) if paging else ())

    async def _tab_progress(self, t: Turn) -> _TabContent:
        view = await self._backend.overview(self._tab_request(t))
        sub = view.subscription
        if sub.kind is not ServiceKind.OS:
            return _TabContent(sub, Msg("manage.prog.not_os"))
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
                            action="prog",
                            arg=following.value,
                        ),
                    )
                )
            rows.append(
                (
                    Button(
                        Msg("manage.btn.prog_cancel"),
                        action="prog",
                        arg=OrderProgress.CANCELLED.value,
                    ),
                )
            )
        elif not view.rights.can_progress:
            parts.append(Msg("manage.prog.staff_only"))
        return _TabContent(sub, Join(tuple(parts)), tuple(rows))

    # actions

    async def _allowed(self, t: Turn, may: Callable[[Rights], bool]) -> None:
        """Before asking for anything to type: may the presser do it at all? (The use case
        checks again when it is saved.)"""
        view = await self._backend.overview(self._tab_request(t))
        if not may(view.rights):
            raise PermissionDenied("not allowed on this subscription")

    async def _start_employee(self, t: Turn) -> None:
        view = await self._backend.employees(self._tab_request(t, 1))
        if not view.rights.can_manage_employees:
            raise PermissionDenied("only owners and staff manage employees")
        if view.subscription.kind is not ServiceKind.ON:
            t.answer, t.alert = Msg("manage.emp.not_on"), True
            return
        if view.limit is not None and view.active >= view.limit:
            t.answer, t.alert = Msg("error.employee_limit", {"limit": view.limit}), True
            return
        t.draft["fv"] = {}
        self._ask(t, Field.EMP_NAME)

    async def _toggle_employee(self, t: Turn, employee_id: int, *, active: bool) -> None:
        try:
            result = await self._backend.set_employee_active(
                SetEmployeeActiveRequest(t.user_id, int(t.draft["sid"]), employee_id, active)
            )
        except EmployeeLimitReached as exc:
            t.answer, t.alert = Msg("error.employee_limit", {"limit": exc.limit}), True
            return
        key = "manage.emp.reactivated" if active else "manage.emp.deactivated"
        t.answer = Msg(key, {"name": Plain(result.employee.name)})

    async def _advance(self, t: Turn, arg: str) -> None:
        if arg not in {p.value for p in OrderProgress}:
            raise _unexpected()
        result = await self._backend.advance_progress(
            AdvanceProgressRequest(t.user_id, int(t.draft["sid"]), OrderProgress(arg))
        )
        if not result.changed:
            t.answer = Msg("manage.prog.unchanged")
            return
        progress = result.subscription.progress or OrderProgress.ORDERED
        t.answer = Msg(
            "manage.prog.changed", {"progress": Msg(f"manage.progress.{progress.value}")}
        )

    # text prompts

    def _ask(self, t: Turn, field: Field) -> None:
        t.draft["s"] = Step.FORM.value
        t.draft["fk"] = field.value
        t.draft.pop("fx", None)

    def _back_to_tab(self, t: Turn) -> None:
        for key in ("fk", "fv", "mk", "fx"):
            t.draft.pop(key, None)
        t.draft["s"] = Step.DETAIL.value

    def _draw_form(self, t: Turn) -> Screen:
        field = Field(t.draft.get("fk", Field.NOTE.value))
        kind = t.draft.get("mk", MemoKind.CREDIT.value)
        text = Msg(
            f"manage.ask.{field.value}",
            {"kind": Msg(f"manage.memo_kind.{kind}")}
            if field in (Field.MEMO_AMOUNT, Field.MEMO_REASON)
            else {},
        )
        rows: list[tuple[Button, ...]] = []
        if field is Field.EMP_PHONE:
            rows.append((Button(Msg("manage.btn.skip"), action="skip"),))
        rows.append(
            (Button(Msg("btn.back"), action="back"), Button(Msg("btn.cancel"), action="cancel"))
        )
        return Screen(text, tuple(rows))

    async def _on_form(self, t: Turn, action: str, arg: str) -> None:
        if action == "back":
            self._back_to_tab(t)
        elif action == "skip" and t.draft.get("fk") == Field.EMP_PHONE.value:
            await self._save_employee(t, "")
            if t.draft.get("fx"):  # refused: say why in an alert, the prompt stays usable
                t.answer, t.alert, t.notice = t.notice, True, None
        else:
            raise _unexpected()

    async def _accept(self, t: Turn, raw: str) -> None:
        d = t.draft
        field = Field(d.get("fk", Field.NOTE.value))
        values: dict[str, Any] = d.setdefault("fv", {})
        try:
            if field is Field.EMP_NAME:
                values["name"] = validate_contact_name(raw, field="name")
                self._ask(t, Field.EMP_EMAIL)
            elif field is Field.EMP_EMAIL:
                values["email"] = validate_email(raw)
                self._ask(t, Field.EMP_PHONE)
            elif field is Field.EMP_PHONE:
                validate_phone(raw)
                await self._save_employee(t, raw)
            elif field is Field.NOTE:
                result = await self._backend.add_note(
                    AddNoteRequest(t.user_id, int(d["sid"]), validate_memo_text(raw))
                )
                self._saved_memo(t, result)
            elif field is Field.MEMO_AMOUNT:
                values["amount"] = parse_memo_amount(raw)
                self._ask(t, Field.MEMO_REASON)
            elif field is Field.MEMO_REASON:
                reason = validate_memo_text(raw, name="reason")
                result = await self._backend.add_memo(
                    AddMemoRequest(
                        t.user_id,
                        int(d["sid"]),
                        MemoKind(d.get("mk", MemoKind.CREDIT.value)),
                        int(values.get("amount", 0)),
                        reason,
                    )
                )
                self._saved_memo(t, result)
        except InvalidInput as exc:
            self._invalid(t, exc)

    async def _save_employee(self, t: Turn, phone: str) -> None:
        d = t.draft
        values: dict[str, Any] = d.get("fv", {})
        try:
            result = await self._backend.add_employee(
                AddEmployeeRequest(
                    t.user_id,
                    int(d["sid"]),
                    str(values.get("name", "")),
                    str(values.get("email", "")),
                    phone,
                )
            )
        except EmployeeLimitReached as exc:
            self._back_to_tab(t)
            t.notice = Msg("error.employee_limit", {"limit": exc.limit})
            return
        except InvalidInput as exc:
            if exc.params.get("reason") == "email.taken":
                self._ask(t, Field.EMP_EMAIL)
            self._invalid(t, exc)
            return
        self._back_to_tab(t)
        d["tab"], d["to"] = Tab.EMPLOYEES.value, 0
        t.notice = Msg("manage.emp.added", {"name": Plain(result.employee.name)})

    def _saved_memo(self, t: Turn, result: MemoChange) -> None:
        self._back_to_tab(t)
        t.draft["tab"], t.draft["to"] = Tab.MEMOS.value, 0
        kind = result.memo.kind.value
        t.notice = Msg("manage.memo.added", {"kind": Msg(f"manage.memo_kind.{kind}")})

    def _invalid(self, t: Turn, exc: InvalidInput) -> None:
        failures = int(t.draft.get("fx", 0)) + 1
        t.draft["fx"] = failures
        reason = str(exc.params.get("reason", "generic"))
        prefix = "manage.invalid" if reason in OWN_REASONS else "invalid"
        notice = Msg(
            "manage.invalid_retry",
            {
                "reason": Msg(
                    f"{prefix}.{reason}", {"max_len": int(exc.params.get("max_len", 0) or 0)}
                ),
                "example": Plain(str(exc.params.get("example", "")) or "—"),
            },
        )
        if failures >= MAX_FAILURES:
            notice = Msg("invalid.too_many", {"first": notice})
        t.notice = notice


def breakdown(q: Quote) -> Join:
    """Every line of a frozen quote, its discounts, the invoice discounts, VAT per rate and
    the totals (the registration's texts, so both read the same)."""
    parts: list[Param] = []
    for line in q.lines:
        parts.append(
            Msg(
                f"quote.line.{line.kind}",
                {
                    "name": Plain(line.name),
                    "quantity": line.quantity,
                    "amount": Money(line.base_amount),
                    "tax": Plain(line.tax.value),
                },
            )
        )
        if line.line_discount:
            parts.append(
                Msg(
                    "quote.line_discount",
                    {
                        "promotion": Plain(line.promotion_code or ""),
                        "amount": Money(line.line_discount),
                    },
                )
            )
    parts.append(Msg("quote.subtotal", {"amount": Money(q.subtotal - q.line_discount_total)}))
    for code, amount in q.invoice_discounts:
        parts.append(
            Msg("quote.invoice_discount", {"promotion": Plain(code), "amount": Money(amount)})
        )
    parts.append(Msg("quote.net_total", {"amount": Money(q.net_total)}))
    for tax, base, vat in q.vat_groups:
        key = "quote.vat_kct" if tax.value == "KCT" else "quote.vat"
        values: dict[str, Param] = {
            "rate": Plain(tax.value),
            "base": Money(base),
            "amount": Money(vat),
        }
        parts.append(Msg(key, values))
    parts.append(Msg("quote.total", {"amount": Money(q.total)}))
    return Join(tuple(parts))


def event_text(event: HistoryEvent) -> Msg:
    """A history event in words; an action this flow does not know is shown by its name."""
    action, d = event.action, event.details
    if action not in KNOWN_EVENTS:
        return Msg("manage.event.other", {"action": Plain(action)})
    params: dict[str, Param] = {}
    if action in ("order.created", "order.expired", "payment.failed", "payment.cancelled"):
        params["order"] = Plain(_text(d.get("order")))
    if action in ("order.created", "invoice.paid"):
        params["total"] = Money(_amount(d.get("total")))
    if action in ("payment.succeeded", "payment.duplicate"):
        params["amount"] = Money(_amount(d.get("amount")))
    if action == "payment.succeeded":
        method = _text(d.get("method")) or "VNPTPAY"
        params["method"] = Msg(f"manage.method.{'BY_CASH' if method == 'BY_CASH' else 'VNPTPAY'}")
        params["transaction"] = Plain(_text(d.get("transaction_id")) or "—")
    if action == "payment.retried":
        params["reference"] = Plain(_text(d.get("merchant_order_id")))
    if action == "subscription.created":
        params["code"] = Plain(_text(d.get("subscription")))
    if action == "subscription.activated":
        start, end = _iso(d.get("period_start")), _iso(d.get("period_end"))
        params["start"] = Day(start) if start else Plain("—")
        params["end"] = Day(end) if end else Plain("—")
    if action == "invoice.paid":
        params["invoice"] = Plain(_text(d.get("invoice")))
    if action.startswith("employee."):
        params["name"] = Plain(_text(d.get("name")))
    if action.startswith("memo."):
        kind = _text(d.get("kind")) or MemoKind.NOTE.value
        if kind not in {k.value for k in MemoKind}:
            kind = MemoKind.NOTE.value
        params["kind"] = Msg(f"manage.memo_kind.{kind}")
        params["amount"] = Money(_amount(d.get("amount"))) if kind != "NOTE" else Plain("")
    if action == "memo.status_changed":
        status = _text(d.get("status"))
        if status not in {s.value for s in MemoStatus}:
            status = MemoStatus.OPEN.value
        params["status"] = Msg(f"manage.memo_status.{status}")
    if action == "progress.changed":
        for name in ("from", "to"):
            value = _text(d.get(name))
            params[name] = (
                Msg(f"manage.progress.{value}")
                if value in {p.value for p in OrderProgress}
                else Plain("—")
            )
    return Msg(f"manage.event.{action}", params)
