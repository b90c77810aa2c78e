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

The writers of this process take turns on an asyncio lock before ``BEGIN IMMEDIATE``
(:class:`storage.db._SqliteWriteTurns`), so a writer never waits for another writer of the
same process. A write lock held by *another process* (a CLI command, a second bot) is waited
for without blocking the loop: :func:`wait_for_locks_on_the_loop` turns SQLite's busy handler
off (it sleeps in the loop's thread) and a statement that finds the database locked
(``SQLITE_BUSY``) is tried again after an ``asyncio.sleep`` (1 ms, doubled up to 25 ms), until
the busy timeout is spent; then the last "database is locked" error is raised, as SQLite's own
handler would have raised it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

__all__ = [
    "DRIVER",
    "SQLiteDialect_inline",
    "checkout",
    "patiently",
    "wait_for_locks_on_the_loop",
]

#: the driver name in URLs: ``sqlite+onesme_inline://``
DRIVER = "onesme_inline"


async def _ready() -> None:
    return None


def _touch_loop() -> None:
    # AsyncConnection.execute insists that the statement awaited something (a sync driver by
    # mistake would block the loop): one await of a finished coroutine, which never suspends
    if in_greenlet():
        await_only(_ready())


#: the waits between two tries of a statement that found the database locked: SQLite's own
#: handler sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
_FIRST_RETRY_S = 0.001
_LONGEST_RETRY_S = 0.025
#: "database is locked": another connection holds the lock (the cases where SQLite calls its busy
#: handler). Not SQLITE_BUSY_SNAPSHOT (517): a read transaction that cannot become a write
#: transaction, which no wait cures and which SQLite reports at once.
_BUSY_CODES = frozenset({sqlite3.SQLITE_BUSY, 261})  # 261: SQLITE_BUSY_RECOVERY

_T = TypeVar("_T")


def _is_busy(error: sqlite3.OperationalError) -> bool:
    return getattr(error, "sqlite_errorcode", None) in _BUSY_CODES


def _pause(seconds: float) -> None:
    if in_greenlet():
        await_only(asyncio.sleep(seconds))  # the loop runs the other tasks meanwhile
    else:  # outside the async engine (a connection closed by the pool): as SQLite's handler
        time.sleep(seconds)


def _pauses(connection: Any) -> Iterator[float]:
    """The waits before each new try of a statement that found the database locked, within
    ``connection.busy_wait`` seconds (none when it is 0: SQLite's busy handler waited)."""
    budget = getattr(connection, "busy_wait", 0.0)
    if budget <= 0:
        return
    deadline = time.monotonic() + budget
    delay = _FIRST_RETRY_S
    while (remaining := deadline - time.monotonic()) > 0:
        yield min(delay, remaining)
        delay = min(delay * 2, _LONGEST_RETRY_S)


def _patiently(connection: Any, call: Callable[..., _T], *args: Any) -> _T:
    """``call(*args)``, tried again while the database is locked by another connection, for at
    most ``connection.busy_wait`` seconds. A statement that failed with SQLITE_BUSY changed
    nothing (SQLite rolled that statement back), and a failed COMMIT leaves its transaction
    open: trying it again is what SQLite's busy handler would have done."""
    try:
        return call(*args)
    except sqlite3.OperationalError as error:
        if not _is_busy(error):
            raise
        locked = error
    for pause in _pauses(connection):
        _pause(pause)
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            locked = error
    raise locked


async def patiently(connection: Any, call: Callable[..., _T], *args: Any) -> _T:
    """:func:`_patiently` for callers outside SQLAlchemy's greenlet: the waits are awaited."""
    try:
        return call(*args)
    except sqlite3.OperationalError as error:
        if not _is_busy(error):
            raise
        locked = error
    for pause in _pauses(connection):
        await asyncio.sleep(pause)
        try:
            return call(*args)
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
            locked = error
    raise locked


def wait_for_locks_on_the_loop(dbapi_connection: Any, timeout_ms: int) -> None:
    """Have a connection of this driver wait for another process' lock (up to ``timeout_ms``)
    in ``asyncio.sleep`` between tries instead of in SQLite's busy handler, which sleeps in the
    event loop's thread. Call it after the connection's set-up statements (which still wait in
    SQLite's handler, once per new connection); other connections are left as they are."""
    if isinstance(dbapi_connection, _Connection):
        dbapi_connection.execute("PRAGMA busy_timeout = 0")
        dbapi_connection.busy_wait = timeout_ms / 1000


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
    #: seconds a statement may wait for another connection's lock, in ``asyncio.sleep``; 0:
    #: SQLite's busy handler alone (see :func:`wait_for_locks_on_the_loop`)
    busy_wait: float = 0.0

    def cursor(self, factory: Any = _Cursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        # in WAL mode a COMMIT needs no lock beyond the write lock its BEGIN IMMEDIATE took;
        # waited for anyway, should the journal be another one
        _patiently(self, super().commit)


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
        _patiently(cursor.connection, cursor.execute, statement, parameters)

    def do_execute_no_params(self, cursor: Any, statement: Any, context: Any = None) -> None:
        _touch_loop()
        _patiently(cursor.connection, cursor.execute, statement)

    def do_executemany(
        self, cursor: Any, statement: Any, parameters: Any, context: Any = None
    ) -> None:
        _touch_loop()
        connection = cursor.connection
        wait = getattr(connection, "busy_wait", 0.0)
        if wait <= 0:
            cursor.executemany(statement, parameters)
            return
        # not tried again: the rows before a locked one would be written twice. It runs in a
        # write transaction, which holds the lock since its BEGIN IMMEDIATE; should it still
        # find the database locked, it waits in SQLite's busy handler, as it did before
        connection.execute(f"PRAGMA busy_timeout = {round(wait * 1000)}")
        try:
            cursor.executemany(statement, parameters)
        finally:
            connection.execute("PRAGMA busy_timeout = 0")

    def create_connect_args(self, url: URL) -> Any:
        args, kwargs = super().create_connect_args(url)
        # connections live in the event loop's thread, but a pool may close one from another
        # (garbage collection at interpreter exit)
        kwargs.setdefault("check_same_thread", False)
        kwargs["factory"] = _Connection
        return args, kwargs


registry.register(f"sqlite.{DRIVER}", __name__, "SQLiteDialect_inline")


async def checkout(engine: AsyncEngine) -> PoolProxiedConnection:
    """A connection of ``engine``'s pool (SQLite on this dialect), as
    ``await engine.raw_connection()`` returns it; give it back with ``close()``.

    ``AsyncEngine.raw_connection`` runs the pool's checkout in a greenlet (about 16 µs of CPU
    of its 28, measured alone), for what on this dialect never awaits when the pool holds an
    idle connection: taking it from the queue, and the checkout's events, run in the loop's
    thread as every statement here does. So an idle connection is taken directly; when
    none is idle (a new one to open, or a wait for one given back) the checkout goes through
    the greenlet as before, where the pool may wait."""
    sync_engine = engine.sync_engine
    queue = sync_engine.pool
    if isinstance(queue, pool.QueuePool) and queue.checkedin() > 0:
        return sync_engine.raw_connection()
    return await engine.raw_connection()
