"""The renewal flow's entry on its own (a stub backend): forged or stale entry arguments are
refused or answered, never acted on."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from conversations.renewal import RenewalFlow
from conversations.screens import Msg
from conversations.turn import Turn
from domain.catalog import (
    BillingCycle,
    Catalog,
    PeriodUnit,
    Plan,
    PricingStrategy,
    Service,
    ServiceKind,
    TaxCategory,
)
from domain.changes import ScheduledChange
from domain.errors import NotFound, PermissionDenied
from domain.model import (
    EnterpriseId,
    OrderId,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    UserId,
)
from domain.pricing import CheckoutOffer
from domain.usecases.renewal import ChangeStatus, LifecycleChange, RenewalOffer

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
CYCLE = BillingCycle("M1", 1, PeriodUnit.MONTH, 100_000)
PLAN = Plan("P", "Gói", TaxCategory.VAT10, PricingStrategy.FLAT, (CYCLE,))
SERVICE = Service("S", "Dịch vụ", ServiceKind.ON, (PLAN,))
CATALOG = Catalog(services=(SERVICE,))


def subscription(status: SubscriptionStatus) -> Subscription:
    return Subscription(
        code="TB-2026-000001",
        order_id=OrderId(1),
        enterprise_id=EnterpriseId(1),
        service_code="S",
        plan_code="P",
        cycle_code="M1",
        kind=ServiceKind.ON,
        registered_by=UserId(1),
        created_at=NOW,
        status=status,
        started_at=NOW,
        current_period_start=NOW,
        current_period_end=NOW.replace(month=7),
        id=SubscriptionId(7),
    )


@dataclass
class StubBackend:
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE
    staff: bool = False
    offered: RenewalOffer | None = None
    calls: list[str] = field(default_factory=list)

    async def offer(self, actor_id: int, code: str) -> RenewalOffer:
        self.calls.append(f"offer {code}")
        if code != "TB-2026-000001":
            raise NotFound("no such subscription")
        if self.offered is not None:
            return self.offered
        return RenewalOffer(
            subscription(self.status),
            SERVICE,
            PLAN,
            (CYCLE,),
            CheckoutOffer(CATALOG, NOW.date()),
            can_cancel_now=self.staff,
        )

    async def renew(self, req: Any) -> Any:
        raise AssertionError("not expected")

    async def set_renewal(self, actor_id: int, subscription_id: int, *, renew: bool) -> Any:
        self.calls.append(f"set {renew}")
        return LifecycleChange(ChangeStatus.UNCHANGED, subscription(self.status))

    async def cancel_now(self, req: Any) -> Any:
        raise AssertionError("not expected")


def turn() -> Turn:
    return Turn(
        draft={},
        user_id=1,
        chat_id=1,
        lang="vi",
        now=NOW,
        catalog=CATALOG,
        services=None,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("arg", ["", "bogus", "drop.TB-2026-000001", "end.DH-2026-000001"])
async def test_a_made_up_argument_is_refused(arg: str) -> None:
    backend = StubBackend()
    with pytest.raises(NotFound):
        await RenewalFlow(backend).start(turn(), arg)
    assert not any(c.startswith("set") for c in backend.calls)


async def test_an_owner_cannot_reach_the_staff_cancellation_with_a_forged_button() -> None:
    with pytest.raises(PermissionDenied):
        await RenewalFlow(StubBackend(staff=False)).start(turn(), "cancel.TB-2026-000001")
    t = turn()
    await RenewalFlow(StubBackend(staff=True)).start(t, "cancel.TB-2026-000001")
    assert t.draft["s"] == "rreason" and not t.done


async def test_a_stale_cancel_at_period_end_changes_nothing_and_says_so() -> None:
    backend = StubBackend(status=SubscriptionStatus.NON_RENEWING)
    t = turn()
    await RenewalFlow(backend).start(t, "end.tb-2026-000001")
    assert t.done and isinstance(t.extra[0].text, Msg)
    assert t.extra[0].text.key == "renew.unchanged"
    assert backend.calls == ["offer TB-2026-000001"]


async def test_an_expired_subscription_offers_its_cycles() -> None:
    t = turn()
    await RenewalFlow(StubBackend(status=SubscriptionStatus.EXPIRED)).start(t, "TB-2026-000001")
    assert t.draft["s"] == "rcycle" and not t.done
    screen = await RenewalFlow(StubBackend(status=SubscriptionStatus.EXPIRED)).screen(t)
    assert [b.arg for row in screen.buttons for b in row if b.action == "cy"] == ["M1"]


async def test_the_cycle_of_a_scheduled_downgrade_is_the_current_one() -> None:
    """Gia hạn while a downgrade waits renews the downgraded configuration: its cycle (not the
    one of the period that ends) is marked as the current one."""
    year = BillingCycle("M12", 12, PeriodUnit.MONTH, 1_000_000)
    plan = Plan("P", "Gói", TaxCategory.VAT10, PricingStrategy.FLAT, (CYCLE, year))
    service = Service("S", "Dịch vụ", ServiceKind.ON, (plan,))
    catalog = Catalog(services=(service,))
    sub = subscription(SubscriptionStatus.ACTIVE)
    waiting = ScheduledChange(
        sub.id or SubscriptionId(7), "P", "M12", 1, (), NOW.replace(month=7), UserId(1), NOW
    )
    shown = {}
    for scheduled in (None, waiting):
        offer = RenewalOffer(
            sub,
            service,
            plan,
            (CYCLE, year),
            CheckoutOffer(catalog, NOW.date()),
            scheduled=scheduled,
        )
        t = turn()
        await RenewalFlow(StubBackend(offered=offer)).start(t, "TB-2026-000001")
        screen = await RenewalFlow(StubBackend(offered=offer)).screen(t)
        shown[scheduled is None] = {
            b.arg: b.label.key
            for row in screen.buttons
            for b in row
            if b.action == "cy" and isinstance(b.label, Msg)
        }
    assert shown[True] == {"M1": "renew.cycle_current", "M12": "renew.cycle_button"}
    assert shown[False] == {"M1": "renew.cycle_button", "M12": "renew.cycle_current"}
