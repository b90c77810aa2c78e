"""Đổi gói and Dùng thử on SQLite and PostgreSQL: a change paid by card, a credit memo, a
downgrade scheduled for the period end and applied by the round, a trial started once (even
when raced), paid, reminded once and ended. The rule itself: tests/unit/test_proration.py."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.catalog import BillingCycle, Catalog, DowngradePolicy, PeriodUnit, Plan
from domain.errors import PermissionDenied
from domain.model import MemoKind, MemoStatus, OrderPurpose, SubscriptionId, SubscriptionStatus
from domain.outbox import NoticeKind
from domain.proration import Settlement
from domain.usecases.changes.apply import ApplyScheduledChanges
from domain.usecases.changes.change import (
    ChangeOutcomeKind,
    ChangeRequest,
    ConfirmChange,
    ConfirmChangeRequest,
    PreviewChange,
)
from domain.usecases.changes.common import ChangeTarget
from domain.usecases.changes.trials import (
    PayTrial,
    PayTrialRequest,
    StartTrial,
    StartTrialRequest,
    TrialRound,
    TrialStatus,
)
from domain.usecases.payments import ConfirmCash, ConfirmCashRequest, ConfirmPayment
from domain.usecases.registration import StartPayment
from storage.db import Database
from storage.models import OutboxRow
from tests.integration.test_payment_usecases import (
    AGENT,
    CATALOG,
    MEMBER,
    OWNER,
    OWNER_CHAT,
    STRANGER,
    Clock,
    ScriptedGateway,
    World,
    vn,
)


def _catalog() -> Catalog:
    cloud = CATALOG.service("CLOUD")
    assert cloud is not None
    pro = Plan(
        code="CLOUD-PRO",
        name="Gói Chuyên nghiệp",
        tax=cloud.plans[0].tax,
        pricing=cloud.plans[0].pricing,
        cycles=(BillingCycle("M12", 12, PeriodUnit.MONTH, 2_400_000),),
        addons=("CLOUD-BACKUP",),
        downgrade=DowngradePolicy.AT_PERIOD_END,
        trial_days=14,
    )
    lite = Plan(
        code="CLOUD-LITE",
        name="Gói Cơ bản",
        tax=cloud.plans[0].tax,
        pricing=cloud.plans[0].pricing,
        cycles=(BillingCycle("M12", 12, PeriodUnit.MONTH, 600_000),),
    )
    setup = CATALOG.service("SETUP")
    assert setup is not None
    plus = replace(
        setup.plans[0],
        code="SETUP-PLUS",
        name="Gói Lắp đặt mở rộng",
        cycles=(BillingCycle("Y1", 1, PeriodUnit.YEAR, 4_000_000),),
    )
    services = tuple(
        replace(s, plans=(*s.plans, pro, lite))
        if s.code == "CLOUD"
        else replace(s, plans=(*s.plans, plus))
        if s.code == "SETUP"
        else s
        for s in CATALOG.services
    )
    return Catalog(services=services, promotions=CATALOG.promotions)


MY = _catalog()


class ChangeWorld(World):
    def __init__(self, database: Database, clock: Clock) -> None:
        super().__init__(database, clock, ScriptedGateway())
        self.confirm = ConfirmPayment(self.uow, lambda: MY, clock)
        self.cash = ConfirmCash(self.uow, self.confirm)
        start = StartPayment(self.uow, self.gateway, clock)
        self.preview = PreviewChange(self.uow, lambda: MY, clock)
        self.change = ConfirmChange(self.uow, lambda: MY, clock, start)
        self.scheduled = ApplyScheduledChanges(self.uow, lambda: MY, clock)
        self.start_trial = StartTrial(self.uow, lambda: MY, clock)
        self.pay_trial = PayTrial(self.uow, lambda: MY, clock, start)
        self.trials = TrialRound(self.uow, clock)

    async def seed(self) -> ChangeWorld:
        await super().seed()
        async with self.db.uow as uow:
            await uow.catalog.replace(MY)
            await uow.commit()
        return self

    async def active(self) -> Any:
        """A paid CLOUD-STD M12 subscription, from 10 Mar 2026 09:00 (Vietnam)."""
        placed = await self.place()
        done = await self.confirm(self.online(f"{placed.order_code}-1", placed.total))
        assert done.subscription_id is not None
        return await self.sub(done.subscription_id)

    async def sub(self, sub_id: int) -> Any:
        async with self.db.uow as uow:
            return await uow.subscriptions.get(SubscriptionId(sub_id))

    async def events(self, sub_id: int) -> list[str]:
        async with self.db.uow as uow:
            page = await uow.history.page_for_subscription(SubscriptionId(sub_id), None, 0, 100)
            return [e.action for e in page.items]

    async def confirm_change(
        self, sub_id: int, target: ChangeTarget, key: str, actor: int = OWNER
    ) -> Any:
        preview = await self.preview(ChangeRequest(actor, sub_id, target))
        return await self.change(
            ConfirmChangeRequest(
                actor,
                sub_id,
                target,
                preview.quote.amount,
                preview.quote.settlement,
                key,
                chat_id=OWNER_CHAT,
            )
        )

    async def notices(self, kind: NoticeKind) -> list[Any]:
        async with self.db.uow as uow:
            rows = await uow.session.scalars(select(OutboxRow).where(OutboxRow.kind == kind.value))
            return [(r.chat_id, dict(r.params)) for r in rows]


@pytest.fixture
async def w(database: Database) -> ChangeWorld:
    return await ChangeWorld(database, Clock(vn(2026, 3, 10, 9, 0).astimezone(UTC))).seed()


THREE_MONTHS_LATER = vn(2026, 6, 10, 9, 0)


async def test_upgrade_is_paid_by_card_then_applied_with_its_invoice(w: ChangeWorld) -> None:
    sub = await w.active()
    w.clock.at = THREE_MONTHS_LATER
    target = ChangeTarget("CLOUD-PRO", "M12")
    preview = await w.preview(ChangeRequest(OWNER, sub.id, target))
    # 10 Mar 2026 → 10 Mar 2027: 365 days; on 10 Jun, 273 remain.
    # credit 1.200.000 × 273/365 = 897.534,25 → 897.534; charge 2.400.000 × 273/365
    # = 1.795.068,49 → 1.795.068; net 897.534; VAT 10 % 89.753,4 → 89.753; total 987.287
    q = preview.quote
    assert (q.days_total, q.days_remaining) == (365, 273)
    assert (q.credit_net, q.charge_net, q.settlement, q.amount) == (
        897_534,
        1_795_068,
        Settlement.PAY,
        987_287,
    )
    outcome = await w.confirm_change(sub.id, target, "chg-1")
    assert outcome.kind is ChangeOutcomeKind.AWAITS_PAYMENT
    assert outcome.payment_url == f"https://pay.example/{outcome.order_code}-1"
    again = await w.confirm_change(sub.id, target, "chg-1")  # a double tap: the same order
    assert again.kind is ChangeOutcomeKind.EXISTING and again.order_code == outcome.order_code
    order = await w.order(outcome.order_id)
    assert (order.purpose, order.subscription_id, order.total) == (
        OrderPurpose.CHANGE,
        sub.id,
        987_287,
    )
    assert (await w.sub(sub.id)).plan_code == "CLOUD-STD"  # not before the payment

    paid = await w.confirm(w.online(f"{order.code}-1", order.total))
    assert paid.newly_applied and paid.subscription_code == sub.code
    changed = await w.sub(sub.id)
    assert (changed.plan_code, changed.status) == ("CLOUD-PRO", SubscriptionStatus.ACTIVE)
    assert (changed.current_period_start, changed.current_period_end) == (
        sub.current_period_start,
        sub.current_period_end,
    )
    invoices = await w.invoices(order.id)
    assert len(invoices) == 1 and invoices[0].total == 987_287 and invoices[0].number
    assert "subscription.changed" in await w.events(sub.id)
    # repeated notification: applied once
    repeat = await w.confirm(w.online(f"{order.code}-1", order.total))
    assert not repeat.newly_applied
    assert (await w.events(sub.id)).count("subscription.changed") == 1


async def test_cheaper_plan_credits_a_memo_and_applies_now(w: ChangeWorld) -> None:
    sub = await w.active()
    w.clock.at = THREE_MONTHS_LATER
    outcome = await w.confirm_change(sub.id, ChangeTarget("CLOUD-LITE", "M12"), "chg-2")
    # credit 897.534 (above); charge 600.000 × 273/365 = 448.767,12 → 448.767;
    # net 448.767; VAT 10 % 44.876,7 → 44.877; credited 493.644
    assert outcome.kind is ChangeOutcomeKind.CREDITED and outcome.amount == 493_644
    assert (await w.sub(sub.id)).plan_code == "CLOUD-LITE"
    async with w.db.uow as uow:
        memos = (await uow.memos.list(SubscriptionId(sub.id))).items
    assert [(m.kind, m.amount, m.status) for m in memos] == [
        (MemoKind.CREDIT, 493_644, MemoStatus.OPEN)
    ]
    assert "subscription.changed" in await w.events(sub.id)


async def test_downgrade_from_a_plan_that_says_so_waits_for_the_period_end(w: ChangeWorld) -> None:
    sub = await w.active()
    w.clock.at = THREE_MONTHS_LATER
    up = await w.confirm_change(sub.id, ChangeTarget("CLOUD-PRO", "M12"), "up")
    await w.confirm(w.online(f"{up.order_code}-1", up.amount))
    down = await w.confirm_change(sub.id, ChangeTarget("CLOUD-STD", "M12"), "down")
    assert down.kind is ChangeOutcomeKind.SCHEDULED
    assert down.effective_at == sub.current_period_end
    assert (await w.sub(sub.id)).plan_code == "CLOUD-PRO"
    assert (await w.scheduled()).applied == 0  # not yet
    w.clock.at = sub.current_period_end + timedelta(minutes=1)
    runs = await asyncio.gather(w.scheduled(), w.scheduled())
    assert sum(r.applied for r in runs) == 1
    assert (await w.sub(sub.id)).plan_code == "CLOUD-STD"
    assert "subscription.change_scheduled" in await w.events(sub.id)


async def test_stale_amount_and_people_who_may_not_change(w: ChangeWorld) -> None:
    sub = await w.active()
    w.clock.at = THREE_MONTHS_LATER
    target = ChangeTarget("CLOUD-PRO", "M12")
    stale = await w.change(
        ConfirmChangeRequest(OWNER, sub.id, target, 1, Settlement.PAY, "stale", OWNER_CHAT)
    )
    assert stale.kind is ChangeOutcomeKind.PRICE_CHANGED and stale.amount == 987_287
    async with w.db.uow as uow:
        assert await uow.orders.by_idempotency_key("stale") is None
    for actor in (MEMBER, STRANGER):
        with pytest.raises(PermissionDenied):
            await w.preview(ChangeRequest(actor, sub.id, target))


async def test_trial_once_paid_then_active(w: ChangeWorld) -> None:
    req = StartTrialRequest(OWNER, w.enterprise_id, "CLOUD", "CLOUD-PRO", "M12")
    results = await asyncio.gather(w.start_trial(req), w.start_trial(req), w.start_trial(req))
    started = [r for r in results if r.status is TrialStatus.STARTED]
    assert len(started) == 1
    assert {r.status for r in results} == {TrialStatus.STARTED, TrialStatus.ALREADY_USED}
    assert (await w.start_trial(req)).status is TrialStatus.ALREADY_USED
    no_trial = replace(req, plan_code="CLOUD-STD")
    assert (await w.start_trial(no_trial)).status is TrialStatus.NOT_OFFERED
    async with w.db.uow as uow:
        trial_sub = await uow.subscriptions.get_by_code(started[0].subscription_code)
    assert trial_sub is not None and trial_sub.current_period_end is not None
    assert trial_sub.current_period_start is not None
    assert trial_sub.status is SubscriptionStatus.IN_TRIAL
    assert trial_sub.current_period_end - trial_sub.current_period_start == timedelta(days=14)

    w.clock.advance(timedelta(days=2))
    pay = await w.pay_trial(PayTrialRequest(OWNER, trial_sub.id, "pay-trial", OWNER_CHAT))
    assert pay.kind is ChangeOutcomeKind.AWAITS_PAYMENT and pay.amount == 2_640_000  # +10 %
    await w.confirm(w.online(f"{pay.order_code}-1", pay.amount))
    paid = await w.sub(trial_sub.id)
    assert paid.status is SubscriptionStatus.ACTIVE
    assert paid.current_period_start == w.clock.now()
    assert "trial.converted" in await w.events(trial_sub.id)
    w.clock.advance(timedelta(days=30))
    assert (await w.trials()).ended == 0  # paid: not ended
    assert (await w.sub(trial_sub.id)).status is SubscriptionStatus.ACTIVE


async def test_trial_reminded_once_then_ended(w: ChangeWorld) -> None:
    async with w.db.uow as uow:  # the owner wrote to the bot: reachable
        owner = await uow.users.get(OWNER)
        assert owner is not None
        await uow.users.record_contact(owner, w.clock.now())
        await uow.commit()
    req = StartTrialRequest(OWNER, w.enterprise_id, "CLOUD", "CLOUD-PRO", "M12")
    started = await w.start_trial(req)
    assert (await w.trials()).reminded == 0  # 14 days left
    w.clock.advance(timedelta(days=11, minutes=1))  # under 3 days left
    runs = await asyncio.gather(w.trials(), w.trials())
    assert sum(r.reminded for r in runs) == 1
    assert (await w.trials()).reminded == 0
    assert [chat for chat, _ in await w.notices(NoticeKind.TRIAL_ENDING)] == [OWNER_CHAT]
    w.clock.advance(timedelta(days=3))
    assert (await w.trials()).ended == 1
    async with w.db.uow as uow:
        ended = await uow.subscriptions.get_by_code(started.subscription_code)
    assert ended is not None
    assert ended.status is SubscriptionStatus.EXPIRED
    assert [chat for chat, _ in await w.notices(NoticeKind.TRIAL_ENDED)] == [OWNER_CHAT]
    assert (await w.trials()).ended == 0


async def test_an_order_service_change_waits_for_cash_then_applies(w: ChangeWorld) -> None:
    placed = await w.place("SETUP", "SETUP-ONSITE", "Y1")
    done = await w.cash(ConfirmCashRequest(placed.subscription_code, AGENT))
    assert done.newly_applied
    assert done.subscription_id is not None
    sub = await w.sub(done.subscription_id)
    w.clock.at = vn(2026, 6, 10, 9, 0)
    outcome = await w.confirm_change(sub.id, ChangeTarget("SETUP-PLUS", "Y1"), "os-change")
    # 365 days, 273 remain: credit 3.000.000 × 273/365 = 2.243.835,62 → 2.243.836; charge
    # 4.000.000 × 273/365 = 2.991.780,82 → 2.991.781; net 747.945; VAT 8 % 59.835,6 → 59.836
    assert outcome.kind is ChangeOutcomeKind.CASH_PENDING and outcome.amount == 807_781
    assert (await w.sub(sub.id)).plan_code == "SETUP-ONSITE"
    paid = await w.cash(ConfirmCashRequest(sub.code, AGENT))
    assert paid.newly_applied and paid.order_code == outcome.order_code
    assert (await w.sub(sub.id)).plan_code == "SETUP-PLUS"
    [invoice] = await w.invoices(outcome.order_id)
    assert invoice.status.value == "PAID" and invoice.number and invoice.total == 807_781
    again = await w.cash(ConfirmCashRequest(sub.code, AGENT))  # the first order, paid: nothing
    assert not again.newly_applied


async def test_staff_start_a_trial_and_the_owners_are_told(w: ChangeWorld) -> None:
    async with w.db.uow as uow:  # the owner wrote to the bot: reachable
        owner = await uow.users.get(OWNER)
        assert owner is not None
        await uow.users.record_contact(owner, w.clock.now())
        await uow.commit()
    req = StartTrialRequest(AGENT, w.enterprise_id, "CLOUD", "CLOUD-PRO", "M12")

    started = await w.start_trial(req)

    assert started.status is TrialStatus.STARTED
    [(chat, params)] = await w.notices(NoticeKind.TRIAL_STARTED)
    assert chat == OWNER_CHAT
    assert (params["subscription"], params["plan"]) == (started.subscription_code, "CLOUD-PRO")
    # once per business, whoever asks; a member may not, a stranger's business is refused
    again = replace(req, actor_id=OWNER)
    assert (await w.start_trial(again)).status is TrialStatus.ALREADY_USED
    assert (await w.start_trial(replace(req, actor_id=MEMBER))).status is TrialStatus.REFUSED
    assert (await w.start_trial(replace(req, actor_id=STRANGER))).status is TrialStatus.REFUSED
    assert len(await w.notices(NoticeKind.TRIAL_STARTED)) == 1


async def test_a_paid_change_is_told_as_a_change_and_an_expired_one_as_unchanged(
    w: ChangeWorld,
) -> None:
    sub = await w.active()
    w.clock.advance(timedelta(days=30))
    target = ChangeTarget("CLOUD-PRO", "M12")
    first = await w.confirm_change(sub.id, target, "change-1")
    assert first.kind is ChangeOutcomeKind.AWAITS_PAYMENT
    w.clock.advance(timedelta(hours=2))  # past the unpaid order's time

    expiry = await w.expire()

    assert [e.subscription_code for e in expiry.expired] == [sub.code]
    [(chat, expired)] = await w.notices(NoticeKind.ORDER_EXPIRED)
    assert chat == OWNER_CHAT
    assert (expired["order"], expired["subscription"]) == (first.order_code, sub.code)
    after = await w.sub(sub.id)
    assert (after.plan_code, after.status, after.current_period_end) == (
        sub.plan_code,
        SubscriptionStatus.ACTIVE,
        sub.current_period_end,
    )
    assert "order.expired" in await w.events(sub.id)  # in the subscription's history

    second = await w.confirm_change(sub.id, target, "change-2")
    await w.confirm(w.online(f"{second.order_code}-1", second.amount))
    [(chat, params)] = await w.notices(NoticeKind.CHANGE_PAID)
    assert chat == OWNER_CHAT
    assert (params["from_plan"], params["to_plan"], params["trial"]) == (
        sub.plan_code,
        "CLOUD-PRO",
        False,
    )
    assert params["total"] == second.amount and params["subscription"] == sub.code
