"""Issue 14, item 4 end to end: a coupon code typed at a promotion step of the registration.

The real bot (polling) against the local Bot API server, loading the sample catalog (whose
``KM-TET2027`` is typed as ``TET2027``: 15 % off the SmartCA plans, once per business) plus a
few codes written for these tests with windows around today. The code is accepted in any
case and recorded on the order; each refusal says why and leaves the step open; a code's
quota is enforced when the order is placed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import text

from domain.constants import VN_TZ
from domain.model import OrderId
from tests.e2e.botapi_client import ChatUser
from tests.e2e.conftest import BotFactory
from tests.e2e.harness import SAMPLE_CATALOG, BotHarness

NBSP = "\u00a0"
CODE_BUTTON = "🎟 Nhập mã khuyến mại"
NO_CODE = "✖ Không nhập mã"


def money(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + f"{NBSP}₫"


def catalog_file(folder: Path) -> Path:
    """The sample catalog and codes that are not valid yet, expired, for another plan, for the
    invoice step, and one with a single use."""
    today = dt.datetime.now(VN_TZ).date()
    extra = f"""
  - code: KM-E2E-SOON
    name: "Mã SOON2027"
    scope: plan
    percent: 10
    starts: {today + dt.timedelta(days=1)}
    coupon_code: "SOON2027"
  - code: KM-E2E-GONE
    name: "Mã GONE2026"
    scope: plan
    amount: 10000
    ends: {today - dt.timedelta(days=1)}
    coupon_code: "GONE2026"
  - code: KM-E2E-CLOUD
    name: "Mã CLOUDONLY"
    scope: plan
    percent: 10
    applies_to: [CLOUD-S]
    coupon_code: "CLOUDONLY"
  - code: KM-E2E-HD
    name: "Mã HOADON: giảm 20.000 ₫ tổng hóa đơn"
    scope: invoice
    amount: 20000
    coupon_code: "HOADON"
  - code: KM-E2E-ONE
    name: "Mã ONE: giảm 50.000 ₫"
    scope: plan
    amount: 50000
    quota: 1
    coupon_code: "ONE"
"""
    path = folder / "catalog.yaml"
    path.write_text(SAMPLE_CATALOG.read_text(encoding="utf-8") + extra, encoding="utf-8")
    return path


async def owner_of(bot: BotHarness, tax_code: str, name: str, first_name: str) -> ChatUser:
    user = bot.user(first_name, last_name="Nguyễn", phone_number="+84912345678")
    await bot.add_enterprise(tax_code, name, address="1 Lê Lợi, Hà Nội", email="kt@example.vn")
    await bot.grant(user.id, "owner", tax_code=tax_code)
    await user.send("/start")
    return user


async def to_plan_promotion(user: ChatUser) -> None:
    await user.send("/services")
    await user.press("VNPT SmartCA")
    await user.press("Bảng giá")
    await user.press("Gói Doanh nghiệp")
    await user.press("12 tháng", prefix=True)
    await user.press("Đăng ký")
    assert "Khuyến mại cho gói dịch vụ" in user.last_text()


async def type_code(user: ChatUser, code: str) -> str:
    """**Nhập mã khuyến mại**, then the code; returns the bot's answer."""
    await user.press(CODE_BUTTON)
    assert "Gõ <b>mã khuyến mại</b>" not in user.last_text()  # rendered, not raw HTML
    assert "Gõ mã khuyến mại" in user.last_text()
    await user.send(code)
    return user.last_text()


async def to_confirmation(user: ChatUser) -> None:
    """From the add-ons to **Xác nhận** (no add-on, no invoice promotion)."""
    await user.press("Xong")
    await user.press("Không áp dụng")  # the invoice's promotion
    await user.press("Tiếp theo")  # step 1 summary
    await user.press("Tiếp theo")  # invoice details
    await user.press("Tiếp theo")  # customer details
    await user.send("Nguyễn Văn An")
    await user.share_contact()
    await user.send("an@example.vn")
    await user.press("⬜ Đồng ý với Điều khoản đăng ký dịch vụ")
    await user.press("Thanh toán")
    await user.press("Xác nhận")


async def orders_with(bot: BotHarness, code: str) -> list[str]:
    async with bot.database.engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT order_id FROM promotion_redemptions WHERE promotion_code = :c"),
            {"c": code},
        )
        return [str(r[0]) for r in rows]


async def test_a_code_in_any_case_is_applied_shown_and_recorded(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    bot = await bot_factory("polling", catalog_file=catalog_file(tmp_path))
    user = await owner_of(bot, "0100233488", "Công ty TNHH An Bình", "Lan")
    await to_plan_promotion(user)
    screen = user.last_message()
    labels = [b.text for b in screen.flat_buttons]
    assert CODE_BUTTON in labels and "Không áp dụng" in labels
    assert "TET2027" not in (screen.text or "") and not any("TET" in label for label in labels)

    answer = await type_code(user, "tEt2027")

    assert "Đã áp dụng mã tEt2027: Mã TET2027: giảm 15% gói SmartCA" in answer
    assert "Dịch vụ bổ sung" in answer  # on to the add-ons
    await user.press("Xong")
    await user.press("Không áp dụng")
    summary = user.last_text()
    # 1.800.000 × 15 % = 270.000 (under the 300.000 cap); + 10 % VAT on 1.530.000
    assert f"Khuyến mại KM-TET2027: −{money(270_000)}" in summary
    assert money(1_683_000) in summary
    await user.press("Quay lại")  # the invoice's promotion
    await user.press("Quay lại")  # the add-ons
    await user.press("Quay lại")  # the plan's promotion: the code is shown chosen
    assert any("Mã TET2027" in b.text for b in user.last_message().flat_buttons)
    await user.press("✅ Mã TET2027: giảm 15% gói SmartCA")
    await to_confirmation(user)

    assert "Đơn hàng" in user.last_text() and money(1_683_000) in user.last_text()
    [order_id] = await orders_with(bot, "KM-TET2027")
    async with bot.database.uow as uow:
        order = await uow.orders.get(OrderId(int(order_id)))
    assert order is not None
    assert order.promotion_codes == ("KM-TET2027",) and order.total == 1_683_000
    assert len(await orders_with(bot, "KM-TET2027")) == 1

    # once per business: typed again, it says so
    await to_plan_promotion(user)
    answer = await type_code(user, "TET2027")
    assert "Doanh nghiệp của bạn đã dùng hết số lượt của mã TET2027" in answer


async def test_each_refusal_says_why_and_leaves_a_way_forward(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    bot = await bot_factory("polling", catalog_file=catalog_file(tmp_path))
    user = await owner_of(bot, "0100233488", "Công ty TNHH An Bình", "Lan")
    await to_plan_promotion(user)
    await user.press(CODE_BUTTON)
    today = dt.datetime.now(VN_TZ).date()
    refusals = {
        "KHONGCO": "Mã KHONGCO không tồn tại hoặc đã ngừng áp dụng.",
        "soon2027": "Mã soon2027 chưa đến thời gian áp dụng (từ ngày "
        + (today + dt.timedelta(days=1)).strftime("%d/%m/%Y"),
        "Gone2026": "Mã Gone2026 đã hết hạn (đến hết ngày "
        + (today - dt.timedelta(days=1)).strftime("%d/%m/%Y"),
        "cloudonly": "Mã cloudonly không áp dụng cho gói dịch vụ bạn đã chọn.",
        "hoadon": "Mã hoadon không dùng ở bước này: đây là khuyến mại cho tổng hóa đơn",
        "CHUNG 2027": "Mã CHUNG 2027 không tồn tại",
    }
    for typed, reason in refusals.items():
        await user.send(typed)
        answer = user.last_text()
        assert reason in answer, (typed, answer)
        assert "Gõ lại mã khác, hoặc chọn khuyến mại trong danh sách" in answer
        labels = [b.text for b in user.last_message().flat_buttons]
        assert "Không áp dụng" in labels and NO_CODE in labels, labels
    async with bot.database.engine.connect() as conn:
        [(orders,)] = (await conn.execute(text("SELECT count(*) FROM orders"))).all()
    assert orders == 0

    # the invoice code at its own step is taken; the plan step goes on without a code
    await user.press(NO_CODE)
    assert "Gõ mã khuyến mại" not in user.last_text()
    await user.press("Không áp dụng")
    await user.press("Xong")
    answer = await type_code(user, "HOADON")
    assert "Đã áp dụng mã HOADON" in answer
    assert f"Khuyến mại tổng hóa đơn KM-E2E-HD: −{money(20_000)}" in answer


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_the_last_use_of_a_code_goes_to_the_first_order_placed(
    bot_factory: BotFactory, tmp_path: Path
) -> None:
    bot = await bot_factory("polling", catalog_file=catalog_file(tmp_path))
    first = await owner_of(bot, "0100233488", "Công ty TNHH An Bình", "Lan")
    second = await owner_of(bot, "0103326250", "Công ty Cổ phần Bình Minh", "Minh")
    for user in (first, second):  # both have the code accepted: nobody used it yet
        await to_plan_promotion(user)
        assert "Đã áp dụng mã one" in await type_code(user, "one")
    await to_confirmation(first)
    assert "Đơn hàng" in first.last_text()

    await to_confirmation(second)

    refused = second.last_callback_answer()
    assert refused is not None
    assert "khuyến mại KM-E2E-ONE đã hết lượt" in (refused.text or "")
    assert "Giá đơn hàng đã thay đổi" in second.last_text()  # the summary again, without it
    assert len(await orders_with(bot, "KM-E2E-ONE")) == 1
    # typed again now, the code is refused at once
    await to_plan_promotion(second)
    assert "Mã ONE đã hết lượt sử dụng." in await type_code(second, "ONE")
