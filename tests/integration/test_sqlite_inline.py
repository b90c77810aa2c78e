"""SQLite in the event loop's thread (storage/sqlite_inline.py) with the write turns of
storage/db.py: concurrent writers of one process, failed transactions, buffered results, and
a write lock of another connection waited for without blocking the event loop."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import exc, text

from storage import db as storage_db
from storage import sqlite_inline
from storage.db import SQLITE_BEGIN_OPTION, Database
from storage.sqlite_inline import DRIVER
from tests.conftest import sqlite_url


@pytest.fixture
async def database(sqlite_template: Path, tmp_path: Path) -> AsyncIterator[Database]:
    path = tmp_path / "inline.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(sqlite_url(path))
    try:
        async with database.engine.begin() as connection:
            await connection.execute(text("INSERT INTO counters (name, value) VALUES ('n', 0)"))
        yield database
    finally:
        await database.dispose()


async def counter(database: Database) -> int:
    async with database.engine.connect() as connection:
        value = (await connection.execute(text("SELECT value FROM counters"))).scalar_one()
    return int(value)


async def test_an_aiosqlite_url_runs_on_the_inline_driver(database: Database) -> None:
    assert database.engine.dialect.driver == DRIVER
    assert database.engine.url.drivername == f"sqlite+{DRIVER}"


async def test_writers_that_wait_inside_their_transaction_take_turns(database: Database) -> None:
    """Read, yield to the loop, write: without turns the second writer's BEGIN IMMEDIATE would
    block the loop's thread while the first one cannot go on."""

    async def increment() -> None:
        async with database.engine.begin() as connection:
            value = (await connection.execute(text("SELECT value FROM counters"))).scalar_one()
            await asyncio.sleep(0.001)
            await connection.execute(text("UPDATE counters SET value = :v"), {"v": value + 1})

    async with asyncio.timeout(20):
        await asyncio.gather(*(increment() for _ in range(20)))
    assert await counter(database) == 20


async def test_two_engines_on_one_file_share_the_turns(database: Database) -> None:
    """Two Database objects on one file in one event loop (a replica's worker, a test's second
    engine): without one queue per file the second BEGIN IMMEDIATE would block the loop's thread
    in SQLite's busy handler until "database is locked"."""
    other = Database(str(database.engine.url))

    async def increment(db: Database) -> None:
        async with db.engine.begin() as connection:
            value = (await connection.execute(text("SELECT value FROM counters"))).scalar_one()
            await asyncio.sleep(0.001)
            await connection.execute(text("UPDATE counters SET value = :v"), {"v": value + 1})

    try:
        async with asyncio.timeout(20):
            await asyncio.gather(*(increment(db) for db in [database, other] * 10))
    finally:
        await other.dispose()
    assert await counter(database) == 20


async def test_units_of_work_and_bare_connections_share_the_turns(database: Database) -> None:
    async def through_uow() -> None:
        async with database.uow as uow:
            session = uow.session
            value = (await session.execute(text("SELECT value FROM counters"))).scalar_one()
            await asyncio.sleep(0)
            await session.execute(text("UPDATE counters SET value = :v"), {"v": value + 1})
            await uow.commit()

    async def through_connection() -> None:
        async with database.engine.begin() as connection:
            value = (await connection.execute(text("SELECT value FROM counters"))).scalar_one()
            await asyncio.sleep(0)
            await connection.execute(text("UPDATE counters SET value = :v"), {"v": value + 1})

    async with asyncio.timeout(20):
        await asyncio.gather(*(f() for _ in range(8) for f in (through_uow, through_connection)))
    assert await counter(database) == 16


async def test_a_failed_or_abandoned_transaction_gives_its_turn_back(database: Database) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE counters SET value = 100"))
            raise RuntimeError("boom")
    async with database.uow as uow:  # left without commit: rolled back
        await uow.session.execute(text("UPDATE counters SET value = 200"))
    async with asyncio.timeout(5), database.engine.begin() as connection:
        await connection.execute(text("UPDATE counters SET value = value + 1"))
    assert await counter(database) == 1


async def test_rows_are_read_before_the_transaction_ends(database: Database) -> None:
    async with database.engine.begin() as connection:
        for name in ("a", "b", "c"):
            await connection.execute(
                text("INSERT INTO counters (name, value) VALUES (:n, 1)"), {"n": name}
            )
    async with database.engine.connect() as connection:
        result = await connection.execute(text("SELECT name FROM counters ORDER BY name"))
    assert [row.name for row in result] == ["a", "b", "c", "n"]


def lock_from_outside(database: Database) -> sqlite3.Connection:
    """A plain sqlite3 connection (as a CLI command in another process would hold one) that
    holds the write lock of the database until it commits or rolls back."""
    path = database.engine.url.database
    assert path is not None
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    other.execute("UPDATE counters SET value = 100")
    return other


async def test_a_write_lock_of_another_connection_does_not_block_the_loop(
    database: Database,
) -> None:
    """The writer's BEGIN IMMEDIATE waits for the outside lock while the loop keeps running:
    a heartbeat on the same loop ticks, and it is the heartbeat that releases the lock (with
    SQLite's busy handler in the loop's thread it could never tick, and the writer would fail
    with "database is locked" after the busy timeout)."""
    other = lock_from_outside(database)
    ticks_while_waiting = 0

    async def write() -> None:
        async with database.engine.begin() as connection:
            await connection.execute(text("UPDATE counters SET value = value + 1"))

    async def heartbeat(writer: asyncio.Task[None]) -> None:
        nonlocal ticks_while_waiting
        while ticks_while_waiting < 5:
            await asyncio.sleep(0.001)
            assert not writer.done()  # it cannot have written: the lock is still held
            ticks_while_waiting += 1
        other.execute("COMMIT")

    try:
        async with asyncio.timeout(60):
            writer = asyncio.create_task(write())
            await asyncio.gather(writer, heartbeat(writer))
    finally:
        other.close()
    assert ticks_while_waiting == 5
    assert await counter(database) == 101  # written after the other connection's commit


async def test_a_lock_held_past_the_busy_timeout_fails_as_before(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same error as SQLite's own busy handler gives after the timeout, and the loop ran
    meanwhile."""
    monkeypatch.setattr(storage_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    short = Database(str(database.engine.url))  # its connections get the short timeout
    other = lock_from_outside(database)
    ticks = 0
    written = asyncio.Event()

    async def write() -> None:
        try:
            async with short.engine.begin() as connection:
                await connection.execute(text("UPDATE counters SET value = value + 1"))
        finally:
            written.set()

    async def heartbeat() -> None:
        nonlocal ticks
        while not written.is_set():
            await asyncio.sleep(0.001)
            ticks += 1

    try:
        async with asyncio.timeout(60):
            results = await asyncio.gather(write(), heartbeat(), return_exceptions=True)
        other.close()  # rolled back
        async with asyncio.timeout(5), short.engine.begin() as connection:  # the turn is back
            await connection.execute(text("UPDATE counters SET value = value + 1"))
    finally:
        other.close()
        await short.dispose()
    error = results[0]
    assert isinstance(error, exc.OperationalError)
    assert isinstance(error.orig, sqlite3.OperationalError)
    assert str(error.orig) == "database is locked"
    assert error.orig.sqlite_errorcode == sqlite3.SQLITE_BUSY
    assert results[1] is None
    assert ticks > 1  # the loop ran while the writer waited
    assert await counter(database) == 1


async def test_a_stale_read_transaction_that_writes_fails_at_once(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLITE_BUSY_SNAPSHOT (a read transaction that cannot become a write transaction) is not
    a lock to wait for: SQLite's handler is not called for it, and the driver does not pause."""
    pauses: list[float] = []
    monkeypatch.setattr(sqlite_inline, "_pause", pauses.append)
    async with database.engine.connect() as connection:
        connection = await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
        await connection.execute(text("SELECT value FROM counters"))
        other = lock_from_outside(database)  # writes after this transaction's first read
        other.execute("COMMIT")
        other.close()
        with pytest.raises(exc.OperationalError) as raised:
            await connection.execute(text("UPDATE counters SET value = 1"))
        await connection.rollback()
    assert isinstance(raised.value.orig, sqlite3.OperationalError)
    assert raised.value.orig.sqlite_errorcode == 517  # SQLITE_BUSY_SNAPSHOT
    assert pauses == []
    assert await counter(database) == 100


async def test_executemany_keeps_the_busy_handler_off_afterwards(database: Database) -> None:
    async with database.engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO counters (name, value) VALUES (:n, 1)"), [{"n": "a"}, {"n": "b"}]
        )
        timeout = (await connection.execute(text("PRAGMA busy_timeout"))).scalar_one()
    assert timeout == 0
    async with database.engine.connect() as connection:
        total = (await connection.execute(text("SELECT sum(value) FROM counters"))).scalar_one()
    assert total == 2


async def test_an_idle_pooled_connection_is_taken_without_the_greenlet(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = database.engine
    first = await sqlite_inline.checkout(engine)  # none idle yet, or one: either way
    given_back = first.dbapi_connection
    first.close()

    async def no_greenlet() -> None:
        raise AssertionError("the idle connection went through AsyncEngine.raw_connection")

    monkeypatch.setattr(type(engine), "raw_connection", lambda self: no_greenlet())
    again = await sqlite_inline.checkout(engine)
    try:
        connection = again.dbapi_connection
        assert connection is given_back
        assert connection is not None
        cursor = connection.cursor()
        cursor.execute("SELECT value FROM counters")
        assert cursor.fetchall() == [(0,)]
        cursor.close()
    finally:
        again.close()


async def test_with_no_idle_connection_the_checkout_waits_for_one_given_back(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "one.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(sqlite_url(path), pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        held = await sqlite_inline.checkout(database.engine)
        waiting = asyncio.create_task(sqlite_inline.checkout(database.engine))
        await asyncio.sleep(0.05)
        assert not waiting.done()  # the pool's wait, in the greenlet, not an error
        connection = held.dbapi_connection
        held.close()
        async with asyncio.timeout(5):
            taken = await waiting
        assert taken.dbapi_connection is connection
        taken.close()
    finally:
        await database.dispose()
