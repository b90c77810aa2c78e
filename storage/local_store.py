"""In-process equivalents of the Redis adapters, for a single bot process (``REDIS_URL``
unset) and for tests."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from domain.model import ConversationRecord
from domain.ports import ChatLock, LockTimeout, UpdateDeduper, UpdateTurn

log = logging.getLogger(__name__)


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


class LocalChatLock:
    """One ``asyncio.Lock`` per chat key, dropped when nobody holds or waits for it."""

    def __init__(self, *, wait_timeout: timedelta | float = 10.0) -> None:
        self._wait = (
            wait_timeout.total_seconds() if isinstance(wait_timeout, timedelta) else wait_timeout
        )
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def lock(self, key: str, order: int | None = None) -> AsyncIterator[None]:
        # one process: updates arrive in order and asyncio.Lock is FIFO, ``order`` adds nothing
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            try:
                async with asyncio.timeout(self._wait):
                    await entry.lock.acquire()
            except TimeoutError:
                raise LockTimeout(f"chat {key} is busy") from None
            try:
                yield
            finally:
                entry.lock.release()
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]

    def __len__(self) -> int:
        """How many chat keys are currently held or waited for."""
        return len(self._entries)


class MemoryUpdateDeduper:
    """Remembers the last ``max_size`` finished update ids (oldest forgotten first)."""

    def __init__(self, max_size: int = 10_000) -> None:
        if max_size < 1:
            raise ValueError("max_size must be ≥ 1")
        self._max = max_size
        self._ids: OrderedDict[int, None] = OrderedDict()

    async def done(self, update_id: int) -> bool:
        return update_id in self._ids

    async def mark_done(self, update_id: int) -> None:
        self._ids[update_id] = None
        self._ids.move_to_end(update_id)
        if len(self._ids) > self._max:
            self._ids.popitem(last=False)

    async def forget(self, update_id: int) -> None:
        self._ids.pop(update_id, None)


class LockedUpdateTurns:
    """:class:`UpdateTurns` of any chat lock and de-duplicator (the in-process ones): the done
    check and the mark are calls of their own, under the lock. Both fail open: when the
    de-duplicator cannot be asked the update is handled (a rare repeat is better than every
    user going unanswered), and a mark that cannot be written is logged."""

    def __init__(self, chat_lock: ChatLock, deduper: UpdateDeduper) -> None:
        self.chat_lock = chat_lock
        self.deduper = deduper

    @asynccontextmanager
    async def turn(self, key: str, update_id: int) -> AsyncIterator[UpdateTurn]:
        async with self.chat_lock.lock(key, update_id):
            try:
                done = await self.deduper.done(update_id)
            except Exception as error:
                log.warning("update de-duplication unavailable (%s): handling %s", error, update_id)
                done = False
            turn = UpdateTurn(done)
            yield turn
            if turn.finished:
                try:
                    await self.deduper.mark_done(update_id)
                except Exception as error:
                    log.warning("update %s could not be marked handled: %s", update_id, error)


class MemoryConversationStore:
    """Drafts in a dict. Data goes through JSON like the real stores, so a draft holding
    something that cannot be stored fails here too."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[ConversationRecord, str]] = {}

    async def get(self, key: str) -> ConversationRecord | None:
        stored = self._records.get(key)
        if stored is None:
            return None
        record, raw = stored
        return replace(record, data=json.loads(raw))

    async def put(self, record: ConversationRecord) -> None:
        self._records[record.key] = (record, json.dumps(record.data))

    async def delete(self, key: str) -> None:
        self._records.pop(key, None)


class CachedConversationStore:
    """A write-through cache in front of a store only this process writes to: the SQL store
    when ``REDIS_URL`` is unset (one bot process, chat locks in memory). ``get`` is served
    from memory once a key was read or written; ``put`` and ``delete`` reach the store first
    and the cache after, so a failed write leaves the cache as the store is. Data is kept as
    JSON text, so no caller ever shares a dict with the cache. At most ``max_size`` drafts
    are kept (the least recently used forgotten first); ``purge`` passes through."""

    def __init__(self, store: Any, max_size: int = 10_000) -> None:
        if max_size < 1:
            raise ValueError("max_size must be ≥ 1")
        self._store = store
        self._max = max_size
        self._records: OrderedDict[str, tuple[ConversationRecord, str]] = OrderedDict()

    async def get(self, key: str) -> ConversationRecord | None:
        cached = self._records.get(key)
        if cached is not None:
            self._records.move_to_end(key)
            kept, raw = cached
            return replace(kept, data=json.loads(raw))
        record: ConversationRecord | None = await self._store.get(key)
        if record is not None:
            self._remember(record, json.dumps(record.data))
        return record

    async def put(self, record: ConversationRecord) -> None:
        raw = json.dumps(record.data)  # what cannot be stored fails before any write
        try:
            await self._store.put(record)
        except BaseException:
            self._records.pop(record.key, None)
            raise
        self._remember(record, raw)

    async def delete(self, key: str) -> None:
        self._records.pop(key, None)
        await self._store.delete(key)

    async def purge(self, older_than: datetime) -> int:
        for key in [k for k, (r, _) in self._records.items() if r.updated_at < older_than]:
            del self._records[key]
        return int(await self._store.purge(older_than))

    def _remember(self, record: ConversationRecord, raw: str) -> None:
        self._records[record.key] = (replace(record, data={}), raw)
        self._records.move_to_end(record.key)
        if len(self._records) > self._max:
            self._records.popitem(last=False)
