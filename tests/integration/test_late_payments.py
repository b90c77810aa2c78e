"""Money that comes in after the subscription it was for has ended (on SQLite and PostgreSQL):
a renewal or a change paid (VNPT Pay, or cash confirmed by an agent) after staff cancelled the
subscription at once, or a change paid after it expired. The subscription is never revived nor
changed; the payment is recorded, the money is marked as due for refund in the history
(``payment.refund_due``), and the owners and the staff member who cancelled it are told so
(``payment_refund_due`` notices), never "paid" or "renewed". A renewal of an EXPIRED
subscription is a renewal (a fresh period), and a change paid after **Hủy gia hạn** still
applies (the subscription is alive until its period end)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from domain.model import OrderStatus, Role, SubscriptionStatus, User, UserId
from domain.outbox import NoticeKind
from domain.usecases.changes.change import ChangeOutcomeKind
from domain.usecases.changes.common import ChangeTarget
from domain.usecases.payments import ConfirmCashRequest, ConfirmStatus
from domain.usecases.renewal import (
    CancelNow,
    CancelNowRequest,
    ExpireSubscriptions,
    PlaceRenewal,
    RenewalOutcomeKind,
    RenewalRequest,
    SetRenewal,
)
from tests.integration.test_change_usecases import MY, THREE_MONTHS_LATER, ChangeWorld, w
from tests.integration.test_payment_usecases import AGENT, OWNER, OWNER_CHAT

__all__ = ["w"]  # the fixture

ADMIN = UserId(3001)


async def reachable(world: ChangeWorld, *users: int) -> None:
    async with world.db.uow as uow:
        for uid in users:
            found = await uow.users.get(uid)  # type: ignore[arg-type]
            assert found is not None
            await uow.users.record_contact(found, world.clock.now())
        await uow.commit()


async def renewal_order(world: ChangeWorld, sub: Any, cycle: str, key: str) -> Any:
    """A renewal order of ``sub`` for ``cycle`` (the total read from a first refusal)."""
    place = PlaceRenewal(world.uow, lambda: MY, world.clock)

    def req(total: int) -> RenewalRequest:
        return RenewalRequest(OWNER, sub.id, cycle, total, key, "vi", OWNER_CHAT)

    first = await place(req(-1))
    assert first.outcome.kind is RenewalOutcomeKind.PRICE_CHANGED
    placed = await place(req(first.outcome.total))
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED, placed.outcome
    return placed.outcome


async def cancel_now(world: ChangeWorld, sub: Any) -> None:
    done = await CancelNow(world.uow, world.clock)(CancelNowRequest(AGENT, sub.id, "khách yêu cầu"))
    assert done.subscription.status is SubscriptionStatus.CANCELLED


async def test_a_renewal_paid_online_after_staff_cancelled_is_refunded_not_applied(
    w: ChangeWorld,
) -> None:
    sub = await w.active()
    await reachable(w, OWNER, AGENT)
    w.clock.at = sub.current_period_end - timedelta(days=5)
    placed = await renewal_order(w, sub, "M12", "late-1")
    await cancel_now(w, sub)
    assert (await w.order(placed.order_id)).status is OrderStatus.CANCELLED

    # the customer had the VNPT Pay page open and paid anyway
    paid = await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    assert paid.status is ConfirmStatus.APPLIED and paid.refund_due
    assert paid.subscription_status == SubscriptionStatus.CANCELLED.value
    after = await w.sub(sub.id)
    assert after.status is SubscriptionStatus.CANCELLED  # not revived
    assert after.current_period_end == sub.current_period_end  # not extended
    assert (await w.order(placed.order_id)).status is OrderStatus.PAID  # the money is recorded
    events = await w.events(sub.id)
    assert "payment.refund_due" in events and "subscription.renewed" not in events

    # told: the owner (refund to come) and the agent who cancelled (refund to make); nobody is
    # told it was renewed or paid
    told = await w.notices(NoticeKind.PAYMENT_REFUND_DUE)
    assert sorted((chat, p["audience"]) for chat, p in told) == [
        (int(OWNER_CHAT), "owner"),
        (int(AGENT), "staff"),
    ]
    assert all(p["order"] == placed.order_code and p["total"] == placed.total for _, p in told)
    succeeded = await w.notices(NoticeKind.PAYMENT_SUCCEEDED)
    assert [p for _, p in succeeded if p["order"] == placed.order_code] == []
    # a repeat of the notification changes nothing more
    again = await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    assert again.status is ConfirmStatus.ALREADY_APPLIED
    assert (await w.events(sub.id)).count("payment.refund_due") == 1


async def test_cash_for_a_renewal_after_staff_cancelled_is_recorded_for_refund(
    w: ChangeWorld,
) -> None:
    placed_os = await w.place("SETUP", "SETUP-ONSITE", "Y1")
    first = await w.cash(ConfirmCashRequest(placed_os.subscription_code, AGENT))
    assert first.status is ConfirmStatus.APPLIED
    sub = await w.sub(first.subscription_id or 0)
    await reachable(w, OWNER, AGENT)
    placed = await renewal_order(w, sub, "Y1", "late-os")
    await cancel_now(w, sub)

    cash = await w.cash(ConfirmCashRequest(sub.code, AGENT))
    assert cash.status is ConfirmStatus.APPLIED and cash.refund_due
    assert cash.order_code == placed.order_code
    after = await w.sub(sub.id)
    assert (after.status, after.current_period_end) == (
        SubscriptionStatus.CANCELLED,
        sub.current_period_end,
    )
    assert "payment.refund_due" in await w.events(sub.id)
    # the agent who took the cash sees it in the reply to /cash, not as a notice; the owner is
    # told the money will be refunded
    told = await w.notices(NoticeKind.PAYMENT_REFUND_DUE)
    assert [(chat, p["audience"]) for chat, p in told] == [(int(OWNER_CHAT), "owner")]


async def test_a_change_paid_after_expiry_is_refunded_and_after_non_renewing_applies(
    w: ChangeWorld,
) -> None:
    sub = await w.active()
    async with w.db.uow as uow:  # an admin who wrote to the bot: told when no staff ended it
        await uow.users.upsert(User(id=ADMIN, first_name="Admin", created_at=w.clock.now()))
        await uow.users.set_global_role(ADMIN, Role.ADMIN)
        await uow.commit()
    await reachable(w, OWNER, ADMIN)
    w.clock.at = THREE_MONTHS_LATER
    # after Hủy gia hạn the subscription is alive until its period end: a change still applies
    up = await w.confirm_change(sub.id, ChangeTarget("CLOUD-PRO", "M12"), "up")
    await SetRenewal(w.uow, w.clock)(OWNER, sub.id, renew=False)
    paid = await w.confirm(w.online(f"{up.order_code}-1", up.amount))
    assert paid.newly_applied and not paid.refund_due
    changed = await w.sub(sub.id)
    assert (changed.plan_code, changed.status) == ("CLOUD-PRO", SubscriptionStatus.NON_RENEWING)

    # a second change ordered, then the subscription ends before it is paid
    await SetRenewal(w.uow, w.clock)(OWNER, sub.id, renew=True)
    backup = ChangeTarget("CLOUD-PRO", "M12", 1, ("CLOUD-BACKUP",))
    more = await w.confirm_change(sub.id, backup, "more")
    w.clock.at = sub.current_period_end + timedelta(minutes=1)
    await ExpireSubscriptions(w.uow, w.clock)()
    assert (await w.sub(sub.id)).status is SubscriptionStatus.EXPIRED
    late = await w.confirm(w.online(f"{more.order_code}-1", more.amount))
    assert late.status is ConfirmStatus.APPLIED and late.refund_due and late.change is None
    ended = await w.sub(sub.id)
    assert (ended.status, ended.addon_codes) == (SubscriptionStatus.EXPIRED, ())
    assert "payment.refund_due" in await w.events(sub.id)
    told = await w.notices(NoticeKind.PAYMENT_REFUND_DUE)
    assert sorted((chat, p["audience"], p["purpose"], p["status"]) for chat, p in told) == [
        (int(OWNER_CHAT), "owner", "CHANGE", "EXPIRED"),
        (int(ADMIN), "staff", "CHANGE", "EXPIRED"),
    ]
    assert {p["order"] for _, p in told} == {more.order_code}


async def test_a_renewal_paid_after_expiry_renews_with_a_fresh_period(w: ChangeWorld) -> None:
    """Ordered before the end, paid after the expiry round: an expired subscription may be
    renewed (Gia hạn), so the payment renews it, from the payment (no days are sold twice)."""
    sub = await w.active()
    w.clock.at = sub.current_period_end - timedelta(days=1)
    placed = await renewal_order(w, sub, "M12", "late-exp")
    w.clock.at = sub.current_period_end + timedelta(minutes=5)
    await ExpireSubscriptions(w.uow, w.clock)()
    assert (await w.sub(sub.id)).status is SubscriptionStatus.EXPIRED
    paid_at = w.clock.now()
    paid = await w.confirm(w.online(f"{placed.order_code}-1", placed.total, paid_at=paid_at))
    assert paid.newly_applied and not paid.refund_due
    renewed = await w.sub(sub.id)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.current_period_start == paid_at


async def test_cash_for_a_change_after_staff_cancelled_is_recorded_for_refund(
    w: ChangeWorld,
) -> None:
    """A Đổi gói of an OS subscription waits for cash; staff cancel the subscription at once;
    the agent then takes the cash (/cash). Like a renewal: the money is recorded and marked
    due for refund, the plan is not changed, the subscription stays cancelled."""
    placed_os = await w.place("SETUP", "SETUP-ONSITE", "Y1")
    first = await w.cash(ConfirmCashRequest(placed_os.subscription_code, AGENT))
    assert first.status is ConfirmStatus.APPLIED
    sub = await w.sub(first.subscription_id or 0)
    await reachable(w, OWNER, AGENT)
    w.clock.at = THREE_MONTHS_LATER
    change = await w.confirm_change(sub.id, ChangeTarget("SETUP-PLUS", "Y1"), "late-os-change")
    assert change.kind is ChangeOutcomeKind.CASH_PENDING
    await cancel_now(w, sub)

    cash = await w.cash(ConfirmCashRequest(sub.code, AGENT))
    assert cash.status is ConfirmStatus.APPLIED and cash.refund_due, cash
    assert cash.order_code == change.order_code and cash.change is None
    after = await w.sub(sub.id)
    assert (after.status, after.plan_code, after.current_period_end) == (
        SubscriptionStatus.CANCELLED,
        "SETUP-ONSITE",
        sub.current_period_end,
    )
    assert (await w.order(change.order_id)).status is OrderStatus.PAID  # the money is recorded
    events = await w.events(sub.id)
    assert events.count("payment.refund_due") == 1 and "subscription.changed" not in events
    # the agent who took the cash sees it in the reply to /cash; the owner is told the money
    # will be refunded, never that the plan changed or that it was paid
    told = await w.notices(NoticeKind.PAYMENT_REFUND_DUE)
    assert [(chat, p["audience"], p["purpose"]) for chat, p in told] == [
        (int(OWNER_CHAT), "owner", "CHANGE")
    ]
    succeeded = await w.notices(NoticeKind.PAYMENT_SUCCEEDED)
    assert [p for _, p in succeeded if p.get("order") == change.order_code] == []
    again = await w.cash(ConfirmCashRequest(sub.code, AGENT))  # nothing more
    assert not again.newly_applied
    assert (await w.events(sub.id)).count("payment.refund_due") == 1
