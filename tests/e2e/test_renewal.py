"""Issue 13 end to end: the subscription's life after registration, through the local Bot API
server and the VNPT Pay simulator, with the bot's clock moved forward by the test.

- an ON subscription is reminded 7 days before its end, renewed with a card from the reminder
  (with a renewal promotion), and its period extended from the old end;
- an OS subscription renewed from **Chi tiết** and paid in cash, confirmed by an agent;
- **Hủy gia hạn** then the end of the period: the subscription is cancelled, the owner told;
- a renewal at a changed price (the catalog changed after the purchase, then again between the
  summary and **Xác nhận**).

Expected amounts are computed by hand from catalog.sample.yaml.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot.catalog_file import load_catalog_file
from bot.lifecycle import SubscriptionLifecycle
from domain.constants import VN_TZ
from domain.model import (
    InvoiceStatus,
    OrderPurpose,
    OrderStatus,
    Subscription,
    SubscriptionStatus,
)
from tests.e2e.botapi_client import ChatUser
from tests.e2e.harness import SAMPLE_CATALOG
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)

SMARTCA = "VNPT SmartCA"
PERSONAL = "Gói Cá nhân"  # 12 months, 250.000 ₫, VAT 10 %
PERSONAL_TOTAL = 275_000
CODE = re.compile(r"TB-\d{4}-\d{6}")
RENEW = "🔄 Gia hạn"
RENEWED = "Gia hạn thành công"


def lifecycle(shop: Shop) -> SubscriptionLifecycle:
    [task] = [s for s in shop.bot.context().background if isinstance(s, SubscriptionLifecycle)]
    return task


async def subscription(shop: Shop, code: str) -> Subscription:
    async with shop.bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
    assert sub is not None
    return sub


async def buy_personal(shop: Shop, owner: ChatUser) -> Subscription:
    """Gói Cá nhân bought and paid with a card; the active subscription."""
    await shop.checkout(owner, SMARTCA, PERSONAL, "12 tháng")
    await shop.pay(shop.pay_url(owner))
    told = await owner.wait_for_text("Đăng ký thành công", timeout=15)
    found = CODE.search(told.text or "")
    assert found is not None
    sub = await subscription(shop, found.group(0))
    assert sub.status is SubscriptionStatus.ACTIVE and sub.current_period_end is not None
    return sub


def plus_months(sub: Subscription, months: int) -> object:
    """The old end plus ``months`` on the Vietnamese calendar (the anchor day kept)."""
    assert sub.current_period_end is not None
    end = sub.current_period_end.astimezone(VN_TZ)
    years, month0 = divmod(end.month - 1 + months, 12)
    return end.replace(year=end.year + years, month=month0 + 1)


async def open_details(owner: ChatUser, code: str) -> None:
    await owner.send(f"/subscriptions {code}")
    await owner.press("Chi tiết")


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_on_subscription_reminded_then_renewed_with_a_card(shop: Shop) -> None:
    owner = await shop.owner()
    sub = await buy_personal(shop, owner)
    end = sub.current_period_end
    assert end is not None

    # 8 days before the end: nothing yet; 7 days before: the reminder, once
    shop.clock.advance(end - shop.clock.now() - timedelta(days=8))
    await lifecycle(shop).run_once()
    shop.clock.advance(timedelta(days=1, minutes=5))
    await lifecycle(shop).run_once()
    await lifecycle(shop).run_once()  # a second round (or replica) sends nothing more
    reminder = await owner.wait_for_text("sẽ hết hạn sau")
    await owner.settle()
    assert len([t for t in owner.texts() if "sẽ hết hạn sau" in t]) == 1
    assert sub.code in (reminder.text or "") and "7 ngày" in (reminder.text or "")
    assert reminder.labels == [[RENEW], ["Quản lý thuê bao"]]

    await owner.press(RENEW, message_id=reminder.message_id)
    assert "Chọn chu kỳ gia hạn" in owner.last_text()
    assert owner.last_buttons()[0] == [f"12 tháng — {money(PERSONAL_TOTAL)} (chu kỳ hiện tại)"]
    await owner.press("12 tháng", prefix=True)
    summary = owner.last_text()
    new_end = plus_months(sub, 12)
    assert "Kỳ mới" in summary and money(PERSONAL_TOTAL) in summary
    assert f"{new_end:%d/%m/%Y}" in summary
    # the renewal promotion of the catalog is offered here (never on a first registration)
    await owner.press("⬜ Gia hạn giảm 10%")
    # 250.000 − 10 % = 225.000, + 10 % VAT = 247.500
    assert money(247_500) in owner.last_text()
    await owner.press("Xác nhận gia hạn")
    url = shop.pay_url(owner)
    [link] = [t for t in owner.texts()[-3:] if "Thanh toán gia hạn thuê bao" in t]
    assert money(247_500) in link and sub.code in link
    moid = await shop.merchant_order_id(url)

    payment = await shop.pay(url)
    assert "Thanh toán thành công" in payment.return_page
    told = await owner.wait_for_text(RENEWED, timeout=15)
    assert sub.code in (told.text or "") and money(247_500) in (told.text or "")

    order, _, _, [invoice] = await shop.records(moid)
    assert (order.purpose, order.subscription_id, order.status) == (
        OrderPurpose.RENEWAL,
        sub.id,
        OrderStatus.PAID,
    )
    assert invoice.status is InvoiceStatus.PAID and invoice.total == 247_500 and invoice.number
    renewed = await subscription(shop, sub.code)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.current_period_start == end  # from the old end, not from the payment date
    assert renewed.current_period_end == new_end
    # a second renewal of the same period cannot be paid twice: a new one is a new order
    await owner.press(RENEW, message_id=reminder.message_id)
    assert "Chọn chu kỳ gia hạn" in owner.last_text()


async def test_an_os_renewal_paid_in_cash_confirmed_by_an_agent(shop: Shop) -> None:
    owner = await shop.owner()
    await shop.checkout(owner, "Lắp đặt camera giám sát", "Gói 1 camera wifi", "1 năm")
    found = CODE.search(owner.last_text())
    assert found is not None
    code = found.group(0)
    agent = shop.bot.user("Hà", last_name="Hỗ trợ")
    await shop.bot.grant(agent.id, "agent")
    await agent.send(f"/cash {code}")
    await owner.wait_for_text("Đã nhận thanh toán tiền mặt")
    sub = await subscription(shop, code)
    assert sub.status is SubscriptionStatus.ACTIVE

    await open_details(owner, code)
    assert [RENEW] in owner.last_buttons() and ["Hủy gia hạn"] in owner.last_buttons()
    assert ["⛔ Hủy ngay (nhân viên)"] not in owner.last_buttons()  # staff only
    await owner.press(RENEW)
    await owner.press("1 năm", prefix=True)
    assert "tiền mặt" in owner.last_text()
    await owner.press("Xác nhận gia hạn")
    # 1.290.000 + 8 % VAT
    pending = owner.last_text()
    assert "Đã tạo đơn gia hạn" in pending and money(1_393_200) in pending
    # a second renewal while this one waits for cash is refused
    await open_details(owner, code)
    await owner.press(RENEW)
    assert "đang chờ thanh toán" in owner.last_text()

    await agent.send(f"/cash {code}")
    assert "Đã ghi nhận thanh toán tiền mặt" in agent.last_text()
    told = await owner.wait_for_text(RENEWED)
    assert code in (told.text or "")
    renewed = await subscription(shop, code)
    assert renewed.current_period_start == sub.current_period_end
    assert renewed.current_period_end == plus_months(sub, 12)
    await agent.send(f"/cash {code}")  # paid twice: nothing more
    assert "đã được thanh toán trước đó" in agent.last_text()
    assert (await subscription(shop, code)).current_period_end == renewed.current_period_end

    await open_details(owner, code)
    await owner.press("Lịch sử")
    history = owner.last_text()
    assert "gia hạn thuê bao" in history and "tạo đơn gia hạn" in history


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_cancel_at_period_end_then_expiry(shop: Shop) -> None:
    owner = await shop.owner()
    sub = await buy_personal(shop, owner)
    await open_details(owner, sub.code)
    await owner.press("Hủy gia hạn")
    assert "Hủy gia hạn thuê bao" in owner.last_text()
    confirm_message = owner.bot_messages()[-1].message_id
    await owner.press("Xác nhận hủy gia hạn")
    assert "Đã hủy gia hạn" in owner.last_text()
    assert (await subscription(shop, sub.code)).status is SubscriptionStatus.NON_RENEWING
    # the old confirmation again: out of date, nothing changes
    await owner.press("Xác nhận hủy gia hạn", message_id=confirm_message)
    assert (await subscription(shop, sub.code)).status is SubscriptionStatus.NON_RENEWING

    await open_details(owner, sub.code)
    assert "Không gia hạn" in owner.last_text() and ["Tiếp tục gia hạn"] in owner.last_buttons()
    await owner.press("Tiếp tục gia hạn")
    assert "sẽ tiếp tục được gia hạn" in owner.last_text()
    await open_details(owner, sub.code)
    await owner.press("Hủy gia hạn")
    await owner.press("Xác nhận hủy gia hạn")

    end = sub.current_period_end
    assert end is not None
    shop.clock.advance(end - shop.clock.now() + timedelta(minutes=1))
    await lifecycle(shop).run_once()
    told = await owner.wait_for_text("đã kết thúc")
    assert sub.code in (told.text or "") and "hủy gia hạn" in (told.text or "")
    assert (await subscription(shop, sub.code)).status is SubscriptionStatus.CANCELLED

    await open_details(owner, sub.code)
    assert "Đã hủy" in owner.last_text() and [RENEW] not in owner.last_buttons()
    await owner.press("Lịch sử")
    history = owner.last_text()
    assert "hủy gia hạn: dùng đến" in history and "tiếp tục gia hạn" in history
    assert "thuê bao kết thúc vào cuối kỳ" in history


async def test_a_renewal_at_a_changed_price(shop: Shop, tmp_path: Path) -> None:
    owner = await shop.owner()
    sub = await buy_personal(shop, owner)

    async def price(amount: int) -> None:
        text = SAMPLE_CATALOG.read_text(encoding="utf-8").replace(
            "{code: M12, every: 12, unit: month, price: 250000}",
            f"{{code: M12, every: 12, unit: month, price: {amount}}}",
        )
        path = tmp_path / f"catalog-{amount}.yaml"
        path.write_text(text, encoding="utf-8")
        await shop.bot.context().load_catalog(load_catalog_file(path))
        assert await shop.bot.context().catalog.refresh()

    await price(300_000)  # after the purchase: 300.000 + 10 % = 330.000
    await open_details(owner, sub.code)
    await owner.press(RENEW)
    assert owner.last_buttons()[0] == [f"12 tháng — {money(330_000)} (chu kỳ hiện tại)"]
    await owner.press("12 tháng", prefix=True)
    assert money(330_000) in owner.last_text()

    await price(320_000)  # again, while the summary is shown: 352.000
    await owner.press("Xác nhận gia hạn")
    changed = owner.last_text()
    assert "Giá vừa thay đổi" in changed and money(352_000) in changed
    await owner.press("Xác nhận gia hạn")
    url = shop.pay_url(owner)
    moid = await shop.merchant_order_id(url)
    await shop.pay(url)
    await owner.wait_for_text(RENEWED, timeout=15)

    order, _, _, [invoice] = await shop.records(moid)
    assert order.total == invoice.total == 352_000
    renewed = await subscription(shop, sub.code)
    assert renewed.current_period_start == sub.current_period_end
    async with shop.bot.database.uow as uow:
        first = await uow.invoices.for_order(sub.order_id)
    assert [i.total for i in first] == [PERSONAL_TOTAL]  # the first invoice is not touched


async def test_an_agent_cancels_at_once_with_a_reason(shop: Shop) -> None:
    owner = await shop.owner()
    sub = await buy_personal(shop, owner)
    agent = shop.bot.user("Hà", last_name="Hỗ trợ")
    await shop.bot.grant(agent.id, "agent")

    await open_details(agent, sub.code)
    await agent.press("⛔ Hủy ngay (nhân viên)")
    assert "Nhập lý do hủy ngay" in agent.last_text()
    await agent.send("x" * 501)
    assert "Lý do quá dài (tối đa 500 ký tự)" in agent.last_text()
    await agent.send("Khách hàng yêu cầu chấm dứt hợp đồng")
    assert "Đã hủy thuê bao" in agent.last_text()

    told = await owner.wait_for_text("đã bị hủy")
    assert sub.code in (told.text or "") and "Khách hàng yêu cầu chấm dứt hợp đồng" in (
        told.text or ""
    )
    assert (await subscription(shop, sub.code)).status is SubscriptionStatus.CANCELLED
    await open_details(owner, sub.code)
    assert [RENEW] not in owner.last_buttons() and ["Hủy gia hạn"] not in owner.last_buttons()
    await owner.press("Lịch sử")
    assert "hủy thuê bao ngay, lý do: Khách hàng yêu cầu chấm dứt hợp đồng" in owner.last_text()
