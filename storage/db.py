"""Engines, sessions and the SQL unit of work.

SQLite is set up for a small concurrent server: foreign keys on, WAL journal, a busy timeout,
and every transaction opened with ``BEGIN IMMEDIATE`` so writers queue behind each other
(a deferred transaction that reads first and writes later would fail with "database is locked"
instead of waiting). So on SQLite a task must not wait for another task's transaction while it
holds one itself. The writers of one process take turns in arrival order
(:class:`_SqliteWriteTurns`) before their ``BEGIN IMMEDIATE``. PostgreSQL uses the driver's
defaults (READ COMMITTED).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from weakref import WeakKeyDictionary

from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine
from sqlalchemy.orm import ORMExecuteState, Session
from sqlalchemy.pool import NullPool
from sqlalchemy.util import await_only
from sqlalchemy.util.concurrency import in_greenlet

from domain.ports import UnitOfWork
from storage import sqlite_inline
from storage.repositories import (
    OUTBOX_WRITTEN,
    SqlCatalogRepository,
    SqlChangeRepository,
    SqlCounterRepository,
    SqlEmployeeRepository,
    SqlEnterpriseRepository,
    SqlHistoryRepository,
    SqlInvitationRepository,
    SqlInvoiceRepository,
    SqlJoinRequestRepository,
    SqlMembershipRepository,
    SqlMemoRepository,
    SqlOrderRepository,
    SqlOutboxRepository,
    SqlPaymentRepository,
    SqlPromotionUsageRepository,
    SqlRenewalRepository,
    SqlSubscriptionRepository,
    SqlUserRepository,
)
from storage.repositories._common import SqlRepository

SQLITE_BUSY_TIMEOUT_MS = 30_000
#: execution option: ``"DEFERRED"`` opens a read-only SQLite transaction without the write lock
SQLITE_BEGIN_OPTION = "sqlite_begin"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _check_sqlite_directory(url: str) -> None:
    """Refuse a SQLite file in a folder that does not exist before any connection is tried:
    aiosqlite's worker thread fails on such a connect after the event loop may have closed."""
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    folder = Path(database).expanduser().resolve().parent
    if not folder.is_dir():
        raise FileNotFoundError(f"the folder of the SQLite database does not exist: {folder}")


def create_engine(
    url: str,
    *,
    echo: bool = False,
    sqlite_foreign_keys: bool = True,
    null_pool: bool = False,
    **kwargs: Any,
) -> AsyncEngine:
    """An async engine for ``url`` (``sqlite+aiosqlite://…`` or ``postgresql+asyncpg://…``).

    ``sqlite_foreign_keys=False`` is for migrations only (batch table rebuilds need it off).
    SQLite runs in the event loop's thread (:mod:`storage.sqlite_inline`), not aiosqlite's.
    """
    if null_pool:
        kwargs["poolclass"] = NullPool
    if is_sqlite(url):
        _check_sqlite_directory(url)
        parsed = make_url(url)
        if parsed.drivername == "sqlite+aiosqlite":
            parsed = parsed.set(drivername=f"sqlite+{sqlite_inline.DRIVER}")
        engine = _create_async_engine(parsed, echo=echo, **kwargs)
        _setup_sqlite(engine, foreign_keys=sqlite_foreign_keys)
        return engine
    ping_after = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
    asyncpg = make_url(url).get_driver_name() == "asyncpg"
    if not null_pool:
        # kept open: an overflow connection is closed as it is checked in while the pool is
        # full, and a new one made for the next burst (a TCP connect, the SSL refusal, the
        # start-up and the JSON codecs' set-up); the most open at once is unchanged (15)
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", MAX_OVERFLOW)
    if not asyncpg:
        kwargs.setdefault("pool_pre_ping", True)
    engine = _create_async_engine(url, echo=echo, **kwargs)
    if asyncpg and not kwargs.get("pool_pre_ping") and not null_pool:
        _check_on_checkout(engine, ping_after)
    return engine


#: PostgreSQL connections an engine keeps open (SQLAlchemy's default 5, with 10 more made and
#: closed again as needed, closed and opened about once per 20 updates at 25 in flight)
POOL_SIZE = 10
MAX_OVERFLOW = 5

#: seconds a pooled PostgreSQL connection may have been idle and still be used without a
#: ping (see :func:`_check_on_checkout`)
PING_AFTER_IDLE = 5.0
_IDLE_SINCE = "onesme_idle_since"


def _check_on_checkout(engine: AsyncEngine, ping_after: float) -> None:
    """A pooled connection is checked as it is handed out, instead of SQLAlchemy's
    ``pool_pre_ping`` (on asyncpg a ``BEGIN``, ``;`` and ``ROLLBACK``: three round trips before
    every unit of work and every direct read, about six per update under load):

    - a connection the driver knows closed (the server restarted or ended it: PostgreSQL closes
      its side, and asyncpg sees it as soon as the event loop reads the socket) is dropped
      with every connection pooled before it, and a new one made, as a failed ping did;
    - a connection idle for ``ping_after`` seconds or more is pinged first (a peer that went
      away silently), as every connection was; a failed ping does the same as above;
    - a connection in steady use (checked in less than ``ping_after`` ago) is used at once.

    Left to chance, as with any ping: a connection lost between the check and its statement
    (that statement fails, and SQLAlchemy drops the pool's connections)."""
    sync_engine = engine.sync_engine
    dialect = engine.dialect
    get_driver = dialect.get_driver_connection
    monotonic = time.monotonic

    @event.listens_for(sync_engine, "connect")
    def _on_connect(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = None  # new: not pinged (as pool_pre_ping does not)

    @event.listens_for(sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if get_driver(dbapi_connection).is_closed():
            raise exc.InvalidatePoolError("the connection was closed while pooled")
        since = record.info.get(_IDLE_SINCE, 0.0)
        if since is not None and monotonic() - since >= ping_after:
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as error:
                raise exc.InvalidatePoolError(f"ping failed: {error}") from error


_TURN = "onesme_sqlite_write_turn"


class _SqliteWriteTurns:
    """The writers of this process (every engine on one database file) take turns, first come
    first served, before their ``BEGIN IMMEDIATE``; the turn is given back with the
    transaction's end (commit, rollback, or the connection's return to the pool).

    SQLite runs in the event loop's thread (:mod:`storage.sqlite_inline`), which waits for a
    locked database by trying again after short sleeps, in no order; the turns make the
    writers of this process wait on an asyncio lock instead, in order. (With aiosqlite's
    threads they waited in SQLite's busy handler, which sleeps up to 100 ms between tries and
    is not fair: some transactions waited seconds while others went first, measured ``BEGIN
    IMMEDIATE`` up to 2.7 s at 25 users in flight.) The busy timeout still applies to writers
    of other processes (a CLI command), waited for with ``asyncio.sleep`` between tries
    (:func:`storage.sqlite_inline.wait_for_locks_on_the_loop`). A writer that waited the whole
    busy timeout for its turn fails with "database is locked", as it would have in SQLite; a
    task that opens a second write transaction while holding one goes straight to SQLite, as
    before (and waits there until the busy timeout: nested writers are a bug, see above).
    """

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._holder: asyncio.Task[Any] | None = None

    async def take(self) -> bool:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an engine used from a new event loop (tests)
            self._loop, self._lock, self._holder = loop, asyncio.Lock(), None
        task = asyncio.current_task()
        if task is not None and task is self._holder:
            return False
        if not self._lock.locked():
            await self._lock.acquire()  # free: taken without a turn of the event loop
        else:
            try:
                await asyncio.wait_for(self._lock.acquire(), self._timeout)
            except TimeoutError:
                raise sqlite3.OperationalError(
                    "database is locked (waited for this process' other writers)"
                ) from None
        self._holder = task
        return True

    def give_back(self) -> None:
        self._holder = None
        if self._loop is None or not self._lock.locked():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            self._lock.release()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._lock.release)


#: One queue of writers per database file in this process, shared by every engine on it (two
#: ``Database`` objects on one file in one event loop would otherwise block each other in
#: SQLite's busy handler, on the loop's own thread, until the busy timeout).
_TURNS_BY_FILE: dict[str, _SqliteWriteTurns] = {}


def _write_turns(database: str | None) -> _SqliteWriteTurns:
    if database in (None, "", ":memory:"):
        return _SqliteWriteTurns(SQLITE_BUSY_TIMEOUT_MS / 1000)  # private to its engine
    key = os.path.realpath(str(database))
    turns = _TURNS_BY_FILE.get(key)
    if turns is None:
        turns = _TURNS_BY_FILE[key] = _SqliteWriteTurns(SQLITE_BUSY_TIMEOUT_MS / 1000)
    return turns


#: the turns each SQLite engine's writers take (for writers that bypass SQLAlchemy's
#: transactions, :mod:`storage.sqlite_direct`)
_TURNS_BY_ENGINE: WeakKeyDictionary[Engine, _SqliteWriteTurns] = WeakKeyDictionary()


def write_turns(engine: AsyncEngine) -> _SqliteWriteTurns:
    """The queue of writers ``engine`` (on SQLite) takes turns in before ``BEGIN IMMEDIATE``."""
    turns = _TURNS_BY_ENGINE.get(engine.sync_engine)
    if turns is None:
        raise ValueError("not a SQLite engine made by storage.db.create_engine")
    return turns


def _setup_sqlite(engine: AsyncEngine, *, foreign_keys: bool) -> None:
    database = make_url(str(engine.url)).database
    memory = database in (None, "", ":memory:")
    turns = _TURNS_BY_ENGINE[engine.sync_engine] = _write_turns(database)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver; "begin" below opens transactions.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if not memory:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()
        # from now on another process' lock is waited for in asyncio.sleep, not in the loop's
        # thread (SQLite's busy handler)
        sqlite_inline.wait_for_locks_on_the_loop(dbapi_connection, SQLITE_BUSY_TIMEOUT_MS)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        mode = connection.get_execution_options().get(SQLITE_BEGIN_OPTION, "IMMEDIATE")
        info = connection.info
        if mode != "DEFERRED" and not info.get(_TURN) and in_greenlet():
            info[_TURN] = await_only(turns.take())
        try:
            connection.exec_driver_sql(f"BEGIN {mode}")
        except BaseException:
            _give_back(info)
            raise

    def _give_back(info: dict[Any, Any]) -> None:
        if info.pop(_TURN, False):
            turns.give_back()

    @event.listens_for(engine.sync_engine, "commit")
    def _on_commit(connection: Connection) -> None:
        # the COMMIT itself runs right after, before the loop can resume the next writer
        _give_back(connection.info)

    @event.listens_for(engine.sync_engine, "rollback")
    def _on_rollback(connection: Connection) -> None:
        _give_back(connection.info)

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        _give_back(record.info)

    @event.listens_for(engine.sync_engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        _give_back(record.info)

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(_dbapi_connection: Any, record: Any, _exception: Any) -> None:
        _give_back(record.info)


class _FreshSession(Session):
    """Every ORM select refreshes the rows it returns.

    Repositories write with bulk statements (upserts, conditional updates) that bypass the
    identity map; without ``populate_existing`` a later select in the same transaction could
    return a stale object still held by the identity map.
    """


@event.listens_for(_FreshSession, "do_orm_execute")
def _refresh_selected_rows(state: ORMExecuteState) -> None:
    if state.is_select:
        state.update_execution_options(populate_existing=True)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(
        engine, expire_on_commit=False, autoflush=False, sync_session_class=_FreshSession
    )


_Repository = TypeVar("_Repository", bound=SqlRepository)


class _Active:
    """The session of one open unit of work and its repositories, each made when first used (a
    unit of work uses one or two of the eighteen)."""

    __slots__ = ("repositories", "session", "task")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.task = asyncio.current_task()
        self.repositories: dict[type[SqlRepository], SqlRepository] = {}

    def get(self, kind: type[_Repository]) -> _Repository:
        found = self.repositories.get(kind)
        if found is None:
            found = self.repositories[kind] = kind(self.session)
        return cast(_Repository, found)


class SqlUnitOfWork:
    """The :class:`domain.ports.UnitOfWork` on SQLAlchemy.

    Each ``async with uow:`` opens its own session and transaction, bound to the task that
    opened it, so one ``SqlUnitOfWork`` can be shared by the whole application and used by
    concurrent tasks at once; a task started inside the block cannot use that session (a
    session is not safe for concurrent use) but may open its own. Nested use in the same task
    is refused (it would silently mean two transactions). Leaving the block without
    :meth:`commit` rolls back.
    """

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._session_factory = session_factory
        #: called after a commit that wrote outbox rows (the delivery worker's wake-up)
        self.after_outbox_commit: list[Callable[[], None]] = []
        self._active: ContextVar[_Active | None] = ContextVar(
            f"SqlUnitOfWork-{id(self)}", default=None
        )

    async def __aenter__(self) -> Self:
        if self._open_here() is not None:
            raise RuntimeError("this unit of work is already open in this task")
        self._active.set(_Active(self._session_factory()))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        active = self._current()
        self._active.set(None)
        try:
            await active.session.rollback()
        finally:
            await active.session.close()

    async def commit(self) -> None:
        session = self._current().session
        await session.commit()
        if session.info.pop(OUTBOX_WRITTEN, False):
            for wake in self.after_outbox_commit:
                wake()

    async def rollback(self) -> None:
        session = self._current().session
        await session.rollback()
        # the rows added so far are gone: a later commit in this block wakes the worker only
        # if it adds rows of its own
        session.info.pop(OUTBOX_WRITTEN, None)

    @property
    def session(self) -> AsyncSession:
        """The open session (for storage code and tests only)."""
        return self._current().session

    def _open_here(self) -> _Active | None:
        # A task started inside the block inherits a copy of the context; the session still
        # belongs to the task that opened it, so the child must open its own.
        active = self._active.get()
        if active is None or active.task is not asyncio.current_task():
            return None
        return active

    def _current(self) -> _Active:
        active = self._open_here()
        if active is None:
            raise RuntimeError("the unit of work is not open in this task: use `async with uow:`")
        return active

    @property
    def users(self) -> SqlUserRepository:
        return self._current().get(SqlUserRepository)

    @property
    def memberships(self) -> SqlMembershipRepository:
        return self._current().get(SqlMembershipRepository)

    @property
    def enterprises(self) -> SqlEnterpriseRepository:
        return self._current().get(SqlEnterpriseRepository)

    @property
    def catalog(self) -> SqlCatalogRepository:
        return self._current().get(SqlCatalogRepository)

    @property
    def promotions(self) -> SqlPromotionUsageRepository:
        return self._current().get(SqlPromotionUsageRepository)

    @property
    def orders(self) -> SqlOrderRepository:
        return self._current().get(SqlOrderRepository)

    @property
    def payments(self) -> SqlPaymentRepository:
        return self._current().get(SqlPaymentRepository)

    @property
    def subscriptions(self) -> SqlSubscriptionRepository:
        return self._current().get(SqlSubscriptionRepository)

    @property
    def invoices(self) -> SqlInvoiceRepository:
        return self._current().get(SqlInvoiceRepository)

    @property
    def memos(self) -> SqlMemoRepository:
        return self._current().get(SqlMemoRepository)

    @property
    def employees(self) -> SqlEmployeeRepository:
        return self._current().get(SqlEmployeeRepository)

    @property
    def history(self) -> SqlHistoryRepository:
        return self._current().get(SqlHistoryRepository)

    @property
    def invitations(self) -> SqlInvitationRepository:
        return self._current().get(SqlInvitationRepository)

    @property
    def join_requests(self) -> SqlJoinRequestRepository:
        return self._current().get(SqlJoinRequestRepository)

    @property
    def counters(self) -> SqlCounterRepository:
        return self._current().get(SqlCounterRepository)

    @property
    def changes(self) -> SqlChangeRepository:
        return self._current().get(SqlChangeRepository)

    @property
    def outbox(self) -> SqlOutboxRepository:
        return self._current().get(SqlOutboxRepository)

    @property
    def renewals(self) -> SqlRenewalRepository:
        return self._current().get(SqlRenewalRepository)


class Database:
    """An engine with its session factory and unit of work, built once by the composition root.

    ``await db.dispose()`` at shutdown.
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = create_engine(url, **engine_kwargs)
        self.session_factory = create_session_factory(self.engine)
        self.uow = SqlUnitOfWork(self.session_factory)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    async def ping(self) -> None:
        """Raises if the database cannot be reached (for readiness checks)."""
        async with self.engine.connect() as connection:
            connection = await connection.execution_options(**{SQLITE_BEGIN_OPTION: "DEFERRED"})
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()


if TYPE_CHECKING:

    def _implements_the_port(uow: SqlUnitOfWork) -> UnitOfWork:
        return uow
