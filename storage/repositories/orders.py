"""Counters, orders, payment attempts and promotion usage."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, or_, select, update
from sqlalchemy.sql.dml import Insert

from domain.catalog import ServiceKind
from domain.model import (
    EnterpriseId,
    Order,
    OrderId,
    OrderPurpose,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptId,
    PaymentAttemptStatus,
    PaymentMethod,
    SubscriptionId,
    UserId,
    order_code,
    order_counter,
)
from storage.models import (
    CounterRow,
    OrderRow,
    PaymentApplicationRow,
    PaymentAttemptRow,
    PromotionRedemptionRow,
    PromotionRow,
)
from storage.repositories._common import SqlRepository, per_dialect, rowcount, utcnow

_NO_SYNC = {"synchronize_session": False}


# Tables, not mapped classes, in the statements of placing an order: Core statements skip the
# ORM's bulk-insert machinery and entity loading.
_COUNTERS = cast(Table, CounterRow.__table__)
_ORDERS = cast(Table, OrderRow.__table__)
_ORDER_BY_KEY = select(_ORDERS).where(_ORDERS.c.idempotency_key == bindparam("key"))


def _next_counter(insert: Callable[[Table], Insert]) -> Any:
    stmt = insert(_COUNTERS).values(name=bindparam("counter"), value=1)
    return stmt.on_conflict_do_update(  # type: ignore[attr-defined]
        index_elements=[_COUNTERS.c.name], set_={"value": _COUNTERS.c.value + 1}
    ).returning(_COUNTERS.c.value)


def _add_order(insert: Callable[[Table], Insert]) -> Any:
    stmt = insert(_ORDERS).on_conflict_do_nothing(  # type: ignore[attr-defined]
        index_elements=[_ORDERS.c.idempotency_key]
    )
    return stmt.returning(_ORDERS.c.id)


# Built once: the values come as execution parameters. A statement built per call with its
# values (``.values(code=…)``) costs its construction, a bound parameter and a fresh type
# object per value, and the cache key of each (78 fresh type objects per order placed).
_NEXT_COUNTER = per_dialect(_next_counter)
_ADD_ORDER = per_dialect(_add_order)


class SqlCounterRepository(SqlRepository):
    """Named counters. ``next`` is one ``INSERT … ON CONFLICT DO UPDATE … RETURNING``: the row
    stays locked until the transaction ends, so concurrent callers queue and a rollback gives
    the value back (no gaps)."""

    __slots__ = ()

    async def next(self, name: str) -> int:
        rows = await self._rows(_NEXT_COUNTER[self._dialect], {"counter": name})
        return int(rows[0][0])

    async def current(self, name: str) -> int:
        value = await self._session.scalar(select(CounterRow.value).where(CounterRow.name == name))
        return int(value or 0)


def to_order(row: Any) -> Order:
    return Order(
        id=OrderId(row.id),
        code=row.code,
        enterprise_id=EnterpriseId(row.enterprise_id),
        registered_by=UserId(row.registered_by),
        service_code=row.service_code,
        plan_code=row.plan_code,
        cycle_code=row.cycle_code,
        quantity=row.quantity,
        addon_codes=tuple(row.addon_codes or ()),
        plan_promotion=row.plan_promotion,
        addon_promotions=dict(row.addon_promotions or {}),
        invoice_promotions=tuple(row.invoice_promotions or ()),
        kind=ServiceKind(row.kind),
        payment_method=PaymentMethod(row.payment_method),
        status=OrderStatus(row.status),
        total=row.total,
        quote=dict(row.quote or {}),
        invoice_info=dict(row.invoice_info or {}),
        customer_info=dict(row.customer_info or {}),
        contact=dict(row.contact or {}),
        idempotency_key=row.idempotency_key,
        locale=row.locale,
        chat_id=row.chat_id,
        created_at=row.created_at,
        expires_at=row.expires_at,
        paid_at=row.paid_at,
        purpose=OrderPurpose(row.purpose),
        subscription_id=SubscriptionId(row.subscription_id) if row.subscription_id else None,
    )


def _order_values(order: Order) -> dict[str, Any]:
    return {
        "code": order.code,
        "enterprise_id": order.enterprise_id,
        "registered_by": order.registered_by,
        "service_code": order.service_code,
        "plan_code": order.plan_code,
        "cycle_code": order.cycle_code,
        "quantity": order.quantity,
        "addon_codes": list(order.addon_codes),
        "plan_promotion": order.plan_promotion,
        "addon_promotions": dict(order.addon_promotions),
        "invoice_promotions": list(order.invoice_promotions),
        "kind": order.kind.value,
        "payment_method": order.payment_method.value,
        "status": order.status.value,
        "total": order.total,
        "quote": order.quote,
        "invoice_info": order.invoice_info,
        "customer_info": order.customer_info,
        "contact": order.contact,
        "idempotency_key": order.idempotency_key,
        "locale": order.locale,
        "chat_id": order.chat_id,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "purpose": order.purpose.value,
        "subscription_id": order.subscription_id,
    }


class SqlOrderRepository(SqlRepository):
    __slots__ = ()

    async def next_code(self, year: int) -> str:
        return order_code(year, await SqlCounterRepository(self._session).next(order_counter(year)))

    async def add(self, order: Order) -> Order:
        rows = await self._rows(_ADD_ORDER[self._dialect], _order_values(order), insert=True)
        if not rows:  # the idempotency key is taken
            existing = await self.by_idempotency_key(order.idempotency_key)
            assert existing is not None
            return existing
        return replace(order, id=OrderId(rows[0][0]))

    async def get(self, order_id: OrderId, *, for_update: bool = False) -> Order | None:
        stmt = select(OrderRow).where(OrderRow.id == order_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_order(row) if row is not None else None

    async def get_by_code(self, code: str) -> Order | None:
        row = await self._session.scalar(select(OrderRow).where(OrderRow.code == code))
        return to_order(row) if row is not None else None

    async def by_idempotency_key(self, key: str) -> Order | None:
        rows = await self._rows(_ORDER_BY_KEY, {"key": key})
        return to_order(rows[0]) if rows else None

    async def list_expired(self, now: datetime, limit: int = 100) -> list[Order]:
        rows = await self._session.scalars(
            select(OrderRow)
            .where(
                OrderRow.status == OrderStatus.PENDING_PAYMENT.value,
                OrderRow.expires_at.is_not(None),
                OrderRow.expires_at <= now,
            )
            .order_by(OrderRow.expires_at, OrderRow.id)
            .limit(limit)
        )
        return [to_order(r) for r in rows]

    async def set_status(
        self,
        order_id: OrderId,
        status: OrderStatus,
        *,
        paid_at: datetime | None = None,
        expected: Collection[OrderStatus] | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": status.value}
        if paid_at is not None:
            values["paid_at"] = paid_at
        stmt = update(OrderRow).where(OrderRow.id == order_id)
        if expected is not None:
            stmt = stmt.where(OrderRow.status.in_([s.value for s in expected]))
        result = await self._session.execute(stmt.values(values).execution_options(**_NO_SYNC))
        return rowcount(result) > 0


def to_attempt(row: Any) -> PaymentAttempt:
    return PaymentAttempt(
        id=PaymentAttemptId(row.id),
        order_id=OrderId(row.order_id),
        merchant_order_id=row.merchant_order_id,
        amount=row.amount,
        method=PaymentMethod(row.method),
        status=PaymentAttemptStatus(row.status),
        redirect_url=row.redirect_url,
        create_date=row.create_date,
        transaction_id=row.transaction_id,
        response_code=row.response_code,
        created_at=row.created_at,
        notified_at=row.notified_at,
        last_queried_at=row.last_queried_at,
        query_count=row.query_count,
        completed_at=row.completed_at,
    )


_OPEN = (PaymentAttemptStatus.CREATED, PaymentAttemptStatus.PENDING)
_NOT_SUCCESS = tuple(s for s in PaymentAttemptStatus if s is not PaymentAttemptStatus.SUCCESS)


class SqlPaymentRepository(SqlRepository):
    __slots__ = ()

    async def add(self, attempt: PaymentAttempt) -> PaymentAttempt:
        stmt = (
            self._insert(PaymentAttemptRow)
            .values(
                order_id=attempt.order_id,
                merchant_order_id=attempt.merchant_order_id,
                amount=attempt.amount,
                method=attempt.method.value,
                status=attempt.status.value,
                redirect_url=attempt.redirect_url,
                create_date=attempt.create_date,
                transaction_id=attempt.transaction_id,
                response_code=attempt.response_code,
                created_at=attempt.created_at,
                notified_at=attempt.notified_at,
                last_queried_at=attempt.last_queried_at,
                query_count=attempt.query_count,
                completed_at=attempt.completed_at,
            )
            .returning(PaymentAttemptRow.id)
        )
        new_id = (await self._session.execute(stmt)).scalar_one()
        return replace(attempt, id=PaymentAttemptId(new_id))

    async def get(self, attempt_id: PaymentAttemptId) -> PaymentAttempt | None:
        row = await self._session.scalar(
            select(PaymentAttemptRow).where(PaymentAttemptRow.id == attempt_id)
        )
        return to_attempt(row) if row is not None else None

    async def get_by_merchant_order_id(
        self, merchant_order_id: str, *, for_update: bool = False
    ) -> PaymentAttempt | None:
        stmt = select(PaymentAttemptRow).where(
            PaymentAttemptRow.merchant_order_id == merchant_order_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        row = await self._session.scalar(stmt)
        return to_attempt(row) if row is not None else None

    async def for_order(self, order_id: OrderId) -> list[PaymentAttempt]:
        rows = await self._session.scalars(
            select(PaymentAttemptRow)
            .where(PaymentAttemptRow.order_id == order_id)
            .order_by(PaymentAttemptRow.created_at, PaymentAttemptRow.id)
        )
        return [to_attempt(r) for r in rows]

    async def set_status(
        self,
        attempt_id: PaymentAttemptId,
        status: PaymentAttemptStatus,
        *,
        response_code: str | None = None,
        transaction_id: str | None = None,
        completed_at: datetime | None = None,
        expected: Collection[PaymentAttemptStatus] | None = None,
    ) -> bool:
        values: dict[str, Any] = {"status": status.value}
        if response_code is not None:
            values["response_code"] = response_code
        if transaction_id is not None:
            values["transaction_id"] = transaction_id
        if completed_at is not None:
            values["completed_at"] = completed_at
        stmt = update(PaymentAttemptRow).where(PaymentAttemptRow.id == attempt_id)
        if expected is not None:
            stmt = stmt.where(PaymentAttemptRow.status.in_([s.value for s in expected]))
        result = await self._session.execute(stmt.values(values).execution_options(**_NO_SYNC))
        return rowcount(result) > 0

    async def mark_pending(
        self, attempt_id: PaymentAttemptId, redirect_url: str, create_date: str
    ) -> bool:
        result = await self._session.execute(
            update(PaymentAttemptRow)
            .where(
                PaymentAttemptRow.id == attempt_id,
                PaymentAttemptRow.status.in_([s.value for s in _OPEN]),
            )
            .values(
                status=PaymentAttemptStatus.PENDING.value,
                redirect_url=redirect_url,
                create_date=create_date,
            )
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result) > 0

    async def mark_success(
        self,
        attempt_id: PaymentAttemptId,
        *,
        transaction_id: str | None,
        response_code: str | None,
        at: datetime,
    ) -> bool:
        return await self.set_status(
            attempt_id,
            PaymentAttemptStatus.SUCCESS,
            transaction_id=transaction_id,
            response_code=response_code,
            completed_at=at,
            expected=_NOT_SUCCESS,
        )

    async def mark_failed(
        self, attempt_id: PaymentAttemptId, *, response_code: str | None, at: datetime
    ) -> bool:
        return await self.set_status(
            attempt_id,
            PaymentAttemptStatus.FAILED,
            response_code=response_code,
            completed_at=at,
            expected=_OPEN,
        )

    async def mark_cancelled(
        self, attempt_id: PaymentAttemptId, *, response_code: str | None, at: datetime
    ) -> bool:
        return await self.set_status(
            attempt_id,
            PaymentAttemptStatus.CANCELLED,
            response_code=response_code,
            completed_at=at,
            expected=_OPEN,
        )

    async def mark_expired(self, attempt_id: PaymentAttemptId, *, at: datetime) -> bool:
        return await self.set_status(
            attempt_id, PaymentAttemptStatus.EXPIRED, completed_at=at, expected=_OPEN
        )

    async def mark_notified(self, attempt_id: PaymentAttemptId, at: datetime) -> None:
        await self._session.execute(
            update(PaymentAttemptRow)
            .where(PaymentAttemptRow.id == attempt_id)
            .values(notified_at=at)
            .execution_options(**_NO_SYNC)
        )

    async def mark_queried(self, attempt_id: PaymentAttemptId, at: datetime) -> None:
        await self._session.execute(
            update(PaymentAttemptRow)
            .where(PaymentAttemptRow.id == attempt_id)
            .values(last_queried_at=at, query_count=PaymentAttemptRow.query_count + 1)
            .execution_options(**_NO_SYNC)
        )

    async def list_unnotified(self, older_than: datetime, limit: int = 100) -> list[PaymentAttempt]:
        rows = await self._session.scalars(
            select(PaymentAttemptRow)
            .where(
                PaymentAttemptRow.status.in_([s.value for s in _OPEN]),
                PaymentAttemptRow.notified_at.is_(None),
                PaymentAttemptRow.created_at <= older_than,
                or_(
                    PaymentAttemptRow.last_queried_at.is_(None),
                    PaymentAttemptRow.last_queried_at <= older_than,
                ),
            )
            .order_by(PaymentAttemptRow.created_at, PaymentAttemptRow.id)
            .limit(limit)
        )
        return [to_attempt(r) for r in rows]

    async def claim_success(
        self,
        attempt_id: PaymentAttemptId,
        order_id: OrderId,
        merchant_order_id: str,
        at: datetime,
    ) -> bool:
        stmt = (
            self._insert(PaymentApplicationRow)
            .values(
                payment_attempt_id=attempt_id,
                order_id=order_id,
                merchant_order_id=merchant_order_id,
                applied_at=at,
            )
            .on_conflict_do_nothing()
            .returning(PaymentApplicationRow.id)
        )
        return (await self._session.execute(stmt)).scalar_one_or_none() is not None


_REDEMPTIONS = cast(Table, PromotionRedemptionRow.__table__)
#: read before every quote of the registration: built once (no construction nor cache key)
USAGE = (
    select(
        _REDEMPTIONS.c.promotion_code,
        func.count(),
        func.sum(case((_REDEMPTIONS.c.enterprise_id == bindparam("enterprise_id"), 1), else_=0)),
    )
    .where(_REDEMPTIONS.c.promotion_code.in_(bindparam("codes", expanding=True)))
    .group_by(_REDEMPTIONS.c.promotion_code)
)


def to_usage(wanted: Collection[str], rows: Iterable[Any]) -> tuple[dict[str, int], dict[str, int]]:
    """The uses of each code of ``wanted`` in all and by the business, from the rows of
    :data:`USAGE` (0 for a code without rows)."""
    totals = dict.fromkeys(wanted, 0)
    mine = dict.fromkeys(wanted, 0)
    for code, total, by_enterprise in rows:
        totals[code] = int(total)
        mine[code] = int(by_enterprise or 0)
    return totals, mine


class SqlPromotionUsageRepository(SqlRepository):
    """A use of a promotion is a ``promotion_redemptions`` row: one per order and code, taken
    when the order is placed and given back (deleted) when the order expires or is cancelled."""

    __slots__ = ()

    async def usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}, {}
        rows = await self._rows(USAGE, {"codes": wanted, "enterprise_id": enterprise_id})
        return to_usage(wanted, rows)

    async def lock(self, codes: Collection[str]) -> None:
        """``SELECT … FOR UPDATE`` on PostgreSQL, in code order (no deadlocks); on SQLite every
        transaction already holds the database's write lock (``BEGIN IMMEDIATE``)."""
        if not codes or not self._is_postgresql:
            return
        await self._session.execute(
            select(PromotionRow.code)
            .where(PromotionRow.code.in_(sorted(set(codes))))
            .order_by(PromotionRow.code)
            .with_for_update()
        )

    async def redeem(
        self,
        order_id: OrderId,
        enterprise_id: EnterpriseId,
        codes: Collection[str],
        at: datetime | None = None,
    ) -> None:
        wanted = list(dict.fromkeys(codes))
        if not wanted:
            return
        when = at or utcnow()
        stmt = (
            self._insert(PromotionRedemptionRow)
            .values(
                [
                    {
                        "order_id": order_id,
                        "enterprise_id": enterprise_id,
                        "promotion_code": code,
                        "created_at": when,
                    }
                    for code in wanted
                ]
            )
            .on_conflict_do_nothing(
                index_elements=[
                    PromotionRedemptionRow.order_id,
                    PromotionRedemptionRow.promotion_code,
                ]
            )
        )
        await self._session.execute(stmt)

    async def release(self, order_id: OrderId) -> int:
        result = await self._session.execute(
            delete(PromotionRedemptionRow)
            .where(PromotionRedemptionRow.order_id == order_id)
            .execution_options(**_NO_SYNC)
        )
        return rowcount(result)
