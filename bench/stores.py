"""The bots' stores: the product's database prepared for a run (schema, one business, the
users its owners) and dropped after it, and the size of one stored draft in every bot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
from typing import TYPE_CHECKING, Any

from bench.processes import REDIS_URL, Launch, redis_prefix

if TYPE_CHECKING:
    from bench.driver import BotSpec

POSTGRES_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TAX_CODE = "0100233488"


async def prepare_product_database(database_url: str, user_ids: list[int]) -> None:
    """Schema at head, one business, every simulated user one of its owners."""
    from domain.ports import SystemClock
    from domain.usecases.admin import (
        AddEnterprise,
        AddEnterpriseRequest,
        GrantRole,
        GrantRoleRequest,
    )
    from storage.db import Database
    from storage.migrate import upgrade_to_head

    await upgrade_to_head(database_url)
    database = Database(database_url)
    clock = SystemClock()

    def uow() -> Any:
        return database.uow

    try:
        await AddEnterprise(uow, clock)(
            AddEnterpriseRequest(
                tax_code=TAX_CODE,
                name="Công ty TNHH An Bình",
                address="57 Huỳnh Thúc Kháng, Đống Đa, Hà Nội",
                email="ketoan@anbinh.vn",
            )
        )
        grant = GrantRole(uow, clock)
        for user_id in user_ids:
            await grant(GrantRoleRequest(user_id=user_id, role="owner", tax_code=TAX_CODE))
    finally:
        await database.dispose()


async def create_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_postgres_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(POSTGRES_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def drop_redis_keys(token: str) -> None:
    """Every key of the run's product (its own prefix, see ``redis_prefix``)."""
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    try:
        match = f"{redis_prefix(token)}*"
        keys = [key async for key in client.scan_iter(match=match, count=500)]
        for start in range(0, len(keys), 500):
            await client.delete(*keys[start : start + 500])
    finally:
        await client.aclose()


async def product_state_bytes(spec: BotSpec, database_url: str, key: str) -> int | None:
    """The stored draft's size: JSON text of its data plus its state name."""
    if spec.redis:
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        try:
            prefix = redis_prefix(key)  # the chat key, "{bot id}:{chat id}", starts as the token
            return int(await client.strlen(f"{prefix}conv:{key}")) or None
        finally:
            await client.aclose()
    if spec.db == "postgres":
        import asyncpg

        conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
        try:
            value = await conn.fetchval(
                "SELECT octet_length(data::text) + octet_length(state) FROM conversations"
                " WHERE key = $1",
                key,
            )
        finally:
            await conn.close()
        return int(value) if value is not None else None
    path = database_url.split("///", 1)[1]
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT length(CAST(data AS BLOB)) + length(CAST(state AS BLOB))"
            " FROM conversations WHERE key = ?",
            (key,),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


async def bare_state_bytes(launch: Launch, pid: int, chat_id: int) -> int | None:
    assert launch.state_file is not None
    launch.state_file.unlink(missing_ok=True)
    os.kill(pid, signal.SIGUSR1)
    for _ in range(250):
        if launch.state_file.exists():
            with contextlib.suppress(ValueError):
                sizes = json.loads(launch.state_file.read_text())
                value = sizes.get(str(chat_id))
                return int(value) if value is not None else None
        await asyncio.sleep(0.02)
    return None
