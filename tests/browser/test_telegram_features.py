"""The newer Telegram features the bot uses, driven in the web chat page in a real browser
(Debian's Chromium, driven by Playwright): a ``copy_text`` inline button puts its text on the
clipboard and says so, a ``request_users`` reply-keyboard button opens a picker of the simulated
users whose choice reaches the bot as ``users_shared`` (``/invite``), and a chat action
(``sendChatAction`` ``upload_document`` while an invoice PDF is laid out) shows in the top bar.

The subscriptions are made through the bot's own use cases on the sandbox's event loop
(PlaceOrder, then ConfirmPayment as the VNPT Pay notification applies it), not by walking a
registration in the page: the tour tests do that already, and these stay a few seconds each.
"""

from __future__ import annotations

import re
import secrets

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from bot.sandbox_cmd import DEMO_BUSINESS, NEW_USER_ID, OWNER_ID, Sandbox
from domain.model import PaymentMethod
from domain.pricing import PromotionUsage, Selection, quote
from domain.registration import ContactInfo, CustomerInfo, InvoiceInfo, OrderRequest
from domain.usecases.payments import ConfirmPayment, ConfirmPaymentRequest, PaymentSource
from sandbox.botapi import BotApiState, MessageView
from tests.browser.chat import Chat
from tests.browser.conftest import RunningSandbox

SUBSCRIPTION_CODE = re.compile(r"TB-\d{4}-\d{6}")
SENDING_A_FILE = "đang gửi tệp…"
PDF_DELAY_SECONDS = 1.5


async def paid_subscription(sandbox: Sandbox) -> tuple[str, str]:
    """A SmartCA subscription of the demo business, ordered by its owner and paid through VNPT
    Pay; returns its code and its invoice's number. The payment's notices are dropped (the
    outbox worker held meanwhile): the chat starts empty."""
    container = sandbox.bot.container
    async with container.uow() as uow:
        business = await uow.enterprises.by_tax_code(DEMO_BUSINESS.tax_code)
        assert business is not None
    selection = Selection(
        service_code="SMARTCA", plan_code="SMARTCA-BUSINESS", cycle_code="M12", quantity=1
    )
    today = container.clock.now().date()
    total = quote(container.catalog.get(), selection, today=today, usage=PromotionUsage()).total
    company, tax_code, address = DEMO_BUSINESS.name, DEMO_BUSINESS.tax_code, DEMO_BUSINESS.address
    outcome = await container.place_order(
        OrderRequest(
            actor_id=OWNER_ID,
            enterprise_id=int(business.id),
            selection=selection,
            invoice=InvoiceInfo(company, tax_code, address, DEMO_BUSINESS.email),
            customer=CustomerInfo(company, tax_code, address, "+84912345678", "lan@anbinh.vn"),
            contact=ContactInfo("Nguyễn Thị Lan", "+84912345678", "lan@anbinh.vn"),
            expected_total=total,
            idempotency_key=secrets.token_hex(8),
            locale="vi",
            chat_id=OWNER_ID,
        )
    )
    assert outcome.order_id is not None, outcome
    worker = container.outbox
    await worker.stop()
    try:
        result = await ConfirmPayment(container.uow, container.catalog.get, container.clock)(
            ConfirmPaymentRequest(
                method=PaymentMethod.VNPTPAY,
                source=PaymentSource.NOTIFICATION,
                merchant_order_id=f"{outcome.order_code}-1",
                amount=total,
                transaction_id="TXN-WEBCHAT-1",
                response_code="00",
            )
        )
        async with container.database.engine.begin() as conn:
            await conn.execute(text("DELETE FROM outbox WHERE status = 'pending'"))
    finally:
        await worker.start()
    assert result.newly_applied, result
    async with container.uow() as uow:
        subscription = await uow.subscriptions.get_by_code(result.subscription_code)
        assert subscription is not None
        [invoice] = await uow.invoices.for_subscription(subscription.id)
    assert invoice.number is not None
    return result.subscription_code, invoice.number


async def history_of(sandbox: Sandbox, user_id: int) -> list[MessageView]:
    return sandbox.botapi.history(user_id)


async def slow_documents(botapi: BotApiState) -> None:
    """The next ``sendDocument`` is answered (and carried out) ``PDF_DELAY_SECONDS`` late."""
    botapi.faults.add("slow", methods=["sendDocument"], delay=PDF_DELAY_SECONDS, times=1)


def open_subscription(chat: Chat, code: str) -> None:
    chat.send("/subscriptions", then=code)
    chat.press(re.compile(re.escape(code)), then="VNPT SmartCA")


NO_CLIPBOARD_API = """
window.__clipboard = navigator.clipboard;
Object.defineProperty(Navigator.prototype, "clipboard", { get: () => undefined });
"""
"""The page as a browser shows it on a plain-HTTP address of the machine (not a secure context):
no ``navigator.clipboard``; the test keeps it aside to read what was copied."""


@pytest.mark.parametrize("clipboard_api", [True, False], ids=["clipboard-api", "no-clipboard-api"])
def test_a_copy_text_button_copies_its_text_and_says_so(
    sandbox: RunningSandbox, page: Page, clipboard_api: bool
) -> None:
    code, _ = sandbox.run(paid_subscription(sandbox.sandbox))
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    if not clipboard_api:
        page.add_init_script(NO_CLIPBOARD_API)
    chat = Chat(page, sandbox.url, OWNER_ID)
    open_subscription(chat, code)
    copy = chat.button(f"📋 Sao chép mã thuê bao {code}")
    expect(copy).to_have_attribute("data-kind", "copy_text")
    events = len(sandbox.sandbox.botapi.events)

    copy.click()

    expect(page.get_by_test_id("toast")).to_have_text(f"Đã sao chép: {code}")
    expect(copy).to_have_attribute("data-copied", "true")  # the button lights up a moment
    clipboard = "navigator.clipboard" if clipboard_api else "window.__clipboard"
    assert page.evaluate(f"{clipboard}.readText()") == code
    assert len(sandbox.sandbox.botapi.events) == events  # copied on the device: no message


def test_the_pick_users_button_lists_the_users_and_the_pick_reaches_the_bot(
    sandbox: RunningSandbox, page: Page
) -> None:
    employee = Chat(page, sandbox.url, NEW_USER_ID)
    employee.send("/start", then="Chia sẻ số điện thoại")  # uses the bot: can be sent to
    employee.send("/cancel")

    chat = Chat(page, sandbox.url, OWNER_ID)
    chat.send("/invite", then="Mời nhân viên vào " + DEMO_BUSINESS.name)
    pick = chat.reply_button("👤 Chọn nhân viên trong Telegram")
    expect(pick).to_have_attribute("data-kind", "request_users")

    pick.click()

    picker = page.get_by_test_id("share-users")
    expect(picker).to_be_visible()
    options = picker.get_by_test_id("share-user")
    # the other simulated users, never the one chatting (Telegram refuses sharing oneself)
    expect(options).to_have_count(3)
    expect(options.filter(has_text="Lan Nguyễn Thị")).to_have_count(0)
    chat.pick_user("Tuấn Lê Anh", then="Đã gửi lời mời tới Tuấn")
    expect(picker).to_be_hidden()
    chat.shows("https://t.me/")  # the one-time link too, to send another way
    mine = page.locator('[data-testid="message"][data-from="user"]').last
    expect(mine.get_by_test_id("users-shared")).to_have_text("Đã chọn: Tuấn Lê Anh")
    history = sandbox.run(history_of(sandbox.sandbox, OWNER_ID))
    [shared] = [m.users_shared for m in history if m.users_shared is not None]
    assert [u["user_id"] for u in shared["users"]] == [NEW_USER_ID]

    # the employee's chat: the invitation, accepted there
    employee = Chat(page, sandbox.url, NEW_USER_ID)
    employee.shows("mời bạn tham gia doanh nghiệp", anywhere=True)
    employee.shows(DEMO_BUSINESS.name, anywhere=True)
    employee.press("✅ Tham gia doanh nghiệp", then="Bạn đã tham gia doanh nghiệp")


def test_the_chat_shows_sending_a_file_while_the_invoice_pdf_is_made(
    sandbox: RunningSandbox, page: Page
) -> None:
    code, number = sandbox.run(paid_subscription(sandbox.sandbox))
    chat = Chat(page, sandbox.url, OWNER_ID)
    open_subscription(chat, code)
    chat.press("Hóa đơn", then=number)
    status = page.locator("#status")
    expect(status).to_have_text("bot")
    # the document arrives late (a slow Bot API server), so the action stays on screen a while
    botapi = sandbox.sandbox.botapi
    sandbox.run(slow_documents(botapi))

    chat.button(f"📄 {number}").click()

    expect(status).to_have_text(SENDING_A_FILE)
    expect(status).to_have_attribute("data-action", "upload_document")
    expect(page.get_by_test_id("document")).to_contain_text(f"{number}.pdf")
    expect(status).to_have_text("bot")  # the file came: the action ends with it
    actions = [c.params.get("action") for c in botapi.calls if c.method == "sendChatAction"]
    assert actions == ["upload_document"]
