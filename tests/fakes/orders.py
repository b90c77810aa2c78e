"""Fake counters, orders, payment attempts and promotion usage (storage/repositories/orders.py)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from domain.model import (
    EnterpriseId,
    Order,
    OrderId,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptId,
    PaymentAttemptStatus,
    order_code,
    order_counter,
)
from tests.fakes.store import FakeRepository, as_stored, aware, aware_or_none, fresh

ORDER_JSON = (
    "addon_codes",
    "addon_promotions",
    "invoice_promotions",
    "quote",
    "invoice_info",
    "customer_info",
    "contact",
)


class FakeCounterRepository(FakeRepository):
    __slots__ = ()

    async def next(self, name: str) -> int:
        counters = (await self._t()).counters
        counters[name] = counters.get(name, 0) + 1
        return counters[name]

    async def current(self, name: str) -> int:
        return (await self._t()).counters.get(name, 0)


class FakeOrderRepository(FakeRepository):
    __slots__ = ()

    async def next_code(self, year: int) -> str:
        return order_code(year, await FakeCounterRepository(self._tx).next(order_counter(year)))

    async def add(self, order: Order) -> Order:
        t = await self._t()
        new_id = OrderId(self._store.next_id("orders"))
        existing = await self.by_idempotency_key(order.idempotency_key)
        if existing is not None:
            return existing
        if any(o.code == order.code for o in t.orders.values()):
            raise self._fail("unique orders.code")
        self._fk(t.enterprises, order.enterprise_id, "orders.enterprise_id")
        self._fk(t.users, order.registered_by, "orders.registered_by")
        stored = as_stored(replace(order, id=new_id), ORDER_JSON)
        t.orders[new_id] = stored
        return replace(order, id=new_id)

    async def get(self, order_id: OrderId, *, for_update: bool = False) -> Order | None:
        return fresh((await self._t()).orders.get(order_id))

    async def get_by_code(self, code: str) -> Order | None:
        rows = (await self._t()).orders.values()
        return fresh(next((o for o in rows if o.code == code), None))

    async def by_idempotency_key(self, key: str) -> Order | None:
        rows = (await self._t()).orders.values()
        return fresh(next((o for o in rows if o.idempotency_key == key), None))

    async def list_expired(self, now: datetime, limit: int = 100) -> list[Order]:
        rows = (await self._t()).orders.values()
        due = [
            o
            for o in rows
            if o.status is OrderStatus.PENDING_PAYMENT
            and o.expires_at is not None
            and o.expires_at <= now
        ]
        due.sort(key=lambda o: (o.expires_at, o.id))
        return [fresh(o) for o in due[:limit]]

    async def set_status(
        self,
        order_id: OrderId,
        status: OrderStatus,
        *,
        paid_at: datetime | None = None,
        expected: Collection[OrderStatus] | None = None,
    ) -> bool:
        t = await self._t()
        old = t.orders.get(order_id)
        if old is None or (expected is not None and old.status not in expected):
            return False
        changes: dict[str, Any] = {"status": status}
        if paid_at is not None:
            changes["paid_at"] = aware(paid_at)
        t.orders[order_id] = replace(old, **changes)
        return True


_OPEN = (PaymentAttemptStatus.CREATED, PaymentAttemptStatus.PENDING)
_NOT_SUCCESS = tuple(s for s in PaymentAttemptStatus if s is not PaymentAttemptStatus.SUCCESS)


class FakePaymentRepository(FakeRepository):
    __slots__ = ()

    async def add(self, attempt: PaymentAttempt) -> PaymentAttempt:
        t = await self._t()
        new_id = PaymentAttemptId(self._store.next_id("payment_attempts"))
        if any(a.merchant_order_id == attempt.merchant_order_id for a in t.payments.values()):
            raise self._fail("unique payment_attempts.merchant_order_id")
        self._fk(t.orders, attempt.order_id, "payment_attempts.order_id")
        stored = as_stored(replace(attempt, id=new_id))
        t.payments[new_id] = stored
        return replace(attempt, id=new_id)

    async def get(self, attempt_id: PaymentAttemptId) -> PaymentAttempt | None:
        return (await self._t()).payments.get(attempt_id)

    async def get_by_merchant_order_id(
        self, merchant_order_id: str, *, for_update: bool = False
    ) -> PaymentAttempt | None:
        rows = (await self._t()).payments.values()
        return next((a for a in rows if a.merchant_order_id == merchant_order_id), None)

    async def for_order(self, order_id: OrderId) -> list[PaymentAttempt]:
        rows = (await self._t()).payments.values()
        return sorted((a for a in rows if a.order_id == order_id), key=_by_creation)

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
        t = await self._t()
        old = t.payments.get(attempt_id)
        if old is None or (expected is not None and old.status not in expected):
            return False
        changes: dict[str, Any] = {"status": status}
        if response_code is not None:
            changes["response_code"] = response_code
        if transaction_id is not None:
            changes["transaction_id"] = transaction_id
        if completed_at is not None:
            changes["completed_at"] = aware(completed_at)
        t.payments[attempt_id] = replace(old, **changes)
        return True

    async def mark_pending(
        self, attempt_id: PaymentAttemptId, redirect_url: str, create_date: str
    ) -> bool:
        t = await self._t()
        old = t.payments.get(attempt_id)
        if old is None or old.status not in _OPEN:
            return False
        t.payments[attempt_id] = replace(
            old,
            status=PaymentAttemptStatus.PENDING,
            redirect_url=redirect_url,
            create_date=create_date,
        )
        return True

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
        t = await self._t()
        if attempt_id in t.payments:
            t.payments[attempt_id] = replace(t.payments[attempt_id], notified_at=aware(at))

    async def mark_queried(self, attempt_id: PaymentAttemptId, at: datetime) -> None:
        t = await self._t()
        old = t.payments.get(attempt_id)
        if old is not None:
            t.payments[attempt_id] = replace(
                old, last_queried_at=aware(at), query_count=old.query_count + 1
            )

    async def list_unnotified(self, older_than: datetime, limit: int = 100) -> list[PaymentAttempt]:
        rows = (await self._t()).payments.values()
        due = [
            a
            for a in rows
            if a.status in _OPEN
            and a.notified_at is None
            and a.created_at <= older_than
            and (a.last_queried_at is None or a.last_queried_at <= older_than)
        ]
        return sorted(due, key=_by_creation)[:limit]

    async def claim_success(
        self,
        attempt_id: PaymentAttemptId,
        order_id: OrderId,
        merchant_order_id: str,
        at: datetime,
    ) -> bool:
        t = await self._t()
        new_id = self._store.next_id("payment_applications")
        for attempt, order, moid, _ in t.applications.values():
            if attempt == attempt_id or order == order_id or moid == merchant_order_id:
                return False  # ON CONFLICT DO NOTHING, whichever unique constraint it is
        self._fk(t.payments, attempt_id, "payment_applications.payment_attempt_id")
        self._fk(t.orders, order_id, "payment_applications.order_id")
        t.applications[new_id] = (attempt_id, order_id, merchant_order_id, aware(at))
        return True


def _by_creation(attempt: PaymentAttempt) -> tuple[datetime, int]:
    return attempt.created_at, attempt.id


class FakePromotionUsageRepository(FakeRepository):
    __slots__ = ()

    async def usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        wanted = sorted(set(codes))
        totals = dict.fromkeys(wanted, 0)
        mine = dict.fromkeys(wanted, 0)
        if not wanted:
            return totals, mine
        for _, enterprise, code, _ in (await self._t()).redemptions.values():
            if code in totals:
                totals[code] += 1
                mine[code] += enterprise == enterprise_id
        return totals, mine

    async def lock(self, codes: Collection[str]) -> None:
        """Nothing to do: a fake transaction holds the whole store already."""
        await self._t()

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
        t = await self._t()
        when = aware_or_none(at) or datetime.now(UTC)
        taken = {(o, c) for o, _, c, _ in t.redemptions.values()}
        for code in wanted:
            new_id = self._store.next_id("promotion_redemptions")
            self._fk(t.orders, order_id, "promotion_redemptions.order_id")
            self._fk(t.enterprises, enterprise_id, "promotion_redemptions.enterprise_id")
            self._fk(t.catalog.promotions, code, "promotion_redemptions.promotion_code")
            if (order_id, code) not in taken:
                t.redemptions[new_id] = (order_id, enterprise_id, code, when)

    async def release(self, order_id: OrderId) -> int:
        t = await self._t()
        gone = [i for i, (o, *_) in t.redemptions.items() if o == order_id]
        for i in gone:
            del t.redemptions[i]
        return len(gone)
