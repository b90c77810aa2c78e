"""Writes that are one statement and nothing else, outside any unit of work
(:class:`domain.ports.ContactWrites`): each committed when the call returns.

- PostgreSQL (asyncpg): the statement in autocommit (:class:`storage.pg_direct.PgDirectWrite`),
  one round trip. PostgreSQL runs it in a transaction of its own, so it is as atomic as it was
  between ``BEGIN`` and ``COMMIT``, which cost two more round trips and a session.
- SQLite (a file): on the driver in its own ``BEGIN IMMEDIATE`` transaction after the writer's
  turn (:class:`storage.sqlite_direct.DirectWrite`), as every other writer.
- Otherwise (an in-memory SQLite database shares one connection: a write beside another task's
  transaction would end up inside it) a Core connection's transaction, as before.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.model import User
from storage.pg_direct import PgDirectWrite
from storage.repositories.accounts import contact_values, record_contact_statement
from storage.sqlite_direct import DirectWrite

__all__ = ["OneStatementWrite", "SqlContactWrites", "direct_write"]


def direct_write(engine: AsyncEngine, statement: Any) -> DirectWrite | PgDirectWrite | None:
    """``statement`` run on the driver and committed on its own, or None where that is not
    done (another driver, an in-memory SQLite database)."""
    dialect = engine.dialect
    if dialect.name == "sqlite":
        if make_url(str(engine.url)).database in (None, "", ":memory:"):
            return None
        return DirectWrite(engine, statement)
    if dialect.driver == "asyncpg":
        return PgDirectWrite(engine, statement)
    return None


class OneStatementWrite:
    """``await write(values)``: ``statement`` committed on its own, on the driver where
    :func:`direct_write` does it, else in a Core connection's transaction."""

    __slots__ = ("_direct", "_engine", "_statement")

    def __init__(self, engine: AsyncEngine, statement: Any) -> None:
        self._engine = engine
        self._statement = statement
        self._direct = direct_write(engine, statement)

    async def __call__(self, values: Mapping[str, Any]) -> None:
        if self._direct is not None:
            await self._direct(values)
            return
        async with self._engine.begin() as connection:
            await connection.execute(self._statement, dict(values))


class SqlContactWrites:
    def __init__(self, engine: AsyncEngine) -> None:
        self._write = OneStatementWrite(engine, record_contact_statement(engine.dialect.name))

    async def record_contact(self, user: User, now: datetime) -> None:
        await self._write(contact_values(user, now))
