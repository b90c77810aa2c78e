"""A renewal whose payment fails or whose order expires unpaid (SQLite and PostgreSQL): both
show in the subscription's **Lịch sử** (they were only on the order before), the tab offers
**Thanh toán lại** while the order can still be paid, and the expiry notice of a renewal order
offers **Gia hạn** again (not "register again")."""

from __future__ import annotations

from datetime import timedelta

from conversations.notices import notice_screen
from domain.outbox import Notice, NoticeKind
from domain.usecases.manage import TabRequest
from domain.usecases.manage.views import ListHistory
from domain.usecases.payments import PaymentFailureRequest, PaymentSource
from tests.integration.test_change_usecases import MY, ChangeWorld, w
from tests.integration.test_late_payments import renewal_order
from tests.integration.test_payment_usecases import OWNER, OWNER_CHAT

__all__ = ["w"]  # the fixture


async def test_a_failed_then_expired_renewal_payment_is_in_the_history_with_a_retry(
    w: ChangeWorld,
) -> None:
    sub = await w.active()
    w.clock.at = sub.current_period_end - timedelta(days=3)
    placed = await renewal_order(w, sub, "M12", "fail-1")
    failed = await w.fail(
        PaymentFailureRequest(f"{placed.order_code}-1", "01", PaymentSource.NOTIFICATION)
    )
    assert failed.newly_recorded and failed.can_retry
    history = ListHistory(w.uow, w.clock)
    view = await history(TabRequest(OWNER, sub.id, 0, 20))
    assert "payment.failed" in [e.action for e in view.page.items]
    assert view.open_order is not None and view.open_order.code == placed.order_code

    # unpaid past its time: expired, in the history too, no retry any more
    w.clock.at = w.clock.now() + timedelta(hours=2)
    report = await w.expire()
    assert [e.order_code for e in report.expired] == [placed.order_code]
    view = await history(TabRequest(OWNER, sub.id, 0, 20))
    assert "order.expired" in [e.action for e in view.page.items]
    assert view.open_order is None
    expired = [p for chat, p in await w.notices(NoticeKind.ORDER_EXPIRED) if chat == OWNER_CHAT]
    assert len(expired) == 1 and expired[0]["subscription"] == sub.code
    assert expired[0]["purpose"] == "RENEWAL"
    screen = notice_screen(Notice(NoticeKind.ORDER_EXPIRED, OWNER_CHAT, "vi", expired[0]), MY)
    assert [b.action for row in screen.buttons for b in row][:1] == ["renew"]
