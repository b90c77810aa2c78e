"""What happens at a period end when a downgrade is scheduled for it (``downgrade:
at_period_end``), on the in-memory unit of work: the rule of docs/proration.md "At the period
end" — the scheduled change applies first and keeps the period (it is the configuration of the
next period, which a renewal pays for), then the expiry round decides; a renewal ordered while
the downgrade waits is for the downgraded plan, and when paid early it takes effect at the old
end (the current period keeps what was paid for)."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

import pytest

from domain.model import SubscriptionStatus
from domain.proration import Settlement
from domain.usecases.changes.change import (
    ChangeOutcomeKind,
    ChangeRefused,
    ChangeRequest,
    ConfirmChangeRequest,
)
from domain.usecases.changes.common import ChangeTarget
from domain.usecases.renewal import ExpireSubscriptions, RenewalOffers
from tests.fakes.uow import FakeDatabase
from tests.integration.test_change_usecases import MY, THREE_MONTHS_LATER, ChangeWorld
from tests.integration.test_late_payments import renewal_order
from tests.integration.test_payment_usecases import OWNER, Clock, vn

ONE_MICROSECOND = timedelta(microseconds=1)


@pytest.fixture
async def w() -> ChangeWorld:
    clock = Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))
    return await ChangeWorld(FakeDatabase(), clock).seed()  # type: ignore[arg-type]


async def pro_with_a_downgrade(w: ChangeWorld, cycle: str = "M12") -> Any:
    """CLOUD-PRO (upgraded and paid) for the period 10 Mar 2026 → 10 Mar 2027, with a
    downgrade to CLOUD-STD ``cycle`` scheduled for its end."""
    sub = await w.active()
    w.clock.at = THREE_MONTHS_LATER
    up = await w.confirm_change(sub.id, ChangeTarget("CLOUD-PRO", "M12"), "up")
    await w.confirm(w.online(f"{up.order_code}-1", up.amount))
    down = await w.confirm_change(sub.id, ChangeTarget("CLOUD-STD", cycle), "down")
    assert down.kind is ChangeOutcomeKind.SCHEDULED
    assert down.effective_at == sub.current_period_end == vn(2027, 3, 10, 9, 0)
    return await w.sub(sub.id)


async def scheduled(w: ChangeWorld, sub: Any) -> Any:
    async with w.db.uow as uow:
        return await uow.changes.scheduled(sub.id)


async def test_without_grace_the_downgrade_applies_before_the_expiry_on_the_boundary(
    w: ChangeWorld,
) -> None:
    sub = await pro_with_a_downgrade(w)
    end = sub.current_period_end
    expire = ExpireSubscriptions(w.uow, w.clock, grace_days=0)
    w.clock.at = end - ONE_MICROSECOND  # the last moment of the period: nothing yet
    assert (await expire()).ended == ()
    assert (await w.scheduled()).applied == 0
    # the expiry round reaches the boundary first (the change round runs on its own timer)
    w.clock.at = end
    assert (await expire()).ended == ((sub.code, SubscriptionStatus.EXPIRED),)
    ended = await w.sub(sub.id)
    assert (ended.status, ended.plan_code, ended.cycle_code) == (
        SubscriptionStatus.EXPIRED,
        "CLOUD-STD",
        "M12",
    )
    assert (ended.current_period_start, ended.current_period_end) == (
        sub.current_period_start,
        end,
    )
    assert await scheduled(w, sub) is None
    report = await w.scheduled()  # the change round then finds nothing to do or drop
    assert (report.applied, report.dropped) == (0, 0)
    events = await w.events(sub.id)  # newest first
    assert events.index("subscription.expired") < events.index("subscription.changed")

    # Gia hạn of the expired subscription renews the downgraded plan
    offer = await RenewalOffers(w.uow, lambda: MY, w.clock)(OWNER, sub.code)
    assert offer.plan.code == "CLOUD-STD"
    placed = await renewal_order(w, sub, "M12", "after-exp")
    assert (await w.order(placed.order_id)).plan_code == "CLOUD-STD"


async def test_a_scheduled_change_of_cycle_length_does_not_give_a_free_period(
    w: ChangeWorld,
) -> None:
    sub = await pro_with_a_downgrade(w, cycle="M1")
    end = sub.current_period_end
    w.clock.at = end
    assert (await w.scheduled()).applied == 1
    changed = await w.sub(sub.id)
    assert (changed.plan_code, changed.cycle_code) == ("CLOUD-STD", "M1")
    # the period is the one that was paid for: it ended; no month starts without a payment
    assert changed.current_period_end == end
    assert (await ExpireSubscriptions(w.uow, w.clock)()).ended == (
        (sub.code, SubscriptionStatus.EXPIRED),
    )


async def test_a_renewal_while_a_downgrade_waits_is_for_the_downgrade_and_starts_at_the_end(
    w: ChangeWorld,
) -> None:
    sub = await pro_with_a_downgrade(w)
    end = sub.current_period_end
    w.clock.at = end - timedelta(days=3)
    offer = await RenewalOffers(w.uow, lambda: MY, w.clock)(OWNER, sub.code)
    assert offer.plan.code == "CLOUD-STD" and offer.scheduled is not None
    placed = await renewal_order(w, sub, "M12", "early")
    order = await w.order(placed.order_id)
    # priced as CLOUD-STD for 12 months (1.200.000 + 10 % VAT), not CLOUD-PRO (2.400.000)
    assert (order.plan_code, order.total) == ("CLOUD-STD", 1_320_000)
    await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    renewed = await w.sub(sub.id)
    # paid early: extended from the old end; the current period keeps CLOUD-PRO until then
    assert renewed.current_period_start == end
    assert renewed.current_period_end == vn(2028, 3, 10, 9, 0)
    assert renewed.plan_code == "CLOUD-PRO"
    waiting = await scheduled(w, sub)
    assert waiting is not None and waiting.effective_at == end
    assert waiting.plan_code == "CLOUD-STD"
    # at the old end the downgrade applies, the renewed period untouched, nothing expires
    w.clock.at = end
    assert (await w.scheduled()).applied == 1
    assert (await ExpireSubscriptions(w.uow, w.clock)()).ended == ()
    after = await w.sub(sub.id)
    assert (after.status, after.plan_code) == (SubscriptionStatus.ACTIVE, "CLOUD-STD")
    assert (after.current_period_start, after.current_period_end) == (
        end,
        vn(2028, 3, 10, 9, 0),
    )


async def test_a_renewal_paid_in_the_grace_after_the_downgrade_takes_its_plan_at_once(
    w: ChangeWorld,
) -> None:
    sub = await pro_with_a_downgrade(w)
    end = sub.current_period_end
    w.clock.at = end - timedelta(days=1)
    placed = await renewal_order(w, sub, "M12", "grace")
    w.clock.at = end + timedelta(days=1)  # the order was paid a day late, grace 3 days
    assert (await ExpireSubscriptions(w.uow, w.clock, grace_days=3)()).ended == ()
    await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    renewed = await w.sub(sub.id)
    assert (renewed.status, renewed.plan_code) == (SubscriptionStatus.ACTIVE, "CLOUD-STD")
    assert (renewed.current_period_start, renewed.current_period_end) == (
        end,
        vn(2028, 3, 10, 9, 0),
    )
    assert await scheduled(w, sub) is None


async def test_a_renewal_paid_ahead_with_the_downgrade_is_not_replaced_by_a_new_change(
    w: ChangeWorld,
) -> None:
    """Found end to end (tests/e2e/test_period_end.py): after Gia hạn paid early for the
    downgraded plan, the overview shows the old plan with the renewed period; a second Đổi gói
    to the cheaper plan replaced the renewal's scheduled configuration (due at the old end) by a
    downgrade due at the *new* end, so the renewed year stayed on CLOUD-PRO, paid at the
    CLOUD-STD price. A change now waits until the paid period begins."""
    sub = await pro_with_a_downgrade(w)
    end = sub.current_period_end
    w.clock.at = end - timedelta(days=3)
    placed = await renewal_order(w, sub, "M12", "early")
    await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    again = ChangeTarget("CLOUD-STD", "M12")
    with pytest.raises(ChangeRefused) as refused:
        await w.preview(ChangeRequest(OWNER, sub.id, again))
    assert refused.value.params["reason"] == "renewed_ahead"
    confirm = ConfirmChangeRequest(OWNER, sub.id, again, 0, Settlement.AT_PERIOD_END, "again", 1)
    with pytest.raises(ChangeRefused) as refused:
        await w.change(confirm)  # Xác nhận of a preview shown before the renewal was paid
    assert refused.value.params["reason"] == "renewed_ahead"
    waiting = await scheduled(w, sub)
    assert waiting is not None and (waiting.plan_code, waiting.effective_at) == ("CLOUD-STD", end)
    # at the old end the renewal's configuration applies; from then on Đổi gói works again
    w.clock.at = end
    assert (await w.scheduled()).applied == 1
    assert (await w.sub(sub.id)).plan_code == "CLOUD-STD"
    w.clock.at = end + timedelta(days=1)
    preview = await w.preview(ChangeRequest(OWNER, sub.id, ChangeTarget("CLOUD-PRO", "M12")))
    assert preview.quote.settlement is Settlement.PAY and preview.quote.amount > 0


async def test_a_renewal_paid_ahead_on_the_same_plan_blocks_a_change_until_it_begins(
    w: ChangeWorld,
) -> None:
    """Gia hạn paid early on the same plan (nothing scheduled): the stored period is the
    renewed one, not yet begun. An upgrade priced against it would run free until the old end,
    a downgrade would credit a period not yet used; so Đổi gói waits, and says from when."""
    sub = await w.active()
    end = sub.current_period_end
    w.clock.at = end - timedelta(days=5)
    placed = await renewal_order(w, sub, "M12", "early")
    await w.confirm(w.online(f"{placed.order_code}-1", placed.total))
    renewed = await w.sub(sub.id)
    assert renewed.current_period_start == end and await scheduled(w, sub) is None
    for target in (ChangeTarget("CLOUD-PRO", "M12"), ChangeTarget("CLOUD-STD", "M12", quantity=2)):
        with pytest.raises(ChangeRefused) as refused:
            await w.preview(ChangeRequest(OWNER, sub.id, target))
        assert refused.value.params == {"reason": "renewed_ahead", "start": end}
        with pytest.raises(ChangeRefused):
            await w.change(
                ConfirmChangeRequest(OWNER, sub.id, target, 0, Settlement.PAY, "ahead", 1)
            )
    assert (await w.sub(sub.id)).plan_code == renewed.plan_code  # nothing changed
    # once the renewed period has begun, Đổi gói prices against it as usual
    w.clock.at = end + timedelta(days=1)
    shown = await w.preview(ChangeRequest(OWNER, sub.id, ChangeTarget("CLOUD-PRO", "M12")))
    assert shown.quote.amount > 0
