"""Helpers shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import CursorResult, Result, Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from domain.model import Page

T = TypeVar("T")


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
