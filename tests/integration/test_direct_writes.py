"""One-statement writes outside a unit of work (storage/writes.py, storage/pg_direct.py) on
SQLite and PostgreSQL: the contact's upsert stores what the repository's stores in a unit of
work, announced to the statement listeners; on PostgreSQL it is one round trip (no ``BEGIN``,
no ``COMMIT``), and so are the draft's upsert and delete and the outbox worker's look; driver
errors come wrapped, in a unit of work's statements on the driver too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, event, exc, text, update

from domain.model import ConversationRecord, HistoryEvent, User, UserId
from domain.outbox import PendingOutlook
from domain.usecases.outbox import Contact, RecordContact
from storage.conversation_store import SqlConversationStore
from storage.db import Database
from storage.models import CounterRow
from storage.outbox_probe import SqlDueProbe
from storage.pg_direct import PgDirectWrite, changed_rows
from storage.writes import SqlContactWrites
from tests.integration.test_storage_accounts import StatementLog

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
COUNTERS = cast(Table, CounterRow.__table__)


@pytest.fixture
async def pg_database(pg_db_url: str) -> AsyncIterator[Database]:
    database = Database(pg_db_url)
    try:
        yield database
    finally:
        await database.dispose()


class _Clock:
    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at


class _NoUnitOfWork:
    def __call__(self) -> Any:
        raise AssertionError("a unit of work was opened")


@contextmanager
def pg_queries(database: Database) -> Iterator[list[str]]:
    """The queries asyncpg logs on the engine's connections: its `execute` and `fetch`, and the
    transaction control SQLAlchemy sends (not SQLAlchemy's own prepared statements)."""
    sent: list[str] = []

    def log(record: Any) -> None:
        sent.append(" ".join(record.query.split()))

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.driver_connection.add_query_logger(log)

    event.listen(database.engine.sync_engine, "connect", on_connect)
    try:
        yield sent
    finally:
        event.remove(database.engine.sync_engine, "connect", on_connect)


async def test_record_contact_outside_a_unit_of_work_stores_what_the_repository_does(
    database: Database,
) -> None:
    clock = _Clock()
    record = RecordContact(_NoUnitOfWork(), clock, SqlContactWrites(database.engine))
    with StatementLog(database) as log:
        await record(Contact(1, "Lan", "lan", "en"))
    assert len(log.statements) == 1 and "INSERT INTO users" in log.statements[0]
    async with database.uow as uow:
        new = await uow.users.get(UserId(1))
        await uow.users.ensure(UserId(2), NOW)  # granted by id: never wrote
        await uow.users.set_phone(UserId(2), "+84912345678")
        await uow.users.mark_unreachable(UserId(1), NOW + timedelta(minutes=1))
        await uow.commit()
    assert new is not None and new.reachable
    assert (new.first_name, new.username, new.language_code) == ("Lan", "lan", "en")
    assert new.created_at == new.chat_seen_at == NOW

    clock.at = later = NOW + timedelta(hours=1)
    await record(Contact(1, "Lan Nguyễn", None, None))  # back after blocking the bot
    await record(Contact(2, "Chủ", None, "vi"))
    async with database.uow as uow:
        back = await uow.users.get(UserId(1))
        seen = await uow.users.get(UserId(2))
    assert back is not None and back.reachable and back.unreachable_at is None
    assert (back.first_name, back.username, back.language_code) == ("Lan Nguyễn", None, None)
    assert back.created_at == NOW and back.chat_seen_at == later
    assert seen is not None and seen.reachable and seen.phone == "+84912345678"

    # the same rows as the repository's statement in a unit of work
    async with database.uow as uow:
        await uow.users.record_contact(User(UserId(3), "Lan Nguyễn", NOW), later)
        await uow.commit()
    async with database.uow as uow:
        by_uow = await uow.users.get(UserId(3))
    assert by_uow is not None
    assert (by_uow.first_name, by_uow.chat_seen_at, by_uow.unreachable_at) == (
        back.first_name,
        back.chat_seen_at,
        back.unreachable_at,
    )


@pytest.mark.postgres
async def test_on_postgresql_a_contact_and_a_draft_are_one_round_trip_each(
    pg_database: Database,
) -> None:
    database = pg_database
    writes = SqlContactWrites(database.engine)
    store = SqlConversationStore(database.engine)
    with pg_queries(database) as sent:
        await writes.record_contact(User(UserId(1), "Lan", NOW), NOW)
        await store.put(ConversationRecord("chat:1", "checkout.contact", {"a": 1}, 1, NOW))
        await store.delete("chat:1")
        await asyncio.sleep(0)  # asyncpg calls its query loggers soon, not at once
    assert [q.split(" ", 1)[0] for q in sent] == ["INSERT", "INSERT", "DELETE"], sent
    async with database.uow as uow:
        assert (await uow.users.get(UserId(1))) is not None
    assert await store.get("chat:1") is None


@pytest.mark.postgres
async def test_pg_direct_write_counts_rows_and_wraps_driver_errors(
    pg_database: Database,
) -> None:
    database = pg_database
    bump = PgDirectWrite(
        database.engine,
        update(COUNTERS)
        .where(COUNTERS.c.name == bindparam("counter"))
        .values(value=COUNTERS.c.value + bindparam("by")),
    )
    async with database.engine.begin() as connection:
        await connection.execute(COUNTERS.insert(), [{"name": "n", "value": 0}])
    assert await bump({"counter": "n", "by": 2}) == 1
    assert await bump({"counter": "missing", "by": 1}) == 0
    with pytest.raises(exc.DBAPIError):
        await bump({"counter": "n", "by": 2**62 * 4})  # out of BIGINT's range
    async with database.engine.connect() as connection:
        value = (await connection.execute(COUNTERS.select())).one().value
    assert value == 2
    assert (changed_rows("INSERT 0 3"), changed_rows("DELETE 0"), changed_rows("BEGIN")) == (
        3,
        0,
        0,
    )


@pytest.mark.postgres
async def test_a_lost_connection_in_a_unit_of_work_on_the_driver_fails_as_sqlalchemy_fails(
    pg_database: Database,
) -> None:
    """A statement the unit of work runs on asyncpg (``SqlRepository._rows``) whose connection
    the server ended raises SQLAlchemy's ``DBAPIError``, the block rolls back without a second
    error, and the next unit of work runs on a new connection."""
    database = pg_database
    event_ = HistoryEvent(action="x", created_at=NOW)
    async with database.uow as uow:
        await uow.history.add(event_)
        pid = (await uow.session.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        async with database.engine.connect() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(exc.DBAPIError):
            await uow.history.add(event_)
    async with database.uow as uow:
        await uow.history.add(event_)
        await uow.commit()
    async with database.engine.connect() as other:
        count = (await other.execute(text("SELECT count(*) FROM history_events"))).scalar_one()
    assert count == 1


@pytest.mark.postgres
async def test_on_postgresql_the_outbox_look_is_one_round_trip(pg_database: Database) -> None:
    """The outbox worker's look (once a second on PostgreSQL) is one statement in autocommit:
    no ``BEGIN`` and ``ROLLBACK`` around it."""
    probe = SqlDueProbe(pg_database)
    with pg_queries(pg_database) as sent:
        outlook = await probe()
        await asyncio.sleep(0)
    assert outlook == PendingOutlook(0, None, None)
    assert [q.split(" ", 1)[0] for q in sent] == ["SELECT"], sent
