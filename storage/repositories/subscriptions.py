"""Subscriptions."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any, cast

from sqlalchemy import Table, and_, insert, select, update

from domain.catalog import ServiceKind
from domain.model import (
    EnterpriseId,
    OrderId,
    OrderProgress,
    Page,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
    subscription_code,
    subscription_counter,
)
from storage.models import MembershipRow, SubscriptionRow, UserRow
from storage.repositories._common import SqlRepository, check_page, counted_page
from storage.repositories.accounts import to_user
from storage.repositories.orders import SqlCounterRepository

_NO_SYNC = {"synchronize_session": False}


def to_subscription(row: Any) -> Subscription:
    return Subscription(
        id=SubscriptionId(row.id),
        code=row.code,
        order_id=OrderId(row.order_id),
        enterprise_id=EnterpriseId(row.enterprise_id),
        service_code=row.service_code,
        plan_code=row.plan_code,
        cycle_code=row.cycle_code,
        quantity=row.quantity,
        addon_codes=tuple(row.addon_codes or ()),
        kind=ServiceKind(row.kind),
        status=SubscriptionStatus(row.status),
        progress=OrderProgress(row.progress) if row.progress is not None else None,
        registered_by=UserId(row.registered_by),
        created_at=row.created_at,
        started_at=row.started_at,
        current_period_start=row.current_period_start,
        current_period_end=row.current_period_end,
    )


def _subscription_changes(s: Subscription) -> dict[str, Any]:
    return {
        "quantity": s.quantity,
        "addon_codes": list(s.addon_codes),
        "status": s.status.value,
        "progress": s.progress.value if s.progress is not None else None,
        "started_at": s.started_at,
        "current_period_start": s.current_period_start,
        "current_period_end": s.current_period_end,
    }


#: the table, not the mapped class: a Core INSERT skips the ORM's bulk-insert machinery
_SUBSCRIPTIONS = cast(Table, SubscriptionRow.__table__)
#: built once, the values as execution parameters
_ADD_SUBSCRIPTION = insert(_SUBSCRIPTIONS).returning(_SUBSCRIPTIONS.c.id)


class SqlSubscriptionRepository(SqlRepository):
    __slots__ = ()

    async def next_code(self, year: int) -> str:
        counters = SqlCounterRepository(self._session)
        return subscription_code(year, await counters.next(subscription_counter(year)))

    async def add(self, subscription: Subscription) -> Subscription:
        s = subscription
        new_id = (
            await self._rows(
                _ADD_SUBSCRIPTION,
                {
                    "code": s.code,
                    "order_id": s.order_id,
                    "enterprise_id": s.enterprise_id,
                    "service_code": s.service_code,
                    "plan_code": s.plan_code,
                    "cycle_code": s.cycle_code,
                    "kind": s.kind.value,
                    "registered_by": s.registered_by,
                    "created_at": s.created_at,
                    **_subscription_changes(s),
                },
                insert=True,
            )
        )[0][0]
        return replace(s, id=SubscriptionId(new_id))

    async def get(
        self, subscription_id: SubscriptionId, *, for_update: bool = False
    ) -> Subscription | None:
        stmt = select(SubscriptionRow).where(SubscriptionRow.id == subscription_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_subscription(row) if row is not None else None

    async def get_by_code(self, code: str) -> Subscription | None:
        row = await self._session.scalar(
            select(SubscriptionRow).where(SubscriptionRow.code == code)
        )
        return to_subscription(row) if row is not None else None

    async def for_order(self, order_id: OrderId) -> list[Subscription]:
        rows = await self._session.scalars(
            select(SubscriptionRow)
            .where(SubscriptionRow.order_id == order_id)
            .order_by(SubscriptionRow.id)
        )
        return [to_subscription(r) for r in rows]

    async def list_for_enterprise(
        self,
        enterprise_id: EnterpriseId | Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        check_page(offset, limit)
        ids = [enterprise_id] if isinstance(enterprise_id, int) else list(enterprise_id)
        stmt = select(SubscriptionRow).where(SubscriptionRow.enterprise_id.in_(ids))
        if statuses is not None:
            stmt = stmt.where(SubscriptionRow.status.in_([s.value for s in statuses]))
        return await self._page(
            stmt.order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id.desc()),
            offset,
            limit,
            to_subscription,
        )

    async def update(self, subscription: Subscription) -> None:
        await self._session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription.id)
            .values(
                plan_code=subscription.plan_code,
                cycle_code=subscription.cycle_code,
                **_subscription_changes(subscription),
            )
            .execution_options(**_NO_SYNC)
        )

    async def get_for_user(
        self, subscription_id: SubscriptionId, user_id: UserId
    ) -> tuple[Subscription, User | None, Role | None] | None:
        stmt = (
            select(SubscriptionRow, UserRow, MembershipRow.role)
            .select_from(SubscriptionRow)
            .outerjoin(UserRow, UserRow.id == user_id)
            .outerjoin(
                MembershipRow,
                and_(
                    MembershipRow.enterprise_id == SubscriptionRow.enterprise_id,
                    MembershipRow.user_id == user_id,
                ),
            )
            .where(SubscriptionRow.id == subscription_id)
        )
        row = (await self._session.execute(stmt)).first()
        if row is None:
            return None
        sub_row, user_row, role = row
        return (
            to_subscription(sub_row),
            to_user(user_row) if user_row is not None else None,
            Role(role) if role is not None else None,
        )

    async def page_for_enterprises(
        self,
        enterprise_ids: Collection[EnterpriseId],
        statuses: Collection[SubscriptionStatus] | None = None,
        offset: int = 0,
        limit: int = 10,
    ) -> Page[Subscription]:
        ids = list(enterprise_ids)
        stmt = select(SubscriptionRow).where(SubscriptionRow.enterprise_id.in_(ids))
        if statuses:
            stmt = stmt.where(SubscriptionRow.status.in_([s.value for s in statuses]))
        stmt = stmt.order_by(SubscriptionRow.created_at.desc(), SubscriptionRow.id.desc())
        page, _ = await counted_page(self._session, stmt, offset, limit, to_subscription)
        return page
