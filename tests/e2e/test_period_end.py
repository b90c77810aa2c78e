"""End to end (local Bot API server, VNPT Pay simulator, the bot's clock moved by the test): the
order at a subscription's period end when a downgrade is scheduled (docs/proration.md, "At the
period end"), with ``RENEWAL_GRACE_DAYS=0`` (the default).

- an owner schedules a downgrade (**Đổi gói** to a cheaper plan of a plan that says
  ``downgrade: at_period_end``), does not renew, and the period end passes: the expiry round
  applies the downgrade then expires the subscription, on the downgraded plan; the owner is
  told; **Lịch sử** shows the scheduled change, the change and the expiry in order; **Gia hạn**
  of the expired subscription renews the downgraded plan at its price (card), a fresh period
  from the payment;
- **Gia hạn** before the period end while the downgrade waits: the renewal is for the
  downgraded plan at its price; paid by card, the period is extended from the old end at once,
  the rest of the current period keeps the old plan (**Chi tiết** before the old end) and the
  new period has the new plan (**Chi tiết** after it, once the change round ran); a second
  **Đổi gói** meanwhile is refused (it would replace the configuration paid for).

Prices from catalog.sample.yaml: eContract Chuyên nghiệp 12 months 9.600.000 ₫ + setup
1.000.000 ₫, Cơ bản 12 months 3.000.000 ₫, both KCT (no VAT); no renewal promotion applies to
eContract.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

import sandbox.vnptpay.notify as gateway_notify
from bot.change_rounds import ChangeRounds
from bot.lifecycle import SubscriptionLifecycle
from domain.catalog import PeriodUnit
from domain.constants import VN_TZ
from domain.lifecycle import first_period
from domain.model import OrderPurpose, OrderStatus, SubscriptionStatus
from sandbox.vnptpay.protocol import GATEWAY_TZ
from tests.e2e.botapi_client import ChatUser
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)

ECONTRACT = "VNPT eContract – Hợp đồng điện tử"
PRO = "Gói Chuyên nghiệp"  # downgrade: at_period_end
BASIC = "Gói Cơ bản"
BASIC_12 = 3_000_000
CHANGE = "🔄 Đổi gói / số lượng / dịch vụ bổ sung"
PREVIEW = "🧮 Xem chi phí"
CONFIRM = "✅ Xác nhận đổi gói"
RENEW = "🔄 Gia hạn"
RENEWED = "Gia hạn thành công"
CODE = re.compile(r"TB-\d{4}-\d{6}")


@pytest.fixture(autouse=True)
def gateway_on_the_test_clock(shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator dates a payment (its PAY_DATE, which the bot takes as the payment time)
    by the same moved clock as the bot: a renewal of an expired subscription starts a fresh
    period from that time."""
    monkeypatch.setattr(
        gateway_notify, "gateway_now", lambda: shop.clock.now().astimezone(GATEWAY_TZ)
    )


def lifecycle(shop: Shop) -> SubscriptionLifecycle:
    [task] = [s for s in shop.bot.context().background if isinstance(s, SubscriptionLifecycle)]
    return task


def change_rounds(shop: Shop) -> ChangeRounds:
    [task] = [s for s in shop.bot.context().background if isinstance(s, ChangeRounds)]
    return task


async def subscription(shop: Shop, code: str) -> Any:
    async with shop.bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
    assert sub is not None
    return sub


def day(moment: Any) -> str:
    return f"{moment.astimezone(VN_TZ):%d/%m/%Y}"


async def details(owner: ChatUser, code: str) -> str:
    await owner.send(f"/subscriptions {code}")
    await owner.press("Chi tiết")
    return owner.last_text()


async def pro_with_a_downgrade(shop: Shop, owner: ChatUser) -> Any:
    """eContract Chuyên nghiệp bought by card, then Đổi gói to Cơ bản: scheduled."""
    await shop.checkout(owner, ECONTRACT, PRO, "12 tháng")
    await shop.pay(shop.pay_url(owner))
    told = await owner.wait_for_text("Đăng ký thành công", timeout=15)
    found = CODE.search(told.text or "")
    assert found is not None
    sub = await subscription(shop, found.group(0))
    assert (sub.plan_code, sub.status) == ("ECONTRACT-PRO", SubscriptionStatus.ACTIVE)

    shop.clock.advance(timedelta(days=30))
    await owner.send(f"/subscriptions {sub.code}")
    await owner.press(CHANGE)
    await owner.press(f"▫️ {BASIC}")
    await owner.press(PREVIEW)
    assert "khi hết kỳ" in owner.last_text()
    await owner.press(CONFIRM)
    assert "Đã lên lịch" in owner.last_text()
    async with shop.bot.database.uow as uow:
        scheduled = await uow.changes.scheduled(sub.id)
    assert scheduled is not None and scheduled.plan_code == "ECONTRACT-BASIC"
    assert scheduled.effective_at == sub.current_period_end
    assert (await subscription(shop, sub.code)).plan_code == "ECONTRACT-PRO"
    return sub


async def renew_by_card(shop: Shop, owner: ChatUser, code: str) -> tuple[str, str]:
    """Gia hạn from Chi tiết, 12 months of Cơ bản; returns (the summary, the payment URL)."""
    await owner.press(RENEW)
    choose = owner.last_text()
    assert BASIC in choose and PRO not in choose, choose
    cycles = [row[0] for row in owner.last_buttons() if "tháng" in row[0]]
    assert f"12 tháng — {money(BASIC_12)} (chu kỳ hiện tại)" in cycles, cycles
    await owner.press("12 tháng", prefix=True)
    summary = owner.last_text()
    assert BASIC in summary and money(BASIC_12) in summary, summary
    await owner.press("Xác nhận gia hạn")
    url = shop.pay_url(owner)
    [link] = [t for t in owner.texts()[-3:] if "Thanh toán gia hạn thuê bao" in t]
    assert money(BASIC_12) in link and code in link
    return summary, url


async def test_a_downgrade_then_the_period_end_then_gia_han(shop: Shop) -> None:
    owner = await shop.owner()
    sub = await pro_with_a_downgrade(shop, owner)
    end = sub.current_period_end

    # the boundary moment itself counts as reached: the expiry round alone applies the
    # downgrade, then expires the subscription, in one transaction
    shop.clock.advance(end - shop.clock.now())
    report = await lifecycle(shop).run_once()
    assert report.expiry is not None
    assert report.expiry.ended == ((sub.code, SubscriptionStatus.EXPIRED),)
    expired = await subscription(shop, sub.code)
    assert (expired.status, expired.plan_code, expired.cycle_code) == (
        SubscriptionStatus.EXPIRED,
        "ECONTRACT-BASIC",
        "M12",
    )
    assert (expired.current_period_start, expired.current_period_end) == (
        sub.current_period_start,
        end,
    )  # the period kept
    async with shop.bot.database.uow as uow:
        assert await uow.changes.scheduled(sub.id) is None
    told = await owner.wait_for_text("đã hết hạn vào", timeout=15)
    assert sub.code in (told.text or "") and day(end) in (told.text or "")
    # a change round afterwards has nothing left to do
    changes = await change_rounds(shop).run_once()
    assert changes.scheduled is not None and changes.scheduled.applied == 0

    shown = await details(owner, sub.code)
    assert f"Gói: <b>{BASIC}</b>" in shown or f"Gói: {BASIC}" in shown, shown
    assert "Hết hạn" in shown, shown
    await owner.press("Lịch sử")
    history = owner.last_text()
    lines = history.splitlines()
    scheduled_at = [i for i, t in enumerate(lines) if f"lên lịch đổi sang {BASIC}" in t]
    # the history names plans as the catalog does, the cycle in words
    changed = f"đổi gói: {PRO} → {BASIC} (12 tháng, số lượng 1)"
    changed_at = [i for i, t in enumerate(lines) if changed in t]
    assert "ECONTRACT-" not in history, history
    expired_at = [i for i, t in enumerate(lines) if "thuê bao hết hạn" in t]
    assert len(scheduled_at) == len(changed_at) == len(expired_at) == 1, history
    # newest first: the expiry, then the change it applied first, then the scheduling
    assert expired_at[0] < changed_at[0] < scheduled_at[0], history
    assert f"kỳ kết thúc {day(end)}, gia hạn thêm 0 ngày" in lines[expired_at[0]]

    # Gia hạn of the expired subscription: the downgraded plan at its price, a fresh period
    shop.clock.advance(timedelta(days=2))
    await details(owner, sub.code)
    summary, url = await renew_by_card(shop, owner, sub.code)
    moid = await shop.merchant_order_id(url)
    before = shop.clock.now().replace(microsecond=0)  # PAY_DATE is to the second
    await shop.pay(url)
    after = shop.clock.now()
    told = await owner.wait_for_text(RENEWED, timeout=15)
    assert money(BASIC_12) in (told.text or "")
    order, _, _, [invoice] = await shop.records(moid)
    assert (order.purpose, order.status, order.plan_code, order.total) == (
        OrderPurpose.RENEWAL,
        OrderStatus.PAID,
        "ECONTRACT-BASIC",
        BASIC_12,
    )
    assert invoice.total == BASIC_12  # KCT: no VAT, no setup fee on a renewal
    renewed = await subscription(shop, sub.code)
    assert (renewed.status, renewed.plan_code) == (SubscriptionStatus.ACTIVE, "ECONTRACT-BASIC")
    assert before <= renewed.current_period_start <= after  # from the payment, not the old end
    fresh = first_period(renewed.current_period_start.astimezone(VN_TZ), 12, PeriodUnit.MONTH)
    assert renewed.current_period_end == fresh.end
    assert f"{day(renewed.current_period_start)} – {day(renewed.current_period_end)}" in summary


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_gia_han_before_the_end_while_a_downgrade_waits(shop: Shop) -> None:
    owner = await shop.owner()
    sub = await pro_with_a_downgrade(shop, owner)
    end = sub.current_period_end
    new_end = end.astimezone(VN_TZ).replace(year=end.astimezone(VN_TZ).year + 1)

    shop.clock.advance(end - shop.clock.now() - timedelta(days=5))
    await details(owner, sub.code)
    summary, url = await renew_by_card(shop, owner, sub.code)
    assert "hẹn đổi sang gói" in summary  # the renewal says why it is for Cơ bản
    assert f"{day(end)} – {day(new_end)}" in summary
    moid = await shop.merchant_order_id(url)
    await shop.pay(url)
    await owner.wait_for_text(RENEWED, timeout=15)
    order, _, _, [invoice] = await shop.records(moid)
    assert (order.plan_code, order.total, invoice.total) == ("ECONTRACT-BASIC", BASIC_12, BASIC_12)

    # paid before the old end: the period extended at once, the rest of it on Chuyên nghiệp
    renewed = await subscription(shop, sub.code)
    assert (renewed.status, renewed.plan_code) == (SubscriptionStatus.ACTIVE, "ECONTRACT-PRO")
    assert (renewed.current_period_start, renewed.current_period_end) == (end, new_end)
    async with shop.bot.database.uow as uow:
        scheduled = await uow.changes.scheduled(sub.id)
    assert scheduled is not None
    assert (scheduled.plan_code, scheduled.effective_at) == ("ECONTRACT-BASIC", end)
    shown = await details(owner, sub.code)
    assert PRO in shown and BASIC not in shown.split("Kỳ hiện tại")[0], shown
    # the current period is the one on Chuyên nghiệp, until the old end; Cơ bản waits for it
    assert f"Kỳ hiện tại: đến {day(end)} (đã gia hạn đến {day(new_end)})" in shown, shown
    waits = (
        f"Từ {day(end)}: {BASIC}, 12 tháng, số lượng 1 — kỳ đã gia hạn {day(end)} – {day(new_end)}"
    )
    assert waits in shown, shown
    assert f"Ngày kết thúc kỳ hiện tại: {day(end)}" in shown, shown
    # Đổi gói again now (the overview still shows Chuyên nghiệp) would replace the paid
    # configuration with a downgrade due at the new end: refused until the paid period begins
    await owner.send(f"/subscriptions {sub.code}")
    await owner.press(CHANGE)
    await owner.press(f"▫️ {BASIC}")
    await owner.press(PREVIEW)
    answer = owner.last_callback_answer()
    assert answer is not None and "đã được gia hạn trước hạn" in (answer.text or "")
    async with shop.bot.database.uow as uow:
        waiting = await uow.changes.scheduled(sub.id)
    assert waiting is not None and waiting.effective_at == end
    # a round before the old end changes nothing
    await lifecycle(shop).run_once()
    await change_rounds(shop).run_once()
    assert (await subscription(shop, sub.code)).plan_code == "ECONTRACT-PRO"

    # at the old end: the change round applies Cơ bản, the renewed period kept; no expiry
    shop.clock.advance(end - shop.clock.now() + timedelta(minutes=1))
    expiry = await lifecycle(shop).run_once()
    assert expiry.expiry is not None and expiry.expiry.ended == ()
    report = await change_rounds(shop).run_once()
    # the background round may have got there first: either way it was applied once
    assert report.scheduled is not None and report.scheduled.applied in (0, 1)
    after = await subscription(shop, sub.code)
    assert (after.status, after.plan_code) == (SubscriptionStatus.ACTIVE, "ECONTRACT-BASIC")
    assert (after.current_period_start, after.current_period_end) == (end, new_end)
    async with shop.bot.database.uow as uow:
        assert await uow.changes.scheduled(sub.id) is None
        page = await uow.history.page_for_subscription(sub.id, None, 0, 100)
    assert [e.action for e in page.items].count("subscription.changed") == 1
    shown = await details(owner, sub.code)
    assert BASIC in shown.split("Kỳ hiện tại")[0], shown
    assert f"{day(end)} – {day(new_end)}" in shown, shown
