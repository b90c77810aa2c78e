"""One contract for both units of work: every test here runs on ``tests.fakes.FakeUnitOfWork``
and on ``storage.db.SqlUnitOfWork`` (SQLite and PostgreSQL), so the fake the unit tests use
cannot drift from the database silently.

The assertions are taken from test_storage_accounts.py, test_storage_commerce.py and
test_storage_catalog.py (those keep what only SQL has: statement counts, row locks, the
constraints checked with raw inserts).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from domain.catalog import ServiceKind
from domain.model import (
    Employee,
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Invitation,
    InvoiceId,
    InvoiceStatus,
    JoinRequest,
    JoinRequestStatus,
    Membership,
    Memo,
    MemoKind,
    MemoStatus,
    Order,
    OrderId,
    OrderProgress,
    OrderStatus,
    PaymentAttemptStatus,
    Role,
    SubscriptionId,
    SubscriptionStatus,
    User,
    UserId,
)
from domain.ports import UnitOfWork
from storage.db import Database
from tests.fakes.uow import FakeUnitOfWork
from tests.integration.test_storage_catalog import sample_catalog
from tests.integration.test_storage_commerce import (
    AGENT,
    NOW,
    attempt,
    make_invoice,
    make_order,
    make_subscription,
)

HANOI = timezone(timedelta(hours=7))


@pytest.fixture(
    params=["fake", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def db_backend(request: pytest.FixtureRequest) -> str:
    """``fake`` besides the two databases (``db_url`` is only asked for the databases)."""
    return str(request.param)


@pytest.fixture
async def uow(db_backend: str, request: pytest.FixtureRequest) -> AsyncIterator[UnitOfWork]:
    if db_backend == "fake":
        yield FakeUnitOfWork()
        return
    database = Database(request.getfixturevalue("db_url"))
    try:
        yield database.uow
    finally:
        await database.dispose()


def user(user_id: int, **fields: object) -> User:
    values: dict[str, object] = {"first_name": f"User {user_id}", "created_at": NOW}
    values.update(fields)
    return User(id=UserId(user_id), **values)  # type: ignore[arg-type]


async def seed(uow: UnitOfWork, *tax_codes: str) -> list[EnterpriseId]:
    async with uow:
        await uow.users.upsert(User(id=AGENT, first_name="Agent", created_at=NOW))
        await uow.catalog.replace(sample_catalog())
        ids = [
            (await uow.enterprises.add(Enterprise(tax_code=t, name=t, created_at=NOW))).id
            for t in tax_codes
        ]
        await uow.commit()
    return ids


async def add_order(uow: UnitOfWork, order: Order) -> Order:
    async with uow:
        stored = await uow.orders.add(order)
        await uow.commit()
    return stored


# ---------------------------------------------------------------------------------------------
# Transactions


async def test_leaving_without_commit_rolls_back(uow: UnitOfWork) -> None:
    async with uow:
        await uow.users.upsert(user(1))
    with pytest.raises(RuntimeError, match="boom"):
        async with uow:
            await uow.users.upsert(user(2))
            raise RuntimeError("boom")
    async with uow:
        await uow.users.upsert(user(3))
        await uow.rollback()
        await uow.users.upsert(user(4))
        await uow.commit()
    async with uow:
        assert set(await uow.users.get_many([UserId(i) for i in range(1, 5)])) == {4}


@pytest.mark.parametrize("commits", [True, False])
async def test_changes_are_seen_by_others_only_after_commit(uow: UnitOfWork, commits: bool) -> None:
    inside = asyncio.Event()
    done: list[str] = []
    seen: list[tuple[User | None, list[str]]] = []

    async def reader() -> None:
        await inside.wait()
        async with uow:
            seen.append((await uow.users.get(UserId(1)), list(done)))

    async def writer() -> None:
        async with uow:
            await uow.users.upsert(user(1))
            assert await uow.users.get(UserId(1)) == user(1)  # its own write
            inside.set()
            await asyncio.sleep(0.05)
            if commits:
                await uow.commit()
        done.append("ended")

    await asyncio.gather(writer(), reader())
    ((value, ended_before_read),) = seen
    # the reader waited for the writer (SQLite, the fake) or read before it ended (PostgreSQL):
    # it sees the user only if the writer had committed
    assert value == (user(1) if commits and ended_before_read else None)
    async with uow:
        assert await uow.users.get(UserId(1)) == (user(1) if commits else None)


async def test_the_unit_of_work_is_per_task_and_not_reentrant(uow: UnitOfWork) -> None:
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.users
    async with uow:
        with pytest.raises(RuntimeError, match="already open"):
            async with uow:
                pass

    async def register(user_id: int) -> None:
        async with uow:
            await uow.users.upsert(user(user_id))
            await asyncio.sleep(0.01)
            await uow.commit()

    await asyncio.gather(*(register(i) for i in range(20, 26)))
    async with uow:
        stored = await uow.users.get_many([UserId(i) for i in range(20, 26)])
    assert set(stored) == set(range(20, 26))

    async def use_the_parents_transaction() -> None:
        await uow.users.get(UserId(20))

    async with uow:
        with pytest.raises(RuntimeError, match="not open in this task"):
            await asyncio.create_task(use_the_parents_transaction())
        await asyncio.create_task(register(31))  # before the parent writes (see db.py)
        await uow.users.upsert(user(30))
        await uow.commit()
    async with uow:
        assert set(await uow.users.get_many([UserId(30), UserId(31)])) == {30, 31}


async def test_timestamps_come_back_aware_utc_and_naive_ones_are_refused(
    uow: UnitOfWork,
) -> None:
    local = datetime(2026, 3, 1, 15, 30, 0, 123456, tzinfo=HANOI)
    async with uow:
        await uow.users.upsert(user(1, created_at=local))
        await uow.commit()
    async with uow:
        stored = await uow.users.get(UserId(1))
    assert stored is not None
    assert stored.created_at == local
    assert stored.created_at.tzinfo == UTC
    async with uow:
        with pytest.raises(Exception, match="timezone-aware"):
            await uow.users.upsert(user(2, created_at=datetime(2026, 3, 1, 8, 0)))


async def test_a_violated_constraint_raises_integrity_error_and_nothing_is_kept(
    uow: UnitOfWork,
) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k", code="DH-1"))
    cases: list[Any] = [
        lambda: uow.orders.add(make_order(ent, "other-key", code="DH-1")),  # unique code
        lambda: uow.orders.add(make_order(EnterpriseId(ent + 100), "k3")),  # no enterprise
        lambda: uow.payments.add(attempt(replace(order, id=OrderId(order.id + 100)), "m9")),
        lambda: uow.memberships.add(Membership(UserId(404), ent, Role.OWNER)),  # no user
    ]
    for make in cases:
        async with uow:
            await uow.payments.add(attempt(order, "m1"))
            with pytest.raises(IntegrityError):
                await make()
    async with uow:
        await uow.payments.add(attempt(order, "m1"))
        await uow.commit()
    async with uow:
        with pytest.raises(IntegrityError):  # one merchant order id, never reused
            await uow.payments.add(attempt(order, "m1"))
    async with uow:
        assert [a.merchant_order_id for a in await uow.payments.for_order(order.id)] == ["m1"]
        assert await uow.orders.by_idempotency_key("other-key") is None


# ---------------------------------------------------------------------------------------------
# Counters, orders, payments, promotions


async def test_counters_are_gap_free_and_rolled_back_with_the_transaction(
    uow: UnitOfWork,
) -> None:
    async with uow:
        assert await uow.counters.current("x") == 0
        assert [await uow.counters.next("x") for _ in range(3)] == [1, 2, 3]
        await uow.commit()
    async with uow:
        assert await uow.counters.next("x") == 4
    async with uow:
        assert await uow.counters.current("x") == 3
        assert await uow.orders.next_code(2026) == "DH-2026-000001"
        assert await uow.orders.next_code(2026) == "DH-2026-000002"
        assert await uow.orders.next_code(2027) == "DH-2027-000001"
        assert await uow.subscriptions.next_code(2026) == "TB-2026-000001"


async def test_orders_round_trip_with_json_snapshots(uow: UnitOfWork) -> None:
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
        contact={"name": "Nguyễn Văn An", "phone": "+84912345678"},
        locale="en",
        chat_id=-100123456789,
        expires_at=NOW + timedelta(minutes=30),
    )
    stored = await add_order(uow, order)
    assert stored.id > 0
    assert stored == replace(order, id=stored.id)
    stored.quote["total"] = 0  # a caller changing its copy changes nothing stored
    async with uow:
        again = await uow.orders.get(stored.id)
        assert await uow.orders.get_by_code("DH-2026-k1") == again
        assert await uow.orders.get_by_code("nope") is None
    assert again is not None and again.quote["total"] == 1_782_000

    tupled = await add_order(uow, make_order(ent, "k2", quote={"pair": (1, 2)}))
    async with uow:
        reread = await uow.orders.get(tupled.id)
    assert reread is not None and reread.quote == {"pair": [1, 2]}  # JSON has no tuples


async def test_the_idempotency_key_makes_one_order(uow: UnitOfWork) -> None:
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


async def test_expired_orders_and_conditional_status(uow: UnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    due = await add_order(uow, make_order(ent, "a", expires_at=NOW - timedelta(minutes=1)))
    exact = await add_order(uow, make_order(ent, "b", expires_at=NOW))
    await add_order(uow, make_order(ent, "c", expires_at=NOW + timedelta(seconds=1)))
    await add_order(uow, make_order(ent, "d"))
    paid = await add_order(
        uow, make_order(ent, "e", expires_at=NOW - timedelta(hours=1), status=OrderStatus.PAID)
    )
    pending = [OrderStatus.PENDING_PAYMENT]
    async with uow:
        assert [o.id for o in await uow.orders.list_expired(NOW)] == [due.id, exact.id]
        assert [o.id for o in await uow.orders.list_expired(NOW, limit=1)] == [due.id]
        assert await uow.orders.set_status(due.id, OrderStatus.EXPIRED, expected=pending)
        assert not await uow.orders.set_status(paid.id, OrderStatus.EXPIRED, expected=pending)
        assert await uow.orders.set_status(exact.id, OrderStatus.PAID, paid_at=NOW)
        assert not await uow.orders.set_status(OrderId(paid.id + 99), OrderStatus.PAID)
        await uow.commit()
    async with uow:
        assert await uow.orders.list_expired(NOW) == []
        stored_exact = await uow.orders.get(exact.id)
    assert stored_exact is not None and stored_exact.status is OrderStatus.PAID
    assert stored_exact.paid_at == NOW


async def test_payment_attempts_lifecycle(uow: UnitOfWork) -> None:
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
        assert not await uow.payments.mark_pending(first.id, "https://pay/x", "x")
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
        stored_second = await uow.payments.get_by_merchant_order_id("DH2026000001-2")
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


async def test_unnotified_attempts_to_query(uow: UnitOfWork) -> None:
    (ent,) = await seed(uow, "0100233488")
    order = await add_order(uow, make_order(ent, "k"))
    cutoff = NOW + timedelta(minutes=5)
    async with uow:
        await uow.payments.add(attempt(order, "m-old"))
        pending = await uow.payments.add(attempt(order, "m-pending"))
        await uow.payments.mark_pending(pending.id, "https://pay", "20260301153000")
        await uow.payments.add(attempt(order, "m-recent", created_at=cutoff))
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
        assert len(await uow.payments.list_unnotified(cutoff, limit=1)) == 1
    assert [a.merchant_order_id for a in due] == ["m-old", "m-pending", "m-recent"]


async def test_a_success_is_claimed_once_per_merchant_order_id_and_per_order(
    uow: UnitOfWork,
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
        assert await uow.payments.claim_success(a1.id, order.id, "m1", NOW) is False
        assert await uow.payments.claim_success(a2.id, order.id, "m2", NOW) is False
        assert await uow.payments.claim_success(b1.id, other.id, "n1", NOW) is True
        await uow.commit()

    async with uow:
        a3 = await uow.payments.add(attempt(order, "m3"))
        await uow.commit()

    async def claim() -> bool:
        async with uow:
            first = await uow.payments.claim_success(a3.id, other.id, "m3", NOW)
            await asyncio.sleep(0.05)
            await uow.commit()
        return first

    # ``other`` has its success already: every concurrent claim of it is refused
    assert await asyncio.gather(*(claim() for _ in range(3))) == [False, False, False]


async def test_concurrent_claims_apply_one_success(uow: UnitOfWork) -> None:
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


async def test_promotion_usage_counts_total_and_per_enterprise(uow: UnitOfWork) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    o1 = await add_order(uow, make_order(ent_a, "1"))
    o2 = await add_order(uow, make_order(ent_a, "2"))
    o3 = await add_order(uow, make_order(ent_b, "3"))
    codes = ["KM-SMARTCA10", "KM-HD50K", "KM-TSA"]
    async with uow:
        assert await uow.promotions.usage(codes, ent_a) == (dict.fromkeys(codes, 0),) * 2
        await uow.promotions.lock(codes)
        await uow.promotions.redeem(o1.id, ent_a, ["KM-SMARTCA10", "KM-HD50K", "KM-HD50K"])
        await uow.promotions.redeem(o1.id, ent_a, ["KM-SMARTCA10"])
        await uow.promotions.redeem(o2.id, ent_a, ["KM-HD50K"], at=NOW)
        await uow.promotions.redeem(o3.id, ent_b, ["KM-HD50K", "KM-TSA"])
        await uow.promotions.redeem(o3.id, ent_b, [])
        await uow.commit()
    async with uow:
        totals, mine = await uow.promotions.usage(codes, ent_a)
        assert await uow.promotions.usage([], ent_a) == ({}, {})
    assert totals == {"KM-SMARTCA10": 1, "KM-HD50K": 3, "KM-TSA": 1}
    assert mine == {"KM-SMARTCA10": 1, "KM-HD50K": 2, "KM-TSA": 0}
    async with uow:
        assert await uow.promotions.release(o1.id) == 2
        assert await uow.promotions.release(o1.id) == 0
        await uow.commit()
    async with uow:
        totals, mine = await uow.promotions.usage(codes, ent_b)
        with pytest.raises(IntegrityError):  # only codes of the catalog
            await uow.promotions.redeem(o2.id, ent_a, ["NO-SUCH-CODE"])
    assert totals == {"KM-SMARTCA10": 0, "KM-HD50K": 2, "KM-TSA": 1}
    assert mine == {"KM-SMARTCA10": 0, "KM-HD50K": 1, "KM-TSA": 1}


# ---------------------------------------------------------------------------------------------
# Subscriptions, invoices, memos, employees, history


async def test_subscriptions_round_trip_update_and_pages(uow: UnitOfWork) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    order_a = await add_order(uow, make_order(ent_a, "a", kind=ServiceKind.OS))
    order_b = await add_order(uow, make_order(ent_b, "b"))
    sub = make_subscription(
        order_a, "TB-1", kind=ServiceKind.OS, progress=OrderProgress.ORDERED, quantity=2
    )
    async with uow:
        stored = await uow.subscriptions.add(sub)
        for i in range(7):
            await uow.subscriptions.add(
                make_subscription(
                    order_a,
                    f"TB-A-{i}",
                    created_at=NOW + timedelta(minutes=i + 1),
                    status=CANCELLED if i % 3 == 0 else SubscriptionStatus.ACTIVE,
                )
            )
        await uow.subscriptions.add(make_subscription(order_b, "TB-B-0"))
        await uow.commit()
    assert stored == replace(sub, id=stored.id)
    moved = replace(
        stored,
        status=SubscriptionStatus.ACTIVE,
        progress=OrderProgress.DEPLOYING,
        started_at=NOW,
        current_period_end=NOW + timedelta(days=365),
        quantity=3,
        addon_codes=("SMARTCA-TSA",),
    )
    async with uow:
        await uow.subscriptions.update(moved)
        await uow.commit()
    async with uow:
        assert await uow.subscriptions.get(stored.id) == moved
        assert await uow.subscriptions.get_by_code("TB-1") == moved
        assert await uow.subscriptions.get(SubscriptionId(stored.id + 100)) is None
        assert (await uow.subscriptions.for_order(order_a.id))[0] == moved
        first = await uow.subscriptions.list_for_enterprise(ent_a, offset=0, limit=3)
        beyond = await uow.subscriptions.list_for_enterprise(ent_a, offset=9, limit=3)
        active = await uow.subscriptions.list_for_enterprise(
            ent_a, statuses=[SubscriptionStatus.ACTIVE], limit=10
        )
        none_of = await uow.subscriptions.list_for_enterprise(ent_a, statuses=[])
        both = await uow.subscriptions.page_for_enterprises([ent_a, ent_b], limit=20)
        any_status = await uow.subscriptions.page_for_enterprises([ent_a], statuses=[])
        with pytest.raises(ValueError, match="offset"):
            await uow.subscriptions.list_for_enterprise(ent_a, limit=0)
        seen = await uow.subscriptions.get_for_user(stored.id, AGENT)
        assert await uow.subscriptions.get_for_user(SubscriptionId(stored.id + 100), AGENT) is None
    assert [s.code for s in first.items] == ["TB-A-6", "TB-A-5", "TB-A-4"]
    assert (first.total, first.has_next) == (8, True)
    assert beyond.items == () and beyond.total == 8
    assert [s.code for s in active.items] == ["TB-A-5", "TB-A-4", "TB-A-2", "TB-A-1", "TB-1"]
    assert none_of.items == () and none_of.total == 0  # an empty filter keeps nothing here…
    assert any_status.total == 8  # …and everything here
    assert both.total == 9 and len(both.items) == 9
    assert seen is not None and seen[0] == moved and seen[2] is None
    assert seen[1] is not None and seen[1].id == AGENT


CANCELLED = SubscriptionStatus.CANCELLED


async def test_invoices_round_trip_and_numbering(uow: UnitOfWork) -> None:
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
        assert await uow.invoices.assign_number(invoice.id, 2026) == "HD2026-000001"
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
        await uow.invoices.set_status(other.id, InvoiceStatus.OUT_OF_DATE)
        await uow.commit()
    async with uow:
        assert await uow.invoices.get(invoice.id) == paid
        assert await uow.invoices.get_by_number("HD2026-000001") == paid
        assert await uow.invoices.for_subscription(sub.id) == [paid]
        assert [i.id for i in await uow.invoices.for_order(order.id)] == [invoice.id, other.id]
        stored_other = await uow.invoices.get(other.id)
        # the number tried for the missing invoice was kept by the commit (as in SQL)
        assert await uow.counters.current("invoice:2026") == 3
    assert stored_other is not None and stored_other.status is InvoiceStatus.OUT_OF_DATE
    assert stored_other.number == "HD2026-000002"


async def test_invoice_numbers_stay_gap_free_across_concurrent_transactions(
    uow: UnitOfWork,
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
                return None
            await uow.commit()
            return assigned

    results = await asyncio.gather(*(number(i) for i in range(8)))
    committed = sorted(n for n in results if n is not None)
    assert committed == [f"HD2026-{i:06d}" for i in range(1, 6)]
    async with uow:
        assert await uow.counters.current("invoice:2026") == 5


async def test_memos_employees_and_history(uow: UnitOfWork) -> None:
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
                Employee(subscription_id=sub.id, name=name, email=f"{i}@ABC.vn", created_at=NOW)
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
        assert await uow.memos.set_status(note.id, MemoStatus.APPLIED) is False
        assert await uow.employees.set_active(employees[0].id, False) is True
        assert await uow.employees.set_active(employees[0].id, False) is False
        await uow.employees.update(replace(employees[1], phone="+84912345678"))
        await uow.commit()
    async with uow:
        memos = await uow.memos.list(sub.id)
        memo_page = await uow.memos.page(sub.id, offset=1, limit=1)
        staff = await uow.employees.list(sub.id, offset=0, limit=2)
        with_active = await uow.employees.page_with_active(sub.id, offset=5, limit=2)
        assert await uow.employees.count_active(sub.id) == 2
        assert await uow.employees.email_taken(sub.id, "1@abc.VN")
        assert not await uow.employees.email_taken(sub.id, "9@abc.vn")
        history = await uow.history.list(sub.id)
        by_enterprise = await uow.history.list_for_enterprise(ent, offset=1, limit=1)
        by_order = await uow.history.list_for_order(order.id)
        with_order = await uow.history.page_for_subscription(sub.id, order.id)
        without_order = await uow.history.page_for_subscription(sub.id)
    assert [m.id for m in memos.items] == [credit.id, note.id]
    assert memos.items[0].status is MemoStatus.APPLIED and memos.total == 2
    assert memo_page.items == (note,) and memo_page.total == 2
    assert [e.name for e in staff.items] == ["An", "Bình"]
    assert staff.total == 3 and staff.has_next
    assert with_active[0].items == () and with_active[0].total == 3 and with_active[1] == 2
    assert [e.action for e in history.items] == ["memo.added", "payment.succeeded"]
    assert by_enterprise.total == 3 and by_enterprise.items[0] == events[1]
    assert by_order == events
    assert [e.id for e in with_order.items] == [e.id for e in reversed(events)]
    assert without_order.total == 2


# ---------------------------------------------------------------------------------------------
# People, enterprises, joining


async def test_users_upsert_ensure_and_global_roles(uow: UnitOfWork) -> None:
    async with uow:
        created = await uow.users.upsert(user(10, username="an", phone="+84912345678"))
        assert await uow.users.set_global_role(UserId(10), Role.AGENT) is True
        assert await uow.users.set_global_role(UserId(10), Role.AGENT) is False
        assert await uow.users.set_global_role(UserId(11), Role.ADMIN) is False
        with pytest.raises(ValueError, match="not a global role"):
            await uow.users.set_global_role(UserId(10), Role.OWNER)
        await uow.users.set_locale(UserId(10), "en")
        ensured = await uow.users.ensure(UserId(5), NOW)
        again = await uow.users.ensure(UserId(5), NOW + timedelta(hours=1))
        await uow.commit()
    assert created == user(10, username="an", phone="+84912345678")
    assert ensured == again == User(id=UserId(5), first_name="", created_at=NOW)
    async with uow:
        refreshed = await uow.users.upsert(
            user(10, first_name="An", username=None, created_at=NOW + timedelta(days=3))
        )
        await uow.users.set_phone(UserId(5), "+84987654321")
        await uow.commit()
    assert refreshed == user(10, first_name="An", phone="+84912345678", locale="en", is_agent=True)
    async with uow:
        many = await uow.users.get_many([UserId(5), UserId(10), UserId(7)])
        assert await uow.users.get_many([]) == {}
    assert set(many) == {5, 10} and many[UserId(5)].phone == "+84987654321"


async def test_enterprises_search_and_idempotent_add(uow: UnitOfWork) -> None:
    def enterprise(tax_code: str, name: str = "Công ty TNHH ABC") -> Enterprise:
        return Enterprise(tax_code=tax_code, name=name, created_at=NOW)

    async with uow:
        abc = await uow.enterprises.add(enterprise("0100233488"))
        xyz = await uow.enterprises.add(enterprise("0314409058-002", name="Cửa hàng XYZ 100%"))
        await uow.commit()
    assert abc.id > 0 and xyz.id > 0 and abc.id != xyz.id
    async with uow:
        assert await uow.enterprises.add(enterprise("0100233488", name="Other")) == abc
        assert await uow.enterprises.get_many([abc.id, xyz.id]) == {abc.id: abc, xyz.id: xyz}
        assert await uow.enterprises.search("0100") == [abc]
        assert await uow.enterprises.search("abc") == [abc]
        assert await uow.enterprises.search("100%") == [xyz]
        assert await uow.enterprises.search("   ") == []
        assert await uow.enterprises.search("C", limit=1) == [abc]
        await uow.enterprises.update(replace(abc, name="Công ty Cổ phần ABC", email="a@b.vn"))
        await uow.commit()
    async with uow:
        assert await uow.enterprises.get(abc.id) == replace(
            abc, name="Công ty Cổ phần ABC", email="a@b.vn"
        )
        assert await uow.enterprises.by_tax_code("0000000000") is None
        with pytest.raises(IntegrityError):
            await uow.enterprises.update(replace(xyz, tax_code=abc.tax_code))


async def test_memberships_and_principal(uow: UnitOfWork) -> None:
    async with uow:
        await uow.users.upsert(user(1))
        await uow.users.upsert(user(2))
        a = await uow.enterprises.add(Enterprise(tax_code="0100233488", name="A", created_at=NOW))
        b = await uow.enterprises.add(Enterprise(tax_code="0103326250", name="B", created_at=NOW))
        assert await uow.memberships.add(Membership(UserId(1), b.id, Role.OWNER)) is True
        assert await uow.memberships.add(Membership(UserId(1), b.id, Role.OWNER)) is False
        assert await uow.memberships.add(Membership(UserId(1), a.id, Role.OWNER)) is True
        assert await uow.memberships.add(Membership(UserId(1), b.id, Role.MEMBER)) is True
        assert await uow.memberships.add(Membership(UserId(2), a.id, Role.MEMBER)) is True
        await uow.commit()
    async with uow:
        principal = await uow.users.principal(UserId(1))
        assert await uow.users.principal(UserId(3)) is None
        assert await uow.memberships.set_role(UserId(2), a.id, Role.OWNER) is True
        assert await uow.memberships.set_role(UserId(2), a.id, Role.OWNER) is False
        assert await uow.memberships.set_role(UserId(2), b.id, Role.OWNER) is False
        assert await uow.memberships.get(UserId(2), b.id) is None
        assert [m.user_id for m in await uow.memberships.for_enterprise(a.id)] == [1, 2]
        assert [m.enterprise_id for m in await uow.memberships.for_user(UserId(1))] == [a.id, b.id]
        assert await uow.memberships.remove(UserId(2), a.id) is True
        assert await uow.memberships.remove(UserId(2), a.id) is False
        await uow.commit()
    assert principal is not None and principal.user == user(1)
    assert principal.memberships == (
        Membership(UserId(1), a.id, Role.OWNER),
        Membership(UserId(1), b.id, Role.MEMBER),
    )
    async with uow:
        assert await uow.memberships.for_user(UserId(2)) == []


async def test_invitations_and_join_requests_are_used_and_decided_once(uow: UnitOfWork) -> None:
    ent_a, ent_b = await seed(uow, "0100233488", "0103326250")
    async with uow:
        await uow.users.ensure(UserId(1), NOW)
        await uow.users.ensure(UserId(2), NOW)
        invitation = await uow.invitations.add(
            Invitation(
                token="t0k3n",
                enterprise_id=ent_a,
                role=Role.MEMBER,
                created_by=AGENT,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )
        )
        first = await uow.join_requests.add(
            JoinRequest(user_id=UserId(1), enterprise_id=ent_a, created_at=NOW)
        )
        second = await uow.join_requests.add(
            JoinRequest(user_id=UserId(1), enterprise_id=ent_b, created_at=NOW)
        )
        await uow.commit()
    async with uow:
        assert await uow.invitations.get_by_token("t0k3n", for_update=True) == invitation
        assert await uow.invitations.mark_used("t0k3n", UserId(1), NOW) is True
        assert await uow.invitations.mark_used("t0k3n", UserId(2), NOW) is False
        assert await uow.invitations.mark_used("other", UserId(2), NOW) is False
        assert await uow.join_requests.pending_for_enterprise(ent_a) == [first]
        assert await uow.join_requests.pending_for_user(UserId(1)) == [first, second]
        assert await uow.join_requests.decide(first.id, JoinRequestStatus.ACCEPTED, AGENT, NOW)
        assert not await uow.join_requests.decide(first.id, JoinRequestStatus.REFUSED, AGENT, NOW)
        with pytest.raises(ValueError, match="ACCEPTED or REFUSED"):
            await uow.join_requests.decide(second.id, JoinRequestStatus.PENDING, AGENT, NOW)
        await uow.commit()
    async with uow:
        used = await uow.invitations.get_by_token("t0k3n")
        assert await uow.invitations.for_enterprise(ent_a) == [used]
        assert await uow.join_requests.get(first.id) == replace(
            first, status=JoinRequestStatus.ACCEPTED, decided_by=AGENT, decided_at=NOW
        )
        assert await uow.join_requests.pending_for_user(UserId(1)) == [second]
    assert used == replace(invitation, used_by=UserId(1), used_at=NOW)
    async with uow:
        with pytest.raises(IntegrityError):  # tokens are unique
            await uow.invitations.add(replace(invitation, used_by=None, used_at=None))


async def test_an_invitation_keeps_its_invitee(uow: UnitOfWork) -> None:
    """The invitee picked in Telegram is stored as is: a Telegram id beyond 32 bits, of a person
    who may never have written to the bot (no ``users`` row)."""
    (ent,) = await seed(uow, "0100233488")
    invitee = UserId(7_123_456_789)
    async with uow:
        bound = await uow.invitations.add(
            Invitation(
                token="b0und",
                enterprise_id=ent,
                role=Role.MEMBER,
                created_by=AGENT,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
                invitee_id=invitee,
            )
        )
        await uow.commit()
    async with uow:
        stored = await uow.invitations.get_by_token("b0und")
        assert await uow.invitations.for_enterprise(ent) == [bound]
    assert stored == bound and stored.invitee_id == invitee
    assert stored.is_for(invitee) and not stored.is_for(UserId(1))


# ---------------------------------------------------------------------------------------------
# Catalog


async def test_catalog_replace_load_revision_and_removed_codes(uow: UnitOfWork) -> None:
    async def replace_catalog(catalog: Any) -> bool:
        async with uow:
            changed = await uow.catalog.replace(catalog)
            await uow.commit()
        return changed

    async def load() -> tuple[Any, int]:
        async with uow:
            return await uow.catalog.load(), await uow.catalog.revision()

    empty, revision = await load()
    assert (empty.services, empty.promotions, revision) == ((), (), 0)
    catalog = sample_catalog()
    assert await replace_catalog(catalog) is True
    assert await load() == (catalog, 1)
    assert await replace_catalog(sample_catalog()) is False
    assert (await load())[1] == 1

    smartca, _install = catalog.services
    basic, pro = smartca.plans
    trimmed = replace(
        catalog,
        services=(
            replace(
                smartca, plans=(replace(pro, cycles=pro.cycles[1:]),), addons=smartca.addons[:1]
            ),
        ),
        promotions=catalog.promotions[1:],
    )
    assert await replace_catalog(trimmed) is True
    loaded, revision = await load()
    assert revision == 2
    assert [s.code for s in loaded.active_services()] == ["SMARTCA"]
    service = loaded.service("SMARTCA")
    assert service is not None
    assert service.plan("SMARTCA-BASIC") == replace(basic, active=False)
    new_pro = service.plan("SMARTCA-PRO")
    assert new_pro is not None and [c.code for c in new_pro.cycles] == ["Y1"]
    gone_service = loaded.service("LAPDAT")
    assert gone_service is not None and not gone_service.active
    assert all(not p.active for p in gone_service.plans)
    assert [p.code for p in loaded.active_promotions()] == ["KM-HD50K", "KM-TSA"]
    assert await replace_catalog(trimmed) is False
    assert await replace_catalog(catalog) is True
    assert await load() == (catalog, 3)
    async with uow:
        assert await uow.counters.current("catalog:revision") == 3
