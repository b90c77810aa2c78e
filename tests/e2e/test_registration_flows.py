"""The four seed flows and the conversation's robustness, end to end: the real bot over HTTP
against the local Bot API server (which refuses any request Telegram would refuse), with the
sample catalog, a real database, and the VNPT Pay simulator behind the payment port.

Expected totals are computed by hand in each test from catalog.sample.yaml, following
domain-rules.md (line promotion → invoice promotion spread pro rata → VAT per rate).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text

from domain.model import OrderStatus
from domain.pricing import Quote, Selection
from domain.registration import ContactInfo, CustomerInfo, InvoiceInfo, OrderRequest
from domain.usecases.registration import PlaceOrder
from sandbox.vnptpay import SimulatorConfig, start_simulator
from storage.conversation_store import SqlConversationStore
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import BotHarness

TAX_CODE = "0100233488"
COMPANY = "Công ty TNHH An Bình"
NBSP = "\u00a0"


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + f"{NBSP}₫"


@pytest.fixture
async def vnptpay() -> AsyncIterator[Any]:
    config = SimulatorConfig(
        merchant_service_id="ONESME01",
        api_key="sim-api-key",
        secret_key="sim-secret",
        return_url="",
        ipn_url="",
        public_base_url="",
    )
    sim = await start_simulator(config, "127.0.0.1", 0)
    try:
        yield sim
    finally:
        await sim.stop()


def gateway_settings(sim: Any) -> dict[str, Any]:
    return {
        "vnptpay_url": sim.base_url,
        "vnptpay_merchant_service_id": "ONESME01",
        "vnptpay_api_key": "sim-api-key",
        "vnptpay_secret_key": "sim-secret",
    }


async def business_owner(bot: BotHarness, *, name: str = COMPANY, lang: str = "vi") -> ChatUser:
    user = bot.user("Lan", last_name="Nguyễn", phone_number="+84912345678", language_code=lang)
    await bot.add_enterprise(
        TAX_CODE, name, address="57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội", email="ketoan@anbinh.vn"
    )
    await bot.grant(user.id, "owner", tax_code=TAX_CODE)
    return user


async def choose_plan(user: ChatUser, service: str, plan: str, cycle: str) -> None:
    await user.send("/services")
    await user.press(service)
    await user.press("Bảng giá")
    await user.press(plan)
    await user.press(cycle, prefix=True)
    assert "Đăng ký" in user.buttons()
    await user.press("Đăng ký")
    assert "Thanh toán dịch vụ – Bước 1/2" in user.last_text()


async def wifi_step_one_without_extras(user: ChatUser) -> None:
    """The cheapest OS plan through Bước 1/2 with no promotion and no add-on."""
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    await user.press("Không áp dụng")
    await user.press("Xong")
    await user.press("Không áp dụng")
    assert "Tổng thanh toán" in user.last_text()  # the step 1 summary


async def step_two_and_contact(user: ChatUser) -> None:
    await user.press("Tiếp theo")  # step 1 summary
    assert "Thông tin xuất hóa đơn" in user.last_text()
    assert TAX_CODE in user.last_text()  # prefilled from the business profile
    await user.press("Tiếp theo")
    assert "Thông tin khách hàng" in user.last_text()
    await user.press("Tiếp theo")
    assert "họ và tên người liên hệ" in user.last_text()
    await user.send("Nguyễn Thị Lan")
    assert "số điện thoại di động" in user.last_text()
    await user.share_contact()
    assert "email" in user.last_text()
    await user.send("lan.nguyen@anbinh.vn")
    assert "Xác nhận thông tin đăng ký" in user.last_text()


async def agree_pay_confirm(user: ChatUser) -> None:
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    assert "Xác nhận thanh toán" in user.last_text()
    await user.press("Xác nhận")


async def orders(bot: BotHarness) -> list[Any]:
    async with bot.database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT id, code, total, quote, status FROM orders"))).all()
    return list(rows)


def stored_quote(row: Any) -> Quote:
    raw = row.quote if isinstance(row.quote, dict) else json.loads(row.quote)
    return Quote.from_dict(raw)


# --- the four seed flows -------------------------------------------------------------------


async def test_on_one_cycle_plan_with_promotions_at_every_level(
    bot_factory: BotFactory, vnptpay: Any
) -> None:
    bot = await bot_factory("polling", settings=gateway_settings(vnptpay))
    user = await business_owner(bot)
    await choose_plan(user, "VNPT eContract – Hợp đồng điện tử", "Gói Chuyên nghiệp", "12 tháng")
    await user.press("Khách hàng mới giảm 100.000 ₫")  # plan promotion
    await user.press("⬜ Gói 1.000 SMS OTP xác thực")
    await user.press("⬜ Đào tạo sử dụng tại doanh nghiệp")
    await user.press("Xong")  # no add-on promotion applies to these: their screens are skipped
    await user.press("Giảm 5% tổng đơn hàng")  # invoice promotion
    summary = user.last_text()
    # Plan 9.600.000 − 100.000 = 9.500.000 (KCT); setup fee 1.000.000 (KCT);
    # OTP 12 × 50.000 = 600.000 (10%); training 1.500.000 (8%). Subtotal 12.600.000.
    # 5% = 630.000, capped at 500.000 → 12.100.000, spread pro rata (×500/12.600):
    # plan 9.123.015,87 → 9.123.016 (+1 leftover to the largest line → 9.123.017),
    # setup 960.317, OTP 576.190, training 1.440.476; sum 12.100.000.
    # VAT: KCT 0; 10% × 576.190 = 57.619; 8% × 1.440.476 = 115.238,08 → 115.238.
    # Total 12.100.000 + 57.619 + 115.238 = 12.272.857.
    for fragment in (
        money(9_600_000),
        money(1_000_000),
        money(600_000),
        money(1_500_000),
        "−" + money(100_000),
        "−" + money(500_000),
        money(57_619),
        money(115_238),
        "Tổng thanh toán: " + money(12_272_857),
    ):
        assert fragment in summary, fragment
    await step_two_and_contact(user)
    assert "Tổng thanh toán: " + money(12_272_857) in user.last_text()
    await agree_pay_confirm(user)
    link = user.last_message()
    assert link.photo is not None  # the QR code of the payment link
    pay_buttons = [b for m in user.bot_messages()[-2:] for b in m.flat_buttons if b.url]
    assert [b.text for b in pay_buttons] == ["Thanh toán qua VNPT Pay"]
    assert pay_buttons[0].url is not None and pay_buttons[0].url.startswith(vnptpay.base_url)
    [order] = await orders(bot)
    assert order.total == 12_272_857 and order.status == OrderStatus.PENDING_PAYMENT.value
    assert stored_quote(order).total == 12_272_857


async def test_on_multi_cycle_plan_with_addon_promotion(
    bot_factory: BotFactory, vnptpay: Any
) -> None:
    bot = await bot_factory("webhook", settings=gateway_settings(vnptpay))
    user = await business_owner(bot)
    await choose_plan(
        user, "VNPT Invoice – Hóa đơn điện tử", "Gói Khởi nghiệp 300 hóa đơn", "2 năm"
    )
    await user.press("Khách hàng mới giảm 100.000 ₫")
    await user.press("⬜ Phí khởi tạo hệ thống hóa đơn")
    await user.press("⬜ Thiết kế mẫu hóa đơn theo yêu cầu")
    await user.press("Xong")
    assert "Phí khởi tạo hệ thống hóa đơn" in user.last_text()  # its promotion screen
    await user.press("Miễn phí khởi tạo hóa đơn điện tử")
    await user.press("Giảm 5% tổng đơn hàng")
    # Plan 800.000 − 100.000 = 700.000 (KCT); init 500.000 − 100% = 0 (KCT);
    # template 300.000 (8%). Subtotal 1.000.000 ≥ the 1.000.000 minimum; 5% = 50.000 →
    # plan 665.000, init 0, template 285.000. VAT 8% × 285.000 = 22.800.
    # Total 950.000 + 22.800 = 972.800.
    assert "Tổng thanh toán: " + money(972_800) in user.last_text()
    await step_two_and_contact(user)
    await agree_pay_confirm(user)
    assert any(b.text == "Thanh toán qua VNPT Pay" for b in user.bot_messages()[-2].flat_buttons)
    [order] = await orders(bot)
    assert order.total == 972_800


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_os_one_cycle_plan_succeeds_at_once_with_cash_vat_warning(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Lắp đặt camera giám sát", "Gói 4 camera", "1 năm")
    await user.press("Khách hàng mới giảm 100.000 ₫")
    await user.press("⬜ Camera bổ sung (lắp đặt kèm)")
    await user.press("⬜ Lưu trữ cloud 7 ngày")
    await user.press("Xong")
    await user.press("Giảm 50.000 ₫ thiết bị lắp thêm")  # the extra camera's promotion
    assert "Lưu trữ cloud" not in user.last_text().split("\n")[1]  # no promotion: skipped
    await user.press("Giảm 5% tổng đơn hàng")
    # Plan 7.900.000 − 100.000 = 7.800.000 (8%); extra camera 1.650.000 − 50.000 = 1.600.000
    # (8%); cloud 12 × 60.000 = 720.000 (10%). Subtotal 10.120.000; 5% = 506.000 capped at
    # 500.000 → 9.620.000. Spread: 7.414.624,51 → 7.414.625, 1.520.948,62 → 1.520.949,
    # 684.426,88 → 684.427; sum 9.620.001, one đồng too many → the largest line 7.414.624.
    # VAT 8% × 8.935.573 = 714.845,84 → 714.846; 10% × 684.427 = 68.442,7 → 68.443.
    # Total 9.620.000 + 714.846 + 68.443 = 10.403.289.
    assert "Tổng thanh toán: " + money(10_403_289) in user.last_text()
    await step_two_and_contact(user)
    await agree_pay_confirm(user)
    success = user.last_text()
    assert "Đăng ký thành công" in success
    assert "TB-" in success and "tiền mặt" in success
    assert "không được khấu trừ thuế GTGT" in success  # 10.403.289 ₫ ≥ 5.000.000 ₫ in cash
    assert "Quản lý thuê bao" in user.buttons()
    async with bot.database.engine.connect() as conn:
        sub = (await conn.execute(text("SELECT status, progress FROM subscriptions"))).one()
        inv = (await conn.execute(text("SELECT status, total FROM invoices"))).one()
    assert (sub.status, sub.progress) == ("FUTURE", "ORDERED")
    assert (inv.status, inv.total) == ("WAITING", 10_403_289)


async def test_os_multi_cycle_plan_with_fixed_invoice_promotion(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "6 tháng")
    await user.press("Khách hàng mới giảm 100.000 ₫")
    await user.press("⬜ Bộ phát wifi bổ sung")
    await user.press("⬜ Khảo sát và đo kiểm vùng phủ sóng")
    await user.press("Xong")
    await user.press("Giảm 50.000 ₫ thiết bị lắp thêm")
    await user.press("Ưu đãi 200.000 ₫ cho 3 đơn đầu tiên")
    # Plan 1.950.000 − 100.000 = 1.850.000; setup 500.000; AP 1.200.000 − 50.000 = 1.150.000
    # (all 10%); survey 400.000 (8%). Subtotal 3.900.000 − 200.000 = 3.700.000, spread ×2/39:
    # 1.755.128, 474.359, 1.091.026, 379.487 (sum 3.700.000). VAT 10% × 3.320.513 = 332.051;
    # 8% × 379.487 = 30.358,96 → 30.359. Total 3.700.000 + 332.051 + 30.359 = 4.062.410.
    assert "Tổng thanh toán: " + money(4_062_410) in user.last_text()
    await step_two_and_contact(user)
    await agree_pay_confirm(user)
    assert "Đăng ký thành công" in user.last_text()
    assert "khấu trừ" not in user.last_text()  # under 5.000.000 ₫: no warning
    [order] = await orders(bot)
    assert order.total == 4_062_410


# --- robustness ----------------------------------------------------------------------------


async def test_back_and_cancel_from_several_steps(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    await user.press("Quay lại")
    assert "Nhấn Đăng ký" in user.last_text()
    await user.press("Quay lại")
    assert "Chọn chu kỳ" in user.last_text()
    await user.press("Quay lại")
    assert "Bảng giá – Wifi doanh nghiệp" in user.last_text()
    await user.press("Hủy")
    assert "Đã hủy" in user.last_text()
    # cancel from step 2 with /cancel at a text prompt
    await wifi_step_one_without_extras(user)
    await step_two_until_name(user)
    await user.send("/cancel")
    assert "Đã hủy" in user.last_text()
    assert await orders(bot) == []


async def step_two_until_name(user: ChatUser) -> None:
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")
    assert "họ và tên người liên hệ" in user.last_text()


async def test_edit_a_section_from_the_final_summary(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await wifi_step_one_without_extras(user)
    await step_two_and_contact(user)
    await user.press("Sửa thông tin xuất hóa đơn")
    await user.press("Giữ nguyên")  # company name
    await user.send("0103326250")  # a new tax code for the invoice
    await user.press("Giữ nguyên")
    await user.send("hoadon@anbinh.vn")
    final = user.last_text()
    assert "Xác nhận thông tin đăng ký" in final
    assert "MST 0103326250" in final and "hoadon@anbinh.vn" in final
    await agree_pay_confirm(user)
    async with bot.database.engine.connect() as conn:
        row = (await conn.execute(text("SELECT invoice_info FROM orders"))).one()
    info = row.invoice_info if isinstance(row.invoice_info, dict) else json.loads(row.invoice_info)
    assert info["tax_code"] == "0103326250" and info["email"] == "hoadon@anbinh.vn"


async def test_a_button_from_an_older_message_changes_nothing(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await user.send("/services")
    catalog_message = user.last_message().message_id
    await user.press("VNPT SmartCA")
    await user.send("/services")  # a new flow message; the old one is now stale
    await user.press("Lắp đặt camera giám sát")
    before = user.last_text()
    await user.press("Bảng giá", message_id=catalog_message)
    answer = user.last_callback_answer()
    assert answer is not None and answer.text is not None and "Menu này đã cũ" in answer.text
    assert "Lắp đặt camera giám sát" in user.last_text()  # the current step shown again
    assert before.split("\n")[0] in user.last_text()


async def test_a_double_tap_on_confirm_makes_one_order(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await wifi_step_one_without_extras(user)
    await step_two_and_contact(user)
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    confirm = user.last_message().message_id
    await user.press("Xác nhận", message_id=confirm, wait=False)
    await user.press("Xác nhận", message_id=confirm, wait=False)
    await user.wait_for_text("Đăng ký thành công")
    await user.settle()
    assert len(await orders(bot)) == 1
    assert sum("Đăng ký thành công" in (m.text or "") for m in user.bot_messages()) == 1


async def test_invalid_tax_code_phone_and_email_are_asked_again(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await wifi_step_one_without_extras(user)
    await user.press("Tiếp theo")
    await user.press("Sửa thông tin")
    await user.press("Giữ nguyên")
    await user.send("0100233489")  # the check digit is wrong
    assert "sai chữ số kiểm tra" in user.last_text() and "Ví dụ" in user.last_text()
    await user.send("0100233488")
    await user.press("Giữ nguyên")
    await user.press("Giữ nguyên")
    await user.press("Tiếp theo")
    await user.press("Tiếp theo")
    await user.send("Nguyễn Thị Lan")
    await user.send("12345")
    assert "Số điện thoại di động Việt Nam" in user.last_text()
    await user.send("0912 345 678")
    await user.send("lan@")
    assert "Email chưa đúng định dạng" in user.last_text()
    await user.send("lan@anbinh.vn")
    assert "Xác nhận thông tin đăng ký" in user.last_text()


async def test_html_in_a_company_name_is_shown_intact(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    name = "Công ty <b>&\"' Test"
    user = await business_owner(bot, name=name)
    await wifi_step_one_without_extras(user)
    await step_two_and_contact(user)
    assert name in user.last_text()
    assert "&lt;b&gt;&amp;&quot;" in (user.last_message().html or "")


async def test_restart_in_the_middle_of_step_two_continues(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await wifi_step_one_without_extras(user)
    await step_two_until_name(user)
    await user.send("Nguyễn Thị Lan")
    await bot.restart()
    await user.share_contact()
    assert "email" in user.last_text()
    await user.send("lan@anbinh.vn")
    assert "Nguyễn Thị Lan" in user.last_text()
    await agree_pay_confirm(user)
    assert "Đăng ký thành công" in user.last_text()


async def test_a_promotion_running_out_before_confirm_shows_the_new_total(
    bot_factory: BotFactory,
) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "6 tháng")
    await user.press("Không áp dụng")
    await user.press("Xong")
    await user.press("Ưu đãi 200.000 ₫ cho 3 đơn đầu tiên")
    # 1.950.000 + 500.000 setup = 2.450.000 − 200.000 = 2.250.000; VAT 10% → 2.475.000
    assert "Tổng thanh toán: " + money(2_475_000) in user.last_text()
    await step_two_and_contact(user)
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    await use_up_quota(bot, "KM-VIP200K", 3)
    await user.press("Xác nhận")
    changed = user.last_text()
    assert "Giá đơn hàng đã thay đổi" in changed and "hết lượt" in changed
    # without the promotion: 2.450.000 + 10% = 2.695.000
    assert "Tổng thanh toán: " + money(2_695_000) in changed
    assert len(await orders(bot)) == 3  # the other business's orders only
    await agree_pay_confirm(user)
    assert "Đăng ký thành công" in user.last_text()
    totals = sorted(o.total for o in await orders(bot))
    assert 2_695_000 in totals


async def use_up_quota(bot: BotHarness, code: str, times: int) -> None:
    """Another business takes the promotion's last uses, as a concurrent buyer would."""
    other = await bot.add_enterprise("0103326250", "Công ty Khác", address="Hà Nội", email="a@b.vn")
    await bot.grant(424242, "owner", tax_code="0103326250")
    ctx = bot.context()
    place = PlaceOrder(lambda: bot.database.uow, ctx.catalog.get, ctx.clock)
    for i in range(times):
        outcome = await place(
            OrderRequest(
                actor_id=424242,
                enterprise_id=other,
                selection=Selection("WIFI-BIZ", "WIFI-SME", "M6", invoice_promotions=(code,)),
                invoice=InvoiceInfo("Công ty Khác", "0103326250", "Hà Nội", "a@b.vn"),
                customer=CustomerInfo("Công ty Khác", "0103326250", "Hà Nội", "", "a@b.vn"),
                contact=ContactInfo("Bình", "+84912345679", "a@b.vn"),
                expected_total=2_475_000,
                idempotency_key=f"other-{i}",
                locale="vi",
                chat_id=424242,
            )
        )
        assert outcome.kind.value == "created", outcome


async def test_a_user_without_permission_is_told_what_to_do(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    stranger = bot.user("Khách")
    await stranger.send("/services")
    await stranger.press("Wifi doanh nghiệp")
    await stranger.press("Bảng giá")
    await stranger.press("Gói Văn phòng nhỏ")
    await stranger.press("1 tháng", prefix=True)
    await stranger.press("Đăng ký")
    answer = stranger.last_callback_answer()
    assert answer is not None and answer.show_alert and answer.text is not None
    assert "chưa có quyền" in answer.text


async def test_english_throughout(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot, lang="en")
    await user.send("/services")
    assert "Services" in user.last_text() or "service" in user.last_text().lower()
    await user.press("Wifi doanh nghiệp")
    await user.press("Pricing")
    await user.press("Gói Văn phòng nhỏ")
    await user.press("1 month", prefix=True)
    await user.press("Register")
    assert "Service checkout – Step 1/2" in user.last_text()
    await user.press("No promotion")
    await user.press("Done")
    await user.press("No promotion")
    await user.press("Next")
    assert "Invoice details" in user.last_text()
    await user.press("Next")
    assert "Customer details" in user.last_text()
    await user.press("Next")
    await user.send("Lan Nguyen")
    await user.share_contact()
    await user.send("lan@anbinh.vn")
    final = user.last_text()
    assert "Tổng thanh toán" not in final and "Thanh toán" not in final
    await user.press("⬜ I agree to the Service Registration Terms")
    await user.press("Pay")
    await user.press("Confirm")
    assert "Registration successful" in user.last_text()


async def test_button_presses_stay_within_budget(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "6 tháng")
    measured = []
    for label in (
        "Không áp dụng",
        "⬜ Bộ phát wifi bổ sung",
        "✅ Bộ phát wifi bổ sung",
        "⬜ Bộ phát wifi bổ sung",
        "⬜ Khảo sát và đo kiểm vùng phủ sóng",
        "Xong",
        "Giảm 50.000 ₫ thiết bị lắp thêm",
        "Không áp dụng",
        "Tiếp theo",
        "Tiếp theo",
    ):
        with bot.queries.measure() as q:
            await user.press(label)
        calls = user.calls_since_action()
        measured.append((label, q.statements, calls))
        assert q.count <= 3, (label, q.statements)
        assert len(calls) <= 2 and calls[0] == "answerCallbackQuery", (label, calls)
    # promotion screens read usage (the draft itself comes from memory, only its save is SQL)
    assert any(
        any("promotion_redemptions" in statement for statement in statements)
        for _, statements, _ in measured
    )


async def test_the_stored_draft_stays_small(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "6 tháng")
    await user.press("Khách hàng mới giảm 100.000 ₫")
    await user.press("⬜ Bộ phát wifi bổ sung")
    await user.press("⬜ Khảo sát và đo kiểm vùng phủ sóng")
    await user.press("Xong")
    await user.press("Giảm 50.000 ₫ thiết bị lắp thêm")
    await user.press("Ưu đãi 200.000 ₫ cho 3 đơn đầu tiên")
    await step_two_and_contact(user)
    async with bot.database.engine.connect() as conn:
        rows = (await conn.execute(text("SELECT data FROM conversations"))).all()
    assert rows
    for row in rows:
        raw = row.data if isinstance(row.data, str) else json.dumps(row.data, ensure_ascii=False)
        data = json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))
        assert "Nguyễn Thị Lan" in data  # this is the draft at the final step
        assert len(data.encode()) <= 1024, data
        assert "Wifi doanh nghiệp" not in data  # codes, not copies of catalog rows


async def test_an_idle_draft_expires_with_a_notice(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling", settings={"draft_ttl_hours": 1})
    user = await business_owner(bot)
    await user.send("/services")
    await user.press("Wifi doanh nghiệp")
    store = SqlConversationStore(bot.database.engine)
    key = f"{bot.bot_id}:{user.id}"
    record = await store.get(key)
    assert record is not None
    await store.put(replace(record, updated_at=datetime(2020, 1, 1, tzinfo=UTC)))
    await bot.restart()
    await user.press("Bảng giá")
    assert "hết hạn" in user.last_text()


async def test_help_explains_the_current_step(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    await choose_plan(user, "Wifi doanh nghiệp", "Gói Văn phòng nhỏ", "1 tháng")
    await user.send("/help")
    assert "Hướng dẫn" in user.last_text() and "Không áp dụng" in user.last_text()


async def test_registering_the_same_plan_twice_makes_two_orders(bot_factory: BotFactory) -> None:
    bot = await bot_factory("polling")
    user = await business_owner(bot)
    for _ in range(2):
        await wifi_step_one_without_extras(user)
        await step_two_and_contact(user)
        await agree_pay_confirm(user)
        assert "Đăng ký thành công" in user.last_text()
    assert len(await orders(bot)) == 2
