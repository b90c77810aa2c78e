"""SQLite for the async engine without a worker thread: ``sqlite+aiosqlite://`` URLs run on
this dialect (:func:`storage.db.create_engine` swaps the driver).

aiosqlite runs each connection in its own thread and hands every call (cursor, execute,
fetch, commit) over with a queue and a future: several thread hops per statement, each
costing a switch of the GIL and a turn of the event loop. The bot's statements are small
(a key lookup, an upsert) and SQLite answers them in microseconds from its page cache, with
``synchronous = NORMAL`` in WAL mode a commit writes no fsync. So here the standard ``sqlite3``
module runs them directly in the event loop's thread, inside SQLAlchemy's greenlet: no hop,
and a short transaction (``BEGIN IMMEDIATE``, an upsert, ``COMMIT``) runs without yielding to
the loop at all.

Blocking is bounded by :class:`storage.db._SqliteWriteTurns`: the writers of this process take
turns on an asyncio lock before ``BEGIN IMMEDIATE``, so a writer never waits for another
writer of the same process in SQLite's busy handler (which would now block the loop). Only a
write lock held by *another process* (a CLI command) makes a ``BEGIN IMMEDIATE`` wait here,
as long as that transaction lasts (at most the busy timeout).
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

__all__ = ["DRIVER", "SQLiteDialect_inline"]

#: the driver name in URLs: ``sqlite+onesme_inline://``
DRIVER = "onesme_inline"


async def _ready() -> None:
    return None


def _touch_loop() -> None:
    # AsyncConnection.execute insists that the statement awaited something (a sync driver by
    # mistake would block the loop): one await of a finished coroutine, which never suspends
    if in_greenlet():
        await_only(_ready())


class _Cursor(sqlite3.Cursor):
    """Fetches every row at once, as SQLAlchemy's adapter of aiosqlite does: a result read
    after its transaction ended still has its rows."""

    _rows: deque[Any]

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        super().execute(sql, parameters)
        self._rows = deque(super().fetchall() if self.description else ())
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        super().executemany(sql, seq_of_parameters)
        self._rows = deque()
        return self

    def fetchone(self) -> Any:
        rows = getattr(self, "_rows", None)
        return rows.popleft() if rows else None

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = getattr(self, "_rows", None) or deque()
        count = self.arraysize if size is None else size
        return [rows.popleft() for _ in range(min(count, len(rows)))]

    def fetchall(self) -> list[Any]:
        rows = getattr(self, "_rows", None) or deque()
        found = list(rows)
        rows.clear()
        return found

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> Any:
        rows = getattr(self, "_rows", None)
        if not rows:
            raise StopIteration
        return rows.popleft()

    def close(self) -> None:
        rows = getattr(self, "_rows", None)
        if rows:
            rows.clear()
        super().close()

    async def _async_soft_close(self) -> None:
        """Called by SQLAlchemy's asyncio results: the rows are in memory already."""


class _Connection(sqlite3.Connection):
    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)


class SQLiteDialect_inline(SQLiteDialect_pysqlite):
    driver = DRIVER
    supports_statement_cache = True
    #: statements run inside greenlet_spawn (AsyncEngine's requirement); they never await
    is_async = True

    @classmethod
    def get_pool_class(cls, url: URL) -> type[pool.Pool]:
        if cls._is_url_file_db(url):
            return pool.AsyncAdaptedQueuePool
        return pool.StaticPool

    def do_execute(self, cursor: Any, statement: Any, parameters: Any, context: Any = None) -> None:
        _touch_loop()
        cursor.execute(statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        _touch_loop()
        cursor.execute(statement)

    def do_executemany(
        self, cursor: Any, statement: Any, parameters: Any, context: Any = None
    ) -> None:
        _touch_loop()
        cursor.executemany(statement, parameters)

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # connections live in the event loop's thread, but a pool may close one from another
        # (garbage collection at interpreter exit)
        kwargs.setdefault("check_same_thread", False)
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")
