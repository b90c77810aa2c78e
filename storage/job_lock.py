"""One replica at a time runs a round of a background job, and none is required to.

``async with JobLock(database, "payments").round() as mine:`` — ``mine`` is True in the one
process that got PostgreSQL's advisory lock for the job (``pg_try_advisory_xact_lock`` in a
transaction of a connection of its own, held for the round); every other replica gets False at
once and skips the round. Nothing is elected and nothing must be released by hand: when the
round ends the transaction ends and the lock with it, and when the holder dies its connection
closes and PostgreSQL frees the lock, so the next round of any live replica runs the job.

The lock only keeps replicas from doing the same work at the same moment; correctness stays
with the row claims of the use cases (row locks, unique claims), which hold without it.
On SQLite (one process) every round is ``mine``.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import text

from storage.db import Database

__all__ = ["JobLock", "job_key"]


def job_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a job name."""
    digest = hashlib.sha256(f"onesme-job:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class JobLock:
    def __init__(self, database: Database, name: str) -> None:
        self._database = database
        self.name = name
        self.key = job_key(name)

    @asynccontextmanager
    async def round(self) -> AsyncIterator[bool]:
        if self._database.is_sqlite:
            yield True
            return
        async with self._database.engine.connect() as connection, connection.begin():
            taken = await connection.scalar(
                text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": self.key}
            )
            yield bool(taken)
