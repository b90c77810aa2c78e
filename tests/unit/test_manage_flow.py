"""The subscription-management conversation without Telegram or a database: the engine with the
flow on a fake backend (canned views, recorded requests), the sample catalog for names, and the
real locale files and renderer to read what the user would see."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.catalog_file import load_catalog_file
from bot.i18n import I18n
from bot.render import Renderer, html_to_plain, utf16_len
from conversations.engine import ConversationEngine, EngineSettings
from conversations.manage import (
    EMPLOYEE_PAGE,
    HISTORY_PAGE,
    KNOWN_EVENTS,
    LIST_PAGE,
    MEMO_PAGE,
    ManageBackend,
    ManageFlow,
    event_text,
)
from conversations.notices import notice_screen
from conversations.reply import Reply
from conversations.screens import Button, Screen
from conversations.session import Actor, ChatSession, Event, EventKind
from conversations.turn import RegistrationServices
from domain.catalog import Catalog, ServiceKind
from domain.changes import ScheduledChange
from domain.constants import VN_TZ
from domain.errors import InvalidInput, NotFound, PermissionDenied
from domain.model import (
    Employee,
    EmployeeId,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    Memo,
    MemoId,
    MemoKind,
    MemoStatus,
    Order,
    OrderId,
    OrderProgress,
    Page,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Principal,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.outbox import Notice, NoticeKind
from domain.pricing import NO_USAGE, Selection, quote
from domain.registration import Access, ConfirmRequest, CustomerInfo, OrderOutcome
from domain.usecases.manage import (
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
    Recipient,
    Rights,
    SetEmployeeActiveRequest,
    SetMemoStatusRequest,
    SubscriptionList,
    SubscriptionView,
    TabRequest,
)
from domain.validation import validate_phone

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
CATALOG: Catalog = load_catalog_file(Path(__file__).resolve().parents[2] / "catalog.sample.yaml")
I18N = I18n.load()
RENDER = Renderer(I18N)
USER = 7
ENTERPRISE = Enterprise("0100233488", "Công ty An Phát", NOW, id=EnterpriseId(3))


def subscription(n: int, *, kind: ServiceKind = ServiceKind.ON, **changes: Any) -> Subscription:
    on = kind is ServiceKind.ON
    sub = Subscription(
        code=f"TB-2026-{n:06d}",
        order_id=OrderId(n),
        enterprise_id=ENTERPRISE.id,
        service_code="EOFFICE" if on else "CAMERA",
        plan_code="EOFFICE-USER" if on else "CAMERA-1",
        cycle_code="M12" if on else "Y1",
        kind=kind,
        registered_by=UserId(USER),
        created_at=NOW - timedelta(hours=n),
        quantity=3 if on else 1,
        status=SubscriptionStatus.ACTIVE if on else SubscriptionStatus.FUTURE,
        progress=None if on else OrderProgress.ORDERED,
        started_at=NOW if on else None,
        current_period_start=NOW if on else None,
        current_period_end=NOW + timedelta(days=365) if on else None,
        id=SubscriptionId(n),
    )
    return replace(sub, **changes)


def order_of(sub: Subscription) -> Order:
    selection = Selection(sub.service_code, sub.plan_code, sub.cycle_code, sub.quantity)
    q = quote(CATALOG, selection, today=date(2026, 11, 26), usage=NO_USAGE)
    return Order(
        code=f"DH-2026-{int(sub.id):06d}",
        enterprise_id=sub.enterprise_id,
        registered_by=sub.registered_by,
        service_code=sub.service_code,
        plan_code=sub.plan_code,
        cycle_code=sub.cycle_code,
        kind=sub.kind,
        payment_method=PaymentMethod.VNPTPAY
        if sub.kind is ServiceKind.ON
        else PaymentMethod.BY_CASH,
        total=q.total,
        idempotency_key="k",
        created_at=NOW,
        quantity=sub.quantity,
        quote=q.to_dict(),
        invoice_info={
            "company_name": ENTERPRISE.name,
            "tax_code": ENTERPRISE.tax_code,
            "address": "1 Lê Lợi",
            "email": "kt@anphat.vn",
        },
        customer_info={"name": ENTERPRISE.name, "tax_code": ENTERPRISE.tax_code},
        contact={"name": "Nguyễn Văn An", "phone": "+84912345678", "email": "an@anphat.vn"},
        id=sub.order_id,
    )


def invoice_of(sub: Subscription, order: Order) -> Invoice:
    return Invoice(
        order_id=order.id,
        enterprise_id=sub.enterprise_id,
        payment_method=order.payment_method,
        subtotal=0,
        discount_total=0,
        vat_total=0,
        total=order.total,
        created_at=NOW,
        subscription_id=sub.id,
        status=InvoiceStatus.PAID if sub.kind is ServiceKind.ON else InvoiceStatus.WAITING,
        number="HD2026-000001" if sub.kind is ServiceKind.ON else None,
        lines=order.quote,
        id=InvoiceId(50 + int(sub.id)),
    )


@dataclass
class FakeBackend:
    rights: Rights = field(default_factory=lambda: Rights(UserId(USER), Role.OWNER))
    subs: list[Subscription] = field(default_factory=lambda: [subscription(1)])
    staff: list[Employee] = field(default_factory=list)
    notes: list[Memo] = field(default_factory=list)
    events: list[HistoryEvent] = field(default_factory=list)
    limit: int | None = 3
    needs_tax_code: bool = False
    calls: list[tuple[str, Any]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    owners: tuple[Recipient, ...] = (Recipient(900, "en"),)
    pdfs: int = 0
    scheduled: ScheduledChange | None = None

    def _sub(self, subscription_id: int) -> Subscription:
        found = [s for s in self.subs if s.id == subscription_id]
        if not found or "view" in self.refuse:
            raise PermissionDenied("not visible")
        return found[0]

    def _record(self, name: str, req: Any) -> None:
        self.calls.append((name, req))
        if name in self.refuse:
            raise PermissionDenied(name)

    async def subscriptions(self, req: ListRequest) -> SubscriptionList:
        self._record("list", req)
        if req.tax_code == "0100112437":
            raise NotFound("no such business")
        if req.tax_code:
            from domain.validation import validate_tax_code

            validate_tax_code(req.tax_code)
        if self.needs_tax_code and not req.tax_code and req.enterprise_id is None:
            return SubscriptionList((), Page.of((), 0, 0, req.limit), True, True)
        subs = [s for s in self.subs if not req.statuses or s.status in req.statuses]
        page = Page.of(subs[req.offset : req.offset + req.limit], len(subs), req.offset, req.limit)
        return SubscriptionList((ENTERPRISE,), page, is_staff=self.rights.is_staff)

    async def find(self, actor_id: int, code: str) -> SubscriptionView:
        self._record("find", code)
        found = [s for s in self.subs if s.code == code.upper()]
        if not found:
            raise PermissionDenied("not visible")
        return SubscriptionView(found[0], self.rights)

    async def overview(self, req: TabRequest) -> SubscriptionView:
        self._record("overview", req)
        return SubscriptionView(self._sub(req.subscription_id), self.rights)

    async def employees(self, req: TabRequest) -> EmployeesView:
        self._record("employees", req)
        sub = self._sub(req.subscription_id)
        items = self.staff[req.offset : req.offset + req.limit]
        page = Page.of(items, len(self.staff), req.offset, req.limit)
        active = sum(e.active for e in self.staff)
        return EmployeesView(sub, self.rights, page, active, self.limit)

    async def details(self, req: TabRequest) -> DetailsView:
        self._record("details", req)
        sub = self._sub(req.subscription_id)
        registrant = Principal(User(UserId(USER), "Lan", NOW))
        return DetailsView(sub, self.rights, order_of(sub), registrant, self.scheduled)

    async def memos(self, req: TabRequest) -> MemosView:
        self._record("memos", req)
        sub = self._sub(req.subscription_id)
        items = self.notes[req.offset : req.offset + req.limit]
        authors = {UserId(USER): User(UserId(USER), "Lan", NOW)}
        page = Page.of(items, len(self.notes), req.offset, req.limit)
        return MemosView(sub, self.rights, page, authors)

    async def payment(self, req: TabRequest) -> PaymentView:
        self._record("payment", req)
        sub = self._sub(req.subscription_id)
        order = order_of(sub)
        online = None
        if sub.kind is ServiceKind.ON:
            online = PaymentAttempt(
                order.id,
                f"{order.code}-1",
                order.total,
                PaymentMethod.VNPTPAY,
                NOW,
                status=PaymentAttemptStatus.SUCCESS,
                transaction_id="TX-1",
                completed_at=NOW,
            )
        return PaymentView(sub, self.rights, (invoice_of(sub, order),), online)

    async def invoices(self, req: TabRequest) -> InvoicesView:
        self._record("invoices", req)
        sub = self._sub(req.subscription_id)
        return InvoicesView(sub, self.rights, (invoice_of(sub, order_of(sub)),))

    async def invoice(self, req: InvoiceRequest) -> InvoiceView:
        self._record("invoice", req)
        sub = self._sub(req.subscription_id)
        order = order_of(sub)
        invoice = invoice_of(sub, order)
        if invoice.id != req.invoice_id:
            raise PermissionDenied("not this subscription's invoice")
        return InvoiceView(sub, self.rights, invoice, order)

    async def invoice_pdf(self, view: InvoiceView, lang: str, chat_id: int) -> tuple[str, bytes]:
        self.pdfs += 1
        return f"{view.invoice.number}.pdf", b"%PDF-fake"

    async def history(self, req: TabRequest) -> HistoryView:
        self._record("history", req)
        sub = self._sub(req.subscription_id)
        items = self.events[req.offset : req.offset + req.limit]
        page = Page.of(items, len(self.events), req.offset, req.limit)
        return HistoryView(sub, self.rights, page, {})

    async def add_employee(self, req: AddEmployeeRequest) -> EmployeeChange:
        self._record("add_employee", req)
        if self.limit is not None and sum(e.active for e in self.staff) >= self.limit:
            raise EmployeeLimitReached(self.limit)
        if any(e.email == req.email for e in self.staff):
            raise InvalidInput("taken", field="email", reason="email.taken", example=req.email)
        employee = Employee(
            SubscriptionId(req.subscription_id),
            req.name,
            NOW,
            email=req.email,
            phone=validate_phone(req.phone) if req.phone else None,
            id=EmployeeId(len(self.staff) + 1),
        )
        self.staff.append(employee)
        return EmployeeChange(employee, len(self.staff), self.limit)

    async def set_employee_active(self, req: SetEmployeeActiveRequest) -> EmployeeChange:
        self._record("set_employee_active", req)
        [employee] = [e for e in self.staff if e.id == req.employee_id]
        changed = replace(employee, active=req.active)
        self.staff[self.staff.index(employee)] = changed
        return EmployeeChange(changed, 0, self.limit)

    async def add_note(self, req: AddNoteRequest) -> MemoChange:
        self._record("add_note", req)
        memo = Memo(SubscriptionId(req.subscription_id), MemoKind.NOTE, req.text, UserId(USER), NOW)
        self.notes.insert(0, memo)
        return MemoChange(memo)

    async def add_memo(self, req: AddMemoRequest) -> MemoChange:
        self._record("add_memo", req)
        memo = Memo(
            SubscriptionId(req.subscription_id),
            req.kind,
            req.reason,
            UserId(USER),
            NOW,
            amount=req.amount,
            status=MemoStatus.OPEN,
            id=MemoId(len(self.notes) + 1),
        )
        self.notes.insert(0, memo)
        return MemoChange(memo)

    async def set_memo_status(self, req: SetMemoStatusRequest) -> MemoChange:
        self._record("set_memo_status", req)
        [memo] = [m for m in self.notes if m.id == req.memo_id]
        return MemoChange(replace(memo, status=req.status))

    async def advance_progress(self, req: AdvanceProgressRequest) -> ProgressChanged:
        self._record("advance_progress", req)
        sub = self._sub(req.subscription_id)
        moved = replace(sub, progress=req.to)
        self.subs[self.subs.index(sub)] = moved
        return ProgressChanged(moved, sub.progress, self.owners)


class NoRegistration:
    async def access(self, user_id: int) -> Access:
        return Access(user_id=user_id)

    async def enterprise(self, enterprise_id: int) -> CustomerInfo:
        raise AssertionError("not used")

    async def usage(self, enterprise_id: int) -> Any:
        raise AssertionError("not used")

    async def confirm(self, request: ConfirmRequest) -> OrderOutcome:
        raise AssertionError("not used")


def use_cases(fake: FakeBackend) -> ManageBackend:
    """The fake's methods as the flow's use cases."""
    return ManageBackend(
        subscriptions=fake.subscriptions,
        find=fake.find,
        overview=fake.overview,
        employees=fake.employees,
        details=fake.details,
        memos=fake.memos,
        payment=fake.payment,
        invoices=fake.invoices,
        invoice=fake.invoice,
        invoice_pdf=fake.invoice_pdf,
        history=fake.history,
        add_employee=fake.add_employee,
        set_employee_active=fake.set_employee_active,
        add_note=fake.add_note,
        add_memo=fake.add_memo,
        set_memo_status=fake.set_memo_status,
        advance_progress=fake.advance_progress,
    )


class Chat:
    def __init__(self, backend: FakeBackend, lang: str = "vi") -> None:
        self.backend = backend
        self.engine = ConversationEngine(
            catalog=lambda: CATALOG,
            registration=RegistrationServices.of(NoRegistration()),
            settings=EngineSettings(),
            flows={"manage": ManageFlow(use_cases(backend))},
            commands={"subscriptions": "manage"},
        )
        self.session = ChatSession(key="b:7", lang=lang, updated_at=NOW)
        self.actor = Actor(user_id=USER, chat_id=USER, first_name="Lan")
        self.last: Reply | None = None

    async def send(self, event: Event) -> Reply:
        reply = await self.engine.handle(self.session, self.actor, event, NOW)
        self.last = reply
        raw = json.dumps(self.session.to_dict(), ensure_ascii=False)
        assert len(raw.encode()) <= 1024, raw
        return reply

    async def command(self, name: str, arg: str = "") -> Reply:
        return await self.send(Event(EventKind.COMMAND, name=name, arg=arg))

    async def text(self, text: str) -> Reply:
        return await self.send(Event(EventKind.TEXT, text=text))

    async def action(self, action: str, arg: str = "") -> Reply:
        return await self.send(Event(EventKind.BUTTON, name=action, arg=arg, rev=self.session.rev))

    @property
    def screen(self) -> Screen:
        assert self.last is not None and self.last.screens
        return self.last.screens[0]

    def shown(self) -> str:
        """The first screen as the user reads it (notice included)."""
        screen = self.screen
        body = RENDER.text(self.session.lang, screen.text)
        if screen.notice is not None:
            body = RENDER.text(self.session.lang, screen.notice) + "\n\n" + body
        return html_to_plain(body)

    def labels(self) -> list[str]:
        return [RENDER.label(self.session.lang, b) for row in self.screen.buttons for b in row]

    def button(self, label: str) -> Button:
        for row in self.screen.buttons:
            for b in row:
                if RENDER.label(self.session.lang, b) == label:
                    return b
        raise AssertionError(f"no button {label!r} in {self.labels()}")

    async def press(self, label: str) -> Reply:
        b = self.button(label)
        return await self.action(b.action or "", b.arg)

    def answer(self) -> str:
        assert self.last is not None and self.last.answer is not None
        return RENDER.plain(self.session.lang, self.last.answer)


TABS = (
    "Danh sách nhân viên",
    "Chi tiết",
    "Ghi nhớ",
    "Phương thức thanh toán",
    "Hóa đơn",
    "Lịch sử",
)


# --- the list ------------------------------------------------------------------------------


async def test_the_list_pages_filters_and_opens() -> None:
    fake = FakeBackend(subs=[subscription(n) for n in range(1, 21)])
    chat = Chat(fake)
    await chat.command("subscriptions")
    shown = chat.shown()
    assert "Công ty An Phát – MST 0100233488" in shown and "20 thuê bao" in shown
    assert "1. 🟢 TB-2026-000001 · VNPT eOffice" in shown and "Trang 1/3" in shown
    assert chat.labels()[:2] == ["🟢 TB-2026-000001", "🟢 TB-2026-000002"]
    assert "Trước" not in chat.labels()
    await chat.press("Sau")
    assert fake.calls[-1][1].offset == LIST_PAGE and "9. 🟢 TB-2026-000009" in chat.shown()
    assert chat.screen.delivery.value == "edit"
    await chat.press("Trước")
    assert fake.calls[-1][1].offset == 0
    await chat.press("🔎 Lọc theo trạng thái")
    assert "✅ Tất cả" in chat.labels()
    await chat.press("Đã hủy")
    request = fake.calls[-1][1]
    assert request.statuses == (SubscriptionStatus.CANCELLED,) and request.offset == 0
    assert "Không có thuê bao nào ở trạng thái này" in chat.shown()
    await chat.press("🔎 Lọc theo trạng thái")
    await chat.press("Tất cả")
    await chat.press("🟢 TB-2026-000004")
    assert "Thuê bao TB-2026-000004" in chat.shown()
    assert [label for label in chat.labels() if label in TABS] == list(TABS)
    assert "Tiến trình" not in chat.labels()


async def test_staff_type_a_tax_code_to_reach_a_business() -> None:
    fake = FakeBackend(rights=Rights(UserId(USER), is_agent=True), needs_tax_code=True)
    chat = Chat(fake)
    await chat.command("subscriptions")
    assert "hãy gõ mã số thuế" in chat.shown()
    await chat.text("0100233489")  # wrong check digit: asked again with the reason
    assert "sai chữ số kiểm tra" in chat.shown()
    await chat.text("0100112437")
    assert "Không tìm thấy doanh nghiệp có mã số thuế 0100112437" in chat.shown()
    await chat.text("0100 233 488")
    assert chat.session.draft["e"] == int(ENTERPRISE.id)
    assert fake.calls[-1][1].enterprise_id == ENTERPRISE.id
    assert "TB-2026-000001" in chat.shown()
    await chat.command("subscriptions", "0100233488")  # the same, from the command
    assert chat.session.draft["e"] == int(ENTERPRISE.id)


async def test_a_subscription_code_opens_it_directly() -> None:
    fake = FakeBackend(subs=[subscription(1), subscription(2, kind=ServiceKind.OS)])
    chat = Chat(fake)
    await chat.command("subscriptions", "tb-2026-000002")
    assert "Thuê bao TB-2026-000002" in chat.shown() and "Tiến trình" in chat.labels()
    with pytest.raises(PermissionDenied):
        await chat.command("subscriptions", "TB-2026-999999")
    for forged in ("1", "abc", "12345678901234567"):  # an entry button's arg can be made up
        await chat.command("subscriptions", forged)
        assert chat.session.draft == {"s": "mlist"}
        assert fake.calls[-1] == ("list", ListRequest(USER, limit=LIST_PAGE))


# --- the tabs ------------------------------------------------------------------------------


async def test_each_tab_redraws_the_same_message_under_the_header() -> None:
    fake = FakeBackend()
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    for tab in TABS:
        await chat.press(tab)
        screen = chat.screen
        assert screen.delivery.value == "edit" and screen.document is None
        shown = chat.shown()
        assert shown.startswith("Thuê bao TB-2026-000001\nDịch vụ: VNPT eOffice")
        assert "Gói: Gói theo người dùng · Chu kỳ: 12 tháng · Số lượng: 3" in shown
    shown = chat.shown()
    assert "Chưa có sự kiện nào" in shown
    await chat.press("Chi tiết")
    assert "Tổng thanh toán" in chat.shown() and "Người đăng ký: Lan" in chat.shown()
    await chat.press("Sau")
    assert "Thông tin người liên hệ" in chat.shown() and "091 234 5678" in chat.shown()
    await chat.press("Phương thức thanh toán")
    assert "Mã giao dịch VNPT Pay: TX-1" in chat.shown()
    await chat.press("« Danh sách thuê bao")
    assert "Quản lý thuê bao" in chat.shown() and chat.session.draft.get("sid") is None


async def test_a_member_sees_everything_and_no_button_that_changes_anything() -> None:
    member = FakeBackend(
        rights=Rights(UserId(USER), Role.MEMBER),
        staff=[Employee(SubscriptionId(1), "Phạm Minh Đức", NOW, email="d@a.vn", id=EmployeeId(1))],
        notes=[
            Memo(
                SubscriptionId(1), MemoKind.CREDIT, "Bù", UserId(USER), NOW, 5_000, MemoStatus.OPEN
            )
        ],
    )
    owner = replace(member, rights=Rights(UserId(USER), Role.OWNER))
    agent = replace(member, rights=Rights(UserId(USER), is_agent=True))
    seen: dict[str, set[str]] = {}
    for name, fake in (("member", member), ("owner", owner), ("agent", agent)):
        chat = Chat(fake)
        await chat.command("subscriptions", "TB-2026-000001")
        labels: set[str] = set()
        for tab in ("Danh sách nhân viên", "Ghi nhớ"):
            await chat.press(tab)
            labels |= set(chat.labels()) - set(TABS)
            if name == "member":
                assert "chỉ được xem" in chat.shown()
            assert "Phạm Minh Đức" in chat.shown() or "Bù" in chat.shown()
        seen[name] = labels
    assert seen["member"] == {"« Danh sách thuê bao"}
    assert {"➕ Thêm nhân viên", "⛔ Ngừng: Phạm Minh Đức", "📝 Thêm ghi chú"} <= seen["owner"]
    assert "➕ Phiếu ghi có" not in seen["owner"] and "✔ Áp dụng phiếu 1" not in seen["owner"]
    assert {"➕ Phiếu ghi có", "➖ Phiếu ghi nợ", "✔ Áp dụng phiếu 1"} <= seen["agent"]


async def test_adding_an_employee_asks_each_field_and_checks_it() -> None:
    fake = FakeBackend()
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Danh sách nhân viên")
    await chat.press("➕ Thêm nhân viên")
    assert "bước 1/3" in chat.shown() and chat.session.draft["s"] == "mform"
    await chat.text("x" * 101)
    assert "Tên quá dài (tối đa 100 ký tự)" in chat.shown() and "bước 1/3" in chat.shown()
    await chat.text("  Phạm   Minh Đức ")
    assert "bước 2/3" in chat.shown()
    for _ in range(3):
        await chat.text("duc@")
    assert "Email chưa đúng định dạng" in chat.shown()
    assert "Bạn đã nhập sai nhiều lần" in chat.shown()  # after 3 failures: a way out
    await chat.text("duc@anphat.vn")
    await chat.text("12345")
    assert "bước 3/3" in chat.shown()
    await chat.text("0987 111 222")
    [(_, request)] = [c for c in fake.calls if c[0] == "add_employee"]
    assert request == AddEmployeeRequest(USER, 1, "Phạm Minh Đức", "duc@anphat.vn", "0987 111 222")
    assert "Đã thêm nhân viên Phạm Minh Đức" in chat.shown()
    assert "1. ✅ Phạm Minh Đức · duc@anphat.vn · 098 711 1222" in chat.shown()
    assert chat.session.draft["s"] == "mdet" and "fv" not in chat.session.draft

    await chat.press("⛔ Ngừng: Phạm Minh Đức")
    assert fake.calls[-2][1] == SetEmployeeActiveRequest(USER, 1, 1, False)
    assert "Đã ngừng nhân viên Phạm Minh Đức" in chat.answer()
    await chat.press("➕ Thêm nhân viên")
    await chat.press("Quay lại")  # back to the tab, nothing saved
    assert chat.session.draft["s"] == "mdet" and len(fake.staff) == 1


async def test_the_employee_limit_is_told_before_anything_is_typed() -> None:
    fake = FakeBackend(
        limit=1,
        staff=[Employee(SubscriptionId(1), "Đức", NOW, email="d@a.vn", id=EmployeeId(1))],
    )
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Danh sách nhân viên")
    await chat.press("➕ Thêm nhân viên")
    assert chat.last is not None and chat.last.alert
    assert "tối đa 1 nhân viên" in chat.answer() and chat.session.draft["s"] == "mdet"


async def test_notes_and_memos_are_typed_then_saved() -> None:
    fake = FakeBackend(rights=Rights(UserId(USER), is_agent=True))
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Ghi nhớ")
    await chat.press("➕ Phiếu ghi có")
    assert "số tiền của phiếu ghi có" in chat.shown()
    await chat.text("1.5")
    assert "Số tiền chưa đúng định dạng" in chat.shown()
    await chat.text("0")
    assert "Số tiền phải lớn hơn 0" in chat.shown()
    await chat.text("1.500.000 ₫")
    assert "lý do của phiếu ghi có" in chat.shown()
    await chat.text("Bù <gián đoạn>")
    [(_, request)] = [c for c in fake.calls if c[0] == "add_memo"]
    assert request == AddMemoRequest(USER, 1, MemoKind.CREDIT, 1_500_000, "Bù <gián đoạn>")
    assert "Đã lưu phiếu ghi có" in chat.shown()
    assert "Phiếu ghi có 1.500.000\u00a0₫ — chờ xử lý — Lan" in chat.shown()
    await chat.press("✔ Áp dụng phiếu 1")
    assert fake.calls[-2][1].status is MemoStatus.APPLIED and "Đã áp dụng" in chat.answer()
    await chat.press("📝 Thêm ghi chú")
    await chat.text("Gọi lại sáng mai")
    assert ("add_note", AddNoteRequest(USER, 1, "Gọi lại sáng mai")) in fake.calls


async def test_an_opened_invoice_sends_its_pdf_once() -> None:
    fake = FakeBackend()
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Hóa đơn")
    assert "1. HD2026-000001" in chat.shown()
    await chat.press("📄 HD2026-000001")
    assert chat.screen.document == ("HD2026-000001.pdf", b"%PDF-fake")
    assert chat.screen.delivery.value == "edit" and "Tổng thanh toán" in chat.shown()
    await chat.command("help")  # redrawn: no second file
    assert chat.screen.document is None and fake.pdfs == 1
    assert "Hướng dẫn" in chat.shown()
    await chat.press("« Danh sách hóa đơn")
    assert chat.screen.document is None and "1. HD2026-000001" in chat.shown()


async def test_progress_moves_and_the_owners_are_told() -> None:
    fake = FakeBackend(
        rights=Rights(UserId(USER), is_agent=True), subs=[subscription(5, kind=ServiceKind.OS)]
    )
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000005")
    await chat.press("Tiến trình")
    assert "▶️ Đã đặt hàng" in chat.shown()
    await chat.press("➡ Chuyển sang: Đã tiếp nhận")
    assert fake.calls[-2][1] == AdvanceProgressRequest(USER, 5, OrderProgress.RECEIVED)
    assert chat.last is not None
    assert chat.last.outgoing == ()  # the use case wrote the owners' notices to the outbox
    told = notice_screen(
        Notice(
            NoticeKind.PROGRESS_CHANGED,
            900,
            "en",
            {"subscription": "TB-2026-000005", "service": "CAMERA", "progress": "RECEIVED"},
        ),
        CATALOG,
    )
    notice = html_to_plain(RENDER.text("en", told.text))
    assert notice == (
        "🚚 The order of subscription TB-2026-000005 (Lắp đặt camera giám sát) is now: Received."
    )
    [[entry]] = told.buttons
    assert (entry.action, entry.arg) == ("subs", "TB-2026-000005")
    assert "✅ Đã đặt hàng" in chat.shown() and "▶️ Đã tiếp nhận" in chat.shown()
    await chat.press("❌ Hủy đơn hàng")
    assert fake.calls[-2][1].to is OrderProgress.CANCELLED
    assert "Đơn hàng đã bị hủy" in chat.shown()
    assert not any(label.startswith(("➡", "❌")) for label in chat.labels())


async def test_made_up_buttons_are_refused() -> None:
    fake = FakeBackend()
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    for action, arg in (("open", "1"), ("emp_off", "x1"), ("tab", "nope"), ("tpage", "-1")):
        with pytest.raises(InvalidInput):
            await chat.action(action, arg)
    await chat.text("hello")  # nothing is typed on a tab
    assert "Vui lòng dùng các nút" in chat.shown()
    fake.refuse.add("set_memo_status")
    with pytest.raises(PermissionDenied):
        await chat.action("memo_apply", "99")
    with pytest.raises(PermissionDenied):  # an invoice of another subscription
        await chat.action("inv_open", "12345")
    fake.refuse.add("view")  # the rights were withdrawn meanwhile
    with pytest.raises(PermissionDenied):
        await chat.action("tab", "det")


# --- texts ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_history_event_reads_as_words(lang: str) -> None:
    details: dict[str, Any] = {
        "order": "DH-2026-000001",
        "total": 1_980_000,
        "amount": 1_980_000,
        "method": "VNPTPAY",
        "transaction_id": "TX",
        "subscription": "TB-2026-000001",
        "period_start": NOW.isoformat(),
        "period_end": (NOW + timedelta(days=30)).isoformat(),
        "invoice": "HD2026-000001",
        "name": "Đức",
        "kind": "CREDIT",
        "status": "APPLIED",
        "from": "ORDERED",
        "to": "RECEIVED",
        "merchant_order_id": "DH-2026-000001-2",
    }
    for action in sorted(KNOWN_EVENTS):
        text = RENDER.text(lang, event_text(HistoryEvent(action, NOW, details=details)))
        assert text and "{" not in text and action not in text, action
    odd = HistoryEvent("payment.succeeded", NOW, details={"amount": "x", "method": 5})
    assert "0\u00a0₫" in RENDER.text(lang, event_text(odd))
    unknown = RENDER.text(lang, event_text(HistoryEvent("some.thing", NOW)))
    assert unknown == "some.thing"


async def test_the_longest_pages_stay_within_one_telegram_message() -> None:
    long_name = "Nguyễn " * 14 + "An"  # 100 characters
    fake = FakeBackend(
        rights=Rights(UserId(USER), is_agent=True),
        staff=[
            Employee(
                SubscriptionId(1),
                long_name[:100],
                NOW,
                email=("a" * 38 + f"{i:02d}@anphat.vn")[:50],
                phone="+84912345678",
                id=EmployeeId(i),
            )
            for i in range(EMPLOYEE_PAGE)
        ],
        notes=[
            Memo(
                SubscriptionId(1),
                MemoKind.DEBIT,
                "Đ" * 500,
                UserId(USER),
                NOW,
                amount=999_999_999_999,
                status=MemoStatus.OPEN,
                id=MemoId(i),
            )
            for i in range(MEMO_PAGE)
        ],
        events=[
            HistoryEvent(
                "payment.succeeded",
                NOW,
                details={"amount": 999_999_999, "transaction_id": "T" * 40, "method": "VNPTPAY"},
            )
            for _ in range(HISTORY_PAGE)
        ],
    )
    big = "Công ty Trách nhiệm hữu hạn " * 15
    order = order_of(subscription(1))
    order = replace(
        order,
        invoice_info={
            "company_name": big[:400],
            "tax_code": "0314409058-002",
            "address": big[:400],
            "email": "e" * 40 + "@anphat.vn",
        },
        customer_info={
            "name": big[:400],
            "tax_code": "0314409058-002",
            "address": big[:400],
            "phone": "+84912345678",
            "email": "e" * 40 + "@anphat.vn",
        },
        contact={"name": big[:100], "phone": "+84912345678", "email": "e" * 40 + "@anphat.vn"},
    )

    async def details(req: TabRequest) -> DetailsView:
        return DetailsView(subscription(1), fake.rights, order, None)

    fake.details = details  # type: ignore[method-assign]
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    longest = 0
    for lang in ("vi", "en"):
        chat.session.lang = lang
        for tab, more in (
            ("emp", False),
            ("memo", False),
            ("hist", False),
            ("det", False),
            ("det", True),
        ):
            await chat.action("tab", tab)
            if more:
                await chat.action("tpage", "1")
            rendered = RENDER.text(lang, chat.screen.text)
            longest = max(longest, utf16_len(rendered))
            assert utf16_len(rendered) <= 4096, (lang, tab, utf16_len(rendered))
    assert longest > 2000  # the check measured real, long pages


def test_button_labels_are_plain_and_short_even_with_long_names() -> None:
    name = "Nguyễn Thị Phương Thảo Nguyễn Thị Phương Thảo"[:40]  # names are cut at 40
    for lang in ("vi", "en"):
        for key in I18N.keys(lang):
            if not key.startswith("manage.btn."):
                continue
            template = I18N.template(lang, key)
            assert "<" not in template and "&" not in template, key
            label = template.format(name=name, n=88, number="HD2026-000123", step="Đang triển khai")
            assert len(label) <= 64, (key, label)


# --- plans by name in Lịch sử, and what waits for the period end in Chi tiết -----------------


def econtract(**changes: Any) -> Subscription:
    """eContract Chuyên nghiệp, 12 months, one."""
    return subscription(
        1,
        service_code="ECONTRACT",
        plan_code="ECONTRACT-PRO",
        cycle_code="M12",
        quantity=1,
        **changes,
    )


def on_day(moment: datetime) -> str:
    return f"{moment.astimezone(VN_TZ):%d/%m/%Y}"


@pytest.mark.parametrize(
    ("lang", "changed", "scheduled", "gone"),
    [
        (
            "vi",
            "đổi gói: Gói Chuyên nghiệp → Gói Cơ bản (12 tháng, số lượng 1)",
            "lên lịch đổi sang Gói Cơ bản khi hết kỳ",
            "đổi gói: ECONTRACT-OLD → Gói Chuyên nghiệp (X9, số lượng 2)",
        ),
        (
            "en",
            "plan changed: Gói Chuyên nghiệp → Gói Cơ bản (12 months, quantity 1)",
            "change to Gói Cơ bản scheduled for the period end",
            "plan changed: ECONTRACT-OLD → Gói Chuyên nghiệp (X9, quantity 2)",
        ),
    ],
)
async def test_the_history_names_plans_as_the_catalog_does(
    lang: str, changed: str, scheduled: str, gone: str
) -> None:
    config = {"to_cycle": "M12", "to_quantity": 1}
    fake = FakeBackend(
        subs=[econtract()],
        events=[
            HistoryEvent(
                "subscription.changed",
                NOW,
                details={"from_plan": "ECONTRACT-PRO", "to_plan": "ECONTRACT-BASIC", **config},
            ),
            HistoryEvent(
                "subscription.change_scheduled",
                NOW,
                details={
                    "to_plan": "ECONTRACT-BASIC",
                    **config,
                    "effective_at": (NOW + timedelta(days=30)).isoformat(),
                },
            ),
            # a plan the catalog no longer has (and a cycle of it): shown by its code
            HistoryEvent(
                "subscription.changed",
                NOW,
                details={
                    "from_plan": "ECONTRACT-OLD",
                    "to_plan": "ECONTRACT-PRO",
                    "to_cycle": "X9",
                    "to_quantity": 2,
                },
            ),
        ],
    )
    chat = Chat(fake, lang)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Lịch sử" if lang == "vi" else "History")
    shown = chat.shown()
    assert changed in shown and scheduled in shown and gone in shown, shown
    assert "ECONTRACT-BASIC" not in shown and "M12" not in shown, shown


async def test_details_of_a_renewal_paid_ahead_while_a_downgrade_waits() -> None:
    old_end = NOW + timedelta(days=5)
    new_end = old_end + timedelta(days=365)
    fake = FakeBackend(
        subs=[econtract(current_period_start=old_end, current_period_end=new_end)],
        scheduled=ScheduledChange(
            SubscriptionId(1), "ECONTRACT-BASIC", "M12", 1, (), old_end, UserId(USER), NOW
        ),
    )
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Chi tiết")
    shown = chat.shown()
    head, _, rest = shown.partition("Kỳ hiện tại")
    # the current period is Chuyên nghiệp's, until the old end; Cơ bản waits for it
    assert "Gói: Gói Chuyên nghiệp · Chu kỳ: 12 tháng" in head and "Cơ bản" not in head
    assert f": đến {on_day(old_end)} (đã gia hạn đến {on_day(new_end)})" in rest, shown
    waits = f"Từ {on_day(old_end)}: Gói Cơ bản, 12 tháng, số lượng 1"
    assert f"{waits} — kỳ đã gia hạn {on_day(old_end)} – {on_day(new_end)}" in rest, shown
    assert f"Ngày kết thúc kỳ hiện tại: {on_day(old_end)}" in rest, shown

    chat = Chat(fake, "en")
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Details")
    shown = chat.shown()
    assert f"Current period: until {on_day(old_end)} (renewed until {on_day(new_end)})" in shown
    waits = f"From {on_day(old_end)}: Gói Cơ bản, 12 months, quantity 1"
    assert f"{waits} — the renewed period {on_day(old_end)} – {on_day(new_end)}" in shown, shown


async def test_details_of_a_downgrade_waiting_for_the_period_end() -> None:
    end = NOW + timedelta(days=300)
    fake = FakeBackend(
        subs=[econtract(current_period_end=end)],
        scheduled=ScheduledChange(
            SubscriptionId(1), "ECONTRACT-BASIC", "M12", 1, (), end, UserId(USER), NOW
        ),
    )
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Chi tiết")
    shown = chat.shown()
    assert f"Kỳ hiện tại: {on_day(NOW)} – {on_day(end)}" in shown, shown
    assert f"Từ {on_day(end)}: Gói Cơ bản, 12 tháng, số lượng 1\n" in shown, shown
    assert "đã gia hạn" not in shown


async def test_details_of_a_renewal_paid_ahead_on_the_same_plan() -> None:
    old_end = NOW + timedelta(days=5)
    new_end = old_end + timedelta(days=365)
    fake = FakeBackend(subs=[econtract(current_period_start=old_end, current_period_end=new_end)])
    chat = Chat(fake)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Chi tiết")
    shown = chat.shown()
    waits = f"Từ {on_day(old_end)}: Gói Chuyên nghiệp, 12 tháng, số lượng 1"
    assert f"{waits} — kỳ đã gia hạn {on_day(old_end)} – {on_day(new_end)}" in shown, shown
    # nothing waits and nothing was paid ahead: no such line, the period as it is
    plain = FakeBackend(subs=[econtract()])
    chat = Chat(plain)
    await chat.command("subscriptions", "TB-2026-000001")
    await chat.press("Chi tiết")
    shown = chat.shown()
    assert "Từ " not in shown and f"Kỳ hiện tại: {on_day(NOW)} – " in shown, shown
