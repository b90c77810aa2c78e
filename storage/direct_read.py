"""One SELECT on the driver's connection, outside SQLAlchemy's execution and any transaction.

Through a unit of work, a registration step's read of a business's details cost about 300 µs
of CPU on SQLite (a session, ``BEGIN IMMEDIATE`` after the writer's turn, the statement through
the ORM's execution and its greenlet, a rollback) for a statement the database answers in
microseconds. :class:`DirectRead` compiles the statement once with the engine's dialect
(SQLAlchemy's SQL text, bind and result processors: the values are those a ``Result`` row
would hold) and runs it on a connection of the engine's pool:

- SQLite (:mod:`storage.sqlite_inline`): on the cursor, without ``BEGIN``: SQLite reads one
  snapshot of what was committed for the statement; no writer's turn (a reader does not wait
  for writers in WAL mode); another process' lock waited for in ``asyncio.sleep``.
- PostgreSQL (asyncpg): ``fetch`` on the asyncpg connection, outside a transaction (autocommit:
  READ COMMITTED, what was committed when the statement began).

The engine's ``before_cursor_execute`` listeners are given the statement (``None`` for the
connection and context, as :class:`storage.sqlite_direct.DirectWrite` does), so the statement
counts (``onesme_sql_statements``, the tests' budgets) stay true. Driver errors are raised
wrapped as SQLAlchemy wraps them (``sqlalchemy.exc.DBAPIError`` and its subclasses).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import BindParameter, Select

from storage.sqlite_inline import checkout, patiently

__all__ = ["NONE", "Compiled", "DirectRead", "own_value"]

#: no value of its own (see :func:`own_value`)
NONE = object()


def own_value(bind: BindParameter[Any]) -> Any:
    """The value a parameter carries in the statement (``value + 1``), else ``NONE``."""
    if bind.callable is not None or bind.required or bind.value is None:
        return NONE
    return bind.value


class Compiled:
    """``statement`` compiled once for ``dialect`` (with ``column_keys``: the columns an INSERT
    without ``.values()`` is given as parameters): the SQL and the driver's parameters for the
    values by name, and the rows as named tuples with the result processors applied. An
    expanding ``IN`` parameter is expanded per call, as SQLAlchemy does. Refuses a statement
    that needs Python-side column defaults (SQLAlchemy computes them at execution)."""

    def __init__(
        self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None = None
    ) -> None:
        compiled: Any = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
        )
        names = compiled.positiontup
        if names is None:
            raise ValueError("the dialect does not compile positional parameters")
        if compiled.insert_prefetch or compiled.update_prefetch:
            raise ValueError("the statement needs column defaults computed at execution")
        self._compiled = compiled
        self.sql: str = str(compiled)
        self._expanding = bool(compiled.post_compile_params)
        self._binds: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...] = tuple(
            (
                name,
                own_value(compiled.binds[name]),
                compiled.binds[name].type.bind_processor(dialect),
            )
            for name in names
        )
        columns = compiled._result_columns or []
        row: Any = namedtuple("Row", [c.keyname for c in columns])  # type: ignore[misc]
        self._make: Callable[[list[Any]], Any] = row._make
        self._processors = tuple(c.type._cached_result_processor(dialect, None) for c in columns)

    def statement(self, values: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]]:
        """The SQL and the driver's parameters for ``values`` (what SQLAlchemy would send)."""
        if self._expanding:
            state = self._compiled.construct_expanded_state(dict(values))
            processors, given = state.processors, state.parameters
            return state.statement, tuple(
                processors[name](given[name]) if name in processors else given[name]
                for name in state.positiontup or ()
            )
        parameters = []
        for name, own, process in self._binds:
            value = values[name] if own is NONE else values.get(name, own)
            parameters.append(value if process is None else process(value))
        return self.sql, tuple(parameters)

    def rows(self, fetched: Iterable[Sequence[Any]]) -> list[Any]:
        """The driver's rows as a ``Result`` would hold them."""
        make, processors = self._make, self._processors
        return [
            make([v if p is None else p(v) for p, v in zip(processors, raw, strict=True)])
            for raw in fetched
        ]


class DirectRead:
    """``await read(values)``: the rows of ``statement`` for the parameters ``values`` (by
    name), as named tuples of its result columns (:class:`Compiled`)."""

    def __init__(self, engine: AsyncEngine, statement: Select[Any]) -> None:
        dialect = engine.dialect
        if dialect.name == "sqlite":
            self._fetch = self._on_sqlite
        elif dialect.driver == "asyncpg":
            self._fetch = self._on_asyncpg
        else:
            raise ValueError(f"DirectRead runs on SQLite and asyncpg, not {dialect.name}")
        self._engine = engine
        self._compiled = Compiled(statement, dialect)

    @property
    def sql(self) -> str:
        return self._compiled.sql

    async def __call__(self, values: Mapping[str, Any]) -> list[Any]:
        sql, parameters = self._compiled.statement(values)
        return self._compiled.rows(await self._fetch(sql, parameters))

    def _announce(self, cursor: Any, sql: str, parameters: Any) -> tuple[str, Any]:
        for listener in self._engine.sync_engine.dispatch.before_cursor_execute:
            sql, parameters = listener(None, cursor, sql, parameters, None, False)
        return sql, parameters

    async def _on_sqlite(self, sql: str, parameters: tuple[Any, ...]) -> Sequence[Any]:
        proxy = await checkout(self._engine)
        try:
            connection: Any = proxy.dbapi_connection
            cursor = connection.cursor()
            try:
                sql, parameters = self._announce(cursor, sql, parameters)
                try:
                    await patiently(connection, cursor.execute, sql, parameters)
                    return list(cursor.fetchall())
                except sqlite3.Error as error:
                    raise exc.DBAPIError.instance(sql, parameters, error, sqlite3.Error) from error
            finally:
                cursor.close()
        finally:
            proxy.close()

    async def _on_asyncpg(self, sql: str, parameters: tuple[Any, ...]) -> Sequence[Any]:
        import asyncpg

        proxy = await self._engine.raw_connection()
        try:
            connection: Any = proxy.driver_connection
            sql, parameters = self._announce(None, sql, parameters)
            try:
                return list(await connection.fetch(sql, *parameters))
            except asyncpg.PostgresError as error:
                raise exc.DBAPIError.instance(
                    sql, parameters, error, asyncpg.PostgresError
                ) from error
        finally:
            proxy.close()
