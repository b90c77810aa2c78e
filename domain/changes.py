"""What **Đổi gói** and **Dùng thử** store beyond orders and subscriptions: a downgrade scheduled
for the period end, and the one trial a business may take of a service (``docs/proration.md``).

- :class:`ScheduledChange`: at most one per subscription (the subscription id is the key; a
  newer scheduling replaces it). A background round applies the due ones and removes them.
- :class:`Trial`: one per (business, service), a unique constraint in the database, so the
  trial cannot be taken twice whatever races. ``reminded_at`` and ``ended_at`` are set by
  conditional updates (``… WHERE reminded_at IS NULL``), so a reminder or an end is done once
  even with rounds running on several replicas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from domain.model import EnterpriseId, SubscriptionId, UserId


@dataclass(frozen=True, slots=True)
class ScheduledChange:
    subscription_id: SubscriptionId
    plan_code: str
    cycle_code: str
    quantity: int
    addon_codes: tuple[str, ...]
    effective_at: datetime  # the period end it waits for
    requested_by: UserId
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Trial:
    enterprise_id: EnterpriseId
    service_code: str
    plan_code: str
    subscription_id: SubscriptionId
    started_at: datetime
    ends_at: datetime
    started_by: UserId
    reminded_at: datetime | None = None
    ended_at: datetime | None = None
    id: int = field(default=0, kw_only=True)


class ChangeRepository(Protocol):
    async def schedule(self, change: ScheduledChange) -> None:
        """Store ``change``, replacing the subscription's scheduled change if there is one."""
        ...

    async def scheduled(self, subscription_id: SubscriptionId) -> ScheduledChange | None: ...

    async def due(self, now: datetime, limit: int = 100) -> list[ScheduledChange]:
        """Scheduled changes with ``effective_at <= now``, oldest first."""
        ...

    async def unschedule(self, subscription_id: SubscriptionId) -> bool:
        """Remove the subscription's scheduled change; False if there was none (already done)."""
        ...

    async def add_trial(self, trial: Trial) -> Trial | None:
        """Store the trial; ``None`` when the business already had one of the service."""
        ...

    async def trial_of(self, enterprise_id: EnterpriseId, service_code: str) -> Trial | None: ...

    async def trial_for_subscription(self, subscription_id: SubscriptionId) -> Trial | None: ...

    async def trials_to_remind(self, before: datetime, limit: int = 100) -> list[Trial]:
        """Trials not reminded, not ended, ending at or before ``before``."""
        ...

    async def trials_to_end(self, now: datetime, limit: int = 100) -> list[Trial]:
        """Trials not ended whose end is at or before ``now``."""
        ...

    async def mark_trial_reminded(self, trial_id: int, at: datetime) -> bool:
        """Set ``reminded_at`` if unset; False if it was already set (another replica did it)."""
        ...

    async def mark_trial_ended(self, trial_id: int, at: datetime) -> bool:
        """Set ``ended_at`` if unset; False if it was already set."""
        ...
