"""The outbox worker's look between rounds (:class:`domain.outbox.DueProbe`): is any row
claimable now?

Most rounds of an idle worker find nothing. The claim is a write transaction (on SQLite the
process' write turn and ``BEGIN IMMEDIATE``; on PostgreSQL ``FOR UPDATE SKIP LOCKED``) and
builds its statements anew; this look is one ``SELECT … LIMIT 1`` built once (the time is a
bound parameter, so neither the statement nor its cache key is built per look), on a
connection of its own in a read transaction (SQLite ``BEGIN DEFERRED``) that takes no lock.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, or_, select

from domain.outbox import OutboxStatus
from storage.db import SQLITE_BEGIN_OPTION, Database
from storage.models import OutboxRow

__all__ = ["SqlDueProbe"]

#: the claim's condition (storage.repositories.outbox), with ``now`` bound at each look
_DUE = (
    select(OutboxRow.id)
    .where(
        OutboxRow.status == OutboxStatus.PENDING.value,
        OutboxRow.available_at <= bindparam("now"),
        or_(OutboxRow.lease_until.is_(None), OutboxRow.lease_until <= bindparam("now")),
    )
    .limit(1)
)


class SqlDueProbe:
    def __init__(self, database: Database) -> None:
        self._engine = database.engine
        self._sqlite = database.is_sqlite

    async def __call__(self, now: datetime) -> bool:
        async with self._engine.connect() as connection:
            if self._sqlite:
                connection = await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            row = (await connection.execute(_DUE, {"now": now})).first()
        return row is not None
