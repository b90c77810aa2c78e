"""Issue 4 end to end: after **Xác nhận** money moves and the subscription comes alive, exactly
once, whatever the network does.

The real bot runs over HTTP against the local Bot API server (which refuses anything Telegram
would refuse) and the VNPT Pay simulator (``sandbox.vnptpay``, an independent implementation of
the protocol). The user registers in the chat; the payer goes through the simulator's pages with
plain HTTP (**Thẻ thanh toán quốc tế**, **Tiếp theo**, the card form, **Thanh toán**); the
simulator notifies the bot's ``/payments/vnptpay/ipn`` and redirects the browser to the bot's
return page. Misbehaviours come from the simulator's switches. Time moves with the bot's clock.

Expected amounts are computed by hand from catalog.sample.yaml (domain-rules.md: line
promotion, invoice promotion spread pro rata, VAT per rate).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from datetime import timedelta

import pytest

from domain.model import (
    InvoiceStatus,
    OrderStatus,
    PaymentAttemptStatus,
    PaymentMethod,
    SubscriptionStatus,
)
from domain.pricing import Quote
from tests.e2e.botapi_client import ChatUser
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    DECLINED_CARD,
    MERCHANT_SERVICE_ID,
    SECRET_KEY,
    Shop,
    ShopFactory,
    money,
    shop_factory_fixture,
    shop_fixture,
)

SMARTCA = "VNPT SmartCA"
PERSONAL = "Gói Cá nhân"  # 1 cycle: 12 months, 250.000 ₫, VAT 10 %
BUSINESS = "Gói Doanh nghiệp"  # 3 cycles
SUCCESS = "Đăng ký thành công"
SUBSCRIPTION_CODE = re.compile(r"TB-\d{4}-\d{6}")
INVOICE_NUMBER = re.compile(r"HD\d{4}-\d{6}")

#: Gói Cá nhân, 12 months: 250.000 + 10 % VAT
PERSONAL_TOTAL = 275_000


async def buy_personal(shop: Shop, user: ChatUser) -> tuple[str, str]:
    """Register Gói Cá nhân in the chat; returns the payment link and its merchant order id."""
    await shop.checkout(user, SMARTCA, PERSONAL, "12 tháng")
    url = shop.pay_url(user)
    return url, await shop.merchant_order_id(url)


async def success_message(user: ChatUser) -> str:
    """The success notice goes through the outbox, sent just after the payment is applied:
    waited for, then it must be there once."""
    await user.wait_for_text(SUCCESS, timeout=15)
    await user.settle()
    texts = [t for t in user.texts() if SUCCESS in t]
    assert len(texts) == 1, user.texts()
    return texts[0]


async def assert_paid_once(shop: Shop, moid: str, total: int) -> str:
    """The order is PAID, one ACTIVE subscription, one PAID numbered invoice whose totals are
    the order's frozen quote; returns the subscription code."""
    order, _, subs, invoices = await shop.records(moid)
    quote = Quote.from_dict(order.quote)
    assert order.status is OrderStatus.PAID and order.total == quote.total == total
    [sub] = subs
    assert sub.status is SubscriptionStatus.ACTIVE
    assert sub.current_period_start is not None and sub.current_period_end is not None
    [invoice] = invoices
    assert invoice.status is InvoiceStatus.PAID
    assert invoice.number is not None and INVOICE_NUMBER.fullmatch(invoice.number)
    assert invoice.subscription_id == sub.id
    assert (invoice.subtotal, invoice.vat_total, invoice.total) == (
        quote.subtotal,
        quote.vat_total,
        quote.total,
    )
    assert invoice.discount_total == quote.line_discount_total + quote.invoice_discount_total
    return sub.code


# --- the seed's ON flows -----------------------------------------------------------------------


async def test_one_cycle_plan_paid_with_the_international_card(shop: Shop) -> None:
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)
    assert shop.sim.state.transactions[moid].amount == PERSONAL_TOTAL

    payment = await shop.pay(url)

    assert money(PERSONAL_TOTAL) in payment.pay_page
    assert payment.redirected_to.startswith(shop.bot.settings.public_url + "/payments/vnptpay/")
    assert "Thanh toán thành công" in payment.return_page
    text = await success_message(user)
    code = await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    assert code in text and money(PERSONAL_TOTAL) in text
    _, _, _, [invoice] = await shop.records(moid)
    assert invoice.number is not None and invoice.number in text
    assert SUBSCRIPTION_CODE.search(text) is not None
    assert "Thời hạn sử dụng" in text
    assert user.last_buttons() == [["Quản lý thuê bao"]]
    [delivery] = await shop.notifications(moid)
    assert (delivery["reply_code"], delivery["reply_checksum_ok"]) == ("00", True)

    await user.press("Quản lý thuê bao")  # the seed's step 12: the new subscription is listed
    assert code in user.last_text()


async def test_multi_cycle_plan_with_promotions_and_an_addon(shop: Shop) -> None:
    user = await shop.owner()
    await shop.checkout(
        user,
        SMARTCA,
        BUSINESS,
        "24 tháng",
        plan_promo="Giảm 10% gói SmartCA Doanh nghiệp",
        addons=("Dịch vụ cấp dấu thời gian",),
        invoice_promo="Giảm 5% tổng đơn hàng",
    )
    url = shop.pay_url(user)
    moid = await shop.merchant_order_id(url)
    # plan 3.200.000 − 10 % capped at 200.000 = 3.000.000; time stamps 24 × 30.000 = 720.000;
    # invoice −5 % of 3.720.000 = 186.000 → 3.534.000; VAT 10 % = 353.400 → 3.887.400
    total = 3_887_400

    payment = await shop.pay(url)

    assert money(total) in payment.pay_page
    assert "Thanh toán thành công" in payment.return_page
    code = await assert_paid_once(shop, moid, total)
    order, _, [sub], [invoice] = await shop.records(moid)
    assert (invoice.subtotal, invoice.discount_total, invoice.vat_total) == (
        3_920_000,
        386_000,
        353_400,
    )
    assert (order.cycle_code, sub.cycle_code, sub.addon_codes) == ("M24", "M24", ("SMARTCA-TSA",))
    assert sub.current_period_end is not None and sub.current_period_start is not None
    assert (sub.current_period_end - sub.current_period_start).days in (730, 731)
    text = await success_message(user)
    assert code in text and money(total) in text


async def test_a_declined_card_then_pay_again(shop: Shop) -> None:
    user = await shop.owner()
    url, first = await buy_personal(shop, user)

    declined = await shop.pay(url, DECLINED_CARD)

    assert "Thanh toán không thành công" in declined.return_page
    notice = await user.wait_for_text("không thành công")
    assert "mã 01" in (notice.text or "") and notice.labels == [["Thanh toán lại"]]
    order, [attempt], subs, _ = await shop.records(first)
    assert attempt.status is PaymentAttemptStatus.FAILED and subs == []
    assert order.status is OrderStatus.PENDING_PAYMENT
    # the payment link carries a copy_text button with the order code (the payment reference)
    [copy] = [b for m in user.bot_messages() for b in m.flat_buttons if b.kind == "copy_text"]
    assert copy.copy_text == order.code and order.code in copy.text
    assert await user.press(copy.text) == []  # copied on the phone: the bot hears nothing

    await user.press("Thanh toán lại")
    again = shop.pay_url(user)
    second = await shop.merchant_order_id(again)
    assert again != url and second != first
    assert shop.sim.state.transactions[second].amount == PERSONAL_TOTAL
    assert "Thanh toán đơn hàng" in user.texts()[-2] and user.last_message().photo is not None
    copies = [b.copy_text for b in user.bot_messages()[-2].flat_buttons if b.kind == "copy_text"]
    assert copies == [order.code]

    paid = await shop.pay(again)

    assert "Thanh toán thành công" in paid.return_page
    await success_message(user)
    await assert_paid_once(shop, second, PERSONAL_TOTAL)
    _, attempts, _, _ = await shop.records(second)
    assert [(a.merchant_order_id, a.amount, a.status) for a in attempts] == [
        (first, PERSONAL_TOTAL, PaymentAttemptStatus.FAILED),
        (second, PERSONAL_TOTAL, PaymentAttemptStatus.SUCCESS),
    ]

    await user.press("Thanh toán lại", message_id=notice.message_id)  # the old notice
    assert "đã được thanh toán" in user.last_text()
    assert len(shop.sim.state.transactions) == 2  # no third payment


async def test_a_payment_cancelled_by_the_payer(shop: Shop) -> None:
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)

    payment = await shop.pay(url, cancel=True)

    assert "vnptpayResponseCode=70" in payment.redirected_to
    assert "Bạn đã hủy thanh toán" in payment.return_page
    notice = await user.wait_for_text("Bạn đã hủy thanh toán")
    assert notice.labels == [["Thanh toán lại"]]
    order, [attempt], subs, _ = await shop.records(moid)
    assert attempt.status is PaymentAttemptStatus.CANCELLED and attempt.response_code == "70"
    assert order.status is OrderStatus.PENDING_PAYMENT and subs == []
    assert not any(SUCCESS in t for t in user.texts())


# --- the network misbehaving -------------------------------------------------------------------


async def test_a_duplicated_notification_activates_once(shop: Shop) -> None:
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)
    await shop.switches(notification_twice=True)

    await shop.pay(url)

    replies = await shop.notifications(moid)
    assert [(r["repeat"], r["reply_code"], r["reply_checksum_ok"]) for r in replies] == [
        (False, "00", True),
        (True, "02", True),
    ]
    await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    await success_message(user)  # told once


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_two_notifications_at_once_activate_once(shop: Shop) -> None:
    """The gateway's notification delivered twice at the same moment (two gateway nodes):
    the database's claim lets exactly one apply it."""
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)
    await shop.switches(drop_notification=True)
    await shop.pay(url)
    tx = shop.sim.state.transactions[moid]
    fields = {
        "ACTION": "CONFIRM",
        "RESPONSE_CODE": "00",
        "MERCHANT_SERVICE_ID": MERCHANT_SERVICE_ID,
        "MERCHANT_ORDER_ID": moid,
        "AMOUNT": str(tx.amount),
        "CURRENCY_CODE": "VND",
        "VNPTPAY_TRANSACTION_ID": tx.transaction_id,
        "PAYMENT_METHOD": tx.payment_method,
        "PAY_DATE": tx.pay_date,
        "ADDITIONAL_INFO": "",
    }
    # the protocol's SECURE_CODE: sha256 of the values in order, then the secret, joined by |
    joined = "|".join([*fields.values(), SECRET_KEY])
    fields["SECURE_CODE"] = hashlib.sha256(joined.encode()).hexdigest()
    body = {"data": json.dumps(fields)}
    ipn = shop.bot.http_url + "/payments/vnptpay/ipn"

    replies = await asyncio.gather(*(shop.http.post(ipn, data=body) for _ in range(2)))

    assert sorted(r.json()["RESPONSE_CODE"] for r in replies) == ["00", "02"]
    await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    await success_message(user)


@pytest.mark.parametrize(
    ("switch", "reply_code"),
    [({"notification_bad_checksum": True}, "07"), ({"notification_amount_delta": 1000}, "99")],
    ids=["bad-checksum", "changed-amount"],
)
async def test_a_forged_notification_changes_nothing(
    shop: Shop, switch: dict[str, object], reply_code: str
) -> None:
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)
    await shop.switches(**switch)

    payment = await shop.pay(url)

    replies = await shop.notifications(moid)
    assert [r["reply_code"] for r in replies] == [reply_code, reply_code]  # retried once
    assert all(r["reply_checksum_ok"] for r in replies)  # our replies are signed
    assert "Đang chờ xác nhận thanh toán" in payment.return_page
    order, [attempt], subs, invoices = await shop.records(moid)
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert attempt.status is PaymentAttemptStatus.PENDING and attempt.notified_at is None
    assert subs == [] and invoices == []
    assert not any(SUCCESS in t for t in user.texts())

    # the money was taken: reconciliation asks the gateway and applies what it says
    shop.clock.advance(timedelta(minutes=6))
    round_ = await shop.reconciler().run_once()
    assert round_.reconcile is not None and len(round_.reconcile.confirmed) == 1
    await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    await success_message(user)


async def test_a_dropped_notification_is_recovered_by_reconciliation(shop: Shop) -> None:
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)
    await shop.switches(drop_notification=True)

    payment = await shop.pay(url)

    assert "Đang chờ xác nhận thanh toán" in payment.return_page
    assert await shop.notifications(moid) == []
    reconciler = shop.reconciler()
    early = await reconciler.run_once()  # RECONCILE_AFTER_MINUTES (5) not reached yet
    assert early.reconcile is not None and early.reconcile.checked == 0
    assert not any(SUCCESS in t for t in user.texts())

    shop.clock.advance(timedelta(minutes=6))
    round_ = await reconciler.run_once()

    assert round_.reconcile is not None and round_.reconcile.checked == 1
    assert len(round_.reconcile.confirmed) == 1
    text = await success_message(user)
    code = await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    assert code in text and user.last_buttons() == [["Quản lý thuê bao"]]
    again = await shop.http.get(payment.redirected_to)  # the return page reads our records
    assert "Thanh toán thành công" in again.text


async def test_an_unpaid_order_expires_and_the_user_is_told(shop: Shop) -> None:
    user = await shop.owner()
    _, moid = await buy_personal(shop, user)
    shop.clock.advance(timedelta(minutes=29))
    assert (await shop.reconciler().run_once()).expiry is not None
    order, _, _, _ = await shop.records(moid)
    assert order.status is OrderStatus.PENDING_PAYMENT  # ORDER_EXPIRY_MINUTES is 30

    shop.clock.advance(timedelta(minutes=2))
    round_ = await shop.reconciler().run_once()

    assert round_.expiry is not None and len(round_.expiry.expired) == 1
    notice = await user.wait_for_text("đã hết hạn")
    assert order.code in (notice.text or "") and notice.labels == [["Dịch vụ"]]
    order, [attempt], subs, _ = await shop.records(moid)
    assert order.status is OrderStatus.EXPIRED and attempt.status is PaymentAttemptStatus.EXPIRED
    assert subs == []

    await user.press("Dịch vụ")
    assert "Danh mục dịch vụ" in user.last_text()


# --- cash (OS) ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_os_order_confirmed_in_cash_by_an_agent(shop: Shop) -> None:
    owner = await shop.owner()
    await shop.checkout(owner, "Lắp đặt camera giám sát", "Gói 1 camera wifi", "1 năm")
    registered = owner.last_text()
    assert SUCCESS in registered and "đang chờ thu tiền" in registered
    found = SUBSCRIPTION_CODE.search(registered)
    assert found is not None
    code = found.group(0)
    # 1.290.000 + 8 % VAT
    total = 1_393_200
    async with shop.bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
        assert sub is not None and sub.status is SubscriptionStatus.FUTURE
        [waiting] = await uow.invoices.for_order(sub.order_id)
    assert (waiting.status, waiting.number, waiting.total) == (InvoiceStatus.WAITING, None, total)

    await owner.send(f"/cash {code}")  # an owner is not staff
    assert "chỉ nhân viên hỗ trợ" in owner.last_text()

    agent = shop.bot.user("Hà", last_name="Hỗ trợ")
    await shop.bot.grant(agent.id, "agent")
    await agent.send(f"/cash {code.lower()}")

    confirmed = agent.last_text()
    assert "Đã ghi nhận thanh toán tiền mặt" in confirmed and code in confirmed
    assert money(total) in confirmed and "Chủ doanh nghiệp đã được thông báo" in confirmed
    told = await owner.wait_for_text("Đã nhận thanh toán tiền mặt")
    assert code in (told.text or "") and told.labels == [["Quản lý thuê bao"]]
    async with shop.bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
        assert sub is not None and sub.status is SubscriptionStatus.ACTIVE
        [invoice] = await uow.invoices.for_order(sub.order_id)
        order = await uow.orders.get(sub.order_id)
        attempts = await uow.payments.for_order(sub.order_id)
    assert order is not None and order.status is OrderStatus.PAID
    assert invoice.status is InvoiceStatus.PAID and invoice.total == total
    assert invoice.number is not None and INVOICE_NUMBER.fullmatch(invoice.number)
    assert invoice.number in confirmed and invoice.number in (told.text or "")
    assert invoice.confirmed_by == agent.id
    assert [(a.method, a.status) for a in attempts] == [
        (PaymentMethod.BY_CASH, PaymentAttemptStatus.SUCCESS)
    ]
    assert not any("Đã nhận thanh toán tiền mặt" in t for t in agent.texts())

    await agent.send(f"/cash {code}")  # a second confirmation records nothing
    assert "đã được thanh toán trước đó" in agent.last_text()
    await agent.send("/cash TB-2026-999999")
    assert "Không tìm thấy thuê bao" in agent.last_text()
    assert len([t for t in owner.texts() if "Đã nhận thanh toán tiền mặt" in t]) == 1


# --- webhook mode --------------------------------------------------------------------------------


async def test_a_payment_with_the_bot_on_a_webhook(shop_factory: ShopFactory) -> None:
    shop = await shop_factory("webhook")
    user = await shop.owner()
    url, moid = await buy_personal(shop, user)

    payment = await shop.pay(url)

    assert "Thanh toán thành công" in payment.return_page
    code = await assert_paid_once(shop, moid, PERSONAL_TOTAL)
    assert code in await success_message(user)
    assert not shop.bot.api_calls(predicate=lambda c: c.method == "getUpdates")
