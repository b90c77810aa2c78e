"""What the subscription's life after registration reads and writes (``domain.ports
.RenewalRepository``): the subscriptions whose period ends, the renewal reminders sent (one row
per unique key, inserted with ``ON CONFLICT DO NOTHING``), the open orders acting on a
subscription."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select

from domain.model import Order, OrderStatus, Subscription, SubscriptionId, SubscriptionStatus
from storage.models import OrderRow, RenewalReminderRow, SubscriptionRow
from storage.repositories._common import SqlRepository
from storage.repositories.orders import to_order
from storage.repositories.subscriptions import to_subscription

__all__ = ["SqlRenewalRepository"]


class SqlRenewalRepository(SqlRepository):
    __slots__ = ()

    async def ending(
        self,
        statuses: Collection[SubscriptionStatus],
        before: datetime,
        after: datetime | None = None,
        limit: int = 100,
    ) -> list[Subscription]:
        statement = select(SubscriptionRow).where(
            SubscriptionRow.status.in_([s.value for s in statuses]),
            SubscriptionRow.current_period_end.is_not(None),
            SubscriptionRow.current_period_end <= before,
        )
        if after is not None:
            statement = statement.where(SubscriptionRow.current_period_end > after)
        statement = statement.order_by(
            SubscriptionRow.current_period_end, SubscriptionRow.id
        ).limit(limit)
        rows = (await self._session.scalars(statement)).all()
        return [to_subscription(r) for r in rows]

    async def record_reminder(
        self,
        subscription_id: SubscriptionId,
        period_end: datetime,
        days: int,
        recipients: int,
        now: datetime,
    ) -> bool:
        inserted = await self._session.scalar(
            self._insert(RenewalReminderRow)
            .values(
                subscription_id=int(subscription_id),
                period_end=period_end,
                days=days,
                recipients=recipients,
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["subscription_id", "period_end", "days"])
            .returning(RenewalReminderRow.id)
        )
        return inserted is not None

    async def reminders_sent(
        self, subscription_id: SubscriptionId, period_end: datetime
    ) -> list[int]:
        rows = await self._session.scalars(
            select(RenewalReminderRow.days).where(
                RenewalReminderRow.subscription_id == int(subscription_id),
                RenewalReminderRow.period_end == period_end,
            )
        )
        return sorted(int(d) for d in rows)

    async def open_orders(self, subscription_id: SubscriptionId) -> list[Order]:
        rows = await self._session.scalars(
            select(OrderRow)
            .where(
                OrderRow.subscription_id == int(subscription_id),
                OrderRow.status == OrderStatus.PENDING_PAYMENT.value,
            )
            .order_by(OrderRow.id)
        )
        return [to_order(r) for r in rows]
