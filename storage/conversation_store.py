"""Conversation drafts in the SQL database (used when ``REDIS_URL`` is unset).

Each call is one statement outside any unit of work: on PostgreSQL in autocommit mode (one
round trip), on SQLite in its own short transaction. ``put`` is an upsert; it and ``delete``
(once per update and once per finished draft) run on the driver's connection
(:class:`storage.writes.OneStatementWrite`: ``DirectWrite`` on an SQLite file, committed as
before; ``PgDirectWrite`` on asyncpg, in autocommit as before).
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.model import ConversationRecord
from storage.db import SQLITE_BEGIN_OPTION
from storage.models import ConversationRow
from storage.writes import OneStatementWrite

_TABLE = cast(Table, ConversationRow.__table__)


class SqlConversationStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._postgresql = engine.dialect.name == "postgresql"
        if self._postgresql:
            self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self._engine = engine
        # built once: SQLAlchemy then reuses its cache key and compiled form on every put
        insert = postgresql.insert if self._postgresql else sqlite.insert
        stmt = insert(_TABLE)
        self._upsert = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "state": stmt.excluded.state,
                "data": stmt.excluded.data,
                "version": stmt.excluded.version,
                "updated_at": stmt.excluded.updated_at,
            },
        )
        self._delete = delete(_TABLE).where(_TABLE.c.key == bindparam("key"))
        self._put = OneStatementWrite(engine, self._upsert)
        self._remove = OneStatementWrite(engine, self._delete)

    async def get(self, key: str) -> ConversationRecord | None:
        async with self._engine.connect() as connection:
            connection = await self._read_only(connection)
            row = (await connection.execute(select(_TABLE).where(_TABLE.c.key == key))).first()
        if row is None:
            return None
        return ConversationRecord(
            key=row.key,
            state=row.state,
            data=dict(row.data or {}),
            version=row.version,
            updated_at=row.updated_at,
        )

    async def put(self, record: ConversationRecord) -> None:
        values = {
            "key": record.key,
            "state": record.state,
            "data": record.data,
            "version": record.version,
            "updated_at": record.updated_at,
        }
        await self._put(values)

    async def delete(self, key: str) -> None:
        await self._remove({"key": key})

    async def purge(self, older_than: datetime) -> int:
        """Forget drafts untouched since ``older_than``; returns how many."""
        async with self._engine.begin() as connection:
            result = await connection.execute(
                delete(_TABLE).where(_TABLE.c.updated_at < older_than)
            )
        return result.rowcount

    async def _read_only(self, connection: AsyncConnection) -> AsyncConnection:
        if self._postgresql:
            return connection
        return await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
