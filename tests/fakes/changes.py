"""Fake scheduled changes and trials (``domain.changes``), as ``storage.repositories.changes``."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.changes import ScheduledChange, Trial
from domain.model import EnterpriseId, SubscriptionId
from tests.fakes.store import FakeRepository, aware, aware_or_none


class FakeChangeRepository(FakeRepository):
    __slots__ = ()

    async def schedule(self, change: ScheduledChange) -> None:
        t = await self._t()
        self._fk(t.subscriptions, int(change.subscription_id), "scheduled_changes.subscription_id")
        t.scheduled_changes[int(change.subscription_id)] = replace(
            change,
            effective_at=aware(change.effective_at),
            created_at=aware(change.created_at),
            addon_codes=tuple(change.addon_codes),
        )

    async def scheduled(self, subscription_id: SubscriptionId) -> ScheduledChange | None:
        return (await self._t()).scheduled_changes.get(int(subscription_id))

    async def due(self, now: datetime, limit: int = 100) -> list[ScheduledChange]:
        rows = [c for c in (await self._t()).scheduled_changes.values() if c.effective_at <= now]
        rows.sort(key=lambda c: (c.effective_at, c.subscription_id))
        return rows[:limit]

    async def unschedule(self, subscription_id: SubscriptionId) -> bool:
        return (await self._t()).scheduled_changes.pop(int(subscription_id), None) is not None

    async def add_trial(self, trial: Trial) -> Trial | None:
        t = await self._t()
        new_id = self._store.next_id("trials")
        if any(
            (x.enterprise_id, x.service_code) == (trial.enterprise_id, trial.service_code)
            for x in t.trials.values()
        ):
            return None
        if any(x.subscription_id == trial.subscription_id for x in t.trials.values()):
            raise self._fail("unique trials.subscription_id")
        stored = replace(
            trial,
            started_at=aware(trial.started_at),
            ends_at=aware(trial.ends_at),
            reminded_at=None,
            ended_at=None,
            id=new_id,
        )
        t.trials[new_id] = stored
        return stored

    async def trial_of(self, enterprise_id: EnterpriseId, service_code: str) -> Trial | None:
        return next(
            (
                x
                for x in (await self._t()).trials.values()
                if x.enterprise_id == enterprise_id and x.service_code == service_code
            ),
            None,
        )

    async def trial_for_subscription(self, subscription_id: SubscriptionId) -> Trial | None:
        trials = (await self._t()).trials.values()
        return next((x for x in trials if x.subscription_id == subscription_id), None)

    async def trials_to_remind(self, before: datetime, limit: int = 100) -> list[Trial]:
        rows = [
            x
            for x in (await self._t()).trials.values()
            if x.reminded_at is None and x.ended_at is None and x.ends_at <= before
        ]
        return sorted(rows, key=lambda x: (x.ends_at, x.id))[:limit]

    async def trials_to_end(self, now: datetime, limit: int = 100) -> list[Trial]:
        rows = [
            x for x in (await self._t()).trials.values() if x.ended_at is None and x.ends_at <= now
        ]
        return sorted(rows, key=lambda x: (x.ends_at, x.id))[:limit]

    async def mark_trial_reminded(self, trial_id: int, at: datetime) -> bool:
        t = await self._t()
        trial = t.trials.get(trial_id)
        if trial is None or trial.reminded_at is not None:
            return False
        t.trials[trial_id] = replace(trial, reminded_at=aware_or_none(at))
        return True

    async def mark_trial_ended(self, trial_id: int, at: datetime) -> bool:
        t = await self._t()
        trial = t.trials.get(trial_id)
        if trial is None or trial.ended_at is not None:
            return False
        t.trials[trial_id] = replace(trial, ended_at=aware_or_none(at))
        return True
