"""Conversation state, per-chat locks and update de-duplication in Redis (``REDIS_URL`` set).

Several bot replicas can then serve one bot: a draft saved by one is read by the next, two
updates of one chat never run at once, and an update Telegram delivers twice runs once.
Every key starts with ``prefix`` so several deployments (or test runs) can share a server.
"""

from __future__ import annotations

import asyncio
import json
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from domain.model import ConversationRecord
from domain.ports import LockTimeout

DEFAULT_PREFIX = "onesme:"

_RELEASE = """
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
end
return 0
"""


def connect(url: str) -> Redis:
    """A client for ``url``; ``await client.aclose()`` at shutdown."""
    return Redis.from_url(url)


def _seconds(value: timedelta | float) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class RedisConversationStore:
    """A draft is one JSON string under ``{prefix}conv:{key}``, kept ``ttl`` after its last
    save (GET, SET EX and DEL: one round trip each). The expiry is only garbage collection: the
    conversation decides from ``updated_at`` when a draft is too old to continue."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=7),
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}conv:"
        self._ttl = max(1, int(ttl.total_seconds()))

    async def get(self, key: str) -> ConversationRecord | None:
        raw = await self._redis.get(self._prefix + key)
        if raw is None:
            return None
        value: dict[str, Any] = json.loads(raw)
        return ConversationRecord(
            key=key,
            state=value["state"],
            data=value["data"],
            version=value["version"],
            updated_at=datetime.fromisoformat(value["updated_at"]),
        )

    async def put(self, record: ConversationRecord) -> None:
        raw = json.dumps(
            {
                "state": record.state,
                "data": record.data,
                "version": record.version,
                "updated_at": record.updated_at.isoformat(),
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )
        await self._redis.set(self._prefix + record.key, raw, ex=self._ttl)

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class RedisChatLock:
    """``SET key token NX PX ttl`` to take, a compare-and-delete script to release (only the
    holder's token frees the lock). Waiters poll with a small jittered delay up to
    ``wait_timeout``, then :class:`LockTimeout`. ``ttl`` bounds how long a crashed holder blocks
    the chat; a holder must finish within it."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta | float = 30.0,
        wait_timeout: timedelta | float = 10.0,
        retry_interval: float = 0.02,
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}lock:"
        self._ttl_ms = max(1, int(_seconds(ttl) * 1000))
        self._wait = _seconds(wait_timeout)
        self._retry = retry_interval
        self._release = redis.register_script(_RELEASE)

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        name = self._prefix + key
        token = secrets.token_hex(16)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._wait
        delay = self._retry
        while not await self._redis.set(name, token, nx=True, px=self._ttl_ms):
            if loop.time() >= deadline:
                raise LockTimeout(f"chat {key} is busy")
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.2)
        try:
            yield
        finally:
            await self._release(keys=[name], args=[token])


class RedisUpdateDeduper:
    """``SET {prefix}update:{id} 1 NX EX ttl``: the first caller gets False, repeats True."""

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        ttl: timedelta = timedelta(days=1),
    ) -> None:
        self._redis = redis
        self._prefix = f"{prefix}update:"
        self._ttl = max(1, int(ttl.total_seconds()))

    async def seen(self, update_id: int) -> bool:
        first = await self._redis.set(f"{self._prefix}{update_id}", 1, nx=True, ex=self._ttl)
        return not first

    async def forget(self, update_id: int) -> None:
        """Let a redelivery of an update whose processing failed run again."""
        await self._redis.delete(f"{self._prefix}{update_id}")
