"""Issue 14, item 1 end to end: **Thanh toán** on an open invoice in **Hóa đơn**.

The real bot (polling) against the local Bot API server and the VNPT Pay simulator (see
``payments_fixtures``). An ON subscription whose invoice waits for payment is what a renewal
or a change of plan leaves behind; here it is made from a real order placed through the chat
(its subscription and invoice opened as those use cases do), so the payment runs through the
bot's real use cases, the simulator's pages and its notification. OS invoices come from a
real cash registration through the chat.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text

from domain.model import (
    InvoiceStatus,
    OrderId,
    OrderStatus,
    PaymentAttemptStatus,
    SubscriptionStatus,
)
from domain.orders import invoice_for, subscription_for
from domain.pricing import Quote
from tests.e2e.botapi_client import ChatUser
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)
from tests.e2e.test_manage import forge

SMARTCA = "VNPT SmartCA"
PERSONAL = "Gói Cá nhân"  # 12 months, 250.000 ₫ + 10 % VAT
PERSONAL_TOTAL = 275_000
PAY = "💳 Thanh toán"
SUCCESS = "Đăng ký thành công"


async def open_on_invoice(shop: Shop, user: ChatUser) -> tuple[str, int, int, str]:
    """An ON order placed through the chat, with its FUTURE subscription and WAITING invoice:
    (subscription code, order id, invoice id, the first payment link's merchant order id)."""
    await shop.checkout(user, SMARTCA, PERSONAL, "12 tháng")
    first = await shop.merchant_order_id(shop.pay_url(user))
    async with shop.bot.database.uow as uow:
        attempt = await uow.payments.get_by_merchant_order_id(first)
        assert attempt is not None
        order = await uow.orders.get(attempt.order_id)
        assert order is not None
        now = shop.clock.now()
        code = await uow.subscriptions.next_code(now.year)
        sub = await uow.subscriptions.add(
            subscription_for(order, code, now, status=SubscriptionStatus.FUTURE)
        )
        invoice = await uow.invoices.add(
            invoice_for(
                order,
                Quote.from_dict(order.quote),
                now,
                subscription_id=sub.id,
                status=InvoiceStatus.WAITING,
            )
        )
        await uow.commit()
    return sub.code, int(order.id), int(invoice.id), first


async def invoices_tab(user: ChatUser, code: str) -> int:
    """Open the subscription and its **Hóa đơn**; returns the tab message's id."""
    await user.send(f"/subscriptions {code}")
    await user.press("Hóa đơn")
    return user.last_message().message_id


async def attempts(shop: Shop, order_id: int) -> list[tuple[str, PaymentAttemptStatus]]:
    async with shop.bot.database.uow as uow:
        found = await uow.payments.for_order(OrderId(order_id))
    return [(a.merchant_order_id, a.status) for a in found]


async def count_orders(shop: Shop) -> int:
    async with shop.bot.database.engine.connect() as conn:
        [(count,)] = (await conn.execute(text("SELECT count(*) FROM orders"))).all()
    return int(count)


def callback_of(user: ChatUser, message_id: int, label: str) -> str:
    [message] = [m for m in user.bot_messages() if m.message_id == message_id]
    for button in message.flat_buttons:
        if button.text == label and button.callback_data:
            return button.callback_data
    raise AssertionError(f"no {label!r} on {message.labels}")


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_open_on_invoice_is_paid_through_a_fresh_link(shop: Shop) -> None:
    owner = await shop.owner()
    code, order_id, invoice_id, first = await open_on_invoice(shop, owner)
    cancelled = await shop.pay(shop.pay_url(owner), cancel=True)  # the first link: cancelled
    assert "Bạn đã hủy thanh toán" in cancelled.return_page
    await owner.wait_for_text("Bạn đã hủy thanh toán")

    tab = await invoices_tab(owner, code)
    listing = owner.last_text()
    assert money(PERSONAL_TOTAL) in listing and "chờ thanh toán" in listing
    assert PAY in [b.text for b in owner.last_message().flat_buttons]
    await owner.press("📄 Hóa đơn 1")
    [detail] = [m for m in owner.bot_messages() if m.message_id == tab]
    assert "Hóa đơn đang chờ thanh toán: nhấn 💳 Thanh toán" in (detail.text or "")

    await owner.press(PAY, message_id=tab)

    answer = owner.last_callback_answer()
    assert answer is not None and answer.text == "Đã gửi liên kết thanh toán."
    url = shop.pay_url(owner)
    second = await shop.merchant_order_id(url)
    assert second != first and second.endswith("-2")  # a fresh merchant order id
    link = owner.bot_messages()[-2]
    assert f"Mã tham chiếu: {second}" in (link.text or "") and code in (link.text or "")
    copies = [b.copy_text for b in link.flat_buttons if b.kind == "copy_text"]
    assert copies == [second]  # the payment reference, copied with Telegram's copy_text
    assert owner.last_message().photo is not None  # the QR code of the link
    assert shop.sim.state.transactions[second].amount == PERSONAL_TOTAL
    assert await attempts(shop, order_id) == [
        (first, PaymentAttemptStatus.CANCELLED),
        (second, PaymentAttemptStatus.PENDING),
    ]

    # a second press while that link is open: the same link, nothing new
    await owner.press(PAY, message_id=tab)
    answer = owner.last_callback_answer()
    assert answer is not None and "vẫn còn hiệu lực" in (answer.text or "")
    assert shop.pay_url(owner) == url
    assert len(shop.sim.state.transactions) == 2
    assert len(await attempts(shop, order_id)) == 2

    await shop.switches(notification_twice=True)  # the gateway repeats its notification
    paid = await shop.pay(url)

    assert "Thanh toán thành công" in paid.return_page
    told = await owner.wait_for_text(SUCCESS, timeout=15)
    assert code in (told.text or "") and money(PERSONAL_TOTAL) in (told.text or "")
    async with shop.bot.database.uow as uow:
        order = await uow.orders.get(OrderId(order_id))
        sub = await uow.subscriptions.get_by_code(code)
        [invoice] = await uow.invoices.for_order(OrderId(order_id))
    assert order is not None and order.status is OrderStatus.PAID
    assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
    assert invoice.id == invoice_id and invoice.status is InvoiceStatus.PAID and invoice.number
    assert invoice.number in (told.text or "")
    replies = await shop.notifications(second)
    assert [(r["repeat"], r["reply_code"]) for r in replies] == [(False, "00"), (True, "02")]
    await owner.settle()
    assert [t for t in owner.texts() if SUCCESS in t] == [told.text]  # told once

    # the tab's button, pressed after the payment (the success notice came since): a stale
    # button, nothing new
    await owner.press(PAY, message_id=tab)
    answer = owner.last_callback_answer()
    assert answer is not None and "đã cũ" in (answer.text or "")
    assert len(shop.sim.state.transactions) == 2
    await owner.send(f"/subscriptions {code}")
    await owner.press("Lịch sử")
    assert f"tạo liên kết thanh toán hóa đơn (mã {second})" in owner.last_text()
    await owner.press("Hóa đơn")
    assert PAY not in [b.text for b in owner.last_message().flat_buttons]


async def test_an_os_invoice_shows_the_cash_note(shop: Shop) -> None:
    owner = await shop.owner()
    await shop.checkout(owner, "Lắp đặt camera giám sát", "Gói 1 camera wifi", "1 năm")
    found = re.search(r"TB-\d{4}-\d{6}", owner.last_text())
    assert found is not None and SUCCESS in owner.last_text()
    code = found.group(0)
    transactions = len(shop.sim.state.transactions)

    await owner.send(f"/subscriptions {code}")
    await owner.press("Phương thức thanh toán")
    assert PAY in [b.text for b in owner.last_message().flat_buttons]
    await owner.press("Hóa đơn")
    await owner.press(PAY)

    note = owner.last_text()
    assert "Thanh toán tiền mặt" in note and "cho nhân viên VNPT" in note and code in note
    answer = owner.last_callback_answer()
    assert answer is not None and answer.text == "Hóa đơn này thanh toán bằng tiền mặt."
    assert len(shop.sim.state.transactions) == transactions  # no online payment
    async with shop.bot.database.engine.connect() as conn:
        [(count,)] = (await conn.execute(text("SELECT count(*) FROM payment_attempts"))).all()
    assert count == 0


async def test_forged_stale_and_expired_presses(shop: Shop) -> None:
    owner = await shop.owner()
    code, order_id, invoice_id, first = await open_on_invoice(shop, owner)
    member = shop.bot.user("Mai", last_name="Thành viên")
    await shop.bot.grant(member.id, "member", tax_code="0103326250")
    stranger = shop.bot.user("Khoa", last_name="Người ngoài", phone_number="+84987654321")
    await shop.bot.add_enterprise(
        "0100233488", "Công ty An Bình", address="1 Lê Lợi, Hà Nội", email="kt@anbinh.vn"
    )
    await shop.bot.grant(stranger.id, "owner", tax_code="0100233488")

    # a member sees the invoice but no button; a forged one is refused
    tab = await invoices_tab(member, code)
    assert PAY not in [b.text for b in member.last_message().flat_buttons]
    rev = next(b.callback_data for b in member.last_message().flat_buttons if b.callback_data)
    assert rev is not None
    forged = f"f:{rev.split(':')[1]}:inv_pay:{invoice_id}"
    await forge(shop.bot, member, tab, forged)
    answer = member.last_callback_answer()
    assert answer is not None and "không có quyền" in (answer.text or "")
    # another business's owner, forging the id on their own invoice's screen, is refused alike
    await stranger.send("/start")
    await shop.checkout(stranger, "Lắp đặt camera giám sát", "Gói 1 camera wifi", "1 năm")
    own = re.search(r"TB-\d{4}-\d{6}", stranger.last_text())
    assert own is not None
    theirs = await invoices_tab(stranger, own.group(0))
    data = callback_of(stranger, theirs, PAY)
    await forge(shop.bot, stranger, theirs, data.rsplit(":", 1)[0] + f":{invoice_id}")
    answer = stranger.last_callback_answer()
    assert answer is not None and "không có quyền" in (answer.text or "")
    assert code not in stranger.last_text()
    assert await attempts(shop, order_id) == [(first, PaymentAttemptStatus.PENDING)]

    # a stale button: the tab's message from before a newer screen
    old_tab = await invoices_tab(owner, code)
    stale = callback_of(owner, old_tab, PAY)
    await owner.send("/subscriptions")
    await owner.press_data(stale, message_id=old_tab)
    answer = owner.last_callback_answer()
    assert answer is not None and "đã cũ" in (answer.text or "")
    assert await attempts(shop, order_id) == [(first, PaymentAttemptStatus.PENDING)]

    # the order's payment time runs out: nothing is created, the owner is told why
    tab = await invoices_tab(owner, code)
    orders_before = await count_orders(shop)
    shop.clock.advance(timedelta(minutes=31))
    await owner.press(PAY, message_id=tab)
    answer = owner.last_callback_answer()
    assert answer is not None and "hết hạn thanh toán" in (answer.text or "")
    explained = owner.last_message()
    assert "không còn thanh toán được" in (explained.text or "")
    assert "Không có đơn hàng mới nào được tạo" in (explained.text or "")
    assert [b.text for b in explained.flat_buttons] == ["Dịch vụ"]
    assert await attempts(shop, order_id) == [(first, PaymentAttemptStatus.PENDING)]
    assert await count_orders(shop) == orders_before
