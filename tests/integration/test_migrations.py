"""The migrations are the schema: they build it from nothing on SQLite and PostgreSQL, agree
with the models, undo cleanly, and several processes may run them at once."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from storage import migrate
from storage.db import create_engine
from storage.migrate import current_revision, downgrade_to_base, head_revision, upgrade_to_head
from storage.models import Base

APP_TABLES = {t.name for t in Base.metadata.sorted_tables}


async def tables(url: str) -> set[str]:
    engine = create_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def schema_differences(url: str) -> list[object]:
    def compare(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(compare)
    finally:
        await engine.dispose()


#: The number of the newest migration file: the chain must end there (one head, none skipped).
LATEST_MIGRATION_FILE = max(
    p.name[:4] for p in (Path(__file__).parents[2] / "storage/migrations/versions").glob("0*.py")
)


async def test_upgrade_downgrade_upgrade(empty_db_url: str) -> None:
    assert await tables(empty_db_url) == set()
    assert await current_revision(empty_db_url) is None

    await upgrade_to_head(empty_db_url)
    assert await tables(empty_db_url) == APP_TABLES | {"alembic_version"}
    assert await current_revision(empty_db_url) == head_revision() == LATEST_MIGRATION_FILE
    assert await schema_differences(empty_db_url) == []  # migrations and models agree

    await upgrade_to_head(empty_db_url)  # idempotent
    assert await current_revision(empty_db_url) == head_revision()

    await downgrade_to_base(empty_db_url)
    assert await tables(empty_db_url) == {"alembic_version"}
    assert await current_revision(empty_db_url) is None

    await upgrade_to_head(empty_db_url)
    assert await tables(empty_db_url) == APP_TABLES | {"alembic_version"}
    assert await schema_differences(empty_db_url) == []


async def test_concurrent_upgrades_in_one_process_are_safe(empty_db_url: str) -> None:
    upgrades = asyncio.gather(*(upgrade_to_head(empty_db_url) for _ in range(3)))
    await asyncio.wait_for(upgrades, timeout=60)
    assert await current_revision(empty_db_url) == head_revision()
    assert await schema_differences(empty_db_url) == []


async def test_replicas_starting_at_once_migrate_safely(empty_db_url: str) -> None:
    """Three processes, as three replicas would: only the database serialises them."""
    code = (
        "import asyncio, sys; from storage.migrate import upgrade_to_head as up; "
        "asyncio.run(up(sys.argv[1]))"
    )
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, empty_db_url, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(3)
    ]
    results = await asyncio.wait_for(
        asyncio.gather(*(p.communicate() for p in processes)), timeout=120
    )
    assert [p.returncode for p in processes] == [0, 0, 0], [err for _, err in results]
    assert await current_revision(empty_db_url) == head_revision()
    assert await schema_differences(empty_db_url) == []


@pytest.mark.postgres
async def test_postgres_upgrade_waits_for_the_advisory_lock(pg_empty_db_url: str) -> None:
    """A replica that starts while another holds the migration lock waits, then finds the
    schema at head instead of racing it."""
    import asyncpg
    from sqlalchemy.engine import make_url

    from storage.migrate import ADVISORY_LOCK_KEY

    dsn = make_url(pg_empty_db_url).set(drivername="postgresql")
    holder = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    try:
        await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        waiting = asyncio.create_task(upgrade_to_head(pg_empty_db_url))
        await asyncio.sleep(0.5)
        assert not waiting.done()
        assert await current_revision(pg_empty_db_url) is None
        await holder.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        await asyncio.wait_for(waiting, timeout=30)
    finally:
        await holder.close()
    assert await current_revision(pg_empty_db_url) == head_revision()


async def test_a_migration_that_finds_sqlite_locked_is_tried_again(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite can refuse at once ("database is locked") while another process sets a new file
    up; the migration (one transaction, nothing changed) is tried again. Other errors, and a
    lock message from PostgreSQL, are raised at once."""
    real = migrate._migration_transaction
    calls: list[str] = []

    async def locked_once(url: str, work: Any) -> Any:
        calls.append(url)
        if len(calls) == 1:
            raise OperationalError(
                "BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked")
            )
        return await real(url, work)

    monkeypatch.setattr(migrate, "_migration_transaction", locked_once)
    monkeypatch.setattr(asyncio, "sleep", _no_sleep)
    if empty_db_url.startswith("sqlite"):
        await upgrade_to_head(empty_db_url)
        assert len(calls) == 2 and await current_revision(empty_db_url) == head_revision()
    else:
        with pytest.raises(OperationalError):
            await upgrade_to_head(empty_db_url)
        assert len(calls) == 1

    async def broken(url: str, work: Any) -> Any:
        calls.append(url)
        raise OperationalError("CREATE", {}, sqlite3.OperationalError("no such table: x"))

    monkeypatch.setattr(migrate, "_migration_transaction", broken)
    calls.clear()
    with pytest.raises(OperationalError):
        await upgrade_to_head(empty_db_url)
    assert len(calls) == 1


async def _no_sleep(_seconds: float) -> None:
    return None
