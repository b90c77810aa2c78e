"""The registration steps' reads (:class:`domain.ports.RegistrationReads`) outside any unit of
work: each read is one statement, what was committed when it ran.

The wizard makes about seven such reads per registration (a business's details, the uses of
promotions, who the user is); through a unit of work each cost a session and a transaction
(on SQLite ``BEGIN IMMEDIATE`` after the writer's turn). Here each runs on the driver
(:class:`storage.direct_read.DirectRead`, SQLite and asyncpg; another driver, and an in-memory
SQLite database: a Core connection). The statements and the rows' mapping are the
repositories' own (``storage.repositories.accounts``, ``orders``), so the answers are the same.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Select

from domain.model import Enterprise, EnterpriseId, Principal, UserId
from storage.direct_read import DirectRead
from storage.repositories.accounts import (
    ENTERPRISE_BY_ID,
    ENTERPRISES_BY_IDS,
    PRINCIPAL,
    to_enterprise,
    to_principal,
)
from storage.repositories.orders import USAGE, to_usage

__all__ = ["SqlRegistrationReads"]


class SqlRegistrationReads:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        if engine.dialect.name == "sqlite":
            # an in-memory database has one connection for everyone (StaticPool): a read
            # beside another task's transaction would share it, and its return to the pool
            # would roll that transaction back; there a read takes its turn (Core connection)
            direct = make_url(str(engine.url)).database not in (None, "", ":memory:")
        else:
            direct = engine.dialect.driver == "asyncpg"
        self._direct: dict[int, DirectRead] | None = {} if direct else None

    async def _rows(self, statement: Select[Any], values: Mapping[str, Any]) -> list[Any]:
        if self._direct is not None:
            read = self._direct.get(id(statement))
            if read is None:  # the statements are module constants: one DirectRead each
                read = self._direct[id(statement)] = DirectRead(self._engine, statement)
            return await read(values)
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement, dict(values))).all())

    async def principal(self, user_id: UserId) -> Principal | None:
        return to_principal(await self._rows(PRINCIPAL, {"id": user_id}))

    async def enterprise(self, enterprise_id: EnterpriseId) -> Enterprise | None:
        rows = await self._rows(ENTERPRISE_BY_ID, {"id": enterprise_id})
        return to_enterprise(rows[0]) if rows else None

    async def enterprises(
        self, enterprise_ids: Collection[EnterpriseId]
    ) -> dict[EnterpriseId, Enterprise]:
        if not enterprise_ids:
            return {}
        rows = await self._rows(ENTERPRISES_BY_IDS, {"ids": sorted(set(enterprise_ids))})
        return {EnterpriseId(r.id): to_enterprise(r) for r in rows}

    async def promotion_usage(
        self, codes: Collection[str], enterprise_id: EnterpriseId
    ) -> tuple[dict[str, int], dict[str, int]]:
        wanted = sorted(set(codes))
        if not wanted:
            return {}, {}
        rows = await self._rows(USAGE, {"codes": wanted, "enterprise_id": enterprise_id})
        return to_usage(wanted, rows)
