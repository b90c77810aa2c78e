"""History events of subscriptions, orders and businesses."""

from __future__ import annotations

import builtins
from collections.abc import Collection
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, and_, insert, or_, select

from domain.model import (
    EnterpriseId,
    HistoryEvent,
    HistoryEventId,
    OrderId,
    Page,
    SubscriptionId,
    UserId,
)
from storage.models import HistoryEventRow
from storage.repositories._common import SqlRepository, check_page, counted_page


def to_history_event(row: Any) -> HistoryEvent:
    return HistoryEvent(
        id=HistoryEventId(row.id),
        enterprise_id=EnterpriseId(row.enterprise_id) if row.enterprise_id is not None else None,
        subscription_id=SubscriptionId(row.subscription_id)
        if row.subscription_id is not None
        else None,
        order_id=OrderId(row.order_id) if row.order_id is not None else None,
        actor_id=UserId(row.actor_id) if row.actor_id is not None else None,
        action=row.action,
        details=dict(row.details or {}),
        created_at=row.created_at,
    )


#: the table, not the mapped class: a Core INSERT skips the ORM's bulk-insert machinery
_HISTORY = cast(Table, HistoryEventRow.__table__)
#: built once, the values as execution parameters (no statement, bound parameters nor type
#: objects made per call)
_ADD_EVENT = insert(_HISTORY).returning(_HISTORY.c.id)


class SqlHistoryRepository(SqlRepository):
    __slots__ = ()

    async def add(self, event: HistoryEvent) -> HistoryEvent:
        new_id = (
            await self._rows(
                _ADD_EVENT,
                {
                    "enterprise_id": event.enterprise_id,
                    "subscription_id": event.subscription_id,
                    "order_id": event.order_id,
                    "actor_id": event.actor_id,
                    "action": event.action,
                    "details": event.details,
                    "created_at": event.created_at,
                },
                insert=True,
            )
        )[0][0]
        return replace(event, id=HistoryEventId(new_id))

    async def list_for_order(self, order_id: OrderId) -> builtins.list[HistoryEvent]:
        rows = await self._session.scalars(
            select(HistoryEventRow)
            .where(HistoryEventRow.order_id == order_id)
            .order_by(HistoryEventRow.created_at, HistoryEventRow.id)
        )
        return [to_history_event(r) for r in rows]

    async def latest_of(
        self, actions: Collection[str], limit: int = 100
    ) -> builtins.list[HistoryEvent]:
        check_page(0, limit)
        rows = await self._session.scalars(
            select(HistoryEventRow)
            .where(HistoryEventRow.action.in_(sorted(actions)))
            .order_by(HistoryEventRow.id.desc())
            .limit(limit)
        )
        return [to_history_event(r) for r in rows]

    async def list_for_enterprise(
        self, enterprise_id: EnterpriseId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        stmt = (
            select(HistoryEventRow)
            .where(HistoryEventRow.enterprise_id == enterprise_id)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_history_event)

    async def list(
        self, subscription_id: SubscriptionId, offset: int = 0, limit: int = 10
    ) -> Page[HistoryEvent]:
        check_page(offset, limit)
        stmt = (
            select(HistoryEventRow)
            .where(HistoryEventRow.subscription_id == subscription_id)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        return await self._page(stmt, offset, limit, to_history_event)

    async def page_for_subscription(
        self,
        subscription_id: SubscriptionId,
        order_id: OrderId | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[HistoryEvent]:
        mine = HistoryEventRow.subscription_id == subscription_id
        if order_id is not None:
            before = and_(
                HistoryEventRow.order_id == order_id, HistoryEventRow.subscription_id.is_(None)
            )
            condition = or_(mine, before)
        else:
            condition = mine
        stmt = (
            select(HistoryEventRow)
            .where(condition)
            .order_by(HistoryEventRow.created_at.desc(), HistoryEventRow.id.desc())
        )
        page, _ = await counted_page(self._session, stmt, offset, limit, to_history_event)
        return page
