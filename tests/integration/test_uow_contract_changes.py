"""The contract of ``uow.changes`` (scheduled changes and trials, ``domain.changes``) on the fake
unit of work and on SQLite and PostgreSQL, so the fake cannot drift from the database."""

from __future__ import annotations

from datetime import timedelta

from domain.changes import ScheduledChange, Trial
from domain.model import SubscriptionId, UserId
from domain.ports import UnitOfWork
from tests.integration import test_uow_contract as contract
from tests.integration.test_storage_commerce import AGENT, NOW, make_order, make_subscription
from tests.integration.test_uow_contract import add_order, seed

# the contract's fixtures: the fake, SQLite and PostgreSQL
db_backend = contract.db_backend
uow = contract.uow


async def _subscriptions(uow: UnitOfWork) -> tuple[int, list[SubscriptionId]]:
    [ent] = await seed(uow, "0100233488")
    ids = []
    for n in (1, 2):
        order = await add_order(uow, make_order(ent, f"00000{n}"))
        async with uow:
            sub = await uow.subscriptions.add(make_subscription(order, f"TB-2026-00000{n}"))
            await uow.commit()
        ids.append(sub.id)
    return int(ent), ids


def _change(sub: SubscriptionId, plan: str, at_days: int) -> ScheduledChange:
    return ScheduledChange(
        subscription_id=sub,
        plan_code=plan,
        cycle_code="M12",
        quantity=2,
        addon_codes=("A", "B"),
        effective_at=NOW + timedelta(days=at_days),
        requested_by=AGENT,
        created_at=NOW,
    )


async def test_one_scheduled_change_per_subscription_due_in_order(uow: UnitOfWork) -> None:
    _, (first, second) = await _subscriptions(uow)
    async with uow:
        await uow.changes.schedule(_change(first, "P1", 10))
        await uow.changes.schedule(_change(first, "P2", 20))  # replaces
        await uow.changes.schedule(_change(second, "P3", 5))
        await uow.commit()
    async with uow:
        stored = await uow.changes.scheduled(first)
        assert stored is not None
        assert (stored.plan_code, stored.addon_codes, stored.quantity) == ("P2", ("A", "B"), 2)
        assert stored.effective_at == NOW + timedelta(days=20)
        due = await uow.changes.due(NOW + timedelta(days=30))
        assert [c.plan_code for c in due] == ["P3", "P2"]
        assert await uow.changes.due(NOW) == []
        assert await uow.changes.unschedule(second)
        assert not await uow.changes.unschedule(second)
        await uow.commit()
    async with uow:
        assert await uow.changes.scheduled(second) is None


async def test_one_trial_per_business_and_service_reminded_and_ended_once(
    uow: UnitOfWork,
) -> None:
    ent, (first, second) = await _subscriptions(uow)

    def trial(sub: SubscriptionId, service: str) -> Trial:
        return Trial(
            enterprise_id=ent,  # type: ignore[arg-type]
            service_code=service,
            plan_code="P",
            subscription_id=sub,
            started_at=NOW,
            ends_at=NOW + timedelta(days=14),
            started_by=UserId(AGENT),
        )

    async with uow:
        stored = await uow.changes.add_trial(trial(first, "SMARTCA"))
        assert stored is not None and stored.id > 0
        assert await uow.changes.add_trial(trial(second, "SMARTCA")) is None  # taken
        await uow.commit()
    async with uow:
        found = await uow.changes.trial_of(ent, "SMARTCA")  # type: ignore[arg-type]
        assert found is not None and found.subscription_id == first
        assert await uow.changes.trial_for_subscription(second) is None
        assert await uow.changes.trials_to_remind(NOW + timedelta(days=10)) == []
        [due] = await uow.changes.trials_to_remind(NOW + timedelta(days=14))
        assert await uow.changes.mark_trial_reminded(due.id, NOW)
        assert not await uow.changes.mark_trial_reminded(due.id, NOW)
        assert await uow.changes.trials_to_remind(NOW + timedelta(days=14)) == []
        [ending] = await uow.changes.trials_to_end(NOW + timedelta(days=14))
        assert ending.reminded_at == NOW
        assert await uow.changes.mark_trial_ended(ending.id, NOW)
        assert not await uow.changes.mark_trial_ended(ending.id, NOW)
        assert await uow.changes.trials_to_end(NOW + timedelta(days=30)) == []
        await uow.commit()
