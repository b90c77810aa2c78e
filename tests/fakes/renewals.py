"""Fake renewal queries (storage/repositories/renewals.py)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from domain.model import Order, OrderStatus, Subscription, SubscriptionId, SubscriptionStatus
from tests.fakes.store import FakeRepository, aware


class FakeRenewalRepository(FakeRepository):
    __slots__ = ()

    async def ending(
        self,
        statuses: Collection[SubscriptionStatus],
        before: datetime,
        after: datetime | None = None,
        limit: int = 100,
    ) -> list[Subscription]:
        rows = [
            s
            for s in (await self._t()).subscriptions.values()
            if s.status in statuses
            and s.current_period_end is not None
            and s.current_period_end <= before
            and (after is None or s.current_period_end > after)
        ]
        rows.sort(key=lambda s: (s.current_period_end, s.id))
        return rows[:limit]

    async def record_reminder(
        self,
        subscription_id: SubscriptionId,
        period_end: datetime,
        days: int,
        recipients: int,
        now: datetime,
    ) -> bool:
        t = await self._t()
        self._fk(t.subscriptions, subscription_id, "renewal_reminders.subscription_id")
        key = (int(subscription_id), aware(period_end), days)
        if key in t.renewal_reminders:
            return False
        t.renewal_reminders[key] = (recipients, aware(now))
        return True

    async def reminders_sent(
        self, subscription_id: SubscriptionId, period_end: datetime
    ) -> list[int]:
        t = await self._t()
        end = aware(period_end)
        return sorted(
            d for (sid, e, d) in t.renewal_reminders if sid == int(subscription_id) and e == end
        )

    async def open_orders(self, subscription_id: SubscriptionId) -> list[Order]:
        rows = (await self._t()).orders.values()
        return sorted(
            (
                o
                for o in rows
                if o.subscription_id == subscription_id and o.status is OrderStatus.PENDING_PAYMENT
            ),
            key=lambda o: o.id,
        )
