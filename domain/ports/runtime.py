"""The clock, and what the conversation engine needs: drafts, a per-chat lock, update
de-duplication.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Protocol

from domain.model import ConversationRecord


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class LockTimeout(TimeoutError):
    """A per-chat lock could not be taken in time (another update of that chat is running)."""


class ConversationStore(Protocol):
    """Drafts, one round trip per call. Stores may forget records after an idle time."""

    async def get(self, key: str) -> ConversationRecord | None: ...

    async def put(self, record: ConversationRecord) -> None: ...

    async def delete(self, key: str) -> None: ...


class ChatLock(Protocol):
    """Mutual exclusion per chat: ``async with chat_lock.lock(key):``. Raises
    :class:`LockTimeout` when the lock cannot be taken in time."""

    def lock(self, key: str, order: int | None = None) -> AbstractAsyncContextManager[None]:
        """``order`` (the update id) puts waiters for one chat in Telegram's order where the
        lock is shared by several processes; ``None`` waits behind every update."""
        ...


class UpdateDeduper(Protocol):
    """Which updates were handled to the end. An update is marked *done* only once handled
    (under its chat's lock), so a redelivery of an update whose replica died mid-way runs
    again, while a repeat of a finished one is skipped."""

    async def done(self, update_id: int) -> bool:
        """True if ``update_id`` was handled to the end already."""
        ...

    async def mark_done(self, update_id: int) -> None:
        """Record that ``update_id`` was handled to the end."""
        ...

    async def forget(self, update_id: int) -> None:
        """Undo :meth:`mark_done` (a failed update, so that a redelivery runs)."""
        ...
