"""The sandbox in a real browser (Debian's Chromium, driven by Playwright): the seed's flows
walked in the web chat page, the payment made on the VNPT Pay simulator's page, as a person
would. The pictures of the README's tour are taken here (see conftest: ``shots``).

Amounts are computed by hand from catalog.sample.yaml (domain-rules.md: line promotion, invoice
promotion spread pro rata, VAT per rate).
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from bot.sandbox_cmd import DEMO_BUSINESS, NEW_USER_ID, OWNER_ID
from tests.browser.chat import Chat
from tests.browser.conftest import RunningSandbox, Screenshots

NBSP = "\u00a0"
SUBSCRIPTION_TABS = (
    "Danh sách nhân viên",
    "Chi tiết",
    "Ghi nhớ",
    "Phương thức thanh toán",
    "Hóa đơn",
    "Lịch sử",
)


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + f"{NBSP}₫"


def test_on_multi_cycle_registration_paid_on_the_vnptpay_page(
    sandbox: RunningSandbox, page: Page, shots: Screenshots
) -> None:
    chat = Chat(page, sandbox.url, OWNER_ID)

    chat.send("/services", then="VNPT SmartCA")
    shots.take(page, "01-catalog")
    chat.press("VNPT SmartCA", then="Chữ ký số từ xa")
    chat.press("Bảng giá", then="Gói Doanh nghiệp")
    shots.take(page, "02-pricing")
    chat.press("Gói Doanh nghiệp", then="Gói Doanh nghiệp")
    chat.press(re.compile(r"^24 tháng"), then="24 tháng")
    chat.press("Đăng ký", then="Thanh toán dịch vụ – Bước 1/2")
    chat.press("Giảm 10% gói SmartCA Doanh nghiệp")
    chat.press("⬜ Dịch vụ cấp dấu thời gian")
    chat.press("Xong")
    chat.press("Giảm 5% tổng đơn hàng")
    # plan 3.200.000 − 10 % capped at 200.000 = 3.000.000; time stamps 24 × 30.000 = 720.000;
    # invoice −5 % of 3.720.000 = 186.000 → 3.534.000; VAT 10 % = 353.400 → 3.887.400
    total = "Tổng thanh toán: " + money(3_887_400)
    chat.shows(total)
    for fragment in (money(3_200_000), "−" + money(200_000), money(720_000), money(353_400)):
        chat.shows(fragment)
    shots.take(page, "03-step1-summary")

    chat.press("Tiếp theo", then="Thông tin xuất hóa đơn")
    chat.shows(DEMO_BUSINESS.tax_code)
    chat.press("Tiếp theo", then="Thông tin khách hàng")
    chat.press("Tiếp theo", then="họ và tên người liên hệ")
    chat.send("Nguyễn Thị Lan", then="số điện thoại di động")
    chat.share_contact(then="email")
    chat.send("lan.nguyen@anbinh.vn", then="Xác nhận thông tin đăng ký")
    chat.shows(total)
    shots.take(page, "04-final-summary")
    chat.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    chat.press("Thanh toán", then="Xác nhận thanh toán")
    chat.press("Xác nhận")
    link = chat.link("Thanh toán qua VNPT Pay")
    expect(link).to_be_visible()
    expect(chat.last.get_by_test_id("photo")).to_be_visible()  # the QR code of the same link
    shots.take(page, "05-payment-link")

    with page.context.expect_page() as opened:
        link.click()
    gateway = opened.value
    gateway.wait_for_load_state()
    assert gateway.url.startswith(sandbox.url + "/vnptpay/pay/")
    expect(gateway.locator("body")).to_contain_text(money(3_887_400))
    shots.take(gateway, "06-vnptpay-page")
    gateway.get_by_text("Thẻ thanh toán quốc tế", exact=True).click()
    gateway.get_by_role("button", name="Tiếp theo", exact=True).click()
    gateway.get_by_label("Số thẻ").fill("4111111111111111")
    gateway.get_by_label("Tên chủ thẻ").fill("NGUYEN THI LAN")
    gateway.get_by_label("Ngày hết hạn (MM/YY)").fill("12/30")
    gateway.get_by_label("Mã CVV/CVC").fill("123")
    shots.take(gateway, "07-card-form")
    gateway.get_by_role("button", name="Thanh toán", exact=True).click()
    expect(gateway.locator("body")).to_contain_text("Thanh toán thành công")
    assert gateway.url.startswith(sandbox.url + "/payments/vnptpay/return")
    back = gateway.locator("a.button")
    assert back.get_attribute("href") == sandbox.url + "/"  # CHAT_URL: the web chat, not t.me
    shots.take(gateway, "08-return-page")
    gateway.close()

    chat.shows("Đăng ký thành công", anywhere=True)
    success = chat.bot_messages.filter(has_text="Đăng ký thành công").last
    expect(success).to_contain_text(money(3_887_400))
    code = re.search(r"TB-\d{4}-\d{6}", success.inner_text())
    assert code is not None, success.inner_text()
    shots.take(page, "09-success")
    chat.press("Quản lý thuê bao", then=code.group(0))
    shots.take(page, "10-subscriptions")
    chat.press(re.compile(re.escape(code.group(0))), then="VNPT SmartCA")
    for tab in SUBSCRIPTION_TABS:
        expect(chat.button(re.compile(re.escape(tab)))).to_be_visible()
    shots.take(page, "11-subscription-detail")


def test_os_registration_succeeds_at_once_paid_in_cash(
    sandbox: RunningSandbox, page: Page, shots: Screenshots
) -> None:
    chat = Chat(page, sandbox.url, OWNER_ID)

    chat.send("/services", then="Lắp đặt camera giám sát")
    chat.press("Lắp đặt camera giám sát", then="Khảo sát, lắp đặt camera IP")
    chat.press("Bảng giá", then="Gói 1 camera wifi")
    chat.press("Gói 1 camera wifi", then="Gói 1 camera wifi")
    chat.press(re.compile(r"^1 năm"), then="1 năm")
    chat.press("Đăng ký", then="Thanh toán dịch vụ – Bước 1/2")
    chat.press("Khách hàng mới giảm 100.000 ₫")
    chat.press("⬜ Lưu trữ cloud 7 ngày")
    chat.press("Xong")
    chat.press("Không áp dụng")
    # plan 1.290.000 − 100.000 = 1.190.000 (8 %: 95.200); cloud 12 × 60.000 = 720.000
    # (10 %: 72.000); 1.910.000 + 167.200 = 2.077.200
    total = "Tổng thanh toán: " + money(2_077_200)
    chat.shows(total)
    chat.press("Tiếp theo", then="Thông tin xuất hóa đơn")
    chat.press("Tiếp theo", then="Thông tin khách hàng")
    chat.press("Tiếp theo", then="họ và tên người liên hệ")
    chat.send("Nguyễn Thị Lan", then="số điện thoại di động")
    chat.share_contact(then="email")
    chat.send("lan.nguyen@anbinh.vn", then="Xác nhận thông tin đăng ký")
    chat.shows(total)
    chat.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    chat.press("Thanh toán", then="Xác nhận thanh toán")
    chat.shows("tiền mặt")
    chat.press("Xác nhận", then="Đăng ký thành công")
    chat.shows("tiền mặt")
    chat.shows(money(2_077_200))
    code = re.search(r"TB-\d{4}-\d{6}", chat.last_text())
    assert code is not None, chat.last_text()
    expect(page.get_by_test_id("messages").get_by_role("link")).to_have_count(0)  # no gateway
    shots.take(page, "12-os-success")
    chat.press("Quản lý thuê bao", then=code.group(0))
    chat.shows("Lắp đặt camera giám sát")


def test_a_new_user_signs_up_their_business(
    sandbox: RunningSandbox, page: Page, shots: Screenshots
) -> None:
    chat = Chat(page, sandbox.url, NEW_USER_ID)
    before = chat.bot_messages.count()
    assert before == 0

    page.get_by_test_id("start").click()  # the empty chat's button sends /start
    chat.shows("Chia sẻ số điện thoại")
    shots.take(page, "13-signup-start")
    chat.share_contact(then="mã số thuế")
    chat.send("0103326250", then="tên doanh nghiệp")
    chat.send("Công ty Cổ phần Minh Tuấn", then="địa chỉ")
    chat.send("12 Lê Lợi, Quận 1, TP. Hồ Chí Minh", then="email")
    chat.send("ketoan@minhtuan.vn", then="Xác nhận thông tin doanh nghiệp")
    for fragment in ("Công ty Cổ phần Minh Tuấn", "0103326250", "ketoan@minhtuan.vn"):
        chat.shows(fragment)
    chat.press("Xác nhận tạo doanh nghiệp", then="Đã tạo doanh nghiệp")
    chat.shows("Bạn là chủ doanh nghiệp")
    shots.take(page, "14-signup-done")
    chat.press("Dịch vụ", then="VNPT SmartCA")  # the new owner goes on to the catalog
