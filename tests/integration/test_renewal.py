"""The subscription's life after registration on SQLite and PostgreSQL: reminders sent once
whatever the number of workers (the unique key), the expiry round, renewal orders (ON paid
online, OS paid in cash) extending the period from the old end, a double renewal refused, and
the cancellations."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from domain.catalog import Purchase
from domain.errors import NotFound, PermissionDenied
from domain.model import OrderPurpose, OrderStatus, Subscription, SubscriptionStatus, User
from domain.outbox import NoticeKind
from domain.ports import UnitOfWork
from domain.pricing import NO_USAGE, Selection, quote
from domain.usecases.payments import ConfirmCashRequest, ConfirmStatus
from domain.usecases.renewal import (
    CancelNow,
    CancelNowRequest,
    ChangeStatus,
    ExpireSubscriptions,
    PlaceRenewal,
    RenewalOffers,
    RenewalOutcomeKind,
    RenewalRequest,
    SendRenewalReminders,
    SetRenewal,
)
from storage.db import Database
from storage.models import OutboxRow, RenewalReminderRow
from tests.integration.test_payment_usecases import (
    AGENT,
    CATALOG,
    MEMBER,
    OWNER,
    OWNER_CHAT,
    STRANGER,
    VN,
    Clock,
    ScriptedGateway,
    World,
    vn,
)


@pytest.fixture
def clock() -> Clock:
    return Clock(vn(2026, 1, 31, 9, 0).astimezone(UTC))


@pytest.fixture
async def world(database: Database, clock: Clock) -> World:
    w = await World(database, clock, ScriptedGateway()).seed()
    async with database.uow as uow:  # the owner wrote to the bot: reminders reach them
        await uow.users.record_contact(
            User(id=OWNER, first_name="Chủ", created_at=clock.now()), clock.now()
        )
        await uow.commit()
    return w


async def active(
    world: World, cycle: str = "M1", service: str = "CLOUD", plan: str = "CLOUD-STD"
) -> Subscription:
    """A paid subscription (ON: paid online; OS: cash confirmed by the agent)."""
    placed = await world.place(service, plan, cycle)
    if service == "CLOUD":
        result = await world.confirm(world.online(f"{placed.order_code}-1", placed.total))
    else:
        result = await world.cash(
            ConfirmCashRequest(subscription_code=placed.subscription_code, actor_id=AGENT)
        )
    assert result.status is ConfirmStatus.APPLIED, result
    [sub] = await world.subscriptions(placed.order_id or 0)
    assert isinstance(sub, Subscription)
    return sub


async def reload(world: World, sub: Subscription) -> Subscription:
    async with world.db.uow as uow:
        found = await uow.subscriptions.get(sub.id)
    assert found is not None
    return found


async def rows(world: World, model: Any, *where: Any) -> list[Any]:
    async with world.db.uow as uow:
        result = await uow.session.execute(select(model.__table__).where(*where))
        return [dict(r) for r in result.mappings().all()]


def factory(db: Database) -> Callable[[], UnitOfWork]:
    def uow() -> UnitOfWork:
        return db.uow

    return uow


def renewal_total(cycle: str) -> int:
    selection = Selection("CLOUD", "CLOUD-STD", cycle)
    today = datetime.now(UTC).astimezone(VN).date()
    return quote(CATALOG, selection, today=today, usage=NO_USAGE, purchase=Purchase.RENEWAL).total


def renewal(
    sub: Subscription, cycle: str, total: int, key: str, actor: int = OWNER
) -> RenewalRequest:
    return RenewalRequest(
        actor_id=actor,
        subscription_id=sub.id,
        cycle_code=cycle,
        expected_total=total,
        idempotency_key=key,
        locale="vi",
        chat_id=OWNER_CHAT,
    )


# ---------------------------------------------------------------------------------------------
# reminders


async def test_each_reminder_once_under_concurrent_workers_on_two_replicas(
    world: World, clock: Clock, db_url: str
) -> None:
    sub = await active(world)  # 31 Jan 09:00 (VN) + 1 month: 28 Feb 09:00
    end = sub.current_period_end
    assert end == vn(2026, 2, 28, 9, 0).astimezone(UTC)
    replica = Database(db_url)  # a second process's engine on the same database
    try:
        workers = [
            SendRenewalReminders(factory(db), clock)
            for db in (world.db, world.db, replica, replica)
        ]
        clock.at = end - timedelta(days=7) + timedelta(minutes=1)
        reports = await asyncio.gather(*(w() for w in workers))
        assert sorted(len(r.sent) for r in reports) == [0, 0, 0, 1]
        # a restart: the same round again sends nothing
        assert (await SendRenewalReminders(lambda: replica.uow, clock)()).sent == ()

        # the worker was down through the 3-day mark: only the most urgent one goes out
        clock.at = end - timedelta(hours=20)
        reports = await asyncio.gather(*(w() for w in workers))
        assert sorted(len(r.sent) for r in reports) == [0, 0, 0, 1]
        assert (await SendRenewalReminders(lambda: world.db.uow, clock)()).sent == ()
    finally:
        await replica.dispose()

    recorded = await rows(world, RenewalReminderRow, RenewalReminderRow.subscription_id == sub.id)
    assert sorted((r["days"], r["recipients"]) for r in recorded) == [(1, 1), (7, 1)]
    told = await rows(world, OutboxRow, OutboxRow.kind == NoticeKind.RENEWAL_REMINDER.value)
    assert sorted(
        (r["chat_id"], r["params"]["days"], r["params"]["subscription"]) for r in told
    ) == [
        (OWNER_CHAT, 1, sub.code),
        (OWNER_CHAT, 7, sub.code),
    ]


async def test_the_key_itself_refuses_a_second_reminder(world: World, clock: Clock) -> None:
    sub = await active(world)
    end = sub.current_period_end
    assert end is not None
    async with world.db.uow as uow:
        assert await uow.renewals.record_reminder(sub.id, end, 3, 1, clock.now())
        await uow.commit()
    async with world.db.uow as uow:
        assert not await uow.renewals.record_reminder(sub.id, end, 3, 1, clock.now())
        assert await uow.renewals.reminders_sent(sub.id, end) == [3]


async def test_concurrent_inserts_of_one_key_record_it_once(
    world: World, clock: Clock, db_url: str
) -> None:
    """Without the row lock: two transactions on two engines insert the same key at once; on
    PostgreSQL the second waits for the first's commit, then finds the key (SQLite serialises
    the two transactions)."""
    sub = await active(world)
    end = sub.current_period_end
    assert end is not None
    replica = Database(db_url)

    async def insert(db: Database) -> bool:
        async with db.uow as uow:
            recorded = await uow.renewals.record_reminder(sub.id, end, 1, 1, clock.now())
            await asyncio.sleep(0.05)  # keep the transaction open while the other one inserts
            await uow.commit()
        return recorded

    try:
        results = await asyncio.gather(insert(world.db), insert(replica))
    finally:
        await replica.dispose()
    assert sorted(results) == [False, True]
    async with world.db.uow as uow:
        assert await uow.renewals.reminders_sent(sub.id, end) == [1]


# ---------------------------------------------------------------------------------------------
# expiry


async def test_an_unrenewed_subscription_expires_after_the_grace(
    world: World, clock: Clock
) -> None:
    sub = await active(world)
    end = sub.current_period_end
    assert end is not None
    expire = ExpireSubscriptions(world.uow, clock, grace_days=2)

    clock.at = end + timedelta(days=1)
    assert (await expire()).ended == ()
    assert (await reload(world, sub)).status is SubscriptionStatus.ACTIVE

    clock.at = end + timedelta(days=2)
    reports = await asyncio.gather(expire(), expire())
    assert sorted(len(r.ended) for r in reports) == [0, 1]
    assert (await reload(world, sub)).status is SubscriptionStatus.EXPIRED
    told = await rows(world, OutboxRow, OutboxRow.kind == NoticeKind.SUBSCRIPTION_ENDED.value)
    assert [(r["chat_id"], r["params"]["status"]) for r in told] == [(OWNER_CHAT, "EXPIRED")]
    async with world.db.uow as uow:
        events = (await uow.history.list(sub.id, limit=50)).items
    assert [e.action for e in events].count("subscription.expired") == 1


async def test_cancel_at_period_end_then_cancelled_at_the_end(world: World, clock: Clock) -> None:
    sub = await active(world)
    end = sub.current_period_end
    assert end is not None
    toggle = SetRenewal(world.uow, clock)
    assert (await toggle(OWNER, sub.id, renew=False)).status is ChangeStatus.CHANGED
    assert (await toggle(OWNER, sub.id, renew=False)).status is ChangeStatus.UNCHANGED  # stale
    assert (
        await toggle(OWNER, sub.id, renew=True)
    ).subscription.status is SubscriptionStatus.ACTIVE
    await toggle(OWNER, sub.id, renew=False)
    assert (await reload(world, sub)).status is SubscriptionStatus.NON_RENEWING
    # a renewal ordered then left unpaid
    clock.at = end - timedelta(minutes=10)
    placed = await PlaceRenewal(world.uow, lambda: CATALOG, clock, ttl=timedelta(days=1))(
        renewal(sub, "M1", renewal_total("M1"), "nr-1")
    )
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED

    clock.at = end  # no grace for a subscription its owner cancelled
    report = await ExpireSubscriptions(world.uow, clock, grace_days=5)()
    assert report.ended == ((sub.code, SubscriptionStatus.CANCELLED),)
    assert (await reload(world, sub)).status is SubscriptionStatus.CANCELLED
    assert (await world.order(placed.outcome.order_id or 0)).status is OrderStatus.CANCELLED


# ---------------------------------------------------------------------------------------------
# renewals


async def test_online_renewal_extends_from_the_old_end(world: World, clock: Clock) -> None:
    sub = await active(world)  # ends 28 Feb 09:00 VN (anchor 31 Jan)
    clock.at = vn(2026, 2, 20, 15, 0).astimezone(UTC)  # paid 8 days early
    place = PlaceRenewal(world.uow, lambda: CATALOG, clock)
    total = renewal_total("M1")
    placed = await place(renewal(sub, "M1", total, "r-1"))
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED
    # a second renewal while this one is open is refused, naming the open order
    again = await place(renewal(sub, "M12", renewal_total("M12"), "r-2"))
    assert again.outcome.kind is RenewalOutcomeKind.ALREADY_OPEN
    assert again.outcome.order_code == placed.outcome.order_code
    # the same key (a double tap) is the same order
    assert (
        await place(renewal(sub, "M1", total, "r-1"))
    ).outcome.kind is RenewalOutcomeKind.EXISTING

    moid = f"{placed.outcome.order_code}-1"
    result = await world.confirm(world.online(moid, total))
    assert result.status is ConfirmStatus.APPLIED and result.purpose == "RENEWAL"
    renewed = await reload(world, sub)
    assert renewed.status is SubscriptionStatus.ACTIVE
    assert renewed.current_period_start == vn(2026, 2, 28, 9, 0).astimezone(UTC)
    assert renewed.current_period_end == vn(2026, 3, 31, 9, 0).astimezone(UTC)  # anchor day kept
    # paid twice: the second success applies nothing
    assert (await world.confirm(world.online(moid, total))).status is ConfirmStatus.ALREADY_APPLIED
    assert (await reload(world, sub)).current_period_end == renewed.current_period_end
    order = await world.order(placed.outcome.order_id or 0)
    assert (order.purpose, order.subscription_id, order.status) == (
        OrderPurpose.RENEWAL,
        sub.id,
        OrderStatus.PAID,
    )
    [invoice] = await world.invoices(order.id)
    assert invoice.subscription_id == sub.id and invoice.number and invoice.total == total
    # a new renewal may be ordered once the first is paid
    third = await place(renewal(sub, "M12", renewal_total("M12"), "r-3"))
    assert third.outcome.kind is RenewalOutcomeKind.CREATED


async def test_renewal_of_an_expired_subscription_starts_a_fresh_period(
    world: World, clock: Clock
) -> None:
    sub = await active(world)
    end = sub.current_period_end
    assert end is not None
    clock.at = end + timedelta(days=3)
    await ExpireSubscriptions(world.uow, clock)()
    paid_at = clock.now()
    placed = await PlaceRenewal(world.uow, lambda: CATALOG, clock)(
        renewal(sub, "M12", renewal_total("M12"), "r-x")
    )
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED
    await world.confirm(
        world.online(f"{placed.outcome.order_code}-1", placed.outcome.total, paid_at=paid_at)
    )
    renewed = await reload(world, sub)
    assert renewed.status is SubscriptionStatus.ACTIVE and renewed.cycle_code == "M12"
    assert renewed.current_period_start == paid_at
    assert renewed.current_period_end == (paid_at.astimezone(VN).replace(year=2027)).astimezone(UTC)


async def test_cash_renewal_confirmed_by_an_agent(world: World, clock: Clock) -> None:
    sub = await active(world, "Y1", "SETUP", "SETUP-ONSITE")
    old_end = sub.current_period_end
    assert old_end is not None
    selection = Selection("SETUP", "SETUP-ONSITE", "Y1")
    today = clock.now().astimezone(VN).date()
    total = quote(CATALOG, selection, today=today, usage=NO_USAGE, purchase=Purchase.RENEWAL).total
    placed = await PlaceRenewal(world.uow, lambda: CATALOG, clock)(
        renewal(sub, "Y1", total, "os-1")
    )
    assert placed.outcome.kind is RenewalOutcomeKind.CREATED
    [waiting] = await world.invoices(placed.outcome.order_id or 0)
    assert waiting.status.value == "WAITING" and waiting.subscription_id == sub.id

    result = await world.cash(ConfirmCashRequest(subscription_code=sub.code, actor_id=AGENT))
    assert result.status is ConfirmStatus.APPLIED
    assert result.order_code == placed.outcome.order_code
    renewed = await reload(world, sub)
    assert renewed.current_period_start == old_end
    assert renewed.current_period_end == old_end.astimezone(VN).replace(year=2028).astimezone(UTC)
    again = await world.cash(ConfirmCashRequest(subscription_code=sub.code, actor_id=AGENT))
    assert again.status is ConfirmStatus.ALREADY_APPLIED
    assert (await reload(world, sub)).current_period_end == renewed.current_period_end


async def test_staff_cancel_at_once_with_a_reason(world: World, clock: Clock) -> None:
    sub = await active(world)
    placed = await PlaceRenewal(world.uow, lambda: CATALOG, clock)(
        renewal(sub, "M1", renewal_total("M1"), "c-1")
    )
    cancel = CancelNow(world.uow, clock)
    with pytest.raises(PermissionDenied):
        await cancel(CancelNowRequest(OWNER, sub.id, "tôi muốn"))
    done = await cancel(CancelNowRequest(AGENT, sub.id, "  Khách   yêu cầu chấm dứt "))
    assert done.status is ChangeStatus.CHANGED
    assert (await reload(world, sub)).status is SubscriptionStatus.CANCELLED
    assert (await world.order(placed.outcome.order_id or 0)).status is OrderStatus.CANCELLED
    told = await rows(world, OutboxRow, OutboxRow.kind == NoticeKind.SUBSCRIPTION_CANCELLED.value)
    assert [(r["chat_id"], r["params"]["reason"]) for r in told] == [
        (OWNER_CHAT, "Khách yêu cầu chấm dứt")
    ]
    # nothing more to do: a renewal is refused, a second cancellation changes nothing
    refused = await PlaceRenewal(world.uow, lambda: CATALOG, clock)(
        renewal(sub, "M1", renewal_total("M1"), "c-2")
    )
    assert refused.outcome.kind is RenewalOutcomeKind.NOT_RENEWABLE
    assert (await cancel(CancelNowRequest(AGENT, sub.id, "lại"))).status is ChangeStatus.UNCHANGED


async def test_who_may_renew_and_forged_codes(world: World, clock: Clock) -> None:
    sub = await active(world)
    offers = RenewalOffers(world.uow, lambda: CATALOG, clock)
    offer = await offers(OWNER, sub.code.lower())
    assert [c.code for c in offer.cycles] == ["M12", "M1"] and offer.open_order is None
    assert not offer.can_cancel_now  # an owner cancels at the period end only
    staff = await offers(AGENT, sub.code)
    assert staff.subscription.id == sub.id and staff.can_cancel_now
    for who in (MEMBER, STRANGER):
        with pytest.raises(PermissionDenied):
            await offers(who, sub.code)
        with pytest.raises(PermissionDenied):
            await SetRenewal(world.uow, clock)(who, sub.id, renew=False)
        with pytest.raises(PermissionDenied):
            await PlaceRenewal(world.uow, lambda: CATALOG, clock)(
                renewal(sub, "M1", renewal_total("M1"), f"w-{who}", actor=who)
            )
    with pytest.raises(NotFound):
        await offers(OWNER, "TB-2026-999999")
    with pytest.raises(PermissionDenied):  # a forged id reveals nothing
        await SetRenewal(world.uow, clock)(OWNER, 999_999, renew=False)
    assert (await reload(world, sub)).status is SubscriptionStatus.ACTIVE
