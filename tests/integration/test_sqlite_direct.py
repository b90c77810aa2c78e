"""A write statement run on SQLite's driver connection (storage/sqlite_direct.py): what it
stores, how it shares the write turns and locks with SQLAlchemy's transactions, how it fails,
and that the engine's statement listeners still see it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, exc, insert, text, update

from bot.metrics import Metrics, count_statements
from domain.model import ConversationRecord
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.models import ConversationRow, CounterRow
from storage.sqlite_direct import DirectWrite
from tests.conftest import sqlite_url
from tests.integration.test_sqlite_inline import counter, lock_from_outside

COUNTERS = cast(Table, CounterRow.__table__)
CONVERSATIONS = cast(Table, ConversationRow.__table__)
NOW = datetime(2026, 3, 1, 8, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
async def database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "direct.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(sqlite_url(path))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("INSERT INTO counters (name, value) VALUES ('n', 0)"))
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def database_any(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    try:
        yield database
    finally:
        await database.dispose()


def increment(database: Database) -> DirectWrite:
    return DirectWrite(
        database.engine,
        update(COUNTERS)
        .where(COUNTERS.c.name == bindparam("counter"))
        .values(value=COUNTERS.c.value + 1),
    )


class Announced:
    """The statements the engine's ``before_cursor_execute`` listeners were given."""

    def __init__(self, database: Database) -> None:
        self.statements: list[str] = []
        self._engine = database.engine.sync_engine
        event.listen(self._engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._seen)


async def test_stores_what_sqlalchemy_would_store(database: Database) -> None:
    """The JSON text and the UTC timestamp SQLAlchemy's bind processors make, byte for byte."""
    store = SqlConversationStore(database.engine)
    values = {
        "state": "checkout.contact",
        "data": {"note": "Đăng ký", "addons": ["SMARTCA-TSA"], "n": 1},
        "version": 7,
        "updated_at": NOW,
    }
    async with database.engine.begin() as connection:
        await connection.execute(store._upsert, {"key": "through-sqlalchemy", **values})
    await DirectWrite(database.engine, store._upsert)({"key": "direct", **values})
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(
                text("SELECT key, state, data, version, updated_at FROM conversations")
            )
        ).all()
    stored = {row[0]: tuple(row[1:]) for row in rows}
    assert stored["direct"] == stored["through-sqlalchemy"]
    assert stored["direct"][-1] == "2026-03-01 08:30:15.123456"


async def test_returns_the_rows_changed(database: Database) -> None:
    assert await increment(database)({"counter": "n"}) == 1
    assert await increment(database)({"counter": "none"}) == 0
    assert await counter(database) == 1


async def test_the_listeners_see_the_begin_and_the_statement(database: Database) -> None:
    announced = Announced(database)
    write = increment(database)
    try:
        await write({"counter": "n"})
    finally:
        announced.close()
    assert announced.statements == ["BEGIN IMMEDIATE", write.sql]


async def test_waits_for_its_turn_behind_a_sqlalchemy_writer(database: Database) -> None:
    """It does not start its transaction while a writer of this process holds the turn (else
    its BEGIN IMMEDIATE would find the database locked), and it writes after that one."""
    announced = Announced(database)
    try:
        async with database.uow as uow:
            await uow.session.execute(text("UPDATE counters SET value = 10"))
            writer = asyncio.create_task(increment(database)({"counter": "n"}))
            for _ in range(5):
                await asyncio.sleep(0.001)
            assert not writer.done()
            assert announced.statements.count("BEGIN IMMEDIATE") == 1  # the unit of work's
            await uow.commit()
        async with asyncio.timeout(5):
            await writer
    finally:
        announced.close()
    assert await counter(database) == 11


async def test_concurrent_writers_of_both_kinds_take_turns(database: Database) -> None:
    async def through_sqlalchemy() -> None:
        async with database.engine.begin() as connection:
            value = (await connection.execute(text("SELECT value FROM counters"))).scalar_one()
            await asyncio.sleep(0.001)
            await connection.execute(text("UPDATE counters SET value = :v"), {"v": value + 1})

    direct = increment(database)
    async with asyncio.timeout(20):
        await asyncio.gather(
            *(
                f()
                for _ in range(10)
                for f in (through_sqlalchemy, lambda: direct({"counter": "n"}))
            )
        )
    assert await counter(database) == 20


async def test_a_failed_statement_rolls_back_and_gives_everything_back(database: Database) -> None:
    add = DirectWrite(database.engine, insert(COUNTERS))
    with pytest.raises(exc.IntegrityError):  # wrapped as SQLAlchemy wraps the driver's error
        await add({"name": "n", "value": 5})
    pool = database.engine.sync_engine.pool
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
    async with asyncio.timeout(5):  # the turn is back
        await increment(database)({"counter": "n"})
        async with database.uow as uow:
            await uow.session.execute(text("UPDATE counters SET value = value + 1"))
            await uow.commit()
    assert await counter(database) == 2


async def test_another_process_lock_is_waited_for_without_blocking_the_loop(
    database: Database,
) -> None:
    other = lock_from_outside(database)
    ticks_while_waiting = 0

    async def heartbeat(writer: asyncio.Task[int]) -> None:
        nonlocal ticks_while_waiting
        while ticks_while_waiting < 5:
            await asyncio.sleep(0.001)
            assert not writer.done()
            ticks_while_waiting += 1
        other.execute("COMMIT")

    try:
        async with asyncio.timeout(60):
            writer = asyncio.create_task(increment(database)({"counter": "n"}))
            await asyncio.gather(writer, heartbeat(writer))
    finally:
        other.close()
    assert ticks_while_waiting == 5
    assert await counter(database) == 101


async def test_refuses_other_databases(db_backend: str, database_any: Database) -> None:
    if db_backend == "sqlite":
        DirectWrite(database_any.engine, insert(CONVERSATIONS))  # accepted
    else:
        with pytest.raises(ValueError, match="SQLite only"):
            DirectWrite(database_any.engine, insert(CONVERSATIONS))


async def test_the_bots_statement_counter_counts_a_draft_save(database: Database) -> None:
    """``onesme_sql_statements`` (the bench's SQL/upd): one statement per save, BEGIN apart."""
    metrics = Metrics()
    stop = count_statements(database.engine.sync_engine, metrics)
    store = SqlConversationStore(database.engine)
    try:
        await store.put(ConversationRecord("chat:1", "checkout.contact", {"n": 1}, 1, NOW))
        await store.delete("chat:1")
    finally:
        stop()
    assert metrics.sql_statements._value.get() == 2
