"""Bringing a database schema to the latest migration (or back), from code.

Migrations are the only way the schema is made. Each run is one transaction; on PostgreSQL it
first takes a transaction-scoped advisory lock, so several replicas starting at once migrate one
after the other (the later ones find the schema at head and do nothing). SQLite transactions
start with ``BEGIN IMMEDIATE``, which serialises them the same way.

Developers write a new revision with ``python -m storage.migrate revision -m "…"
[--autogenerate]`` (no alembic.ini anywhere).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from storage.db import create_engine, is_sqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

#: an arbitrary constant identifying "the onesme-bot schema migration" among advisory locks
ADVISORY_LOCK_KEY = 0x6F6E_6573_6D65  # "onesme"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


#: Alembic keeps the running migration in module-level proxies (``alembic.op``,
#: ``alembic.context``), so two migrations in one process must never overlap, whatever their
#: databases. Taken before the database lock (the reverse order could deadlock).
_PROCESS_LOCK = threading.Lock()


@asynccontextmanager
async def _process_lock() -> AsyncIterator[None]:
    while not _PROCESS_LOCK.acquire(blocking=False):  # noqa: ASYNC110 - shared across loops
        await asyncio.sleep(0.02)
    try:
        yield
    finally:
        _PROCESS_LOCK.release()


#: how often a migration that found a SQLite database locked is tried again (replicas starting
#: at once on a new file: SQLite can answer "database is locked" without waiting, e.g. while
#: another process switches the new file to WAL); the run is one transaction, so a failed one
#: changed nothing
SQLITE_LOCKED_RETRIES = 3


async def _in_migration_transaction(url: str, work: Callable[[Connection], Any]) -> Any:
    for attempt in range(SQLITE_LOCKED_RETRIES + 1):
        try:
            return await _migration_transaction(url, work)
        except OperationalError as error:
            locked = "database is locked" in str(error) and is_sqlite(url)
            if not locked or attempt == SQLITE_LOCKED_RETRIES:
                raise
            log.warning("migration: the SQLite database was locked; trying again")
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


async def _migration_transaction(url: str, work: Callable[[Connection], Any]) -> Any:
    # Foreign keys off on SQLite: batch migrations rebuild tables by copy-and-rename.
    engine = create_engine(url, sqlite_foreign_keys=False, null_pool=True)
    try:
        async with _process_lock(), engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            return await connection.run_sync(work)
    finally:
        await engine.dispose()


def _command(name: str, revision: str) -> Callable[[Connection], None]:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, name)(config, revision)

    return run


async def upgrade_to_head(url: str) -> None:
    """Apply every pending migration; a no-op when the schema is already at head."""
    await _in_migration_transaction(url, _command("upgrade", "head"))


async def downgrade_to_base(url: str) -> None:
    """Undo every migration (drops all the application's tables)."""
    await _in_migration_transaction(url, _command("downgrade", "base"))


async def current_revision(url: str) -> str | None:
    """The revision the database is at (None for an empty database)."""

    def read(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    engine = create_engine(url, null_pool=True)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Developer entry point: ``python -m storage.migrate revision -m MESSAGE [--autogenerate]``
    (against ``DATABASE_URL``, which must be at head), ``upgrade`` or ``downgrade``."""
    parser = argparse.ArgumentParser(prog="python -m storage.migrate")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision")
    revision.add_argument("-m", "--message", required=True)
    revision.add_argument("--autogenerate", action="store_true")
    revision.add_argument("--rev-id")
    sub.add_parser("upgrade")
    sub.add_parser("downgrade")
    args = parser.parse_args(argv)
    url = os.environ.get("DATABASE_URL", "sqlite+aiosqlite:///onesme.db")
    if args.command == "upgrade":
        asyncio.run(upgrade_to_head(url))
    elif args.command == "downgrade":
        asyncio.run(downgrade_to_base(url))
    else:
        command.revision(
            alembic_config(url),
            message=args.message,
            autogenerate=args.autogenerate,
            rev_id=args.rev_id,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
