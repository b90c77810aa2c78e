"""Applying a change scheduled for the period end (a downgrade of a plan that says
``downgrade: at_period_end``, or the configuration a renewal paid early bought for its period):
at the boundary it waits for, the subscription takes the new plan, cycle, quantity and add-ons
and **keeps its period** — the scheduled change is the configuration of the period that starts
there, which a renewal pays for; it never starts or extends a period by itself.

Used by the scheduled-change round (:class:`~domain.usecases.changes.apply.ApplyScheduledChanges`)
and by the expiry round, which applies a due scheduled change first (``docs/proration.md``,
"At the period end"). The caller holds the subscription's row lock and has claimed the change
(``uow.changes.unschedule`` returned True)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.changes import ScheduledChange
from domain.model import Subscription
from domain.ports import UnitOfWork
from domain.usecases.changes.common import config_details, configuration_of, event


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""


async def apply_scheduled_change(
    uow: UnitOfWork, sub: Subscription, change: ScheduledChange
) -> Subscription:
    """``sub`` with ``change``'s configuration, the period unchanged; history
    ``subscription.changed`` (``scheduled``) dated at the boundary."""
    changed = replace(
        sub,
        plan_code=change.plan_code,
        cycle_code=change.cycle_code,
        quantity=change.quantity,
        addon_codes=tuple(change.addon_codes),
    )
    await uow.subscriptions.update(changed)
    await uow.history.add(
        event(
            "subscription.changed",
            changed,
            change.requested_by,
            change.effective_at,
            {
                **config_details("from_", configuration_of(sub)),
                **config_details("to_", configuration_of(changed)),
                "scheduled": True,
                "period_start": _iso(changed.current_period_start),
                "period_end": _iso(changed.current_period_end),
            },
        )
    )
    return changed
