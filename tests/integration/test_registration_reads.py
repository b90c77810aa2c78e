"""The registration steps' reads outside a unit of work (storage/reads.py) on SQLite and
PostgreSQL: the same answers as the repositories in a unit of work, one statement each, no
transaction; placing an order builds no INSERT statement per call (the inserts are built once,
the values sent as parameters), and on SQLite runs its statements on the driver
(``SqlRepository._rows``)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql.dml import ValuesBase

from domain.model import (
    Enterprise,
    EnterpriseId,
    HistoryEvent,
    Membership,
    OrderId,
    Role,
    User,
    UserId,
)
from domain.usecases.checkout import CheckoutOptions, RegistrantDirectory
from storage.db import SQLITE_BEGIN_OPTION, Database
from storage.models import Base
from storage.reads import SqlRegistrationReads
from tests.integration.test_payment_usecases import CATALOG, World
from tests.integration.test_payment_usecases import clock as clock
from tests.integration.test_payment_usecases import world as world
from tests.integration.test_storage_accounts import StatementLog

NOW = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)


async def _seed(database: Database) -> tuple[EnterpriseId, EnterpriseId]:
    async with database.uow as uow:
        await uow.users.upsert(User(id=UserId(1), first_name="An", username="an", created_at=NOW))
        await uow.users.upsert(User(id=UserId(2), first_name="Bình", created_at=NOW))
        a = await uow.enterprises.add(
            Enterprise(
                tax_code="0100233488",
                name="Công ty An Phát",
                address="1 Lê Lợi, Hà Nội",
                email="kt@anphat.vn",
                phone="0912345678",
                province="Hà Nội",
                created_at=NOW,
            )
        )
        b = await uow.enterprises.add(
            Enterprise(tax_code="0103326250", name="Công ty B", created_at=NOW)
        )
        await uow.memberships.add(Membership(UserId(1), a.id, Role.OWNER))
        await uow.memberships.add(Membership(UserId(1), b.id, Role.MEMBER))
        await uow.memberships.add(Membership(UserId(2), a.id, Role.MEMBER))
        await uow.commit()
    return a.id, b.id


async def test_the_reads_answer_as_the_repositories(database: Database) -> None:
    a, b = await _seed(database)
    reads = SqlRegistrationReads(database.engine)
    async with database.uow as uow:
        for user_id in (1, 2, 3):
            assert await reads.principal(UserId(user_id)) == await uow.users.principal(
                UserId(user_id)
            )
        for enterprise_id in (a, b, EnterpriseId(a + b)):
            assert await reads.enterprise(enterprise_id) == await uow.enterprises.get(enterprise_id)
        for ids in ([a, b], [b], [], [a, EnterpriseId(a + b)]):
            assert await reads.enterprises(ids) == await uow.enterprises.get_many(ids)
    stored = await reads.enterprise(a)
    assert stored is not None and stored.created_at == NOW and stored.created_at.tzinfo
    # the use cases answer the same with and without the reads
    with_reads, without = (
        RegistrantDirectory(lambda: database.uow, reads),
        RegistrantDirectory(lambda: database.uow),
    )
    for user_id in (1, 2, 3):
        assert await with_reads.access(user_id) == await without.access(user_id)
    assert await with_reads.enterprise(a) == await without.enterprise(a)


async def test_promotion_usage_as_the_repository(world: World) -> None:
    reads = SqlRegistrationReads(world.db.engine)
    empty = await reads.promotion_usage(["KM10", "KM-HD"], world.enterprise_id)
    assert empty == ({"KM-HD": 0, "KM10": 0}, {"KM-HD": 0, "KM10": 0})
    await world.place(plan_promotion="KM10")
    for codes in (["KM10", "KM-HD"], ["KM10"], []):
        for enterprise_id in (world.enterprise_id, EnterpriseId(world.enterprise_id + 1)):
            async with world.db.uow as uow:
                expected = await uow.promotions.usage(codes, enterprise_id)
            assert await reads.promotion_usage(codes, enterprise_id) == expected
    totals, mine = await reads.promotion_usage(["KM10"], world.enterprise_id)
    assert totals == {"KM10": 1} and mine == {"KM10": 1}
    usage = await CheckoutOptions(world.uow, lambda: CATALOG, reads).usage(world.enterprise_id)
    assert usage == await CheckoutOptions(world.uow, lambda: CATALOG).usage(world.enterprise_id)


async def test_one_statement_each_and_counted(database: Database) -> None:
    """Each read is one statement the engine's listeners see (the bench's SQL/upd and the
    tests' budgets), without BEGIN (no transaction)."""
    a, _ = await _seed(database)
    reads = SqlRegistrationReads(database.engine)
    seen: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(database.engine.sync_engine, "before_cursor_execute", on_statement)
    try:
        with StatementLog(database) as log:
            await reads.principal(UserId(1))
            await reads.enterprise(a)
            await reads.promotion_usage(["KM10"], a)
    finally:
        event.remove(database.engine.sync_engine, "before_cursor_execute", on_statement)
    assert len(log.statements) == 3
    assert "promotion_redemptions" in log.statements[2]
    assert seen == log.statements  # no BEGIN


async def test_a_read_does_not_wait_for_a_writer(database: Database) -> None:
    """A read takes no writer's turn: it answers while another task holds a write transaction
    (on SQLite, through a unit of work it waited for that transaction's end), and sees what
    was committed, not the writer's change."""
    a, _ = await _seed(database)
    reads = SqlRegistrationReads(database.engine)
    writing, done = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        async with database.uow as uow:
            await uow.users.upsert(User(id=UserId(9), first_name="X", created_at=NOW))
            writing.set()
            await done.wait()

    task = asyncio.create_task(writer())
    await writing.wait()
    try:
        principal = await asyncio.wait_for(reads.principal(UserId(9)), 5)
        stored = await asyncio.wait_for(reads.enterprise(a), 5)
    finally:
        done.set()
        await task
    assert principal is None  # not committed
    assert stored is not None and stored.name == "Công ty An Phát"


async def test_placing_an_order_builds_no_insert_statement(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order, counters, history, subscription and invoice inserts are built once: no
    ``.values(…)`` per call (each made a statement, a bound parameter and a type object per
    value, and their cache keys)."""
    built: list[str] = []
    values = ValuesBase.values

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        built.append(str(getattr(self, "table", "")))
        return values(self, *args, **kwargs)

    monkeypatch.setattr(ValuesBase, "values", counted)
    placed = await world.place("SETUP", "SETUP-ONSITE", "Y1")  # OS: subscription and invoice
    online = await world.place()  # ON: a payment attempt (not on the registration's path)
    assert placed.subscription_code and online.order_code
    assert [t for t in built if t != "payment_attempts"] == []


async def test_placing_an_order_runs_its_statements_on_the_driver(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite and on PostgreSQL (asyncpg) the statements of placing an order (without
    promotions) run on the transaction's driver connection, not through SQLAlchemy's
    execution; the statement listeners still see each of them, and the order is stored as
    before."""
    executed: list[str] = []
    execute = AsyncSession.execute

    async def counted(self: AsyncSession, statement: Any, *args: Any, **kwargs: Any) -> Any:
        executed.append(str(statement).split("\n")[0])
        return await execute(self, statement, *args, **kwargs)

    monkeypatch.setattr(AsyncSession, "execute", counted)
    with StatementLog(world.db) as log:
        placed = await world.place("SETUP", "SETUP-ONSITE", "Y1")
    inserts = [s.split("(")[0].strip() for s in log.statements if s.startswith("INSERT")]
    assert inserts == [
        "INSERT INTO counters",
        "INSERT INTO orders",
        "INSERT INTO history_events",
        "INSERT INTO counters",
        "INSERT INTO subscriptions",
        "INSERT INTO invoices",
        "INSERT INTO history_events",
    ]
    assert executed == []
    async with world.db.uow as uow:
        order = await uow.orders.by_idempotency_key("key-1-SETUP-Y1")
        assert order is not None and order.code == placed.order_code
        subscriptions = await uow.subscriptions.for_order(order.id)
        assert [s.code for s in subscriptions] == [placed.subscription_code]
        invoices = await uow.invoices.for_subscription(subscriptions[0].id)
        assert [i.order_id for i in invoices] == [order.id]
        events = await uow.history.list_for_order(order.id)
    assert [e.action for e in events] == ["order.created", "subscription.created"]
    assert events[0].details == {"order": order.code, "total": order.total, "kind": "OS"}


async def _events(connection: AsyncConnection) -> int:
    """The history events committed (on SQLite a reader's transaction, without the lock)."""
    reader = await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
    return int((await reader.exec_driver_sql("SELECT count(*) FROM history_events")).scalar_one())


async def test_statements_on_the_driver_are_in_the_unit_of_work_s_transaction(
    database: Database,
) -> None:
    """A statement run on the driver (``SqlRepository._rows``) as the unit of work's first is
    inside its transaction: not seen by others before the commit, gone with a rollback (on
    PostgreSQL the adaptor's ``BEGIN`` is sent first, else it would run in autocommit)."""
    await _seed(database)
    event = HistoryEvent(action="x", created_at=NOW, actor_id=UserId(1))
    async with database.uow as uow:
        await uow.history.add(event)  # the first statement of the transaction
        second = await uow.history.add(event)
        async with database.engine.connect() as other:
            seen = await _events(other)
        assert seen == 0
    async with database.engine.connect() as other:
        left = await _events(other)
    assert left == 0  # rolled back: no commit
    async with database.uow as uow:
        await uow.history.add(event)
        await uow.commit()
    async with database.engine.connect() as other:
        kept = await _events(other)
    assert kept == 1 and second.id > 0


async def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(database: Database) -> None:
    async with database.uow as uow:
        with pytest.raises(IntegrityError):  # no such order: the foreign key refuses it
            await uow.history.add(
                HistoryEvent(action="x", created_at=NOW, order_id=OrderId(999_999))
            )


async def test_in_memory_sqlite_reads_take_their_turn() -> None:
    """An in-memory database has one connection: the reads go through a Core connection
    (their turn, as any transaction), not beside another task's transaction."""
    database = Database("sqlite+aiosqlite://")
    try:
        async with database.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        a, _ = await _seed(database)
        reads = SqlRegistrationReads(database.engine)
        assert reads._direct is None
        stored = await reads.enterprise(a)
        assert stored is not None and stored.name == "Công ty An Phát"
    finally:
        await database.dispose()
