"""PostgreSQL's pooled connections are checked as they are handed out (``storage.db``,
``_check_on_checkout``) instead of pinged before every use: a connection the server ended is
replaced, as a ping found it before; a connection in steady use is not pinged; one idle long
enough is, and replaced when the ping fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, literal_column, select, text
from sqlalchemy.engine import make_url

from storage.db import Database
from storage.direct_read import DirectRead

pytestmark = pytest.mark.postgres


@pytest.fixture
async def database(pg_db_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Database]:
    ping_after: float = getattr(request, "param", 3600.0)
    db = Database(pg_db_url, ping_after_idle=ping_after)
    try:
        yield db
    finally:
        await db.dispose()


async def _one(db: Database) -> int:
    async with db.uow:
        value = (await db.uow.session.execute(text("SELECT 1"))).scalar_one()
        await db.uow.commit()
    return int(value)


def _made(db: Database) -> list[Any]:
    """The asyncpg connections the pool makes from now on."""
    made: list[Any] = []

    def connected(dbapi_connection: Any, _record: Any) -> None:
        made.append(db.engine.dialect.get_driver_connection(dbapi_connection))

    event.listen(db.engine.sync_engine, "connect", connected)
    return made


def _count_pings(db: Database, monkeypatch: pytest.MonkeyPatch, fail: int = 0) -> list[int]:
    pings = [0]
    dialect = db.engine.dialect
    real = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pings[0] += 1
        if pings[0] <= fail:
            raise dialect.loaded_dbapi.InterfaceError("connection is closed")
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", do_ping)
    return pings


async def test_connections_the_server_ended_are_replaced_without_an_error(
    database: Database, pg_db_url: str
) -> None:
    made = _made(database)
    read = DirectRead(database.engine, select(literal_column("2").label("two")))
    # two connections pooled (two tasks at once), then the server ends both (as a restart does)
    await asyncio.gather(_one(database), _one(database))
    assert len(made) == 2
    dsn = make_url(pg_db_url).set(drivername="postgresql").render_as_string(hide_password=False)
    admin = await asyncpg.connect(dsn)
    try:
        ended = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    assert ended >= 2
    for _ in range(500):  # until the event loop has read the servers' goodbyes
        if all(connection.is_closed() for connection in made):
            break
        await asyncio.sleep(0.01)
    assert all(connection.is_closed() for connection in made)

    assert await _one(database) == 1
    assert [row.two for row in await read({})] == [2]
    # each of the two a new connection (the first check dropped every pooled one)
    assert len(made) == 4
    assert not any(connection.is_closed() for connection in made[2:])


async def test_a_connection_in_steady_use_is_not_pinged(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings = _count_pings(database, monkeypatch)
    read = DirectRead(database.engine, select(literal_column("2").label("two")))
    for _ in range(3):
        assert await _one(database) == 1
        assert [row.two for row in await read({})] == [2]
    assert pings == [0]


@pytest.mark.parametrize("database", [0.0], indirect=True)
async def test_an_idle_connection_is_pinged_and_replaced_when_the_ping_fails(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = _made(database)
    assert await _one(database) == 1  # a new connection: not pinged
    pings = _count_pings(database, monkeypatch, fail=1)
    assert await _one(database) == 1  # idle "long enough" (0 s): pinged, failed, replaced
    assert pings == [1]
    assert len(made) == 2
    assert made[0].is_closed()
    assert await _one(database) == 1  # pinged, kept
    assert pings == [2]
    assert len(made) == 2
    assert not made[1].is_closed()
