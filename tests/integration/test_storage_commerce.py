"""Counters, orders, payments, promotion usage, subscriptions, invoices, memos, employees,
history, invitations and join requests, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from domain.catalog import ServiceKind
from domain.model import (
    Employee,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invitation,
    Invoice,
    InvoiceId,
    InvoiceStatus,
    JoinRequest,
    JoinRequestStatus,
    Memo,
    MemoKind,
    MemoStatus,
    Order,
    OrderProgress,
    OrderStatus,
    PaymentAttempt,
    PaymentAttemptStatus,
    PaymentMethod,
    Role,
    Subscription,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)
from storage.db import Database, SqlUnitOfWork
from storage.models import OrderRow, PaymentApplicationRow
from tests.integration.test_storage_accounts import StatementLog
from tests.integration.test_storage_catalog import sample_catalog

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
CANCELLED = SubscriptionStatus.CANCELLED
AGENT = UserId(7001)


async def seed(uow: SqlUnitOfWork, *tax_codes: str) -> list[EnterpriseId]:
    """A user, the sample catalog (for promotion codes) and one enterprise per tax code."""
    async with uow:
        await uow.users.upsert(User(id=AGENT, first_name="Agent", created_at=NOW))
        await uow.catalog.replace(sample_catalog())
        ids = [
            (await uow.enterprises.add(Enterprise(tax_code=t, name=t, created_at=NOW))).id
            for t in tax_codes
        ]
        await uow.commit()
    return ids


def make_order(enterprise_id: EnterpriseId, key: str, **fields: object) -> Order:
    values: dict[str, object] = {
        "code": f"DH-2026-{key}",
        "enterprise_id": enterprise_id,
        "registered_by": AGENT,
        "service_code": "SMARTCA",
        "plan_code": "SMARTCA-BASIC",
        "cycle_code": "M12",
        "kind": ServiceKind.ON,
        "payment_method": PaymentMethod.VNPTPAY,
        "total": 1_782_000,
        "idempotency_key": key,
        "created_at": NOW,
    }
    values.update(fields)
    return Order(**values)  # type: ignore[arg-type]


async def add_order(uow: SqlUnitOfWork, order: Order) -> Order:
    async with uow:
        stored = await uow.orders.add(order)
        await uow.commit()
    return stored


def make_subscription(order: Order, code: str, **fields: object) -> Subscription:
    values: dict[str, object] = {
        "code": code,
        "order_id": order.id,
        "enterprise_id": order.enterprise_id,
        "service_code": order.service_code,
        "plan_code": order.plan_code,
        "cycle_code": order.cycle_code,
        "kind": order.kind,
        "registered_by": order.registered_by,
        "created_at": NOW,
    }
    values.update(fields)
    return Subscription(**values)  # type: ignore[arg-type]


def make_invoice(order: Order, **fields: object) -> Invoice:
    values: dict[str, object] = {
        "order_id": order.id,
        "enterprise_id": order.enterprise_id,
        "payment_method": order.payment_method,
        "subtotal": 1_800_000,
        "discount_total": 180_000,
        "vat_total": 162_000,
        "total": 1_782_000,
        "created_at": NOW,
        "lines": {"lines": [{"code": "SMARTCA-BASIC", "total": 1_620_000}]},
    }
    values.update(fields)
    return Invoice(**values)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# Counters


async def test_counters_are_gap_free_and_rolled_back_with_the_transaction(
    uow: SqlUnitOfWork,
) -> None:
    async with uow:
        assert await uow.counters.current("x") == 0
        assert [await uow.counters.next("x") for _ in range(3)] == [1, 2, 3]
        assert await uow.counters.next("y") == 1
        await uow.commit()
    async with uow:
        assert await uow.counters.next("x") == 4
        # no commit: the 4 is given back
    async with uow:
        assert await uow.counters.current("x") == 3
        assert await uow.counters.next("x") == 4
        assert await uow.orders.next_code(2026) == "DH-2026-000001"
        assert await uow.orders.next_code(2026) == "DH-2026-000002"
        assert await uow.orders.next_code(2027) == "DH-2027-000001"
        assert await uow.subscriptions.next_code(2026) == "TB-2026-000001"


# ---------------------------------------------------------------------------------------------
# Orders


async def test_orders_round_trip(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = make_order(
        ent,
        "k1",
        quantity=3,
        addon_codes=("SMARTCA-TSA", "SMARTCA-SETUP"),
        plan_promotion="KM-SMARTCA10",
        addon_promotions={"SMARTCA-TSA": "KM-TSA"},
        invoice_promotions=("KM-HD50K",),
        quote={"total": 1_782_000, "lines": [{"code": "SMARTCA-BASIC", "vat": "10%"}]},
        invoice_info={"company_name": "Công ty ABC", "tax_code": "0100233488"},
        customer_info={"name": "Công ty ABC"},
        contact={"name": "Nguyễn Văn An", "phone": "+84912345678", "email": "an@abc.vn"},
        locale="en",
        chat_id=-100123456789,
        expires_at=NOW + timedelta(minutes=30),
    )
    stored = await add_order(uow, order)
    assert stored.id > 0
    assert stored == replace(order, id=stored.id)
    assert stored.promotion_codes == ("KM-SMARTCA10", "KM-TSA", "KM-HD50K")
    async with uow:
        assert await uow.orders.get(stored.id) == stored
        assert await uow.orders.get(stored.id, for_update=True) == stored
        assert await uow.orders.get_by_code("DH-2026-k1") == stored
        assert await uow.orders.by_idempotency_key("k1") == stored
        assert await uow.orders.get_by_code("nope") is None
        assert await uow.orders.by_idempotency_key("nope") is None


async def test_the_idempotency_key_makes_one_order(database: Database, uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    first = await add_order(uow, make_order(ent, "tap", code="DH-2026-000001"))
    second = await add_order(uow, make_order(ent, "tap", code="DH-2026-000002", total=1))
    assert second == first

    async def place(code: str) -> Order:
        async with uow:
            stored = await uow.orders.add(make_order(ent, "double", code=code))
            await asyncio.sleep(0.05)
            await uow.commit()
        return stored

    results = await asyncio.gather(*(place(f"DH-2026-00001{i}") for i in range(3)))
    assert len({r.id for r in results}) == 1
    assert len({r.code for r in results}) == 1

    async with database.engine.connect() as connection:  # the database itself refuses it
        with pytest.raises(IntegrityError):
            values = {
                "code": "DH-X",
                "enterprise_id": ent,
                "registered_by": AGENT,
                "service_code": "S",
                "plan_code": "P",
                "cycle_code": "C",
                "quantity": 1,
                "addon_codes": [],
                "addon_promotions": {},
                "invoice_promotions": [],
                "kind": "ON",
                "payment_method": "VNPTPAY",
                "status": "PAID",
                "total": 1,
                "quote": {},
                "invoice_info": {},
                "customer_info": {},
                "contact": {},
                "idempotency_key": "tap",
                "locale": "vi",
                "created_at": NOW,
            }
            await connection.execute(insert(OrderRow).values(values))


async def test_expired_orders_and_conditional_status(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    due = await add_order(uow, make_order(ent, "a", expires_at=NOW - timedelta(minutes=1)))
    exact = await add_order(uow, make_order(ent, "b", expires_at=NOW))
    await add_order(uow, make_order(ent, "c", expires_at=NOW + timedelta(seconds=1)))
    await add_order(uow, make_order(ent, "d"))  # cash: never expires
    paid = await add_order(
        uow, make_order(ent, "e", expires_at=NOW - timedelta(hours=1), status=OrderStatus.PAID)
    )
    async with uow:
        assert [o.id for o in await uow.orders.list_expired(NOW)] == [due.id, exact.id]
        assert [o.id for o in await uow.orders.list_expired(NOW, limit=1)] == [due.id]
        assert (
            await uow.orders.set_status(
                due.id, OrderStatus.EXPIRED, expected=[OrderStatus.PENDING_PAYMENT]
            )
            is True
        )
        assert (
            await uow.orders.set_status(
                paid.id, OrderStatus.EXPIRED, expected=[OrderStatus.PENDING_PAYMENT]
            )
            is False
        )
        assert (
            await uow.orders.set_status(exact.id, OrderStatus.PAID, paid_at=NOW, expected=None)
            is True
        )
        await uow.commit()
    async with uow:
        assert await uow.orders.list_expired(NOW) == []
        stored_exact = await uow.orders.get(exact.id)
        stored_paid = await uow.orders.get(paid.id)
        stored_due = await uow.orders.get(due.id)
    assert stored_exact is not None and stored_exact.status is OrderStatus.PAID
    assert stored_exact.paid_at == NOW
    assert stored_paid is not None and stored_paid.status is OrderStatus.PAID
    assert stored_due is not None and stored_due.status is OrderStatus.EXPIRED


# ---------------------------------------------------------------------------------------------
# Payments


def attempt(order: Order, moid: str, **fields: object) -> PaymentAttempt:
    values: dict[str, object] = {
        "order_id": order.id,
        "merchant_order_id": moid,
        "amount": order.total,
        "method": PaymentMethod.VNPTPAY,
        "created_at": NOW,
    }
    values.update(fields)
    return PaymentAttempt(**values)  # type: ignore[arg-type]


async def test_payment_attempts_lifecycle(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    async with uow:
        first = await uow.payments.add(attempt(order, "DH2026000001-1"))
        second = await uow.payments.add(
            attempt(order, "DH2026000001-2", created_at=NOW + timedelta(minutes=1))
        )
        await uow.commit()
    assert first == attempt(order, "DH2026000001-1", id=first.id)

    async with uow:
        assert await uow.payments.mark_pending(first.id, "https://pay/1", "20260301153000")
        assert await uow.payments.mark_failed(first.id, response_code="01", at=NOW)
        assert not await uow.payments.mark_pending(first.id, "https://pay/x", "x")  # not open
        assert not await uow.payments.mark_cancelled(first.id, response_code="70", at=NOW)
        await uow.payments.mark_notified(first.id, NOW)
        await uow.payments.mark_queried(second.id, NOW)
        await uow.payments.mark_queried(second.id, NOW + timedelta(minutes=2))
        assert await uow.payments.mark_success(
            second.id, transaction_id="TX9", response_code="00", at=NOW + timedelta(minutes=3)
        )
        assert not await uow.payments.mark_success(
            second.id, transaction_id="TX10", response_code="00", at=NOW
        )
        assert not await uow.payments.mark_expired(second.id, at=NOW)
        await uow.commit()

    async with uow:
        stored_first = await uow.payments.get(first.id)
        stored_second = await uow.payments.get_by_merchant_order_id(
            "DH2026000001-2", for_update=True
        )
        assert await uow.payments.get_by_merchant_order_id("nope") is None
        assert [a.id for a in await uow.payments.for_order(order.id)] == [first.id, second.id]
    assert stored_first == replace(
        first,
        status=PaymentAttemptStatus.FAILED,
        redirect_url="https://pay/1",
        create_date="20260301153000",
        response_code="01",
        notified_at=NOW,
        completed_at=NOW,
    )
    assert stored_second == replace(
        second,
        status=PaymentAttemptStatus.SUCCESS,
        transaction_id="TX9",
        response_code="00",
        last_queried_at=NOW + timedelta(minutes=2),
        query_count=2,
        completed_at=NOW + timedelta(minutes=3),
    )


async def test_unnotified_attempts_to_query(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    cutoff = NOW + timedelta(minutes=5)
    async with uow:
        old = await uow.payments.add(attempt(order, "m-old"))
        pending = await uow.payments.add(attempt(order, "m-pending"))
        await uow.payments.mark_pending(pending.id, "https://pay", "20260301153000")
        recent = await uow.payments.add(attempt(order, "m-recent", created_at=cutoff))
        await uow.payments.add(attempt(order, "m-new", created_at=cutoff + timedelta(seconds=1)))
        notified = await uow.payments.add(attempt(order, "m-notified"))
        await uow.payments.mark_notified(notified.id, NOW)
        queried = await uow.payments.add(attempt(order, "m-queried"))
        await uow.payments.mark_queried(queried.id, cutoff + timedelta(seconds=1))
        done = await uow.payments.add(attempt(order, "m-done"))
        await uow.payments.mark_expired(done.id, at=NOW)
        await uow.commit()
    async with uow:
        due = await uow.payments.list_unnotified(cutoff)
        assert [a.id for a in await uow.payments.list_unnotified(cutoff, limit=1)] == [old.id]
    assert [a.merchant_order_id for a in due] == ["m-old", "m-pending", "m-recent"]
    assert due[2].id == recent.id


async def test_a_success_is_applied_once_per_merchant_order_id_and_per_order(
    database: Database, uow: SqlUnitOfWork
) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    other = await add_order(uow, make_order(ent, "k2"))
    async with uow:
        a1 = await uow.payments.add(attempt(order, "m1"))
        a2 = await uow.payments.add(attempt(order, "m2"))
        b1 = await uow.payments.add(attempt(other, "n1"))
        await uow.commit()

    async with uow:
        assert await uow.payments.claim_success(a1.id, order.id, "m1", NOW) is True
        assert await uow.payments.claim_success(a1.id, order.id, "m1", NOW) is False  # repeat
        assert await uow.payments.claim_success(a2.id, order.id, "m2", NOW) is False  # same order
        assert await uow.payments.claim_success(b1.id, other.id, "n1", NOW) is True
        await uow.commit()

    for values in (
        {"payment_attempt_id": a2.id, "order_id": other.id, "merchant_order_id": "m1"},
        {"payment_attempt_id": a2.id, "order_id": order.id, "merchant_order_id": "m2"},
    ):
        async with database.engine.connect() as connection:
            with pytest.raises(IntegrityError):
                await connection.execute(
                    insert(PaymentApplicationRow).values(applied_at=NOW, **values)
                )


async def test_concurrent_claims_apply_one_success(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    async with uow:
        a1 = await uow.payments.add(attempt(order, "m1"))
        await uow.commit()

    async def claim() -> bool:
        async with uow:
            first = await uow.payments.claim_success(a1.id, order.id, "m1", NOW)
            await asyncio.sleep(0.05)
            await uow.commit()
        return first

    assert sorted(await asyncio.gather(*(claim() for _ in range(4)))) == [
        False,
        False,
        False,
        True,
    ]


# ---------------------------------------------------------------------------------------------
# Promotion usage


async def test_promotion_usage_counts_total_and_per_enterprise(
    database: Database, uow: SqlUnitOfWork
) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    o1 = await add_order(uow, make_order(ent_a, "1"))
    o2 = await add_order(uow, make_order(ent_a, "2"))
    o3 = await add_order(uow, make_order(ent_b, "3"))
    codes = ["KM-SMARTCA10", "KM-HD50K", "KM-TSA"]
    async with uow:
        assert await uow.promotions.usage(codes, ent_a) == (dict.fromkeys(codes, 0),) * 2
        await uow.promotions.lock(codes)
        await uow.promotions.redeem(o1.id, ent_a, ["KM-SMARTCA10", "KM-HD50K", "KM-HD50K"])
        await uow.promotions.redeem(o1.id, ent_a, ["KM-SMARTCA10"])  # once per order
        await uow.promotions.redeem(o2.id, ent_a, ["KM-HD50K"], at=NOW)
        await uow.promotions.redeem(o3.id, ent_b, ["KM-HD50K", "KM-TSA"])
        await uow.promotions.redeem(o3.id, ent_b, [])
        await uow.commit()

    async with uow:
        with StatementLog(database) as log:
            totals, mine = await uow.promotions.usage(codes, ent_a)
        assert len(log.statements) == 1
        assert await uow.promotions.usage([], ent_a) == ({}, {})
    assert totals == {"KM-SMARTCA10": 1, "KM-HD50K": 3, "KM-TSA": 1}
    assert mine == {"KM-SMARTCA10": 1, "KM-HD50K": 2, "KM-TSA": 0}

    async with uow:
        assert await uow.promotions.release(o1.id) == 2
        assert await uow.promotions.release(o1.id) == 0
        await uow.commit()
    async with uow:
        totals, mine = await uow.promotions.usage(codes, ent_b)
    assert totals == {"KM-SMARTCA10": 0, "KM-HD50K": 2, "KM-TSA": 1}
    assert mine == {"KM-SMARTCA10": 0, "KM-HD50K": 1, "KM-TSA": 1}


@pytest.mark.postgres
async def test_promotion_lock_makes_quota_checks_wait(pg_db_url: str) -> None:
    """Row locks are PostgreSQL's; on SQLite every transaction holds the database write lock."""
    database = Database(pg_db_url)
    try:
        await _check_promotion_lock(database.uow)
    finally:
        await database.dispose()


async def _check_promotion_lock(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "1"))
    events: list[str] = []
    first_locked = asyncio.Event()

    async def first() -> None:
        async with uow:
            await uow.promotions.lock(["KM-HD50K"])
            first_locked.set()
            await asyncio.sleep(0.2)
            await uow.promotions.redeem(order.id, ent, ["KM-HD50K"])
            events.append("first commits")
            await uow.commit()

    async def second() -> int:
        await first_locked.wait()
        async with uow:
            await uow.promotions.lock(["KM-HD50K", "KM-TSA"])
            events.append("second locked")
            totals, _ = await uow.promotions.usage(["KM-HD50K"], ent)
        return totals["KM-HD50K"]

    _, seen = await asyncio.gather(first(), second())
    assert events == ["first commits", "second locked"]
    assert seen == 1  # the second check sees the first one's use


# ---------------------------------------------------------------------------------------------
# Subscriptions


async def test_subscriptions_round_trip_and_update(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k", kind=ServiceKind.OS))
    sub = make_subscription(
        order,
        "TB-2026-000001",
        kind=ServiceKind.OS,
        progress=OrderProgress.ORDERED,
        quantity=2,
        addon_codes=("SMARTCA-TSA",),
    )
    async with uow:
        stored = await uow.subscriptions.add(sub)
        await uow.commit()
    assert stored == replace(sub, id=stored.id)
    moved = replace(
        stored,
        status=SubscriptionStatus.ACTIVE,
        progress=OrderProgress.DEPLOYING,
        started_at=NOW,
        current_period_start=NOW,
        current_period_end=NOW + timedelta(days=365),
        quantity=3,
        addon_codes=(),
    )
    async with uow:
        await uow.subscriptions.update(moved)
        await uow.commit()
    async with uow:
        assert await uow.subscriptions.get(stored.id) == moved
        assert await uow.subscriptions.get(stored.id, for_update=True) == moved
        assert await uow.subscriptions.get_by_code("TB-2026-000001") == moved
        assert await uow.subscriptions.get_by_code("TB-0") is None
        assert await uow.subscriptions.get(SubscriptionId(stored.id + 1)) is None
        assert await uow.subscriptions.for_order(order.id) == [moved]


async def test_subscription_pages_with_counts_in_two_queries(
    database: Database, uow: SqlUnitOfWork
) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    order_a = await add_order(uow, make_order(ent_a, "a"))
    order_b = await add_order(uow, make_order(ent_b, "b"))
    async with uow:
        for i in range(7):
            await uow.subscriptions.add(
                make_subscription(
                    order_a,
                    f"TB-A-{i}",
                    created_at=NOW + timedelta(minutes=i),
                    status=SubscriptionStatus.CANCELLED
                    if i % 3 == 0
                    else SubscriptionStatus.ACTIVE,
                )
            )
        await uow.subscriptions.add(make_subscription(order_b, "TB-B-0"))
        await uow.commit()

    async with uow:
        with StatementLog(database) as log:
            first = await uow.subscriptions.list_for_enterprise(ent_a, offset=0, limit=3)
        assert len(log.statements) == 2
        last = await uow.subscriptions.list_for_enterprise(ent_a, offset=6, limit=3)
        beyond = await uow.subscriptions.list_for_enterprise(ent_a, offset=9, limit=3)
        active = await uow.subscriptions.list_for_enterprise(
            ent_a, statuses=[SubscriptionStatus.ACTIVE], limit=10
        )
        both = await uow.subscriptions.list_for_enterprise([ent_a, ent_b], limit=20)
        none = await uow.subscriptions.list_for_enterprise(EnterpriseId(ent_a + ent_b))
        with pytest.raises(ValueError, match="offset"):
            await uow.subscriptions.list_for_enterprise(ent_a, limit=0)

    assert [s.code for s in first.items] == ["TB-A-6", "TB-A-5", "TB-A-4"]  # newest first
    assert (first.total, first.has_next, first.has_previous) == (7, True, False)
    assert [s.code for s in last.items] == ["TB-A-0"]
    assert (last.total, last.has_next, last.has_previous) == (7, False, True)
    assert beyond.items == () and beyond.total == 7
    assert [s.code for s in active.items] == ["TB-A-5", "TB-A-4", "TB-A-2", "TB-A-1"]
    assert active.total == 4
    assert both.total == 8 and len(both.items) == 8
    assert none.items == () and none.total == 0


# ---------------------------------------------------------------------------------------------
# Invoices


async def test_invoices_round_trip_and_numbering(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    async with uow:
        sub = await uow.subscriptions.add(make_subscription(order, "TB-1"))
        invoice = await uow.invoices.add(make_invoice(order, status=InvoiceStatus.WAITING))
        other = await uow.invoices.add(make_invoice(order))
        await uow.commit()
    assert invoice == replace(make_invoice(order, status=InvoiceStatus.WAITING), id=invoice.id)

    async with uow:
        assert await uow.invoices.assign_number(invoice.id, 2026) == "HD2026-000001"
        assert await uow.invoices.assign_number(invoice.id, 2026) == "HD2026-000001"  # kept
        assert await uow.invoices.assign_number(other.id, 2026) == "HD2026-000002"
        with pytest.raises(LookupError):
            await uow.invoices.assign_number(InvoiceId(other.id + 100), 2026)
        await uow.commit()

    paid = replace(
        invoice,
        number="HD2026-000001",
        subscription_id=sub.id,
        status=InvoiceStatus.PAID,
        issued_at=NOW,
        paid_at=NOW,
        confirmed_by=AGENT,
    )
    async with uow:
        await uow.invoices.update(paid)
        await uow.invoices.set_status(
            other.id, InvoiceStatus.OUT_OF_DATE, paid_at=None, confirmed_by=None
        )
        await uow.commit()
    async with uow:
        assert await uow.invoices.get(invoice.id) == paid
        assert await uow.invoices.get(invoice.id, for_update=True) == paid
        assert await uow.invoices.get_by_number("HD2026-000001") == paid
        assert await uow.invoices.for_subscription(sub.id) == [paid]
        assert [i.id for i in await uow.invoices.for_order(order.id)] == [invoice.id, other.id]
        stored_other = await uow.invoices.get(other.id)
    assert stored_other is not None and stored_other.status is InvoiceStatus.OUT_OF_DATE
    assert stored_other.number == "HD2026-000002"


async def test_invoice_numbers_stay_gap_free_across_concurrent_transactions(
    uow: SqlUnitOfWork,
) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    async with uow:
        invoices = [await uow.invoices.add(make_invoice(order)) for _ in range(8)]
        await uow.commit()

    async def number(index: int) -> str | None:
        async with uow:
            assigned = await uow.invoices.assign_number(invoices[index].id, 2026)
            await asyncio.sleep(0.02)
            if index % 3 == 1:
                return None  # this transaction fails: its number must be reused
            await uow.commit()
            return assigned

    results = await asyncio.gather(*(number(i) for i in range(8)))
    committed = sorted(n for n in results if n is not None)
    assert committed == [f"HD2026-{i:06d}" for i in range(1, len(committed) + 1)]
    assert len(committed) == 5
    async with uow:
        assert await uow.counters.current("invoice:2026") == 5


# ---------------------------------------------------------------------------------------------
# Memos, employees, history


async def test_memos_employees_and_history(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    async with uow:
        sub = await uow.subscriptions.add(make_subscription(order, "TB-1"))
        note = await uow.memos.add(
            Memo(
                subscription_id=sub.id,
                kind=MemoKind.NOTE,
                text="Gọi lại sau",
                author_id=AGENT,
                created_at=NOW,
            )
        )
        credit = await uow.memos.add(
            Memo(
                subscription_id=sub.id,
                kind=MemoKind.CREDIT,
                text="Giảm trừ",
                amount=100_000,
                status=MemoStatus.OPEN,
                author_id=AGENT,
                created_at=NOW + timedelta(minutes=1),
            )
        )
        employees = [
            await uow.employees.add(
                Employee(
                    subscription_id=sub.id,
                    name=name,
                    email=f"{i}@abc.vn",
                    created_at=NOW,
                )
            )
            for i, name in enumerate(["Chi", "An", "Bình"])
        ]
        events = [
            await uow.history.add(
                HistoryEvent(
                    action=action,
                    created_at=NOW + timedelta(minutes=i),
                    enterprise_id=ent,
                    subscription_id=sub.id if i else None,
                    order_id=order.id,
                    actor_id=AGENT if i else None,
                    details={"step": i, "note": "ổn"},
                )
            )
            for i, action in enumerate(["order.placed", "payment.succeeded", "memo.added"])
        ]
        await uow.commit()

    async with uow:
        assert await uow.memos.get(note.id) == note
        assert await uow.memos.set_status(credit.id, MemoStatus.APPLIED) is True
        assert await uow.memos.set_status(note.id, MemoStatus.APPLIED) is False  # notes have none
        assert await uow.employees.set_active(employees[0].id, False) is True
        assert await uow.employees.set_active(employees[0].id, False) is False
        await uow.employees.update(replace(employees[1], phone="+84912345678"))
        await uow.commit()

    async with uow:
        memos = await uow.memos.list(sub.id)
        staff = await uow.employees.list(sub.id, offset=0, limit=2)
        assert await uow.employees.count_active(sub.id) == 2
        assert await uow.employees.get(employees[1].id) == replace(
            employees[1], phone="+84912345678"
        )
        history = await uow.history.list(sub.id)
        by_enterprise = await uow.history.list_for_enterprise(ent, offset=1, limit=1)
        by_order = await uow.history.list_for_order(order.id)
    assert [m.id for m in memos.items] == [credit.id, note.id]
    assert memos.items[0].status is MemoStatus.APPLIED and memos.total == 2
    assert [e.name for e in staff.items] == ["An", "Bình"]  # active first, then by name
    assert staff.total == 3 and staff.has_next
    assert [e.action for e in history.items] == ["memo.added", "payment.succeeded"]
    assert by_enterprise.total == 3 and by_enterprise.items[0] == events[1]
    assert by_order == events
    assert events[0].details == {"step": 0, "note": "ổn"}


# ---------------------------------------------------------------------------------------------
# Joining enterprises


async def test_invitations_are_used_once(uow: SqlUnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    async with uow:
        await uow.users.ensure(UserId(1), NOW)
        await uow.users.ensure(UserId(2), NOW)
        invitation = await uow.invitations.add(
            Invitation(
                token="t0k3n",
                enterprise_id=ent,
                role=Role.MEMBER,
                created_by=AGENT,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )
        )
        await uow.commit()
    assert invitation.is_usable(NOW)
    assert not invitation.is_usable(NOW + timedelta(days=7))
    async with uow:
        assert await uow.invitations.get_by_token("t0k3n", for_update=True) == invitation
        assert await uow.invitations.mark_used("t0k3n", UserId(1), NOW) is True
        assert await uow.invitations.mark_used("t0k3n", UserId(2), NOW) is False
        assert await uow.invitations.mark_used("other", UserId(2), NOW) is False
        await uow.commit()
    async with uow:
        used = await uow.invitations.get_by_token("t0k3n")
        assert await uow.invitations.for_enterprise(ent) == [used]
        assert await uow.invitations.get_by_token("other") is None
    assert used == replace(invitation, used_by=UserId(1), used_at=NOW)
    assert not used.is_usable(NOW)
    assert used.invitee_id is None and used.is_for(UserId(2))


async def test_join_requests_are_decided_once(uow: SqlUnitOfWork) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    async with uow:
        await uow.users.ensure(UserId(1), NOW)
        first = await uow.join_requests.add(
            JoinRequest(user_id=UserId(1), enterprise_id=ent_a, created_at=NOW)
        )
        second = await uow.join_requests.add(
            JoinRequest(user_id=UserId(1), enterprise_id=ent_b, created_at=NOW)
        )
        await uow.commit()
    async with uow:
        assert await uow.join_requests.pending_for_enterprise(ent_a) == [first]
        assert await uow.join_requests.pending_for_user(UserId(1)) == [first, second]
        assert await uow.join_requests.decide(first.id, JoinRequestStatus.ACCEPTED, AGENT, NOW)
        assert not await uow.join_requests.decide(first.id, JoinRequestStatus.REFUSED, AGENT, NOW)
        with pytest.raises(ValueError, match="ACCEPTED or REFUSED"):
            await uow.join_requests.decide(second.id, JoinRequestStatus.PENDING, AGENT, NOW)
        await uow.commit()
    async with uow:
        assert await uow.join_requests.get(first.id) == replace(
            first, status=JoinRequestStatus.ACCEPTED, decided_by=AGENT, decided_at=NOW
        )
        assert await uow.join_requests.pending_for_enterprise(ent_a) == []
        assert await uow.join_requests.pending_for_user(UserId(1)) == [second]
