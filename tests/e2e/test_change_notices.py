"""Issue 14 follow-ups, end to end (the setting of test_changes.py): a paid change and a paid
trial are told as such (not as **Đăng ký thành công**), **Thanh toán lại** on a change whose
VNPT Pay link could not be had, an unpaid change order expiring, and staff starting a trial
for a business through the business picker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.model import OrderPurpose, OrderStatus, SubscriptionStatus
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    COMPANY,
    TAX_CODE,
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)
from tests.e2e.test_changes import (
    BUSINESS,
    CHANGE,
    CODE,
    CONFIRM,
    PAY_TRIAL,
    PREVIEW,
    SUCCESS,
    TRIAL,
    _to_register,
    days_of,
    half_up,
    history,
    one,
    paid_personal,
    subscription,
)
from tests.e2e.test_manage import open_subscription

CHANGED = "Đổi gói thành công"
PAY_AGAIN = "Thanh toán lại"


def _upgrade_due(sub: object, elapsed: int) -> int:
    """Personal (250.000 ₫) → Business (1.800.000 ₫) after ``elapsed`` days, 10 % VAT."""
    total, remaining = days_of(sub, elapsed)
    credit = half_up(250_000 * remaining, total)
    charge = half_up(1_800_000 * remaining, total)
    return (charge - credit) + half_up(charge - credit, 10)


async def _confirm_upgrade(shop: Shop, code: str) -> None:
    user = await shop.owner()
    await open_subscription(user, code)
    await user.press(CHANGE)
    await user.press(f"▫️ {BUSINESS}")
    await user.press(PREVIEW)
    await user.press(CONFIRM)


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_paid_change_is_told_as_a_change(shop: Shop) -> None:
    user = await shop.owner()
    code = await paid_personal(shop, user)
    sub = await subscription(shop, code)
    shop.clock.advance(timedelta(days=100))
    due = _upgrade_due(sub, 100)
    await _confirm_upgrade(shop, code)

    await shop.pay(shop.pay_url(user))

    told = await user.wait_for_text(CHANGED, timeout=15)
    text = told.text or ""
    assert code in text and money(due) in text
    assert f"Gói: Gói Cá nhân → {BUSINESS}" in text
    assert "Chu kỳ: 12 tháng → 12 tháng" in text and "Số lượng: 1 → 1" in text
    assert "Hiệu lực từ: " in text
    invoice = await one(
        shop.bot,
        "SELECT i.number FROM invoices i JOIN orders o ON o.id = i.order_id WHERE o.purpose = :p",
        p=OrderPurpose.CHANGE.value,
    )
    assert invoice.number and invoice.number in text
    assert told.labels == [["Quản lý thuê bao"]]
    await user.settle()
    assert len([t for t in user.texts() if SUCCESS in t]) == 1  # the registration's only
    await user.press("Quản lý thuê bao")
    assert BUSINESS in user.last_text() and code in user.last_text()


async def test_a_paid_trial_is_told_as_a_conversion(shop: Shop) -> None:
    user = await shop.owner()
    await _to_register(user)
    await user.press(TRIAL)
    found = CODE.search(user.last_text())
    assert found is not None
    code = found.group(0)
    shop.clock.advance(timedelta(days=3))
    await open_subscription(user, code)
    await user.press(PAY_TRIAL)
    await shop.pay(shop.pay_url(user))

    told = await user.wait_for_text("Đã chuyển từ dùng thử sang chính thức", timeout=15)
    text = told.text or ""
    assert code in text and money(300_000) in text and "Gói Cơ bản" in text
    assert "1 tháng" in text and "Thời hạn sử dụng: " in text
    await user.settle()
    assert not [t for t in user.texts() if SUCCESS in t]
    assert (await subscription(shop, code)).status is SubscriptionStatus.ACTIVE


async def test_a_change_whose_link_failed_is_paid_again(shop: Shop) -> None:
    user = await shop.owner()
    code = await paid_personal(shop, user)
    sub = await subscription(shop, code)
    shop.clock.advance(timedelta(days=100))
    due = _upgrade_due(sub, 100)
    await shop.switches(init_bad_checksum=True)  # VNPT Pay's answers cannot be trusted

    await _confirm_upgrade(shop, code)

    failed = user.last_message()
    assert "Chưa lấy được liên kết thanh toán" in (failed.text or "")
    assert [b.text for b in failed.flat_buttons] == [PAY_AGAIN, "« Về thuê bao"]
    await shop.switches(init_bad_checksum=False)
    await user.press(PAY_AGAIN)
    link = [t for t in user.texts()[-3:] if money(due) in t]
    assert link, user.texts()[-3:]
    await shop.pay(shop.pay_url(user))
    await user.wait_for_text(CHANGED, timeout=15)
    changed = await subscription(shop, code)
    assert changed.plan_code == "SMARTCA-BUSINESS"
    order = await one(
        shop.bot,
        "SELECT status, total FROM orders WHERE purpose = :p",
        p=OrderPurpose.CHANGE.value,
    )
    assert (order.status, order.total) == (OrderStatus.PAID.value, due)


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_an_unpaid_change_order_expires_and_the_subscription_stays(shop: Shop) -> None:
    user = await shop.owner()
    code = await paid_personal(shop, user)
    sub = await subscription(shop, code)
    shop.clock.advance(timedelta(days=100))
    await _confirm_upgrade(shop, code)
    order = await one(
        shop.bot, "SELECT code FROM orders WHERE purpose = :p", p=OrderPurpose.CHANGE.value
    )

    shop.clock.advance(timedelta(minutes=31))  # ORDER_EXPIRY_MINUTES is 30
    round_ = await shop.reconciler().run_once()

    assert round_.expiry is not None and len(round_.expiry.expired) == 1
    notice = await user.wait_for_text("giữ nguyên gói hiện tại", timeout=15)
    text = notice.text or ""
    assert "Đơn đổi gói" in text and "đã hết hạn" in text
    assert order.code in text and code in text
    assert notice.labels == [["Quản lý thuê bao"]]
    after = await subscription(shop, code)
    assert (after.plan_code, after.status) == (sub.plan_code, SubscriptionStatus.ACTIVE)
    assert (after.current_period_start, after.current_period_end) == (
        sub.current_period_start,
        sub.current_period_end,
    )
    expired = await one(
        shop.bot,
        "SELECT status FROM orders WHERE purpose = :p",
        p=OrderPurpose.CHANGE.value,
    )
    assert expired.status == OrderStatus.EXPIRED.value
    events = await history(shop, sub.id)
    assert "order.expired" in events and "subscription.changed" not in events
    # the notice's button opens the subscription, still on its plan
    await user.press("Quản lý thuê bao")
    assert code in user.last_text() and "Gói Cá nhân" in user.last_text()


async def test_staff_start_a_trial_for_a_business_once(shop: Shop) -> None:
    owner = await shop.owner()
    await owner.send("/start")
    agent = shop.bot.user("Hỗ trợ", last_name="Viên", phone_number="+84987654321")
    await shop.bot.grant(agent.id, "agent")
    await _to_register(agent)

    await agent.press(TRIAL)

    assert "Đăng ký hộ doanh nghiệp" in agent.last_text()  # the business picker
    await agent.send("Bình Minh")
    await agent.press(f"{COMPANY} ({TAX_CODE})")
    started = agent.last_text()
    assert "Đã bắt đầu dùng thử" in started
    found = CODE.search(started)
    assert found is not None
    code = found.group(0)
    sub = await subscription(shop, code)
    assert sub.status is SubscriptionStatus.IN_TRIAL
    told = await owner.wait_for_text("đã bắt đầu dùng thử", timeout=15)
    text = told.text or ""
    assert "Hỗ trợ" in text and COMPANY in text and code in text and "Gói Cơ bản" in text
    trial = await one(shop.bot, "SELECT started_by FROM trials")
    assert trial.started_by == agent.id

    # once per business: the agent again, then the owner
    await _to_register(agent)
    await agent.press(TRIAL)
    await agent.send("Bình Minh")
    await agent.press(f"{COMPANY} ({TAX_CODE})")
    answer = agent.last_callback_answer()
    assert answer is not None and "đã dùng thử" in (answer.text or "")
    await _to_register(owner)
    await owner.press(TRIAL)
    answer = owner.last_callback_answer()
    assert answer is not None and "đã dùng thử" in (answer.text or "")
    trials = await one(shop.bot, "SELECT count(*) AS n FROM trials")
    assert trials.n == 1
