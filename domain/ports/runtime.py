"""The clock, and what the conversation engine needs: drafts, a per-chat lock, update
de-duplication, and the two together: an update's turn at its chat.
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


class UpdateTurn:
    """One update's turn at its chat, under the chat's lock (:meth:`UpdateTurns.turn`)."""

    __slots__ = ("done_before", "finished")

    def __init__(self, done_before: bool) -> None:
        #: an earlier delivery handled the update to the end (read under the lock: a
        #: redelivery that waited for the chat while the first delivery ran sees it)
        self.done_before = done_before
        #: set by the holder once the update is handled to the end: it is then marked done
        #: as the lock is released
        self.finished = False


class UpdateTurns(Protocol):
    """A chat's lock taken for one update, with that update's de-duplication: whether it was
    handled to the end already is read once the lock is held, and it is marked done (when the
    holder set :attr:`UpdateTurn.finished`) as the lock is released, not before. An adapter
    may do each in the lock's own round trip (Redis: the mark, the release and dropping the
    update's replay journal are one atomic script)."""

    def turn(self, key: str, update_id: int) -> AbstractAsyncContextManager[UpdateTurn]:
        """Waits in update-id order like :meth:`ChatLock.lock`; raises :class:`LockTimeout`."""
        ...
