"""**Quản lý thuê bao** end to end: the real bot over HTTP against the local Bot API server
(which refuses any request Telegram would refuse), a real database, the sample catalog.

Subscriptions are made by real registrations: OS orders through the chat (they exist right
after **Xác nhận**), and — for speed and for ON services, whose payment goes through VNPT Pay —
through the same use cases the bot runs (PlaceOrder, then ConfirmPayment as a gateway
notification or a cash confirmation would apply it). Every tab is checked against what the
database holds.
"""

from __future__ import annotations

import io
import re
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import text

from domain.formatting import format_date, format_datetime
from domain.model import PaymentMethod
from domain.pricing import PromotionUsage, Quote, Selection, quote
from domain.registration import ContactInfo, CustomerInfo, InvoiceInfo, OrderRequest
from domain.usecases.payments import ConfirmPayment, ConfirmPaymentRequest, PaymentSource
from domain.usecases.registration import PlaceOrder
from sandbox.botapi import MessageView
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import OWNER_NAME, OWNER_TAX_CODE, BotHarness

NBSP = "\u00a0"
OTHER_TAX_CODE = "0103326250"
ADDRESS = "57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội"


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + f"{NBSP}₫"


# --- making subscriptions ----------------------------------------------------------------


@dataclass
class Made:
    order_id: int
    order_code: str
    total: int
    subscription_code: str = ""


class Registrar:
    """Places orders and applies payments through the bot's own use cases."""

    def __init__(self, bot: BotHarness) -> None:
        ctx = bot.context()
        self.bot = bot
        self.catalog = ctx.catalog.get
        self.clock = ctx.clock

        def uow() -> Any:
            return bot.database.uow

        self.place_order = PlaceOrder(uow, self.catalog, self.clock)
        self.confirm = ConfirmPayment(uow, self.catalog, self.clock)

    async def order(
        self,
        enterprise_id: int,
        actor_id: int,
        service: str,
        plan: str,
        cycle: str,
        *,
        quantity: int = 1,
        addons: tuple[str, ...] = (),
        plan_promotion: str | None = None,
        invoice_promotions: tuple[str, ...] = (),
        company: str = OWNER_NAME,
        tax_code: str = OWNER_TAX_CODE,
    ) -> Made:
        selection = Selection(
            service_code=service,
            plan_code=plan,
            cycle_code=cycle,
            quantity=quantity,
            addon_codes=addons,
            plan_promotion=plan_promotion,
            invoice_promotions=invoice_promotions,
        )
        today = self.clock.now().date()
        expected = quote(self.catalog(), selection, today=today, usage=PromotionUsage()).total
        outcome = await self.place_order(
            OrderRequest(
                actor_id=actor_id,
                enterprise_id=enterprise_id,
                selection=selection,
                invoice=InvoiceInfo(company, tax_code, ADDRESS, "ketoan@anphat.vn"),
                customer=CustomerInfo(company, tax_code, ADDRESS, "+84912345678", "lh@anphat.vn"),
                contact=ContactInfo("Trần Thị Bình", "+84987654321", "binh@anphat.vn"),
                expected_total=expected,
                idempotency_key=secrets.token_hex(8),
                locale="vi",
                chat_id=actor_id,
            )
        )
        assert outcome.order_id is not None, outcome
        return Made(outcome.order_id, outcome.order_code, outcome.total, outcome.subscription_code)

    async def _seed(self, request: ConfirmPaymentRequest) -> Any:
        """Applied like the real thing, but as past history: the outbox worker is held while
        the payment's **Đăng ký thành công** notices are dropped (these tests look at the
        management screens, not at payment notices, and a chat of 60 notices would take a
        minute of Telegram's flood limit)."""
        worker = self.bot.context().outbox
        assert worker is not None
        await worker.stop()
        try:
            result = await self.confirm(request)
            async with self.bot.database.engine.begin() as conn:
                await conn.execute(text("DELETE FROM outbox WHERE status = 'pending'"))
        finally:
            await worker.start()
        return result

    async def pay_online(self, made: Made, transaction_id: str) -> Made:
        """As a VNPT Pay notification of success would."""
        result = await self._seed(
            ConfirmPaymentRequest(
                method=PaymentMethod.VNPTPAY,
                source=PaymentSource.NOTIFICATION,
                merchant_order_id=f"{made.order_code}-1",
                amount=made.total,
                transaction_id=transaction_id,
                response_code="00",
            )
        )
        assert result.newly_applied, result
        made.subscription_code = result.subscription_code
        return made

    async def pay_cash(self, made: Made, agent_id: int) -> None:
        result = await self._seed(
            ConfirmPaymentRequest(
                method=PaymentMethod.BY_CASH,
                source=PaymentSource.CASH,
                order_id=made.order_id,
                amount=made.total,
                actor_id=agent_id,
            )
        )
        assert result.newly_applied, result


async def business(bot: BotHarness) -> tuple[ChatUser, int]:
    owner = bot.user("Lan", last_name="Nguyễn", phone_number="+84912345678")
    enterprise_id = await bot.add_enterprise(
        OWNER_TAX_CODE, OWNER_NAME, address=ADDRESS, email="ketoan@anphat.vn"
    )
    await bot.grant(owner.id, "owner", tax_code=OWNER_TAX_CODE)
    await owner.send("/start")  # the bot stores the Telegram profile (names in history)
    return owner, enterprise_id


async def staff(bot: BotHarness, name: str = "Hùng") -> ChatUser:
    agent = bot.user(name, last_name="Hỗ trợ")
    await bot.grant(agent.id, "agent")
    await agent.send("/start")
    return agent


async def register_camera_through_chat(user: ChatUser) -> str:
    """An OS registration through the chat, to **Đăng ký thành công**; returns the code."""
    await user.send("/services")
    await user.press("Lắp đặt camera giám sát")
    await user.press("Bảng giá")
    await user.press("Gói 1 camera wifi")
    await user.press("1 năm", prefix=True)
    await user.press("Đăng ký")
    await user.press("Không áp dụng")  # plan promotion
    await user.press("Xong")  # no add-on
    await user.press("Không áp dụng")  # invoice promotion
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")  # invoice data, prefilled
    await user.press("Tiếp theo")  # customer data
    await user.send("Nguyễn Thị Lan")
    await user.send("0912345678")
    await user.send("lan.nguyen@anphat.vn")
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    await user.press("Xác nhận")
    assert "Đăng ký thành công" in user.last_text()
    found = re.search(r"TB-\d{4}-\d{6}", user.last_text())
    assert found is not None
    return found.group(0)


async def rows(bot: BotHarness, sql: str, **params: Any) -> list[Any]:
    async with bot.database.engine.connect() as conn:
        return list((await conn.execute(text(sql), params)).all())


def list_codes(message_text: str) -> list[str]:
    return re.findall(r"\d+\. \S+ (TB-\d{4}-\d{6})", message_text)


def callback_of(message: MessageView, label: str) -> str:
    for button in message.flat_buttons:
        if button.text == label and button.callback_data:
            return button.callback_data
    raise AssertionError(f"no button {label!r} in {message.labels}")


async def forge(bot: BotHarness, user: ChatUser, message_id: int, data: str) -> None:
    """Press a button with callback data a modified client made up (on a real message)."""
    chat = bot.state.chat(bot.bot_id, user.id)
    assert chat is not None
    user._begin()
    user._action = bot.state._press(
        user.bot, chat, chat.messages[message_id], {"callback_data": data}
    )
    await user.settle()


def rev_of(message: MessageView) -> int:
    data = next(b.callback_data for b in message.flat_buttons if b.callback_data)
    assert data is not None
    return int(data.split(":")[1])


# --- the list ------------------------------------------------------------------------------


async def test_the_list_pages_newest_first_filters_and_staff_reach_it_by_tax_code(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    agent = await staff(bot)
    first = await register_camera_through_chat(owner)
    await owner.press("Quản lý thuê bao")  # the success message's button
    assert "Quản lý thuê bao" in owner.last_text() and first in owner.last_text()

    made = Registrar(bot)
    for i in range(30):
        if i % 3 == 0:
            await made.order(enterprise_id, owner.id, "CAMERA", "CAMERA-1", "Y1")  # waits: cash
        else:
            order = await made.order(enterprise_id, owner.id, "ECONTRACT", "ECONTRACT-BASIC", "M1")
            await made.pay_online(order, f"TXN{i:04d}")
    second = await register_camera_through_chat(owner)

    stored = await rows(
        bot,
        "SELECT code, status FROM subscriptions WHERE enterprise_id = :e"
        " ORDER BY created_at DESC, id DESC",
        e=enterprise_id,
    )
    assert len(stored) == 32 and stored[0].code == second and stored[-1].code == first

    await owner.send("/subscriptions")
    seen: list[str] = []
    page = owner.last_message()
    assert "32 thuê bao" in (page.text or "")
    while True:
        codes = list_codes(page.text or "")
        assert 0 < len(codes) <= 8
        seen += codes
        for code in codes:  # one button per subscription, with its status badge
            assert any(b.text.endswith(code) for b in page.flat_buttons)
        if "Sau" not in [b.text for b in page.flat_buttons]:
            break
        await owner.press("Sau")
        assert owner.last_message().message_id == page.message_id  # edited in place
        page = owner.last_message()
    assert seen == [r.code for r in stored]  # every one, newest first, each once
    assert "Trang 4/4" in (page.text or "")
    await owner.press("Trước")
    assert list_codes(owner.last_text()) == seen[16:24]

    active = [r.code for r in stored if r.status == "ACTIVE"]
    waiting = [r.code for r in stored if r.status == "FUTURE"]
    assert len(active) == 20 and len(waiting) == 12
    await owner.press("🔎 Lọc theo trạng thái")
    await owner.press("Chờ kích hoạt")
    assert f"{len(waiting)} thuê bao" in owner.last_text()
    filtered = list_codes(owner.last_text())
    while "Sau" in [b.text for b in owner.last_message().flat_buttons]:
        await owner.press("Sau")
        filtered += list_codes(owner.last_text())
    assert filtered == waiting
    await owner.press("🔎 Lọc theo trạng thái")
    await owner.press("Đang hoạt động")
    assert list_codes(owner.last_text()) == active[:8]
    assert "🟢" in owner.last_text() and "🟡" not in owner.last_text()

    # an agent reaches the business by its tax code, and may type another one
    await agent.send(f"/subscriptions {OWNER_TAX_CODE}")
    assert OWNER_NAME in agent.last_text() and list_codes(agent.last_text()) == seen[:8]
    other_id = await bot.add_enterprise(OTHER_TAX_CODE, "Công ty Cổ phần Bình Minh")
    await made.order(
        other_id,
        agent.id,
        "CAMERA",
        "CAMERA-1",
        "Y1",
        company="Công ty Cổ phần Bình Minh",
        tax_code=OTHER_TAX_CODE,
    )
    await agent.send(OTHER_TAX_CODE)
    assert "Bình Minh" in agent.last_text() and "1 thuê bao" in agent.last_text()
    await agent.send("0100112437")  # valid, but no such business
    assert "Không tìm thấy doanh nghiệp" in agent.last_text()
    # the owner cannot reach another business by its tax code
    await owner.send(f"/subscriptions {OTHER_TAX_CODE}")
    assert "không có quyền" in owner.last_text() and "Bình Minh" not in owner.last_text()


# --- the tabs ------------------------------------------------------------------------------


async def open_subscription(user: ChatUser, code: str) -> MessageView:
    await user.send(f"/subscriptions {code}")
    message = user.last_message()
    assert f"Thuê bao {code}" in (message.text or "")
    return message


async def test_every_tab_shows_what_the_database_holds(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    made = Registrar(bot)
    order = await made.order(
        enterprise_id,
        owner.id,
        "EOFFICE",
        "EOFFICE-USER",
        "M12",
        quantity=3,
        addons=("EOFFICE-MIGRATION", "EOFFICE-STORAGE"),
        plan_promotion="KM-KHACHMOI",
        invoice_promotions=("KM-HOADON5",),
    )
    await made.pay_online(order, "VNPT-TXN-778899")
    code = order.subscription_code
    message = await open_subscription(owner, code)
    async with bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
        assert sub is not None
        stored_order = await uow.orders.get(sub.order_id)
        assert stored_order is not None
        [attempt] = await uow.payments.for_order(sub.order_id)
        [invoice] = await uow.invoices.for_subscription(sub.id)
    q = Quote.from_dict(stored_order.quote)
    header = message.text or ""
    assert "VNPT eOffice – Quản lý văn bản và điều hành" in header
    assert "Gói theo người dùng" in header and "12 tháng" in header and "Số lượng: 3" in header
    assert "🟢 Đang hoạt động" in header
    start, end = sub.current_period_start, sub.current_period_end
    assert start is not None and end is not None and sub.started_at is not None
    assert f"{format_date(start)} – {format_date(end)}" in header
    tabs = [
        "Danh sách nhân viên",
        "Chi tiết",
        "Ghi nhớ",
        "Phương thức thanh toán",
        "Hóa đơn",
        "Lịch sử",
    ]
    labels = [b.text for b in message.flat_buttons]
    assert all(tab in labels for tab in tabs) and "Tiến trình" not in labels

    async def tab(label: str) -> str:
        await owner.press(label)
        assert owner.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
        shown = owner.last_message()
        assert shown.message_id == message.message_id  # the SAME message, edited
        assert len(shown.text or "") < 4096
        return shown.text or ""

    details = await tab("Chi tiết")
    for line in q.lines:
        assert money(line.base_amount) in details, line
        if line.line_discount:
            assert "−" + money(line.line_discount) in details
    for _, amount in q.invoice_discounts:
        assert "−" + money(amount) in details
    for _, base, vat in q.vat_groups:
        assert money(base) in details and money(vat) in details
    assert f"Tổng thanh toán: {money(q.total)}" in details and q.total == order.total
    assert "Khách hàng mới giảm 100.000 ₫" in details and "Giảm 5% tổng đơn hàng" in details
    assert "Chuyển đổi dữ liệu văn bản cũ" in details and "Dung lượng lưu trữ thêm" in details
    assert f"Ngày đăng ký: {format_datetime(stored_order.created_at)}" in details
    assert f"Ngày bắt đầu: {format_date(sub.started_at)}" in details
    assert f"Ngày kết thúc kỳ hiện tại: {format_date(end)}" in details
    assert "Người đăng ký: Lan Nguyễn (người của doanh nghiệp)" in details
    await owner.press("Sau")
    more = owner.last_text()
    invoice_info, contact = stored_order.invoice_info, stored_order.contact
    for value in (invoice_info["company_name"], invoice_info["tax_code"], ADDRESS):
        assert value in more
    assert contact["name"] in more and "098 765 4321" in more and contact["email"] in more

    payment = await tab("Phương thức thanh toán")
    assert "VNPT Pay" in payment and attempt.transaction_id == "VNPT-TXN-778899"
    assert "VNPT-TXN-778899" in payment
    assert attempt.completed_at is not None
    assert format_datetime(attempt.completed_at) in payment and money(attempt.amount) in payment
    assert "Không có khoản nào chờ thanh toán" in payment

    assert invoice.number is not None
    invoices = await tab("Hóa đơn")
    assert invoice.number in invoices and money(invoice.total) in invoices
    assert "đã thanh toán" in invoices

    history = await tab("Lịch sử")
    events = await rows(
        bot,
        "SELECT action FROM history_events WHERE subscription_id = :s OR order_id = :o",
        s=sub.id,
        o=sub.order_id,
    )
    assert {e.action for e in events} == {
        "order.created",
        "payment.succeeded",
        "subscription.activated",
        "invoice.paid",
    }
    for fragment in (
        f"đặt hàng {stored_order.code}",
        f"thanh toán thành công {money(order.total)} qua VNPT Pay",
        "kích hoạt thuê bao",
        f"hóa đơn {invoice.number} đã thanh toán",
    ):
        assert fragment in history, fragment

    memos = await tab("Ghi nhớ")
    assert "Chưa có ghi nhớ nào" in memos
    employees = await tab("Danh sách nhân viên")
    assert "Đang hoạt động: 0 / 0" in employees and "tối đa 3" in employees

    # the OS one made through the chat: cash pending, its progress tab
    os_code = await register_camera_through_chat(owner)
    await owner.press("Quản lý thuê bao")
    await owner.press(f"🟡 {os_code}")
    message = owner.last_message()
    assert "Tiến trình" in [b.text for b in message.flat_buttons]
    payment = await tab("Phương thức thanh toán")
    [os_invoice] = await rows(
        bot,
        "SELECT i.total FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id"
        " WHERE s.code = :c",
        c=os_code,
    )
    assert "Tiền mặt" in payment and f"Chờ thanh toán: {money(os_invoice.total)}" in payment
    assert "tiền mặt cho nhân viên VNPT" in payment  # how to pay
    assert "💵 Xác nhận đã thu tiền mặt" not in [b.text for b in owner.last_message().flat_buttons]
    progress = await tab("Tiến trình")
    assert "▶️ Đã đặt hàng" in progress and "⬜ Hoàn thành" in progress
    employees = await tab("Danh sách nhân viên")
    assert "không quản lý danh sách nhân viên" in employees


# --- employees -----------------------------------------------------------------------------


async def test_employees_are_added_deactivated_and_capped_by_the_quantity(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    made = Registrar(bot)
    order = await made.pay_online(
        await made.order(enterprise_id, owner.id, "EOFFICE", "EOFFICE-USER", "M1", quantity=2),
        "TXN-EMP",
    )
    await open_subscription(owner, order.subscription_code)
    await owner.press("Danh sách nhân viên")
    assert "tối đa 2" in owner.last_text()

    async def add(name: str, email: str, phone: str | None) -> None:
        await owner.press("➕ Thêm nhân viên")
        assert "họ tên" in owner.last_text()
        await owner.send(name)
        assert "email" in owner.last_text()
        await owner.send(email)
        assert "số điện thoại" in owner.last_text()
        if phone is None:
            await owner.press("Bỏ qua")
        else:
            await owner.send(phone)

    await owner.press("➕ Thêm nhân viên")
    await owner.send("Phạm Minh Đức")
    await owner.send("duc@@anphat")  # refused, asked again with the reason
    assert "Email chưa đúng định dạng" in owner.last_text() and "email" in owner.last_text()
    await owner.send("duc.pham@anphat.vn")
    await owner.send("0987 111 222")
    assert "Đã thêm nhân viên Phạm Minh Đức" in owner.last_text()
    await add("Lê Thu Hà", "ha.le@anphat.vn", None)
    employees = owner.last_text()
    assert "Đang hoạt động: 2 / 2" in employees
    assert "Phạm Minh Đức" in employees and "098 711 1222" in employees

    # the third is refused at once: the plan was bought for 2 users
    await owner.press("➕ Thêm nhân viên")
    answer = owner.last_callback_answer()
    assert answer is not None and "tối đa 2" in (answer.text or "")
    stored = await rows(bot, "SELECT name, email, phone, active FROM employees ORDER BY id")
    assert [(r.name, r.email, r.phone, bool(r.active)) for r in stored] == [
        ("Phạm Minh Đức", "duc.pham@anphat.vn", "+84987111222", True),
        ("Lê Thu Hà", "ha.le@anphat.vn", None, True),
    ]

    await owner.press("⛔ Ngừng: Lê Thu Hà")
    assert "Đang hoạt động: 1 / 2" in owner.last_text()
    await add("Võ Văn Tám", "tam.vo@anphat.vn", "0912000111")
    assert "Đang hoạt động: 2 / 3" in owner.last_text()
    await owner.press("✅ Kích hoạt lại: Lê Thu Hà")  # over the limit again: refused
    answer = owner.last_callback_answer()
    assert answer is not None and "tối đa 2" in (answer.text or "")
    # the same e-mail twice (any case) is refused and asked again
    await owner.press("⛔ Ngừng: Võ Văn Tám")
    await owner.press("➕ Thêm nhân viên")
    await owner.send("Võ Văn Tám")
    await owner.send("TAM.VO@anphat.vn")
    await owner.press("Bỏ qua")
    answer = owner.last_callback_answer()
    assert answer is not None and "Email này đã có" in (answer.text or "")
    assert "email" in owner.last_text()  # asked again
    await owner.press("Quay lại")

    stored = await rows(bot, "SELECT name, active FROM employees ORDER BY id")
    assert [(r.name, bool(r.active)) for r in stored] == [
        ("Phạm Minh Đức", True),
        ("Lê Thu Hà", False),
        ("Võ Văn Tám", False),
    ]
    await owner.press("Lịch sử")
    history = owner.last_text()
    for fragment in (
        "thêm nhân viên Phạm Minh Đức",
        "thêm nhân viên Lê Thu Hà",
        "ngừng nhân viên Lê Thu Hà",
        "thêm nhân viên Võ Văn Tám",
        "ngừng nhân viên Võ Văn Tám",
    ):
        assert fragment in history, fragment
    actions = await rows(
        bot, "SELECT action, actor_id FROM history_events WHERE action LIKE 'employee.%'"
    )
    assert len(actions) == 5 and {a.actor_id for a in actions} == {owner.id}


# --- notes and memos -----------------------------------------------------------------------


async def test_notes_by_the_owner_and_memos_by_an_agent(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    agent = await staff(bot)
    made = Registrar(bot)
    order = await made.pay_online(
        await made.order(enterprise_id, owner.id, "ECONTRACT", "ECONTRACT-BASIC", "M1"), "T1"
    )
    code = order.subscription_code

    await open_subscription(owner, code)
    await owner.press("Ghi nhớ")
    labels = [b.text for b in owner.last_message().flat_buttons]
    assert "📝 Thêm ghi chú" in labels
    assert "➕ Phiếu ghi có" not in labels and "➖ Phiếu ghi nợ" not in labels  # staff only
    await owner.press("📝 Thêm ghi chú")
    await owner.send("x" * 501)  # too long: refused with the reason
    assert "Nội dung quá dài (tối đa 500 ký tự)" in owner.last_text()
    await owner.send("Gia hạn trước ngày 15 hằng tháng <b>gấp</b>")
    assert "Đã lưu ghi chú" in owner.last_text()
    assert "Gia hạn trước ngày 15 hằng tháng <b>gấp</b>" in owner.last_text()  # escaped
    assert "Lan Nguyễn" in owner.last_text()

    await open_subscription(agent, code)
    await agent.press("Ghi nhớ")
    await agent.press("➕ Phiếu ghi có")
    await agent.send("1.500.000,5")  # not whole đồng
    assert "Số tiền chưa đúng định dạng" in agent.last_text()
    await agent.send("150.000 đ")
    await agent.send("Bù 5 ngày gián đoạn dịch vụ")
    await agent.press("➖ Phiếu ghi nợ")
    await agent.send("80000")
    await agent.send("Phí đổi tên miền")
    memos = agent.last_text()
    # newest first: the debit, the credit, then the owner's note
    debit, credit, note = (
        memos.index("Phiếu ghi nợ 80.000"),
        memos.index("Phiếu ghi có 150.000"),
        memos.index("Ghi chú"),
    )
    assert debit < credit < note
    assert "Hùng Hỗ trợ (hỗ trợ)" in memos and "chờ xử lý" in memos
    await agent.press("✔ Áp dụng phiếu 2")  # the credit memo
    answer = agent.last_callback_answer()
    assert answer is not None and "Đã áp dụng" in (answer.text or "")
    assert "đã áp dụng" in agent.last_text()
    await agent.press("✖ Hủy phiếu 1")  # the debit memo
    labels = [b.text for b in agent.last_message().flat_buttons]
    assert not any(label.startswith(("✔", "✖")) for label in labels)  # nothing open left

    stored = await rows(bot, "SELECT kind, text, amount, status, author_id FROM memos ORDER BY id")
    assert [(r.kind, r.amount, r.status, r.author_id) for r in stored] == [
        ("NOTE", None, None, owner.id),
        ("CREDIT", 150_000, "APPLIED", agent.id),
        ("DEBIT", 80_000, "CANCELLED", agent.id),
    ]
    assert stored[1].text == "Bù 5 ngày gián đoạn dịch vụ"

    await agent.press("Lịch sử")
    history = agent.last_text()
    for fragment in (
        "Lan Nguyễn: thêm ghi chú",
        "Hùng Hỗ trợ (hỗ trợ): thêm phiếu ghi có " + money(150_000),
        "thêm phiếu ghi nợ " + money(80_000),
        "phiếu ghi có " + money(150_000) + " chuyển sang đã áp dụng",
        "phiếu ghi nợ " + money(80_000) + " chuyển sang đã hủy",
    ):
        assert fragment in history, fragment


# --- invoices ------------------------------------------------------------------------------


async def test_an_invoice_opens_with_its_lines_and_comes_as_a_pdf(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    made = Registrar(bot)
    order = await made.pay_online(
        await made.order(
            enterprise_id,
            owner.id,
            "SMARTCA",
            "SMARTCA-BUSINESS",
            "M24",
            addons=("SMARTCA-TSA", "SMARTCA-REMOTE-SETUP"),
            plan_promotion="KM-SMARTCA10",
            invoice_promotions=("KM-HOADON5",),
        ),
        "TXN-PDF-1",
    )
    message = await open_subscription(owner, order.subscription_code)
    async with bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(order.subscription_code)
        assert sub is not None
        [invoice] = await uow.invoices.for_subscription(sub.id)
    assert invoice.number is not None and invoice.total == order.total
    q = Quote.from_dict(invoice.lines)
    assert q.total == invoice.total and len(q.vat_groups) == 2  # 10% and 8%

    # the overview's copy_text button carries the code (the server checked it per the spec)
    copies = [b for b in message.flat_buttons if b.kind == "copy_text"]
    assert [b.copy_text for b in copies] == [order.subscription_code]
    assert order.subscription_code in copies[0].text

    await owner.press("Hóa đơn")
    await owner.press(f"📄 {invoice.number}")
    assert owner.calls_since_action() == [
        "sendChatAction",  # "sending a file…" while the PDF is laid out
        "answerCallbackQuery",
        "editMessageText",
        "sendDocument",
    ]
    shown = owner.bot_messages()[-2]
    assert shown.message_id == message.message_id  # the tab message, edited in place
    detail = shown.text or ""
    assert invoice.number in detail and "Tổng thanh toán: " + money(q.total) in detail
    for tax, base, vat in q.vat_groups:
        assert f"Thuế GTGT {tax.value} trên {money(base)}: {money(vat)}" in detail
    for line in q.lines:
        if line.line_discount:
            assert f"Khuyến mại {line.promotion_code}: −{money(line.line_discount)}" in detail

    [document] = owner.documents()
    assert document.file_name == f"{invoice.number}.pdf"
    assert document.mime_type == "application/pdf"
    reader = PdfReader(io.BytesIO(document.data))
    pdf_text = "\n".join(page.extract_text() for page in reader.pages).replace(NBSP, " ")
    for fragment in (
        "HÓA ĐƠN",
        "Hóa đơn dịch vụ số oneSME",
        f"Số hóa đơn: {invoice.number}",
        OWNER_NAME,
        "Mã số thuế: " + OWNER_TAX_CODE,
        ADDRESS,
        "Dịch vụ cấp dấu thời gian",
        "Hỗ trợ cài đặt từ xa",
        "Thuế GTGT theo thuế suất",
        "Khuyến mại tổng hóa đơn KM-HOADON5",
        "Đã thanh toán",
        "VNPT Pay (trực tuyến)",
    ):
        assert fragment in pdf_text, fragment
    amounts = {
        "Cộng tiền hàng": q.subtotal,
        "Khuyến mại": q.line_discount_total + q.invoice_discount_total,
        "Tiền trước thuế": q.net_total,
        "Tiền thuế GTGT": q.vat_total,
        "Tổng thanh toán": q.total,
    }
    for label, amount in amounts.items():
        assert re.search(
            rf"^{label} {re.escape(money(amount).replace(NBSP, ' '))}$", pdf_text, re.M
        ), label
    for line in q.lines:
        assert money(line.net_amount).replace(NBSP, " ") in pdf_text

    await owner.press("« Danh sách hóa đơn")
    assert owner.calls_since_action() == ["answerCallbackQuery", "editMessageText"]
    assert len(owner.documents()) == 1  # going back sends nothing again
    await owner.send("/help")  # redrawing the step never resends the file
    assert len(owner.documents()) == 1


# --- order progress ------------------------------------------------------------------------


async def test_an_agent_moves_the_order_progress_and_the_owner_is_told(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner, _ = await business(bot)
    agent = await staff(bot)
    code = await register_camera_through_chat(owner)

    await open_subscription(owner, code)
    await owner.press("Tiến trình")
    assert "Nhân viên hỗ trợ sẽ cập nhật tiến trình" in owner.last_text()
    assert not any(b.text.startswith("➡") for b in owner.last_message().flat_buttons)

    await agent.send(f"/subscriptions {OWNER_TAX_CODE}")
    await agent.press(f"🟡 {code}")
    await agent.press("Tiến trình")
    told_before = len(owner.bot_messages())
    for step in ("Đã tiếp nhận", "Đang triển khai", "Hoàn thành"):
        await agent.press(f"➡ Chuyển sang: {step}")
        answer = agent.last_callback_answer()
        assert answer is not None and step in (answer.text or "")
        await owner.wait_for_text(f"đã chuyển sang: {step}")
    assert "✅ Hoàn thành" in agent.last_text()
    assert not any(b.text.startswith(("➡", "❌")) for b in agent.last_message().flat_buttons)
    notices = owner.bot_messages()[told_before:]
    assert [n.text and code in n.text for n in notices] == [True, True, True]
    async with bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
    assert sub is not None and sub.progress is not None and sub.progress.value == "COMPLETED"
    changes = await rows(
        bot,
        "SELECT actor_id, details FROM history_events WHERE action = 'progress.changed'"
        " ORDER BY id",
    )
    assert [c.actor_id for c in changes] == [agent.id] * 3

    # the agent takes the cash from the payment tab (the payments flow confirms it)
    await agent.press("Phương thức thanh toán")
    assert "Chờ thanh toán" in agent.last_text()
    await agent.press("💵 Xác nhận đã thu tiền mặt")
    await agent.send(f"/subscriptions {code}")
    await agent.press("Phương thức thanh toán")
    async with bot.database.uow as uow:
        paid = await uow.subscriptions.get_by_code(code)
        assert paid is not None
        [invoice] = await uow.invoices.for_subscription(paid.id)
    assert invoice.status.value == "PAID" and invoice.confirmed_by == agent.id
    assert invoice.paid_at is not None and paid.status.value == "ACTIVE"
    payment = agent.last_text()
    assert (
        f"Đã thu tiền mặt {money(invoice.total)} lúc {format_datetime(invoice.paid_at)}" in payment
    )
    assert "xác nhận bởi Hùng Hỗ trợ (hỗ trợ)" in payment and "Chờ thanh toán" not in payment
    notices = [m for m in owner.bot_messages()[told_before:] if "chuyển sang" in (m.text or "")]

    # the notice's button opens the subscription for the owner
    await owner.press("Quản lý thuê bao", message_id=notices[-1].message_id)
    assert f"Thuê bao {code}" in owner.last_text() and "Hoàn thành" in owner.last_text()
    await owner.press("Lịch sử")
    history = owner.last_text()
    assert "Hùng Hỗ trợ (hỗ trợ): tiến trình: Đã đặt hàng → Đã tiếp nhận" in history
    assert "tiến trình: Đang triển khai → Hoàn thành" in history
    assert f"Hùng Hỗ trợ (hỗ trợ): thanh toán thành công {money(invoice.total)} qua tiền mặt" in (
        history
    )


# --- rights --------------------------------------------------------------------------------


async def test_a_member_sees_but_cannot_change_and_others_are_refused(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    member = bot.user("Mai", last_name="Thành viên")
    await bot.grant(member.id, "member", tax_code=OWNER_TAX_CODE)
    stranger = bot.user("Khoa", last_name="Người ngoài")
    other_id = await bot.add_enterprise(OTHER_TAX_CODE, "Công ty Cổ phần Bình Minh")
    await bot.grant(stranger.id, "owner", tax_code=OTHER_TAX_CODE)
    made = Registrar(bot)
    order = await made.pay_online(
        await made.order(enterprise_id, owner.id, "EOFFICE", "EOFFICE-USER", "M1", quantity=5),
        "TXN-R",
    )
    code = order.subscription_code
    await open_subscription(owner, code)
    await owner.press("Danh sách nhân viên")
    await owner.press("➕ Thêm nhân viên")
    await owner.send("Phạm Minh Đức")
    await owner.send("duc@anphat.vn")
    await owner.press("Bỏ qua")

    message = await open_subscription(member, code)
    assert "chỉ được xem" in (message.text or "")
    for tab in ("Danh sách nhân viên", "Ghi nhớ"):
        await member.press(tab)
        labels = [b.text for b in member.last_message().flat_buttons]
        assert not any(label.startswith(("➕", "⛔", "✅", "📝")) for label in labels), labels
    assert "Phạm Minh Đức" not in member.last_text()  # memos tab now
    await member.press("Danh sách nhân viên")
    assert "Phạm Minh Đức" in member.last_text() and "chỉ được xem" in member.last_text()
    shown = member.last_message()
    [emp] = await rows(bot, "SELECT id FROM employees")
    for action in ("emp_add:", f"emp_off:{emp.id}", "note_add:", "credit_add:"):
        data = f"f:{rev_of(shown)}:{action}"  # the current rev: only the rights stop it
        await forge(bot, member, shown.message_id, data)
        answer = member.last_callback_answer()
        assert answer is not None and "không có quyền" in (answer.text or ""), data
        assert member.last_message().text == shown.text  # nothing changed on screen
    assert [bool(r.active) for r in await rows(bot, "SELECT active FROM employees")] == [True]
    assert await rows(bot, "SELECT id FROM memos") == []

    # another business's owner: by code, by tax code and by a forged id, refused alike
    other = await made.order(
        other_id,
        stranger.id,
        "CAMERA",
        "CAMERA-1",
        "Y1",
        company="Công ty Cổ phần Bình Minh",
        tax_code=OTHER_TAX_CODE,
    )
    await stranger.send(f"/subscriptions {code}")
    assert "không có quyền" in stranger.last_text() and "eOffice" not in stranger.last_text()
    await stranger.send("/subscriptions")
    listing = stranger.last_message()
    assert other.subscription_code in (listing.text or "") and code not in (listing.text or "")
    [sub] = await rows(bot, "SELECT id FROM subscriptions WHERE code = :c", c=code)
    [missing] = await rows(bot, "SELECT max(id) + 100 AS id FROM subscriptions")
    for target in (sub.id, missing.id):
        await forge(bot, stranger, listing.message_id, f"f:{rev_of(listing)}:open:{target}")
        answer = stranger.last_callback_answer()
        assert answer is not None and "không có quyền" in (answer.text or "")
        assert stranger.last_message().text == listing.text
        assert code not in (stranger.last_text())
    # a forged invoice id of the other business, from the stranger's own subscription
    [invoice] = await rows(bot, "SELECT id FROM invoices WHERE subscription_id = :s", s=sub.id)
    await stranger.press(f"🟡 {other.subscription_code}")
    await stranger.press("Hóa đơn")
    shown = stranger.last_message()
    await forge(bot, stranger, shown.message_id, f"f:{rev_of(shown)}:inv_open:{invoice.id}")
    answer = stranger.last_callback_answer()
    assert answer is not None and "không có quyền" in (answer.text or "")
    assert stranger.documents() == []


# --- cost ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_the_list_and_every_tab_cost_the_same_queries_for_5_or_60_subscriptions(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    owner, enterprise_id = await business(bot)
    made = Registrar(bot)

    async def add(count: int) -> str:
        code = ""
        for i in range(count):
            order = await made.order(enterprise_id, owner.id, "ECONTRACT", "ECONTRACT-BASIC", "M1")
            code = (await made.pay_online(order, f"TX{secrets.token_hex(4)}{i}")).subscription_code
        return code

    async def costs(code: str) -> dict[str, int]:
        measured: dict[str, int] = {}
        await owner.send("/start")
        await owner.press("Quản lý")
        with bot.queries.measure() as q:
            await owner.press("Quản lý thuê bao")
        measured["list"] = q.count
        with bot.queries.measure() as q:
            await owner.press("Sau")
        measured["next page"] = q.count
        await owner.press("🔎 Lọc theo trạng thái")
        with bot.queries.measure() as q:
            await owner.press("Đang hoạt động")
        measured["filtered list"] = q.count
        await owner.send(f"/subscriptions {code}")
        for tab in (
            "Danh sách nhân viên",
            "Chi tiết",
            "Ghi nhớ",
            "Phương thức thanh toán",
            "Hóa đơn",
            "Lịch sử",
        ):
            with bot.queries.measure() as q:
                await owner.press(tab)
            measured[tab] = q.count
        return measured

    newest = await add(9)  # two pages
    small = await costs(newest)
    newest = await add(51)
    large = await costs(newest)
    assert small == large, (small, large)
    # the session's save (it is read from memory without Redis), then the use case: the
    # subscription with the presser's rights in one statement, and the tab's data (a page
    # carries its total) in one or two
    assert large == {
        "list": 4,  # + the presser's roles, one page with its total, the businesses' names
        "next page": 4,
        "filtered list": 4,
        "Danh sách nhân viên": 3,
        "Chi tiết": 5,  # + the order, who registered it, the change waiting for the period end
        "Ghi nhớ": 3,
        "Phương thức thanh toán": 4,  # + invoices, payment attempts
        "Hóa đơn": 3,
        "Lịch sử": 5,  # + the page of events, their actors' names, the orders still to pay
    }, large
