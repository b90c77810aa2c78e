"""What every step of **Quản lý thuê bao** works with: the backend (one use case per
question or change), the update and its typed draft, and the pieces several screens share
(status badges, paging, names from the catalog, the subscription header)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Protocol, TypeVar

from conversations.kit import unexpected
from conversations.manage.draft import Action, ManageDraft
from conversations.screens import Button, Cycle, Day, Join, Msg, Param, Plain, Screen
from conversations.turn import Turn
from domain.catalog import ServiceKind
from domain.model import Page, Subscription, SubscriptionStatus, User, UserId
from domain.usecases.manage import (
    AddEmployeeRequest,
    AddMemoRequest,
    AddNoteRequest,
    AdvanceProgressRequest,
    DetailsView,
    EmployeeChange,
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
    SetEmployeeActiveRequest,
    SetMemoStatusRequest,
    SubscriptionList,
    SubscriptionView,
    TabRequest,
)
from domain.usecases.manage.paying import InvoicePayment, PayInvoiceRequest
from domain.validation import display_phone

BADGES: Final[Mapping[SubscriptionStatus, str]] = {
    SubscriptionStatus.ACTIVE: "🟢",
    SubscriptionStatus.FUTURE: "🟡",
    SubscriptionStatus.IN_TRIAL: "🔵",
    SubscriptionStatus.NON_RENEWING: "🟠",
    SubscriptionStatus.CANCELLED: "🔴",
    SubscriptionStatus.EXPIRED: "⚫",
}

#: the statuses in which a renewal paid before the end moves the period ahead
RENEWED_AHEAD: Final = frozenset({SubscriptionStatus.ACTIVE, SubscriptionStatus.NON_RENEWING})

Req = TypeVar("Req", contravariant=True)
Res = TypeVar("Res", covariant=True)


class Ask(Protocol[Req, Res]):
    """One use case of ``domain.usecases.manage``: a request in, a view or a change out. It
    raises ``PermissionDenied`` for anything the actor may not see or do."""

    async def __call__(self, req: Req, /) -> Res: ...


class Find(Protocol):
    """A subscription by its code (``FindSubscription``)."""

    async def __call__(self, actor_id: int, code: str, /) -> SubscriptionView: ...


class RenderInvoice(Protocol):
    """The invoice as a PDF: (file name, content); the chat it is for may be shown that a
    file is on its way."""

    async def __call__(
        self, view: InvoiceView, lang: str, chat_id: int, /
    ) -> tuple[str, bytes]: ...


@dataclass(frozen=True, slots=True)
class ManageBackend:
    """The questions and changes of this flow, each a use case called directly."""

    subscriptions: Ask[ListRequest, SubscriptionList]
    find: Find
    overview: Ask[TabRequest, SubscriptionView]
    employees: Ask[TabRequest, EmployeesView]
    details: Ask[TabRequest, DetailsView]
    memos: Ask[TabRequest, MemosView]
    payment: Ask[TabRequest, PaymentView]
    invoices: Ask[TabRequest, InvoicesView]
    invoice: Ask[InvoiceRequest, InvoiceView]
    invoice_pdf: RenderInvoice
    history: Ask[TabRequest, HistoryView]
    add_employee: Ask[AddEmployeeRequest, EmployeeChange]
    set_employee_active: Ask[SetEmployeeActiveRequest, EmployeeChange]
    add_note: Ask[AddNoteRequest, MemoChange]
    add_memo: Ask[AddMemoRequest, MemoChange]
    set_memo_status: Ask[SetMemoStatusRequest, MemoChange]
    advance_progress: Ask[AdvanceProgressRequest, ProgressChanged]
    #: **Thanh toán** on an open invoice (None: the button is not offered)
    pay_invoice: Ask[PayInvoiceRequest, InvoicePayment] | None = None
    #: Đổi gói and Thanh toán of a trial (``conversations.manage.change.ChangeBackend``)
    changes: object = None


@dataclass
class Ctx:
    """One update at one step: ``d`` is the typed draft, written back to ``t.draft`` when the
    update is done."""

    t: Turn
    d: ManageDraft
    backend: ManageBackend

    def save(self) -> None:
        self.d.save(self.t.draft)

    def tab_request(self, limit: int = 10) -> TabRequest:
        return TabRequest(
            actor_id=self.t.user_id,
            subscription_id=self.subscription_id,
            offset=self.d.tab_offset or 0,
            limit=limit,
        )

    @property
    def subscription_id(self) -> int:
        if self.d.subscription is None:
            raise unexpected()
        return self.d.subscription

    def names(self, sub: Subscription) -> tuple[str, str, Param]:
        """The service's and plan's names and the cycle, from the catalog (codes when a row
        is gone)."""
        service = self.t.catalog.service(sub.service_code)
        plan, cycle = self.plan_names(sub.service_code, sub.plan_code, sub.cycle_code)
        return (service.name if service is not None else sub.service_code, plan, cycle)

    def plan_names(self, service_code: str, plan_code: str, cycle_code: str) -> tuple[str, Param]:
        """A plan's name and its cycle in words, from the catalog (codes when a row is gone)."""
        service = self.t.catalog.service(service_code)
        plan = service.plan(plan_code) if service is not None else None
        cycle = plan.cycle(cycle_code) if plan is not None else None
        return (
            plan.name if plan is not None else plan_code,
            Cycle(cycle.every, cycle.unit.value) if cycle is not None else Plain(cycle_code),
        )

    def renewed_ahead(self, sub: Subscription) -> bool:
        """Renewed before its end: the row holds the paid period, which has not begun yet; the
        current period (on the plan shown) ends where that one starts."""
        start = sub.current_period_start
        return sub.status in RENEWED_AHEAD and start is not None and start > self.t.now

    def header(self, sub: Subscription) -> Join:
        service, plan, cycle = self.names(sub)
        if self.renewed_ahead(sub) and sub.current_period_start and sub.current_period_end:
            period: Param = Msg(
                "manage.detail.period_ahead",
                {"end": Day(sub.current_period_start), "renewed": Day(sub.current_period_end)},
            )
        elif sub.current_period_start and sub.current_period_end:
            period = Msg(
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
                    "status": status_line(sub.status),
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


Handler = Callable[[Ctx, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StepSpec:
    """One step as data: how it is drawn, what each of its actions does (called with the
    button's ``arg``), what a typed answer does (steps without one ask for the buttons)."""

    draw: Callable[[Ctx], Awaitable[Screen]]
    on: Mapping[Action, Handler] = field(default_factory=dict)
    text: Callable[[Ctx, str], Awaitable[None]] | None = None


@dataclass(frozen=True, slots=True)
class TabContent:
    """What a tab draws under the header: its text, its own button rows, and a file to send."""

    subscription: Subscription
    text: Param
    rows: tuple[tuple[Button, ...], ...] = ()
    document: tuple[str, bytes] | None = None


def int_arg(arg: str) -> int:
    if not arg.isdigit() or len(arg) > 18:
        raise unexpected()
    return int(arg)


def offset_arg(arg: str) -> int:
    return int_arg(arg) if arg else 0


def status_line(status: SubscriptionStatus) -> Msg:
    return Msg(
        "manage.status_badge",
        {"badge": BADGES.get(status, "⚪"), "status": Msg(f"manage.status.{status.value}")},
    )


def user_name(users: Mapping[UserId, User], user_id: UserId | None) -> Param:
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


def paging(page: Page[Any], action: Action) -> tuple[Button, ...]:
    row = []
    if page.has_previous:
        row.append(
            Button(Msg("manage.btn.prev"), action=action, arg=str(max(0, page.offset - page.limit)))
        )
    if page.has_next:
        row.append(Button(Msg("manage.btn.next"), action=action, arg=str(page.offset + page.limit)))
    return tuple(row)


def page_line(page: Page[Any]) -> Param:
    if page.total <= page.limit and page.offset == 0:
        return ""
    pages = (page.total + page.limit - 1) // page.limit
    return Msg("manage.page", {"page": page.offset // page.limit + 1, "pages": max(pages, 1)})


def phone_text(phone: str | None) -> str:
    if not phone:
        return "—"
    return display_phone(phone) if phone.startswith("+84") else phone


def iso_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def text_of(value: object) -> str:
    return value if isinstance(value, str) else ""
