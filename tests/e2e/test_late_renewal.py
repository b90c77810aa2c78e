"""End to end (local Bot API server, VNPT Pay simulator): a renewal paid with a card after an
agent cancelled the subscription at once. The subscription stays cancelled with its period; the
owner is told the money will be refunded (not "Gia hạn thành công"), the agent who cancelled it
is told to refund, and **Lịch sử** shows the refund due. On the way, a coupon code for new
registrations typed at the renewal summary is refused with its reason."""

from __future__ import annotations

import pytest

from domain.model import OrderStatus, SubscriptionStatus
from tests.e2e.payments_fixtures import (  # noqa: F401 - the fixtures
    Shop,
    money,
    shop_factory_fixture,
    shop_fixture,
)
from tests.e2e.test_renewal import PERSONAL_TOTAL, RENEW, buy_personal, open_details, subscription


@pytest.mark.parametrize(
    "db_backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
async def test_a_renewal_paid_after_an_agent_cancelled_is_refunded_not_applied(
    shop: Shop,
) -> None:
    owner = await shop.owner()
    sub = await buy_personal(shop, owner)
    agent = shop.bot.user("Hà", last_name="Hỗ trợ")
    await shop.bot.grant(agent.id, "agent")
    await agent.send("/start")  # the agent wrote to the bot: it may write back

    await open_details(owner, sub.code)
    await owner.press(RENEW)
    await owner.press("12 tháng", prefix=True)
    await owner.send("tet2027")  # the sample's coupon is for new registrations only
    assert "không dùng cho lần mua này" in owner.last_text()
    assert money(PERSONAL_TOTAL) in owner.last_text()
    await owner.press("Xác nhận gia hạn")
    url = shop.pay_url(owner)

    await open_details(agent, sub.code)
    await agent.press("⛔ Hủy ngay (nhân viên)")
    await agent.send("Khách hàng yêu cầu chấm dứt hợp đồng")
    assert "Đã hủy thuê bao" in agent.last_text()
    await owner.wait_for_text("đã bị hủy")

    moid = await shop.merchant_order_id(url)
    await shop.pay(url)  # the payment page was still open: the customer pays anyway
    told = await owner.wait_for_text("không được gia hạn", timeout=15)
    assert money(PERSONAL_TOTAL) in (told.text or "") and "hoàn lại" in (told.text or "")
    assert not [t for t in owner.texts() if "Gia hạn thành công" in t]
    staff = await agent.wait_for_text("Cần hoàn tiền", timeout=15)
    assert sub.code in (staff.text or "")

    order, _, _, _ = await shop.records(moid)
    assert order.status is OrderStatus.PAID  # the money is recorded
    after = await subscription(shop, sub.code)
    assert after.status is SubscriptionStatus.CANCELLED
    assert after.current_period_end == sub.current_period_end
    await open_details(owner, sub.code)
    await owner.press("Lịch sử")
    assert "cần hoàn tiền" in owner.last_text()

    # support sends the money back, then records it from the notice (**✅ Đã hoàn tiền**)
    confirm = f"✅ Xác nhận đã hoàn {money(PERSONAL_TOTAL)}"
    await agent.press("✅ Đã hoàn tiền", message_id=staff.message_id)
    listed = agent.last_text()
    assert order.code in listed and "chưa hoàn" in listed and money(PERSONAL_TOTAL) in listed
    stale = agent.last_message().message_id
    await agent.press(confirm)
    assert "Đã ghi nhận hoàn" in agent.last_text()
    refunded = await owner.wait_for_text("Đã hoàn tiền", timeout=15)
    assert order.code in (refunded.text or "") and money(PERSONAL_TOTAL) in (refunded.text or "")
    # a second press of the same confirmation records nothing more and tells nobody again
    await agent.press(confirm, message_id=stale)
    assert "trước đó" in agent.last_text()
    await agent.send(f"/refund {order.code.lower()}")
    assert "đã hoàn ngày" in agent.last_text() and "Mọi khoản" in agent.last_text()
    assert len([t for t in owner.texts() if "Đã hoàn tiền" in t]) == 1
    # the owner cannot record a refund of their own money
    await owner.send(f"/refund {order.code}")
    assert "chỉ nhân viên hỗ trợ" in owner.last_text()
    await open_details(owner, sub.code)
    await owner.press("Lịch sử")
    assert "đã hoàn lại" in owner.last_text()
