"""The outbox worker's look between rounds (:class:`domain.outbox.DueProbe`): how many rows
are pending, since when, and when the first of them may be claimed.

Most rounds of an idle worker find nothing. The claim is a write transaction (on SQLite the
process' write turn and ``BEGIN IMMEDIATE``; on PostgreSQL ``FOR UPDATE SKIP LOCKED``) and
builds its statements anew; this look is one aggregate ``SELECT`` over the PENDING rows (the
``status`` index), built once, on a connection of its own in a read transaction (SQLite
``BEGIN DEFERRED``) that takes no lock; on PostgreSQL (asyncpg) in autocommit, one round trip.
Its ``next_due`` is the claim's condition turned into a time: a row is claimable once
``available_at`` has passed and its lease (if any) is over. PENDING rows are few unless
Telegram is refusing or slow (a backlog): then the look reads each of them, once per round
of up to 50 sends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import case, func, select

from domain.outbox import OutboxStatus, PendingOutlook
from storage.db import SQLITE_BEGIN_OPTION, Database
from storage.direct_read import DirectRead
from storage.models import OutboxRow

__all__ = ["SqlDueProbe"]

_LOOK = select(
    func.count(),
    func.min(OutboxRow.created_at),
    func.min(
        case(
            (OutboxRow.lease_until > OutboxRow.available_at, OutboxRow.lease_until),
            else_=OutboxRow.available_at,
        )
    ),
).where(OutboxRow.status == OutboxStatus.PENDING.value)


def _utc(value: datetime | str | None) -> datetime | None:
    """SQLite's ``min()`` returns the stored text or a naive datetime (no column type)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class SqlDueProbe:
    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        self._sqlite = database.is_sqlite
        # on asyncpg the one statement in autocommit (storage.direct_read): one round trip,
        # where a Core connection sent BEGIN, the statement and ROLLBACK (READ COMMITTED: the
        # statement sees what was committed when it began, either way)
        asyncpg = database.engine.dialect.driver == "asyncpg"
        self._direct = DirectRead(self._engine, cast(Any, _LOOK)) if asyncpg else None

    async def __call__(self) -> PendingOutlook:
        if self._direct is not None:
            depth, oldest, next_due = (await self._direct({}))[0]
            return PendingOutlook(int(depth), _utc(oldest), _utc(next_due))
        async with self._engine.connect() as connection:
            if self._sqlite:
                connection = await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            depth, oldest, next_due = (await connection.execute(_LOOK)).one()
        return PendingOutlook(int(depth), _utc(oldest), _utc(next_due))
