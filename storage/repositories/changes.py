"""Scheduled changes and trials (``domain.changes``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from domain.changes import ScheduledChange, Trial
from domain.model import EnterpriseId, SubscriptionId, UserId
from storage.models import ScheduledChangeRow, TrialRow
from storage.repositories._common import SqlRepository, rowcount


def _to_change(row: Any) -> ScheduledChange:
    return ScheduledChange(
        subscription_id=SubscriptionId(row.subscription_id),
        plan_code=row.plan_code,
        cycle_code=row.cycle_code,
        quantity=row.quantity,
        addon_codes=tuple(row.addon_codes or ()),
        effective_at=row.effective_at,
        requested_by=UserId(row.requested_by),
        created_at=row.created_at,
    )


def _to_trial(row: Any) -> Trial:
    return Trial(
        enterprise_id=EnterpriseId(row.enterprise_id),
        service_code=row.service_code,
        plan_code=row.plan_code,
        subscription_id=SubscriptionId(row.subscription_id),
        started_at=row.started_at,
        ends_at=row.ends_at,
        started_by=UserId(row.started_by),
        reminded_at=row.reminded_at,
        ended_at=row.ended_at,
        id=row.id,
    )


class SqlChangeRepository(SqlRepository):
    __slots__ = ()

    async def schedule(self, change: ScheduledChange) -> None:
        values = {
            "plan_code": change.plan_code,
            "cycle_code": change.cycle_code,
            "quantity": change.quantity,
            "addon_codes": list(change.addon_codes),
            "effective_at": change.effective_at,
            "requested_by": int(change.requested_by),
            "created_at": change.created_at,
        }
        statement = self._insert(ScheduledChangeRow).values(
            subscription_id=int(change.subscription_id), **values
        )
        await self._session.execute(
            statement.on_conflict_do_update(index_elements=["subscription_id"], set_=values)
        )

    async def scheduled(self, subscription_id: SubscriptionId) -> ScheduledChange | None:
        row = await self._session.get(ScheduledChangeRow, int(subscription_id))
        return _to_change(row) if row is not None else None

    async def due(self, now: datetime, limit: int = 100) -> list[ScheduledChange]:
        rows = await self._session.scalars(
            select(ScheduledChangeRow)
            .where(ScheduledChangeRow.effective_at <= now)
            .order_by(ScheduledChangeRow.effective_at, ScheduledChangeRow.subscription_id)
            .limit(limit)
        )
        return [_to_change(r) for r in rows]

    async def unschedule(self, subscription_id: SubscriptionId) -> bool:
        result = await self._session.execute(
            delete(ScheduledChangeRow).where(
                ScheduledChangeRow.subscription_id == int(subscription_id)
            )
        )
        return rowcount(result) > 0

    async def add_trial(self, trial: Trial) -> Trial | None:
        statement = (
            self._insert(TrialRow)
            .values(
                enterprise_id=int(trial.enterprise_id),
                service_code=trial.service_code,
                plan_code=trial.plan_code,
                subscription_id=int(trial.subscription_id),
                started_by=int(trial.started_by),
                started_at=trial.started_at,
                ends_at=trial.ends_at,
            )
            .on_conflict_do_nothing(index_elements=["enterprise_id", "service_code"])
            .returning(TrialRow.id)
        )
        new_id = (await self._session.execute(statement)).scalar_one_or_none()
        if new_id is None:
            return None
        return Trial(
            enterprise_id=trial.enterprise_id,
            service_code=trial.service_code,
            plan_code=trial.plan_code,
            subscription_id=trial.subscription_id,
            started_at=trial.started_at,
            ends_at=trial.ends_at,
            started_by=trial.started_by,
            id=int(new_id),
        )

    async def trial_of(self, enterprise_id: EnterpriseId, service_code: str) -> Trial | None:
        row = await self._session.scalar(
            select(TrialRow).where(
                TrialRow.enterprise_id == int(enterprise_id),
                TrialRow.service_code == service_code,
            )
        )
        return _to_trial(row) if row is not None else None

    async def trial_for_subscription(self, subscription_id: SubscriptionId) -> Trial | None:
        row = await self._session.scalar(
            select(TrialRow).where(TrialRow.subscription_id == int(subscription_id))
        )
        return _to_trial(row) if row is not None else None

    async def trials_to_remind(self, before: datetime, limit: int = 100) -> list[Trial]:
        rows = await self._session.scalars(
            select(TrialRow)
            .where(
                TrialRow.reminded_at.is_(None),
                TrialRow.ended_at.is_(None),
                TrialRow.ends_at <= before,
            )
            .order_by(TrialRow.ends_at, TrialRow.id)
            .limit(limit)
        )
        return [_to_trial(r) for r in rows]

    async def trials_to_end(self, now: datetime, limit: int = 100) -> list[Trial]:
        rows = await self._session.scalars(
            select(TrialRow)
            .where(TrialRow.ended_at.is_(None), TrialRow.ends_at <= now)
            .order_by(TrialRow.ends_at, TrialRow.id)
            .limit(limit)
        )
        return [_to_trial(r) for r in rows]

    async def mark_trial_reminded(self, trial_id: int, at: datetime) -> bool:
        result = await self._session.execute(
            update(TrialRow)
            .where(TrialRow.id == trial_id, TrialRow.reminded_at.is_(None))
            .values(reminded_at=at)
        )
        return rowcount(result) > 0

    async def mark_trial_ended(self, trial_id: int, at: datetime) -> bool:
        result = await self._session.execute(
            update(TrialRow)
            .where(TrialRow.id == trial_id, TrialRow.ended_at.is_(None))
            .values(ended_at=at)
        )
        return rowcount(result) > 0
