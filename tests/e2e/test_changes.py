"""Issue 14 items 2 and 3 end to end: **Đổi gói** and **Dùng thử** in the chat, through the local
Bot API server and the VNPT Pay simulator (see test_payments.py for the setting).

Amounts follow docs/proration.md; the period is the real one the bot stored (the clock is the
system time plus the test's offset), so the test computes the expected figures from the stored
period with the rule written out here, and the rule itself is checked against hand-computed
cases in tests/unit/test_proration.py.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any

from pypdf import PdfReader
from sqlalchemy import text

from bot.change_rounds import ChangeRounds
from domain.constants import VN_TZ
from domain.model import MemoKind, MemoStatus, OrderPurpose, SubscriptionId, SubscriptionStatus
from tests.e2e.botapi_client import ChatUser
from tests.e2e.harness import BotHarness
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)
from tests.e2e.test_manage import callback_of, forge, open_subscription, rev_of
from tests.e2e.test_payments import buy_personal

SMARTCA = "VNPT SmartCA"
BUSINESS = "Gói Doanh nghiệp"  # SmartCA, 12 months 1.800.000 ₫, VAT 10 %
ECONTRACT = "VNPT eContract – Hợp đồng điện tử"
ECONTRACT_BASIC = "Gói Cơ bản"  # trial_days: 14
ECONTRACT_PRO = "Gói Chuyên nghiệp"  # downgrade: at_period_end
CHANGE = "🔄 Đổi gói / số lượng / dịch vụ bổ sung"
PREVIEW = "🧮 Xem chi phí"
CONFIRM = "✅ Xác nhận đổi gói"
PAY_TRIAL = "💳 Thanh toán (chuyển từ dùng thử sang chính thức)"
TRIAL = "🎁 Dùng thử 14 ngày miễn phí"
SUCCESS = "Đăng ký thành công"
CODE = re.compile(r"TB-\d{4}-\d{6}")


def half_up(numerator: int, denominator: int) -> int:
    return (2 * numerator + denominator) // (2 * denominator)


async def one(bot: BotHarness, sql: str, **params: Any) -> Any:
    async with bot.database.engine.connect() as conn:
        return (await conn.execute(text(sql), params)).one()


async def subscription(shop: Shop, code: str) -> Any:
    async with shop.bot.database.uow as uow:
        sub = await uow.subscriptions.get_by_code(code)
    assert sub is not None
    return sub


async def history(shop: Shop, sub_id: int) -> list[str]:
    async with shop.bot.database.uow as uow:
        page = await uow.history.page_for_subscription(SubscriptionId(sub_id), None, 0, 100)
    return [e.action for e in page.items]


def rounds(shop: Shop) -> ChangeRounds:
    [task] = [s for s in shop.bot.context().background if isinstance(s, ChangeRounds)]
    return task


async def paid_personal(shop: Shop, user: ChatUser) -> str:
    url, _ = await buy_personal(shop, user)
    await shop.pay(url)
    await user.wait_for_text(SUCCESS, timeout=15)
    await user.settle()
    found = CODE.search(user.last_text())
    assert found is not None, user.last_text()
    return found.group(0)


def days_of(sub: Any, elapsed: int) -> tuple[int, int]:
    """(total, remaining) Vietnam days of the stored period, ``elapsed`` days after its start."""
    start = sub.current_period_start.astimezone(VN_TZ).date()
    end = sub.current_period_end.astimezone(VN_TZ).date()
    total = (end - start).days
    return total, total - elapsed


async def test_upgrade_paid_by_card_with_the_difference(shop: Shop) -> None:
    user = await shop.owner()
    code = await paid_personal(shop, user)
    sub = await subscription(shop, code)
    shop.clock.advance(timedelta(days=100))
    total, remaining = days_of(sub, 100)
    # the rule: credit 250.000 × r/T, charge 1.800.000 × r/T (each half-up), VAT 10 % on the
    # difference (half-up), all lines at 10 %
    credit = half_up(250_000 * remaining, total)
    charge = half_up(1_800_000 * remaining, total)
    due = (charge - credit) + half_up(charge - credit, 10)

    await open_subscription(user, code)
    await user.press(CHANGE)
    assert "Đổi gói" in user.last_text()
    editor = user.last_message()
    # a forged plan code: refused, nothing changes
    await forge(shop.bot, user, editor.message_id, f"f:{rev_of(editor)}:chg_plan:NO-SUCH-PLAN")
    assert user.last_callback_answer() is not None
    assert user.last_message().text == editor.text
    await user.press(f"▫️ {BUSINESS}")
    await user.press(PREVIEW)
    shown = user.last_text()
    assert f"{remaining}/{total}" in shown
    assert money(credit) in shown and money(charge) in shown and money(due) in shown
    preview = user.last_message()
    await user.press(CONFIRM)
    [done] = [t for t in user.texts()[-3:] if "Đơn đổi gói" in t]
    assert money(due) in done  # then the QR code of the link
    url = shop.pay_url(user)
    # the Xác nhận of the preview again (a stale button): no second order
    await forge(shop.bot, user, preview.message_id, f"f:{rev_of(preview)}:chg_ok:")
    answer = user.last_callback_answer()
    assert answer is not None and "Menu này đã cũ" in (answer.text or "")
    changes = await one(
        shop.bot, "SELECT count(*) AS n FROM orders WHERE purpose = :p", p=OrderPurpose.CHANGE.value
    )
    assert changes.n == 1

    payment = await shop.pay(url)
    assert money(due) in payment.pay_page and "Thanh toán thành công" in payment.return_page
    await user.settle()
    changed = await subscription(shop, code)
    assert (changed.plan_code, changed.status) == ("SMARTCA-BUSINESS", SubscriptionStatus.ACTIVE)
    assert changed.current_period_end == sub.current_period_end  # the same period
    order = await one(
        shop.bot,
        "SELECT id, status, total FROM orders WHERE purpose = :p",
        p=OrderPurpose.CHANGE.value,
    )
    assert (order.status, order.total) == ("PAID", due)
    invoice = await one(
        shop.bot, "SELECT status, total, number FROM invoices WHERE order_id = :o", o=order.id
    )
    assert (invoice.status, invoice.total) == ("PAID", due) and invoice.number
    assert "subscription.changed" in await history(shop, sub.id)
    # the settlement invoice in Hóa đơn: the credit is a deduction, not a promotion; its PDF
    await open_subscription(user, code)
    assert BUSINESS in user.last_text()
    await user.press("Hóa đơn")
    await user.press(f"📄 {invoice.number}")
    detail = user.bot_messages()[-2].text or ""
    assert f"Hoàn phần chưa dùng của gói cũ: −{money(credit)}" in detail
    assert "Tổng thanh toán: " + money(due) in detail
    [document] = user.documents()
    pdf = PdfReader(io.BytesIO(document.data))
    pdf_text = "\n".join(page.extract_text() for page in pdf.pages).replace("\u00a0", " ")
    assert "Hoàn phần chưa dùng của gói cũ" in pdf_text and "CREDIT" not in pdf_text


async def test_downgrade_credits_a_memo_or_waits_for_the_period_end(shop: Shop) -> None:
    user = await shop.owner()
    await shop.checkout(user, SMARTCA, BUSINESS, "12 tháng")
    await shop.pay(shop.pay_url(user))
    await user.wait_for_text(SUCCESS, timeout=15)
    await user.settle()
    found = CODE.search(user.last_text())
    assert found is not None
    code = found.group(0)
    sub = await subscription(shop, code)
    shop.clock.advance(timedelta(days=30))
    total, remaining = days_of(sub, 30)
    # Business → Personal: credit 1.800.000 × r/T, charge 250.000 × r/T; the credit is larger:
    # the memo is (credit − charge) + 10 % VAT on it
    credit = half_up(1_800_000 * remaining, total)
    charge = half_up(250_000 * remaining, total)
    memo_amount = (credit - charge) + half_up(credit - charge, 10)

    await open_subscription(user, code)
    await user.press(CHANGE)
    await user.press("▫️ Gói Cá nhân")
    await user.press(PREVIEW)
    assert money(memo_amount) in user.last_text()
    await user.press(CONFIRM)
    assert "Đã đổi gói" in user.last_text() and money(memo_amount) in user.last_text()
    changed = await subscription(shop, code)
    assert changed.plan_code == "SMARTCA-PERSONAL"
    async with shop.bot.database.uow as uow:
        memos = (await uow.memos.list(sub.id)).items
    assert [(m.kind, m.amount, m.status) for m in memos] == [
        (MemoKind.CREDIT, memo_amount, MemoStatus.OPEN)
    ]

    # eContract Chuyên nghiệp says downgrade: at_period_end
    await shop.checkout(user, ECONTRACT, ECONTRACT_PRO, "12 tháng")
    await shop.pay(shop.pay_url(user))
    await user.wait_for(lambda: sum(SUCCESS in t for t in user.texts()) == 2, timeout=15)
    await user.settle()
    async with shop.bot.database.uow as uow:
        page = await uow.subscriptions.list_for_enterprise(sub.enterprise_id)
    [pro] = [s for s in page.items if s.plan_code == "ECONTRACT-PRO"]
    await open_subscription(user, pro.code)
    await user.press(CHANGE)
    await user.press(f"▫️ {ECONTRACT_BASIC}")
    await user.press(PREVIEW)
    assert "khi hết kỳ" in user.last_text()
    await user.press(CONFIRM)
    assert "Đã lên lịch" in user.last_text()
    assert (await subscription(shop, pro.code)).plan_code == "ECONTRACT-PRO"
    await rounds(shop).run_once()
    assert (await subscription(shop, pro.code)).plan_code == "ECONTRACT-PRO"  # not yet
    shop.clock.advance(timedelta(days=366))
    report = await rounds(shop).run_once()
    assert report.scheduled is not None and report.scheduled.applied == 1
    assert (await subscription(shop, pro.code)).plan_code == "ECONTRACT-BASIC"
    assert "subscription.change_scheduled" in await history(shop, pro.id)


async def _to_register(user: ChatUser) -> None:
    await user.send("/services")
    await user.press(ECONTRACT)
    await user.press("Bảng giá")
    await user.press(ECONTRACT_BASIC)
    await user.press("1 tháng", prefix=True)


async def test_trial_once_then_paid(shop: Shop) -> None:
    user = await shop.owner()
    await _to_register(user)
    register = user.last_message()
    trial_data = callback_of(register, TRIAL)
    await user.press(TRIAL)
    started = user.last_text()
    assert "Đã bắt đầu dùng thử" in started
    found = CODE.search(started)
    assert found is not None
    code = found.group(0)
    sub = await subscription(shop, code)
    assert sub.status is SubscriptionStatus.IN_TRIAL
    assert sub.current_period_end - sub.current_period_start == timedelta(days=14)
    # the Dùng thử of the Đăng ký message pressed again (a stale button): nothing happens
    await forge(shop.bot, user, register.message_id, trial_data)
    answer = user.last_callback_answer()
    assert answer is not None and "Menu này đã cũ" in (answer.text or "")
    # a second trial of the same service: refused
    await _to_register(user)
    await user.press(TRIAL)
    answer = user.last_callback_answer()
    assert answer is not None and "đã dùng thử" in (answer.text or "")
    trials = await one(shop.bot, "SELECT count(*) AS n FROM trials")
    assert trials.n == 1

    # Thanh toán: 300.000 ₫ a month, KCT (no VAT)
    shop.clock.advance(timedelta(days=3))
    await open_subscription(user, code)
    await user.press(PAY_TRIAL)
    [done] = [t for t in user.texts()[-3:] if "Đơn đổi gói" in t]
    assert money(300_000) in done
    await shop.pay(shop.pay_url(user))
    await user.settle()
    paid = await subscription(shop, code)
    assert paid.status is SubscriptionStatus.ACTIVE
    assert "trial.converted" in await history(shop, sub.id)


async def test_trial_ends_with_the_owner_told_beforehand(shop: Shop) -> None:
    user = await shop.owner()
    await _to_register(user)
    await user.press(TRIAL)
    found = CODE.search(user.last_text())
    assert found is not None
    code = found.group(0)
    shown = await open_subscription(user, code)
    assert PAY_TRIAL in [b.text for b in shown.flat_buttons]

    shop.clock.advance(timedelta(days=11, hours=1))  # under 3 days left
    report = await rounds(shop).run_once()
    assert report.trials is not None and report.trials.reminded == 1
    await user.wait_for_text("sẽ kết thúc", timeout=15)
    again = await rounds(shop).run_once()
    assert again.trials is not None and again.trials.reminded == 0  # once
    shop.clock.advance(timedelta(days=3))
    report = await rounds(shop).run_once()
    assert report.trials is not None and report.trials.ended == 1
    await user.wait_for_text("đã kết thúc", timeout=15)
    await user.settle()
    assert len([t for t in user.texts() if "sẽ kết thúc" in t]) == 1
    assert (await subscription(shop, code)).status is SubscriptionStatus.EXPIRED
    # the Thanh toán of the trial's old message, now that it ended: refused, nothing created
    await forge(shop.bot, user, shown.message_id, f"f:{rev_of(shown)}:trial_pay:")
    answer = user.last_callback_answer()
    assert answer is not None
    orders = await one(
        shop.bot, "SELECT count(*) AS n FROM orders WHERE purpose = :p", p=OrderPurpose.CHANGE.value
    )
    assert orders.n == 0
