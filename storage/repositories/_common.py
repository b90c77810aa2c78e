"""Helpers shared by the repositories."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar, cast
from weakref import WeakKeyDictionary

from sqlalchemy import CursorResult, Result, Select, exc, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from domain.model import Page
from storage.direct_read import Compiled
from storage.pg_direct import raise_wrapped
from storage.sqlite_inline import patiently

T = TypeVar("T")

#: the statements :meth:`SqlRepository._rows` ran on SQLite, compiled, by dialect: the
#: statements are module constants (keyed by id, and by the columns an INSERT was given)
_COMPILED: WeakKeyDictionary[Dialect, dict[tuple[int, tuple[str, ...] | None], Compiled]] = (
    WeakKeyDictionary()
)


class SqlRepository:
    """Base of every repository: the session of the unit of work and its dialect name."""

    __slots__ = ("_dialect", "_session")

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        bind = session.bind
        if bind is None:
            raise ValueError("the session must be bound to an engine")
        self._dialect: str = bind.dialect.name

    @property
    def _is_postgresql(self) -> bool:
        return self._dialect == "postgresql"

    def _insert(self, table: Any) -> Any:
        """A dialect ``INSERT`` with ``on_conflict_do_nothing/do_update`` (same API on both)."""
        if self._dialect == "postgresql":
            return postgresql.insert(table)
        if self._dialect == "sqlite":
            return sqlite.insert(table)
        raise NotImplementedError(f"unsupported database: {self._dialect}")

    async def _rows(
        self, statement: Any, values: Mapping[str, Any], *, insert: bool = False
    ) -> list[Any]:
        """The rows of ``statement`` (a SELECT, or a statement with RETURNING; ``insert``: an
        INSERT without ``.values()``, given its columns' values) in the unit of work's
        transaction, as named tuples.

        On SQLite on the transaction's driver connection (:class:`storage.direct_read.Compiled`,
        compiled once per statement): about a fifth of SQLAlchemy's execution per statement,
        which the thirteen statements of placing an order paid in full. The transaction is
        SQLAlchemy's (``session.connection()`` opens it: the writer's turn and ``BEGIN
        IMMEDIATE``); the engine's ``before_cursor_execute`` listeners are given the statement
        (the statement counts stay true); driver errors are raised wrapped as SQLAlchemy wraps
        them.

        On PostgreSQL with asyncpg on the transaction's asyncpg connection (``fetch``), the
        transaction SQLAlchemy's adaptor opens (its ``BEGIN``, sent before the first statement
        as it would be, and its ``COMMIT`` or ``ROLLBACK``: :func:`_in_transaction`). Elsewhere
        through the session."""
        if self._dialect == "sqlite":
            return await self._on_sqlite(statement, values, insert)
        if self._dialect == "postgresql":
            connection = cast(Connection, (await self._session.connection()).sync_connection)
            if connection.dialect.driver == "asyncpg":
                return await self._on_asyncpg(connection, statement, values, insert)
        return list((await self._session.execute(statement, values)).all())

    async def _on_asyncpg(
        self, connection: Connection, statement: Any, values: Mapping[str, Any], insert: bool
    ) -> list[Any]:
        compiled = _compiled(connection.dialect, statement, values, insert)
        sql, parameters = compiled.statement(values)
        adapted: Any = connection.connection.dbapi_connection
        for listener in connection.engine.dispatch.before_cursor_execute:
            sql, parameters = listener(None, None, sql, parameters, None, False)
        try:
            await _in_transaction(adapted)  # raises the adaptor's errors, translated
            fetched = await adapted.driver_connection.fetch(sql, *parameters)
        except Exception as error:
            raise_wrapped(adapted, sql, parameters, error)
        return compiled.rows(fetched)

    async def _on_sqlite(
        self, statement: Any, values: Mapping[str, Any], insert: bool
    ) -> list[Any]:
        connection = cast(Connection, (await self._session.connection()).sync_connection)
        compiled = _compiled(connection.dialect, statement, values, insert)
        sql, parameters = compiled.statement(values)
        dbapi_connection: Any = connection.connection.dbapi_connection
        cursor = dbapi_connection.cursor()
        try:
            for listener in connection.engine.dispatch.before_cursor_execute:
                sql, parameters = listener(None, cursor, sql, parameters, None, False)
            try:
                await patiently(dbapi_connection, cursor.execute, sql, parameters)
                return compiled.rows(cursor.fetchall())
            except sqlite3.Error as error:
                raise exc.DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error
        finally:
            cursor.close()

    async def _count(self, statement: Select[Any]) -> int:
        counted = select(func.count()).select_from(statement.order_by(None).subquery())
        return int((await self._session.execute(counted)).scalar_one())

    async def _page(
        self, statement: Select[Any], offset: int, limit: int, mapper: Callable[[Any], T]
    ) -> Page[T]:
        """One page of ``statement``'s rows and the total: at most two queries (the count is
        skipped when the first page is not full)."""
        rows = (await self._session.scalars(statement.offset(offset).limit(limit))).all()
        if offset == 0 and len(rows) < limit:
            total = len(rows)
        else:
            total = await self._count(statement)
        return Page.of((mapper(r) for r in rows), total, offset, limit)


def _compiled(
    dialect: Dialect, statement: Any, values: Mapping[str, Any], insert: bool
) -> Compiled:
    keys = tuple(values) if insert else None
    by_statement = _COMPILED.get(dialect)
    if by_statement is None:
        by_statement = _COMPILED[dialect] = {}
    compiled = by_statement.get((id(statement), keys))
    if compiled is None:
        compiled = by_statement[(id(statement), keys)] = Compiled(statement, dialect, keys)
    return compiled


async def _in_transaction(adapted: Any) -> None:
    """Open the transaction of SQLAlchemy's asyncpg adaptor on its connection (``adapted``,
    ``AsyncAdapt_asyncpg_connection``) if its first statement has not yet: the adaptor sends
    ``BEGIN`` lazily, with the first statement it runs, and its commit and rollback end only a
    transaction it opened, so a statement sent on the asyncpg connection before that would run
    in autocommit, outside the unit of work. (SQLAlchemy's private ``_transaction`` and
    ``_start_transaction``, the same in 2.0 and 2.1; test_registration_reads.py checks that the
    order's statements are rolled back with their unit of work.)"""
    if adapted._transaction is None:
        async with adapted._execute_mutex:
            if adapted._transaction is None:
                await adapted._start_transaction()


def per_dialect(build: Callable[[Callable[[Any], Any]], T]) -> dict[str, T]:
    """``build(insert)`` with each dialect's ``insert`` (``on_conflict_do_nothing/do_update``,
    the same API on both), keyed by dialect name: for statements built once, at import, that
    :meth:`SqlRepository._insert` would build on every call."""
    return {"postgresql": build(postgresql.insert), "sqlite": build(sqlite.insert)}


def rowcount(result: Result[Any]) -> int:
    return cast(CursorResult[Any], result).rowcount


def utcnow() -> datetime:
    """For audit columns only (``created_at`` of link rows); use-case times come from a Clock."""
    return datetime.now(UTC)


def check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 1:
        raise ValueError("offset must be ≥ 0 and limit ≥ 1")


async def counted_page(
    session: AsyncSession,
    statement: Select[Any],
    offset: int,
    limit: int,
    mapper: Callable[[Any], T],
    *extra: Any,
) -> tuple[Page[T], tuple[Any, ...]]:
    """One page of ``statement``'s rows with the total (``count(*) OVER ()``, computed before
    LIMIT) in ONE query; ``extra`` window columns come back as the second element (None
    each on an empty page). Only a page past the end costs a second query, for the total."""
    check_page(offset, limit)
    total_column = func.count().over().label("_total")
    rows = (
        await session.execute(
            statement.add_columns(total_column, *extra).offset(offset).limit(limit)
        )
    ).all()
    if rows:
        total = int(rows[0][1])
        extras = tuple(rows[0][2:])
    else:
        extras = tuple(None for _ in extra)
        total = 0
        if offset > 0:
            counted = select(func.count()).select_from(statement.order_by(None).subquery())
            total = int((await session.execute(counted)).scalar_one())
    return Page.of((mapper(r[0]) for r in rows), total, offset, limit), extras
