"""One write statement on PostgreSQL in autocommit, straight on asyncpg's connection.

A write that is one statement and nothing else (the draft's upsert and delete without Redis,
a user's contact) needs no transaction of its own: PostgreSQL runs a statement outside
``BEGIN`` in a transaction of its own, all or nothing. Through a unit of work it cost three
round trips (asyncpg sends ``BEGIN``, the statement and ``COMMIT`` apart) and SQLAlchemy's
session, execution context and greenlet hops: about 800 µs of client CPU for the contact's
upsert. :class:`PgDirectWrite` compiles the statement once with the engine's dialect
(:class:`storage.direct_read.Compiled`: SQLAlchemy's SQL text and bind processors, so the
stored values are the same) and runs it with asyncpg's ``execute`` on a connection of the
engine's pool, outside any transaction, as :class:`storage.direct_read.DirectRead` runs a
read: one round trip, committed when it returns.

The engine's ``before_cursor_execute`` listeners are given the statement (``None`` for the
connection and context), so the statement counts (``onesme_sql_statements``, the tests'
budgets) stay true. Driver errors are raised translated and wrapped as SQLAlchemy raises them
(:func:`raise_wrapped`: ``sqlalchemy.exc.IntegrityError``, ``InterfaceError`` …).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from sqlalchemy import exc
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.expression import UpdateBase

from storage.direct_read import Compiled

__all__ = ["PgDirectWrite", "changed_rows", "raise_wrapped"]


def raise_wrapped(adapted: Any, sql: str, parameters: Any, error: BaseException) -> NoReturn:
    """Raise ``error`` (from asyncpg, on the connection of SQLAlchemy's asyncpg adaptor
    ``adapted``) as SQLAlchemy raises it: translated by the adaptor (a unique violation:
    ``IntegrityError``, a lost connection: ``InterfaceError`` …), wrapped in
    ``sqlalchemy.exc.DBAPIError``'s subclass. What the adaptor does not know is raised as is."""
    dbapi_error = adapted.dbapi.Error
    try:
        if isinstance(error, dbapi_error):
            raise error
        adapted._handle_exception(error)  # raises the translated error
        raise error  # pragma: no cover
    except dbapi_error as translated:
        raise exc.DBAPIError.instance(sql, parameters, translated, dbapi_error) from translated


def changed_rows(status: str) -> int:
    """The rows a command changed, from asyncpg's status (``INSERT 0 1``, ``UPDATE 2``)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else 0


class PgDirectWrite:
    """``await write(values)``: ``statement`` (an INSERT, UPDATE or DELETE, without RETURNING)
    run in autocommit on asyncpg; returns the rows it changed. ``values`` holds its parameters
    by name; the literal values written in the statement itself are its own (no column
    defaults are applied)."""

    def __init__(self, engine: AsyncEngine, statement: UpdateBase) -> None:
        if engine.dialect.driver != "asyncpg":
            raise ValueError("PgDirectWrite runs on asyncpg only")
        self._engine = engine
        self._compiled = Compiled(statement, engine.dialect)

    @property
    def sql(self) -> str:
        return self._compiled.sql

    async def __call__(self, values: Mapping[str, Any]) -> int:
        sql, parameters = self._compiled.statement(values)
        proxy = await self._engine.raw_connection()
        try:
            connection: Any = proxy.driver_connection
            for listener in self._engine.sync_engine.dispatch.before_cursor_execute:
                sql, parameters = listener(None, None, sql, parameters, None, False)
            try:
                status = await connection.execute(sql, *parameters)
            except Exception as error:
                raise_wrapped(proxy.dbapi_connection, sql, parameters, error)
        finally:
            proxy.close()
        return changed_rows(str(status))
